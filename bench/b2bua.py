"""B2BUA benchmark (issue #5): calls per second through `sipline serve`, and memory per
established call.

Rate: `sipline serve` (B2BUA mode, auth off, media bypass, admin API on a free port)
pinned to one core with `taskset -c 0`; SIPp runs bench-peers' `call_uac.xml` (INVITE /
100 / 180 / 200 / ACK / BYE / 200, zero hold time, no media) against it and `call_uas.xml`
on another port answers, both pinned to the other core.  The callee is reached by
registration (`uas` registered with its Contact, dialplan `bridge user/uas`, as in
tests/integration/test_calls.py) or, with `--route static`, by `bridge sip/sip:uas@HOST:PORT`.
The ladder of bench-peers: each rung offers a fixed rate for --step-seconds to a fresh
server and UAS; it passes with <0.1% failed calls, no backlog (SIPp done within 5% + 1 s
of the rung time) and retransmissions for <2% of calls.  The rate doubles until a rung
fails, then bisects (geometric mean) until the bracket is within 8% or --budget seconds
run out; the highest passing rung is printed.  After each rung the server's calls in
progress (admin /metrics) and VmRSS are shown: calls left behind are a leak.

Memory: a fresh server, `--calls` calls (default 5,000) set up by SIPp with a long hold
(tests/integration/scenarios/uac_call_hold.xml, `-d 60000 -l CALLS`); the server's VmRSS (/proc) before the first call and once every
call is up, divided by the number of calls.

Profile: `--profile RATE` runs one rung with the server under cProfile and prints the
functions with the most own time (cProfile slows the server: read shares, not rates).

    .venv/bin/python bench/b2bua.py                     # ladder + memory (~2-3 minutes)
    .venv/bin/python bench/b2bua.py --skip-memory --start-rate 200
    .venv/bin/python bench/b2bua.py --profile 300 --skip-rate --skip-memory
    .venv/bin/python bench/b2bua.py --keep-server 5060 --route static --uas-port 25062
        # leave a server up for bench-peers' run.sh --no-callee-register

Loopback only; every process started here is stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from _ladder import climb
from _sipp import cpu_seconds, free_port, read_stats, stat_number, stop, wait_sip_ready

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path("/work/shared/bench-peers/scenarios")
LOCAL = ROOT / "tests" / "integration" / "scenarios"
HOLD = LOCAL / "uac_call_hold.xml"  # holds the call for -d ms between ACK and BYE
HOST = "127.0.0.1"
SIPP = ["sipp", "-nostdin", "-buff_size", "4194304"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def scenarios() -> tuple[Path, Path]:
    """(UAC, UAS): bench-peers' call files when present (same workload as the peers)."""
    if (PEERS / "call_uac.xml").is_file():
        return PEERS / "call_uac.xml", PEERS / "call_uas.xml"
    return LOCAL / "uac_call.xml", LOCAL / "uas_call.xml"


def pinned(cpus: str, argv: list[str]) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", cpus, *argv] if taskset and cpus else argv


def run_delay(pid: int) -> float:
    """Seconds ``pid`` has waited for a CPU while runnable (/proc/PID/schedstat): time
    the server lost to other tenants of its core, not its own cost."""
    total = 0.0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        pass
    return total


def rss(pid: int) -> int:
    """VmRSS of ``pid`` in bytes (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# -- the server ------------------------------------------------------------------------------
CONFIG = """
[server]
shutdown_grace = 0
log_level = "warning"

[auth]
register = false
invite = false

[media]
mode = "bypass"

