"""SIPp (Debian package sip-tester, SIPp 3.6.1) as a caller (UAC) or callee (UAS).

See /work/shared/PEERS.md for the flags: 4 MiB socket buffers, no stdin, error trace,
a global timeout; statistics come from the `-trace_stat` CSV, whose last line SIPp writes
when it exits (also on SIGTERM).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, Unpack

from ._ports import free_port, wait_bound
from ._process import ManagedProcess, read_tail

__all__ = [
    "SCENARIOS",
    "SippFactory",
    "SippOptions",
    "SippProcess",
    "SippResult",
    "auth_rows",
    "read_stat_file",
    "write_injection_file",
]

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
_TRANSPORTS = {"udp": "u1", "tcp": "t1", "u1": "u1", "un": "un", "t1": "t1", "tn": "tn"}
_DEFAULT_KEYS = {"caller": "caller", "callee": "callee", "expires": "3600"}


def scenario_path(scenario: str | Path) -> Path:
    """A scenario by file name in tests/integration/scenarios ("uac_call" or
    "uac_call.xml") or by path."""
    path = Path(scenario)
    if path.is_file():
        return path.resolve()
    name = path.name if path.suffix == ".xml" else f"{path.name}.xml"
    found = SCENARIOS / name
    if not found.is_file():
        raise FileNotFoundError(f"no SIPp scenario {scenario!r} (looked in {SCENARIOS})")
    return found


def read_stat_file(path: Path) -> dict[str, str]:
    """The last row of a SIPp `-trace_stat` CSV as {column: value} ({} if none yet)."""
    try:
        lines = [ln for ln in path.read_text("latin-1").splitlines() if ln.strip()]
    except OSError:
        return {}
    if len(lines) < 2:
        return {}
    return dict(zip(lines[0].split(";"), lines[-1].split(";"), strict=False))


def auth_rows(users: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """Injection rows `user;password;[authentication ...]` for reg_uac_auth.xml.

    SIPp 3.6.1 cannot expand [field0] inside [authentication], so the third field carries
    the whole keyword and the scenario inserts it with [field2].
    """
    return [(u, p, f"[authentication username={u} password={p}]") for u, p in users]


def write_injection_file(
    path: Path, rows: Iterable[Sequence[str]], order: str = "SEQUENTIAL"
) -> Path:
    """Write a SIPp `-inf` CSV file (first line: SEQUENTIAL, RANDOM or USER)."""
    lines = [order]
    for row in rows:
        if any(";" in value or "\n" in value for value in row):
            raise ValueError(f"SIPp injection fields cannot hold ';' or newlines: {row!r}")
        lines.append(";".join(row))
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def _stat(stats: Mapping[str, str], column: str) -> int:
    try:
        return int(float(stats.get(column, "0") or 0))
    except ValueError:
        return 0


@dataclass(frozen=True)
class SippResult:
    """What one SIPp run did. `failed` counts calls SIPp declared failed; calls still in
    progress at a timeout are `created - successful - failed`."""

    name: str
    returncode: int | None
    created: int
    successful: int
    failed: int
    retransmissions: int
    errors: str
    stats: Mapping[str, str] = field(repr=False)

    @property
    def unfinished(self) -> int:
        return max(0, self.created - self.successful - self.failed)

    def summary(self) -> str:
        return (
            f"{self.name}: exit {self.returncode}, created {self.created}, "
            f"successful {self.successful}, failed {self.failed}, unfinished {self.unfinished}, "
            f"retransmissions {self.retransmissions}"
        )

    def assert_ok(self, calls: int | None = None) -> None:
        """Assert exit 0, no failed call and (when given) exactly `calls` successful ones."""
        good = self.returncode == 0 and self.failed == 0 and self.unfinished == 0
        if calls is not None:
            good = good and self.successful == calls
        if not good:
            want = f" (wanted {calls} successful)" if calls is not None else ""
            errors = self.errors.strip() or "(empty error log)"
            raise AssertionError(f"{self.summary()}{want}\nSIPp error log:\n{errors}")


class SippOptions(TypedDict, total=False):
    """Keyword options of `SippProcess` (and of the `sipp` fixture's methods)."""

    host: str  # local address, 127.0.0.1 by default
    port: int  # local SIP port; a free one by default
    transport: str  # "udp" (default) or "tcp" (or SIPp's u1/un/t1/tn)
    calls: int | None  # -m: stop after this many calls
    rate: float | None  # -r: calls per second
    service: str | None  # -s: the Request-URI user
    keys: Mapping[str, str]  # -key NAME VALUE for [NAME] (caller, callee, expires preset)
    injection: Path | None  # -inf CSV file
    auth: tuple[str, str] | None  # -au/-ap for [authentication]
    auth_uri: str | None  # -auth_uri (digest uri= is sip:host:port otherwise)
    timeout: float  # global -timeout (seconds), an error when reached
    trace_msg: bool  # -trace_msg into <name>.messages.log (default True)
    extra_args: Sequence[str]  # anything else, placed before the target


class SippProcess(ManagedProcess):
    """One SIPp process; build it with the `sipp` fixture (`SippFactory`)."""

    def __init__(
        self,
        scenario: str | Path,
        *,
        workdir: Path,
        name: str,
        target: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        transport: str = "udp",
        calls: int | None = None,
        rate: float | None = None,
        service: str | None = None,
        keys: Mapping[str, str] | None = None,
        injection: Path | None = None,
        auth: tuple[str, str] | None = None,
        auth_uri: str | None = None,
        timeout: float = 30.0,
        trace_msg: bool = True,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.scenario = scenario_path(scenario)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.transport = transport
        self.stat_path = workdir / f"{name}.stat.csv"
        self.error_path = workdir / f"{name}.errors.log"
        self.message_path = workdir / f"{name}.messages.log"
        argv = [
            "sipp",
            *("-sf", str(self.scenario)),
            *("-i", host, "-p", str(self.port)),
            *("-cp", str(free_port(host)), "-mp", str(free_port(host, span=4))),
            *("-t", _TRANSPORTS[transport]),
            *("-nostdin", "-buff_size", "4194304"),
            *("-timeout", f"{max(1, round(timeout))}s", "-timeout_error"),
            *("-trace_err", "-error_file", str(self.error_path)),
            *("-trace_stat", "-stf", str(self.stat_path), "-fd", "1"),
        ]
        if trace_msg:
            argv += ["-trace_msg", "-message_file", str(self.message_path)]
        for key, value in {**_DEFAULT_KEYS, **(keys or {})}.items():
            argv += ["-key", key, value]
        if calls is not None:
            argv += ["-m", str(calls)]
        if rate is not None:
            argv += ["-r", f"{rate:g}", "-rp", "1000"]
        if service is not None:
            argv += ["-s", service]
        if injection is not None:
            argv += ["-inf", str(injection)]
        if auth is not None:
            argv += ["-au", auth[0], "-ap", auth[1]]
        if auth_uri is not None:
            argv += ["-auth_uri", auth_uri]
        argv += list(extra_args)
        if target is not None:
            argv.append(target)
        super().__init__(name, argv, workdir=workdir)
        self.timeout = timeout

    def start(self) -> SippProcess:
        """Start SIPp and wait until its SIP socket is bound."""
        self.spawn()
        protocol = "tcp" if self.transport.startswith("t") else "udp"
        deadline = time.monotonic() + 10.0
        bound = False
        while not bound and time.monotonic() < deadline:
            bound = wait_bound(self.port, protocol, self.host, timeout=0.2)
            if (
                not bound
                and not self.running
                and self.popen is not None
                and self.popen.returncode == 0
            ):
                # A short UAC can finish its calls before the bind is ever seen.
                return self
        if not bound:
            self.stop()
            raise RuntimeError(
                f"{self.name} did not bind {self.host}:{self.port}:\n{self.output()}"
            )
        return self

    def result(self) -> SippResult:
        """Statistics so far (final once the process has exited)."""
        stats = read_stat_file(self.stat_path)
        return SippResult(
            name=self.name,
            returncode=self.returncode,
            created=_stat(stats, "TotalCallCreated"),
            successful=_stat(stats, "SuccessfulCall(C)"),
            failed=_stat(stats, "FailedCall(C)"),
            retransmissions=_stat(stats, "Retransmissions(C)"),
            errors=read_tail(self.error_path),
            stats=stats,
        )

    def wait_result(self, timeout: float | None = None) -> SippResult:
        """Wait for SIPp to finish (default: its own -timeout plus 10 s), then its result."""
        limit = self.timeout + 10.0 if timeout is None else timeout
        try:
            self.wait(limit)
        except subprocess.TimeoutExpired:
            self.stop()
        return self.result()

    def stop_result(self) -> SippResult:
        """Stop SIPp (a UAS normally) and return its final statistics."""
        self.stop()
        return self.result()

    def report_sections(self) -> list[tuple[str, str]]:
        sections = super().report_sections()
        sections.append((f"{self.name} result", self.result().summary()))
        for title, path in (("errors", self.error_path), ("messages", self.message_path)):
            text = read_tail(path)
            if text:
                sections.append((f"{self.name} {title}", text))
        return sections


class SippFactory:
    """The `sipp` fixture: starts SIPp processes that are stopped at the end of the test."""

    def __init__(self, workdir: Path, register: Callable[[ManagedProcess], None]) -> None:
        self._workdir = workdir
        self._register = register
        self._count = 0

    def _new(
        self, role: str, scenario: str | Path, target: str | None, options: SippOptions
    ) -> SippProcess:
        self._count += 1
        name = f"sipp-{role}-{self._count}"
        process = SippProcess(scenario, workdir=self._workdir, name=name, target=target, **options)
        self._register(process)
        return process.start()

    def uas(self, scenario: str | Path = "uas_call", **options: Unpack[SippOptions]) -> SippProcess:
        """Start a callee (no target); `port=` to choose its port, `calls=` to stop after N."""
        options.setdefault("timeout", 120.0)
        return self._new("uas", scenario, None, options)

    def uac(self, scenario: str | Path, target: str, **options: Unpack[SippOptions]) -> SippProcess:
        """Start a caller towards `target` ("127.0.0.1:5060"); `calls=` defaults to 1."""
        options.setdefault("calls", 1)
        return self._new("uac", scenario, target, options)

    def run(self, scenario: str | Path, target: str, **options: Unpack[SippOptions]) -> SippResult:
        """Run a caller to completion and return its result."""
        return self.uac(scenario, target, **options).wait_result()
