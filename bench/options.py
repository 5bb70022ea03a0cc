"""OPTIONS throughput of the endpoint on one core, driven by SIPp over UDP on 127.0.0.1.

The server is ``tests/integration/endpoint_app.py`` (the minimal application on
``sipline.endpoint.Endpoint``; the endpoint itself answers OPTIONS, §11.2) on uvloop,
pinned to CPU 0 with ``taskset``; SIPp runs ``options_flood.xml`` pinned to CPU 1.

Ladder (the method of /work/shared/bench-peers): each rung offers a fixed rate for
``--step-seconds`` to a freshly started server.  A rung passes when <1% of the
requests fail, SIPp finishes within 5% (+1 s) of the rung time (no backlog) and SIPp
retransmitted for <2% of them.  Rates double from ``--start-rate`` until a rung fails,
then bisect (geometric mean) until the bracket is within 8% or the budget runs out.

    .venv/bin/python bench/options.py [--start-rate 1000] [--step-seconds 8] [--budget 120]
    .venv/bin/python bench/options.py --profile-rate 3000   # cProfile the server under load

One line with the result on stdout, one per rung on stderr.
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _ladder import climb
from _sipp import cpu_seconds, free_udp_port, read_stats, stat_number

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "tests" / "integration" / "endpoint_app.py"
SCENARIO = ROOT / "tests" / "integration" / "scenarios" / "options_flood.xml"
HOST = "127.0.0.1"
TARGET = 15_000


PIN = {"server": "0", "sipp": "1"}  # CPU lists for taskset; "" = not pinned


def pinned(role: str, argv: list[str]) -> list[str]:
    taskset = shutil.which("taskset")
    cpus = PIN[role]
    return [taskset, "-c", cpus, *argv] if taskset and cpus else argv


class Server:
    """The endpoint app on one core; stopped with SIGTERM (then SIGKILL) by its PID."""

    gc_off = False

    def __init__(self, workdir: Path, profile: Path | None = None) -> None:
        self.port = free_udp_port(HOST)
        self.log_path = workdir / f"server-{self.port}.log"
        python = [sys.executable]
        if profile is not None:
            python += ["-m", "cProfile", "-o", str(profile)]
        argv = [*python, str(APP), "--listen", f"udp:{HOST}:{self.port}", "--uvloop"]
        if self.gc_off:
            argv.append("--gc-off")
        self._log = self.log_path.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.popen = subprocess.Popen(
            pinned("server", argv), stdout=self._log, stderr=subprocess.STDOUT, env=env
        )
        deadline = time.monotonic() + 20
        while "listening on" not in self.log_path.read_text("utf-8", "replace"):
            if self.popen.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start:\n{self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._log.close()


@dataclass(frozen=True)
class Rung:
    rate: int
    offered: int
    successful: int
    failed: int
    retransmissions: int
    elapsed: float
    server_cpu: float
    passed: bool

    def line(self) -> str:
        per_op = 1e6 * self.server_cpu / max(1, self.successful)
        return (
            f"rung {self.rate}/s: {'pass' if self.passed else 'FAIL'}  offered {self.offered} "
            f"ok {self.successful} failed {self.failed} retrans {self.retransmissions} "
            f"in {self.elapsed:.1f} s, server CPU {self.server_cpu:.1f} s "
            f"({per_op:.0f} us/op, {100 * self.server_cpu / self.elapsed:.0f}% of a core)"
        )


def run_sipp(workdir: Path, port: int, rate: int, seconds: float) -> tuple[dict[str, str], float]:
    """Offer ``rate`` OPTIONS/s for ``seconds``; SIPp's final statistics and wall time."""
    stat_path = workdir / f"sipp-{rate}.csv"
    calls = int(rate * seconds)
    argv = [
        "sipp",
        *("-sf", str(SCENARIO), "-i", HOST, "-p", str(free_udp_port(HOST)), "-t", "u1"),
        *("-m", str(calls), "-r", str(rate), "-rp", "1000", "-l", str(max(1000, rate * 4))),
        *("-nostdin", "-buff_size", "4194304", "-timeout", f"{int(seconds * 3 + 10)}s"),
        *("-trace_stat", "-stf", str(stat_path), "-fd", "1"),
        *("-trace_err", "-error_file", str(workdir / f"sipp-{rate}.err")),
        f"{HOST}:{port}",
    ]
    started = time.monotonic()
    with open(workdir / f"sipp-{rate}.log", "wb") as log:
        subprocess.run(pinned("sipp", argv), stdout=log, stderr=subprocess.STDOUT, check=False)
    return read_stats(stat_path), time.monotonic() - started