[[dialplan]]
match = "^uas$"
actions = ["bridge {target}"]
"""


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    admin_port: int
    data: Path

    @property
    def pid(self) -> int:
        """The Python process (taskset execs it, so the PID is the same)."""
        return self.process.pid

    def metric(self, name: str) -> float | None:
        """One value of the admin /metrics (first sample whose name starts with ``name``)."""
        token = (self.data / "admin-token").read_text().strip()
        request = urllib.request.Request(
            f"http://{HOST}:{self.admin_port}/metrics",
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
                text = response.read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                return float(line.rsplit(" ", 1)[1])
        return None


def register_callee(port: int, uas_port: int) -> None:
    """REGISTER ``uas`` with Contact at the SIPp UAS (auth is off), as test_calls does."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(5)
        local = sock.getsockname()[1]
        sock.sendto(
            (
                f"REGISTER sip:{HOST}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {HOST}:{local};branch=z9hG4bK-b2breg{local};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:uas@{HOST}>;tag=r{local}\r\n"
                f"To: <sip:uas@{HOST}>\r\nCall-ID: b2b-reg-{local}-{os.getpid()}\r\n"
                f"CSeq: 1 REGISTER\r\nContact: <sip:uas@{HOST}:{uas_port}>\r\n"
                "Expires: 3600\r\nContent-Length: 0\r\n\r\n"
            ).encode(),
            (HOST, port),
        )
        while True:
            answer = sock.recv(65535)
            status = int(answer.split(b" ", 2)[1])
            if status >= 200:
                if status != 200:
                    raise SystemExit(f"REGISTER of the callee got {status}")
                return


