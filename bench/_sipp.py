"""SIPp at a fixed rate against a SIP server on the loopback: what it offered, what was
done, how many failed. Shared by the OPTIONS, registration and call benchmarks; stdlib
only. The scenarios are the integration tests' (tests/integration/scenarios).

As a library::

    from _sipp import run_load, start_uas, stop, wait_sip_ready, write_users_csv
    result = run_load("options_uac", "127.0.0.1:5060", rate=500, seconds=5)
    print(result.line())

From the command line (the server is already running)::

    .venv/bin/python bench/_sipp.py options --target 127.0.0.1:5060 --rate 500 --seconds 5
    .venv/bin/python bench/_sipp.py register --target 127.0.0.1:5060 --rate 200 \\
        --users users.csv      # lines user;password (each user provisioned on the server)
    .venv/bin/python bench/_sipp.py call --target 127.0.0.1:5060 --rate 50 --callee uas \\
        --uas-port 25062       # starts a SIPp callee there; the server routes uas to it
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "tests" / "integration" / "scenarios"
SIPP_BASE = ["sipp", "-nostdin", "-buff_size", "4194304"]  # 4 MiB: bursts are not dropped


def loopback_target(target: str) -> tuple[str, int]:
    """host:port (or [v6]:port) of a loopback address; anything else is refused."""
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    if host == "localhost":
        host = "127.0.0.1"
    if not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"target {target}: only loopback addresses are allowed")
    return host, int(port)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far, from /proc (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host``."""
    while True:
        port = free_udp_port(host)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as tcp:
            try:
                tcp.bind((host, port))
            except OSError:
                continue
        return port


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_sip_ready(host: str, port: int, timeout: float = 15.0) -> bool:
    """Send OPTIONS until any SIP response comes back (the server is up)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + timeout
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        local_port = s.getsockname()[1]
        s.settimeout(0.3)
        while time.monotonic() < deadline:
            tag = secrets.token_hex(4)
            request = (
                f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {host}:{local_port};branch=z9hG4bK{tag};rport\r\n"
                f"From: <sip:bench@{host}>;tag={tag}\r\nTo: <sip:{host}:{port}>\r\n"
                f"Call-ID: bench-{tag}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            s.sendto(request.encode(), (host, port))
            try:
                if s.recv(65535).startswith(b"SIP/2.0 "):
                    return True
            except TimeoutError:
                pass
    return False


def write_users_csv(path: Path, users: Iterable[tuple[str, str]]) -> Path:
    """A SIPp injection file for reg_uac_auth.xml: user;password;[authentication ...]
    (SIPp 3.6.1 cannot nest [field0] in [authentication], so the keyword is a field)."""
    lines = ["SEQUENTIAL"]
    lines += [f"{u};{p};[authentication username={u} password={p}]" for u, p in users]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_stats(path: Path) -> dict[str, str]:
    """The last row of a SIPp -trace_stat CSV as column -> value ({} if none yet)."""
    try:
        rows = [ln for ln in path.read_text("latin-1").splitlines() if ln.strip()]
    except OSError:
        return {}
    return dict(zip(rows[0].split(";"), rows[-1].split(";"), strict=False)) if len(rows) > 1 else {}


def stat_number(stats: Mapping[str, str], column: str) -> int:
    try:
        return int(float(stats.get(column) or 0))
    except ValueError:
        return 0


@dataclass(frozen=True)
class LoadResult:
    label: str
    offered_rate: float
    intended: int
    created: int
    successful: int
    failed: int
    retransmissions: int
    wall: float
    returncode: int

    @property
    def achieved_rate(self) -> float:
        """Successful calls per second of wall time."""
        return self.successful / self.wall if self.wall > 0 else 0.0

    @property
    def failed_pct(self) -> float:
        """Calls offered that did not succeed, in percent."""
        return 100.0 * (self.intended - self.successful) / max(self.intended, 1)

    def line(self) -> str:
        return (
            f"{self.label}: offered {self.offered_rate:g}/s, done {self.successful}/"
            f"{self.intended} in {self.wall:.1f} s = {self.achieved_rate:.1f}/s, "
            f"failed {self.failed_pct:.2f}%, retransmissions {self.retransmissions}"
            f"{'' if self.returncode == 0 else f', sipp exit {self.returncode}'}"
        )


def _scenario(name: str) -> str:
    path = Path(name)
    return str(path if path.is_file() else SCENARIOS / f"{path.stem}.xml")


def run_load(
    scenario: str,
    target: str,
    *,
    rate: float,
    seconds: float,
    workdir: Path | None = None,
    service: str | None = None,
    injection: Path | None = None,
    keys: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
    label: str | None = None,
) -> LoadResult:
    """Offer `rate` calls/s of `scenario` to `target` for `seconds` (rate*seconds calls)."""
    host, port = loopback_target(target)
    work = workdir or Path(tempfile.mkdtemp(prefix="sipline-bench-"))
    stat = work / f"{Path(scenario).stem}-{os.getpid()}-{time.monotonic_ns()}.csv"
    intended = max(1, round(rate * seconds))
    argv = [*SIPP_BASE, "-sf", _scenario(scenario), "-i", host, "-p", str(free_udp_port(host))]
    argv += ["-cp", str(free_udp_port(host)), "-mp", str(free_udp_port(host))]
    argv += ["-r", f"{rate:g}", "-rp", "1000", "-m", str(intended)]
    argv += ["-timeout", f"{round(seconds * 2 + 15)}s", "-timeout_error"]
    argv += ["-trace_stat", "-stf", str(stat), "-fd", "1"]
    argv += ["-trace_err", "-error_file", str(work / "sipp_errors.log")]
    for key, value in {
        "caller": "caller",
        "callee": "callee",
        "expires": "3600",
        **(keys or {}),
    }.items():
        argv += ["-key", key, value]
    if service:
        argv += ["-s", service]
    if injection:
        argv += ["-inf", str(injection)]
    argv += [*extra_args, f"{host}:{port}"]
    started = time.monotonic()
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    wall = time.monotonic() - started
    stats = read_stats(stat)
    return LoadResult(
        label=label or Path(scenario).stem,
        offered_rate=rate,
        intended=intended,
        created=stat_number(stats, "TotalCallCreated"),
        successful=stat_number(stats, "SuccessfulCall(C)"),
        failed=stat_number(stats, "FailedCall(C)"),
        retransmissions=stat_number(stats, "Retransmissions(C)"),
        wall=wall,
        returncode=done.returncode,
    )


def start_uas(
    port: int, *, scenario: str = "uas_call", host: str = "127.0.0.1", callee: str = "callee"
) -> subprocess.Popen[bytes]:
    """A SIPp callee on host:port (stop it with `stop`)."""
    argv = [*SIPP_BASE, "-sf", _scenario(scenario), "-i", host, "-p", str(port)]
    argv += ["-cp", str(free_udp_port(host)), "-mp", str(free_udp_port(host))]
    argv += ["-key", "callee", callee]
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(0.3)  # it binds at once; a call sent before that would be retransmitted
    return process


def stop(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; only this PID."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


def _read_users(path: Path) -> list[tuple[str, str]]:
    users = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            user, _, password = line.strip().partition(";")
            users.append((user, password.split(";")[0]))
    return users


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SIPp load at a fixed rate (loopback only).")
    parser.add_argument("workload", choices=["options", "register", "call"])
    parser.add_argument("--target", default="127.0.0.1:5060", help="server host:port")
    parser.add_argument("--rate", type=float, default=100.0, help="calls per second")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--users", type=Path, help="register: file of user;password lines")
    parser.add_argument("--callee", default="uas", help="call: the Request-URI user")
    parser.add_argument("--uas-port", type=int, help="call: start a SIPp callee on this port")
    args = parser.parse_args(argv)
    host, port = loopback_target(args.target)
    if not wait_sip_ready(host, port, timeout=10):
        print(f"nothing answers OPTIONS at {args.target}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sipline-bench-") as tmp:
        work = Path(tmp)
        uas = start_uas(args.uas_port, callee=args.callee) if args.uas_port else None
        try:
            if args.workload == "options":
                result = run_load(
                    "options_uac", args.target, rate=args.rate, seconds=args.seconds, workdir=work
                )
            elif args.workload == "register":
                if not args.users:
                    parser.error("register needs --users FILE (user;password per line)")
                csv = write_users_csv(work / "users.csv", _read_users(args.users))
                result = run_load(
                    "reg_uac_auth",
                    args.target,
                    rate=args.rate,
                    seconds=args.seconds,
                    workdir=work,
                    injection=csv,
                )
            else:
                result = run_load(
                    "uac_call",
                    args.target,
                    rate=args.rate,
                    seconds=args.seconds,
                    workdir=work,
                    service=args.callee,
                )
        finally:
            if uas is not None:
                stop(uas)
    print(result.line())
    return 0 if result.failed_pct < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