def run_rung(workdir: Path, rate: int, seconds: float) -> Rung:
    server = Server(workdir)
    try:
        cpu_before = cpu_seconds(server.popen.pid)
        stats, elapsed = run_sipp(workdir, server.port, rate, seconds)
        server_cpu = cpu_seconds(server.popen.pid) - cpu_before
    finally:
        server.stop()
    offered = int(rate * seconds)
    ok = stat_number(stats, "SuccessfulCall(C)")
    failed = offered - ok
    retrans = stat_number(stats, "Retransmissions(C)")
    passed = failed < 0.01 * offered and elapsed <= seconds * 1.05 + 1 and retrans < 0.02 * offered
    return Rung(rate, offered, ok, failed, retrans, elapsed, server_cpu, passed)


def ladder(workdir: Path, args: argparse.Namespace) -> Rung | None:
    return climb(
        lambda rate: run_rung(workdir, rate, args.step_seconds),
        start=args.start_rate,
        budget=args.budget,
        rung_seconds=args.step_seconds,
        pause=0.0,
    )


def profile(workdir: Path, rate: int, seconds: float, top: int) -> None:
    """Run the server under cProfile at ``rate`` and print where its time goes."""
    output = workdir / "server.prof"
    server = Server(workdir, profile=output)
    try:
        stats, elapsed = run_sipp(workdir, server.port, rate, seconds)
    finally:
        server.stop()
    ok = stat_number(stats, "SuccessfulCall(C)")
    print(f"profiled at {rate}/s: {ok} of {int(rate * seconds)} answered in {elapsed:.1f} s")
    report = pstats.Stats(str(output))
    total = max(report.total_tt, 1e-9)  # type: ignore[attr-defined]
    rows = sorted(report.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    print(f"top {top} functions by own time (% of {total:.2f} s profiled):")
    print_rows(rows[:top], total)
    ours = [row for row in rows if "/sipline/" in row[0][0]]
    ours.sort(key=lambda item: item[1][3], reverse=True)
    print(f"top {top} sipline functions by cumulative time:")
    print_rows(ours[:top], total)


def print_rows(rows: list[Any], total: float) -> None:
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in rows:
        where = f"{Path(filename).name}:{line}" if line else filename
        print(
            f"  own {100 * tottime / total:5.1f}%  cum {100 * cumtime / total:5.1f}%  "
            f"{calls:>9} calls  {name} ({where})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start-rate", type=int, default=1000)
    parser.add_argument("--step-seconds", type=float, default=8.0)
    parser.add_argument("--budget", type=float, default=120.0, help="seconds for the ladder")
    parser.add_argument("--profile-rate", type=int, help="cProfile the server at this rate")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--server-cpus", default="0", help='taskset CPU list ("" = unpinned)')
    parser.add_argument("--sipp-cpus", default="1", help='taskset CPU list ("" = unpinned)')
    parser.add_argument("--gc-off", action="store_true", help="the server runs without cyclic GC")
    args = parser.parse_args()
    Server.gc_off = args.gc_off
    PIN.update(server=args.server_cpus, sipp=args.sipp_cpus)
    if shutil.which("sipp") is None:
        print("sipp is not installed (apt-get install sip-tester)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-options-") as tmp:
        workdir = Path(tmp)
        if args.profile_rate:
            profile(workdir, args.profile_rate, args.step_seconds, args.top)
            return 0
        best = ladder(workdir, args)
    if best is None:
        print(f"endpoint OPTIONS: no rung passed (from {args.start_rate}/s)")
        return 1
    per_op = 1e6 * best.server_cpu / max(1, best.successful)
    print(
        f"endpoint OPTIONS over UDP, server CPUs {args.server_cpus or 'any'}, uvloop{', GC off' if args.gc_off else ''}: {best.rate}/s sustained "
        f"(target {TARGET}/s, {best.rate / TARGET:.0%}), {per_op:.0f} us server CPU per request"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