def start_server(
    args: argparse.Namespace, work: Path, uas_port: int, *, port: int = 0, profile: Path | None
) -> Server:
    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    target = f"sip/sip:uas@{HOST}:{uas_port}" if args.route == "static" else "user/uas"
    config = work / "sipline.toml"
    config.write_text(CONFIG.format(target=target))
    port = port or free_port()
    admin_port = free_port()
    python = [sys.executable, *(["-m", "cProfile", "-o", str(profile)] if profile else [])]
    argv = [*python, "-m", "sipline.cli", "serve", "--config", str(config)]
    argv += ["--listen", f"udp:{HOST}:{port}", "--data", str(data), "--domain", HOST]
    argv += ["--admin", f"{HOST}:{admin_port}"]
    with (work / "server.log").open("ab") as out:
        process = subprocess.Popen(
            pinned(args.server_cpus, argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, port, admin_port, data)
    if not wait_sip_ready(HOST, port, 30.0):
        stop(process)
        raise SystemExit(f"sipline did not answer OPTIONS on port {port}; see {work}/server.log")
    if args.route == "register":
        register_callee(port, uas_port)
    return server


def start_uas(args: argparse.Namespace, port: int) -> subprocess.Popen[bytes]:
    argv = [*SIPP, "-sf", str(scenarios()[1]), "-i", HOST, "-p", str(port)]
    argv += ["-cp", str(free_port()), "-mp", str(free_port())]
    process = subprocess.Popen(
        pinned(args.sipp_cpus, argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    return process


def uac_argv(
    args: argparse.Namespace,
    server: Server,
    rate: float,
    calls: int,
    stat: Path,
    scenario: Path | None = None,
) -> list[str]:
    scenario = scenario or scenarios()[0]
    argv = [*SIPP, "-sf", str(scenario), "-s", "uas", "-i", HOST, "-p", str(free_port())]
    argv += ["-cp", str(free_port()), "-mp", str(free_port())]
    argv += ["-r", f"{rate:g}", "-rp", "1000", "-m", str(calls), "-recv_timeout", "5000"]
    argv += ["-max_retrans", "5", "-trace_stat", "-stf", str(stat), "-fd", "1"]
    return [*argv, f"{HOST}:{server.port}"]


# -- one rung --------------------------------------------------------------------------------
@dataclass
class Rung:
    rate: int
    offered: int
    ok: int = 0
    failed: int = 0
    retrans: int = 0
    wall: float = 0.0
    server_cpu: float = 0.0  # % of one core
    waited: float = 0.0  # % of the wall time the server was runnable but not running
    left: float | None = None  # calls still up at the server after the load
    rss_mb: float = 0.0
    note: str = ""

    @property
    def failed_pct(self) -> float:
        return 100.0 * (self.offered - self.ok) / max(self.offered, 1)

    @property
    def passed(self) -> bool:
        return not self.note

    def line(self) -> str:
        mark = "ok  " if self.passed else "FAIL"
        per_call = self.server_cpu * 1e4 / self.rate if self.rate else 0.0
        left = "?" if self.left is None else f"{self.left:.0f}"
        return (
            f"  {mark} offered {self.rate:5d}/s  done {self.ok}/{self.offered}  failed "
            f"{self.failed_pct:5.2f}%  retrans {self.retrans}  wall {self.wall:5.1f}s  "
            f"server cpu {self.server_cpu:5.1f}% ({per_call:.0f} us/call), waited for "
            f"the cpu {self.waited:4.1f}%  "
            f"after: {left} calls up, RSS {self.rss_mb:.0f} MB {self.note}"
        )


def run_rung(args: argparse.Namespace, work: Path, rate: int, profile: Path | None = None) -> Rung:
    secs = args.step_seconds
    rung = Rung(rate=rate, offered=max(1, int(rate * secs)))
    uas_port = free_port()
    uas = start_uas(args, uas_port)
    try:
        server = start_server(args, work, uas_port, profile=profile)
        try:
            _load(args, work, server, rung)
        finally:
            stop(server.process, grace=60.0 if profile else 10.0)
    finally:
        stop(uas)
    if not rung.note:
        if rung.failed_pct >= args.max_failed:
            rung.note = f">={args.max_failed:g}% failed"
        elif rung.wall > secs * 1.05 + 1.0:
            rung.note = "could not keep the offered rate (backlog)"
        elif rung.retrans > 0.02 * rung.offered:
            rung.note = "retransmissions >2% of calls"
    return rung


def _load(args: argparse.Namespace, work: Path, server: Server, rung: Rung) -> None:
    stat = work / f"stat_{rung.rate}_{time.monotonic_ns()}.csv"
    hard = args.step_seconds * 2 + 15
    argv = uac_argv(args, server, rung.rate, rung.offered, stat)
    argv[-1:-1] = ["-timeout", f"{int(hard)}s"]
    cpu0, wait0 = cpu_seconds(server.pid), run_delay(server.pid)
    t0 = time.monotonic()
    sipp = subprocess.Popen(
        pinned(args.sipp_cpus, argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        sipp.wait(hard + 10)
    except subprocess.TimeoutExpired:
        rung.note = "SIPp killed at the hard limit"
    finally:
        stop(sipp)
    rung.wall = time.monotonic() - t0
    rung.server_cpu = 100.0 * (cpu_seconds(server.pid) - cpu0) / rung.wall
    rung.waited = 100.0 * (run_delay(server.pid) - wait0) / rung.wall
    time.sleep(1.0)  # the last BYEs settle
    rung.left = server.metric("sipline_active_calls")
    rung.rss_mb = rss(server.pid) / 2**20
    stats = read_stats(stat)
    rung.ok = stat_number(stats, "SuccessfulCall(C)")
    rung.failed = stat_number(stats, "FailedCall(C)")
    rung.retrans = stat_number(stats, "Retransmissions(C)")
    if not stats:
        rung.note = "no SIPp statistics"


def ladder(args: argparse.Namespace, work: Path) -> Rung | None:
    return climb(
        lambda rate: run_rung(args, work, rate),
        start=args.start_rate,
        budget=args.budget,
        rung_seconds=args.step_seconds,
        cap=args.cap,
    )


# -- memory ------------------------------------------------------------------------------------
def memory_per_call(args: argparse.Namespace, work: Path) -> tuple[float, int, int]:
    """(bytes of server RSS per established call, calls up, RSS before) with ``args.calls``
    calls held by SIPp."""
    uas_port = free_port()
    uas = start_uas(args, uas_port)
    try:
        server = start_server(args, work, uas_port, profile=None)
        sipp: subprocess.Popen[bytes] | None = None
        try:
            time.sleep(1.0)
            before = rss(server.pid)
            stat = work / "stat_memory.csv"
            # call_uac.xml has no <pause/> (zero hold): the tests' caller that holds
            argv = uac_argv(args, server, args.memory_rate, args.calls, stat, HOLD)
            argv[-1:-1] = ["-d", "60000", "-l", str(args.calls), "-key", "caller", "caller"]
            sipp = subprocess.Popen(
                pinned(args.sipp_cpus, argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + args.calls / args.memory_rate + 30
            while time.monotonic() < deadline and sipp.poll() is None:
                time.sleep(1.0)
                up = stat_number(read_stats(stat), "CurrentCall")
                log(f"  {up} calls up at the caller, server RSS {rss(server.pid) / 2**20:.0f} MB")
                if up >= args.calls:
                    break
            time.sleep(2.0)
            after = rss(server.pid)
            calls = int(server.metric("sipline_active_calls") or 0)
            log(f"  server: {calls} calls in progress (admin /metrics)")
            # The set-up transactions (RFC 6026 Accepted: 64*T1 = 32 s) still hold their
            # messages; once they end, what is left is the calls themselves.
            settle = 34.0
            if settle < 60.0 - args.calls / args.memory_rate:
                time.sleep(settle)
                still = int(server.metric("sipline_active_calls") or 0)
                log(
                    f"  {settle:.0f} s later, set-up transactions over: {still} calls up, "
                    f"server RSS {rss(server.pid) / 2**20:.0f} MB (Python keeps freed arenas)"
                )
        finally:
            if sipp is not None:
                stop(sipp)
            stop(server.process)
    finally:
        stop(uas)
    return (after - before) / max(calls, 1), calls, before


# -- profile -----------------------------------------------------------------------------------
def profile(args: argparse.Namespace, work: Path) -> None:
    out = work / "server.prof"
    rung = run_rung(args, work, round(args.profile), profile=out)
    log(rung.line())
    if not out.is_file():
        log(f"no profile written (see {work}/server.log)")
        return
    stats = pstats.Stats(str(out))
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (file, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((tottime, cumtime, calls, f"{_short(file)}:{line}({name})"))
    rows.sort(reverse=True)
    print(f"profile at {args.profile:g} calls/s: {total:.1f} s of CPU; top own time")
    for tottime, cumtime, calls, where in rows[: args.profile_top]:
        print(
            f"  {100 * tottime / total:5.1f}%  cum {100 * cumtime / total:5.1f}%  "
            f"{calls:8d}  {where}"
        )


def _short(file: str) -> str:
    marker = "/src/sipline/"
    return "sipline/" + file.split(marker, 1)[1] if marker in file else Path(file).name


# -- main --------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step-seconds", type=float, default=8.0)
    parser.add_argument("--budget", type=float, default=150.0, help="seconds for the ladder")
    parser.add_argument("--start-rate", type=float, default=250.0)
    parser.add_argument("--cap", type=float, default=8_000.0)
    parser.add_argument("--max-failed", type=float, default=0.1, help="percent per rung")
    parser.add_argument("--route", choices=["register", "static"], default="register")
    parser.add_argument("--server-cpus", default="0", help="taskset CPU list ('' = any)")
    parser.add_argument("--sipp-cpus", default="1", help="taskset CPU list ('' = any)")
    parser.add_argument("--calls", type=int, default=5_000, help="calls up for memory")
    parser.add_argument("--memory-rate", type=float, default=250.0)
    parser.add_argument("--profile", type=float, metavar="RATE", help="cProfile one rung")
    parser.add_argument("--profile-top", type=int, default=35)
    parser.add_argument("--work", type=Path, help="work dir (default: a temp dir, removed)")
    parser.add_argument("--skip-rate", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--keep-server", type=int, metavar="PORT", help="serve on PORT, stay up")
    parser.add_argument("--uas-port", type=int, default=25062, help="with --keep-server")
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        raise SystemExit("sipp not found: apt-get install -y sip-tester")

    work = args.work or Path(tempfile.mkdtemp(prefix="sipline-bench-b2bua-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.keep_server:
            server = start_server(args, work, args.uas_port, port=args.keep_server, profile=None)
            print(json.dumps({"pid": server.pid, "port": server.port, "work": str(work)}))
            return 0
        if args.profile:
            profile(args, work)
        if not args.skip_rate:
            log(f"== call ladder: server on cpus {args.server_cpus!r}, route {args.route}")
            best = ladder(args, work)
            if best is None:
                print("b2bua call: no rung passed")
            else:
                per_call = best.server_cpu * 1e4 / best.rate
                print(
                    f"b2bua call: {best.rate} calls/s (failed {best.failed_pct:.2f}%, "
                    f"retrans {best.retrans})  [{per_call:.0f} us server CPU per call]"
                )
        if not args.skip_memory:
            per_call, calls, before = memory_per_call(args, work)
            print(
                f"b2bua memory: {per_call / 1024:.1f} KiB RSS per established call "
                f"({calls} calls up, RSS {before / 2**20:.0f} MB before)"
            )
    finally:
        if args.work is None and not args.keep_server:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
