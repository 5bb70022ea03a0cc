"""Calls per second through ``sipline serve --mode proxy`` on one core, driven by SIPp.

SIPp caller (``uac_call.xml``: INVITE/100/180/200/ACK/BYE/200, zero hold time) ->
sipline proxy (pinned to CPU 0 with ``taskset``; no INVITE authentication; record-route
and location look-up of AoR ``uas``) -> SIPp callee (``uas_call.xml``), all UDP on
127.0.0.1.  The callee AoR is registered with digest authentication before each rung:
a SIPp REGISTER is sent from the port the callee then listens on, so the binding's
Contact is the callee.

Ladder (the method of /work/shared/bench-peers): each rung offers a fixed rate for
``--step-seconds`` to a freshly started proxy and callee.  A rung passes when <1% of
the calls fail, SIPp finishes within 5% (+1 s) of the rung time (no backlog) and SIPp
retransmitted for <2% of the calls.  Rates double from ``--start-rate`` until a rung
fails, then bisect (geometric mean) until the bracket is within 8% or the budget ends.

    .venv/bin/python bench/proxy.py [--start-rate 200] [--step-seconds 8] [--budget 150]
    .venv/bin/python bench/proxy.py --profile-rate 300   # cProfile the proxy under load
    .venv/bin/python bench/proxy.py --serve 25090        # only run the proxy (for run.sh)

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
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ladder import climb
from _sipp import (
    SCENARIOS,
    SIPP_BASE,
    LoadResult,
    free_udp_port,
    run_load,
    start_uas,
    stop,
    wait_sip_ready,
    write_users_csv,
)

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CALLEE = ("uas", "uasSecret123")  # the bench-peers callee, so run.sh can drive it too
CLK = os.sysconf("SC_CLK_TCK")


def pinned(argv: list[str], cpus: str) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", cpus, *argv] if taskset and cpus else argv


@dataclass
class Proxy:
    process: subprocess.Popen[bytes]
    port: int
    data: Path

    def cpu_seconds(self) -> float:
        try:
            with open(f"/proc/{self.process.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK
        except (OSError, ValueError, IndexError):
            return 0.0


def provision(data: Path) -> None:
    """The callee's account, the way an operator adds one."""
    add = ["user", "add", f"{CALLEE[0]}@{HOST}", "--password", CALLEE[1], "--data", str(data)]
    done = subprocess.run(
        [sys.executable, "-m", "sipline.cli", *add],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"sipline user add failed: {done.stdout}{done.stderr}")


def start_proxy(workdir: Path, port: int, cpus: str, profile: Path | None = None) -> Proxy:
    data = workdir / f"data-{port}"  # fresh per run: no bindings of an earlier rung
    if not data.exists():
        data.mkdir(parents=True)
        provision(data)
    config = workdir / "proxy.toml"
    config.write_text('[auth]\ninvite = false\n[server]\nlog_level = "warning"\n')
    python = [sys.executable]
    if profile is not None:
        python += ["-m", "cProfile", "-o", str(profile)]
    argv = [*python, "-m", "sipline.cli", "serve", "--mode", "proxy"]
    argv += ["--listen", f"udp:{HOST}:{port}", "--data", str(data), "--domain", HOST]
    argv += ["--admin", "off", "--config", str(config)]
    log = open(workdir / "proxy.log", "ab")  # noqa: SIM115 - kept open for the child
    process = subprocess.Popen(
        pinned(argv, cpus), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    proxy = Proxy(process, port, data)
    if not wait_sip_ready(HOST, port, timeout=20):
        stop(process)
        raise SystemExit(f"the proxy did not answer; see {workdir / 'proxy.log'}")
    return proxy


def register_callee(workdir: Path, proxy_port: int, uas_port: int) -> None:
    """REGISTER uas from the port the SIPp callee will listen on (Contact = the callee)."""
    csv = write_users_csv(workdir / "callee.csv", [CALLEE])
    argv = [*SIPP_BASE, "-sf", str(SCENARIOS / "reg_uac_auth.xml"), "-inf", str(csv)]
    argv += ["-i", HOST, "-p", str(uas_port), "-cp", str(free_udp_port())]
    argv += ["-key", "expires", "3600", "-m", "1", "-timeout", "10s", "-timeout_error"]
    argv += [f"{HOST}:{proxy_port}"]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the callee REGISTER failed (sipp exit {done.returncode})")


@dataclass
class Rung:
    load: LoadResult
    seconds: float
    cpu: float  # proxy CPU seconds during the rung

    @property
    def passed(self) -> bool:
        load = self.load
        return (
            load.failed_pct < 1.0
            and load.wall <= self.seconds * 1.05 + 1.0
            and load.retransmissions <= 0.02 * load.intended
        )

    def line(self) -> str:
        load = self.load
        per_call = 1e6 * self.cpu / max(load.successful, 1)
        mark = "ok  " if self.passed else "FAIL"
        return (
            f"  {mark} offered {load.offered_rate:6.0f} cps  done {load.successful}/"
            f"{load.intended}  failed {load.failed_pct:5.2f}%  retrans "
            f"{load.retransmissions}  wall {load.wall:5.1f}s  proxy cpu "
            f"{100 * self.cpu / load.wall:5.1f}%  {per_call:5.0f} us/call"
        )


def run_rung(args: argparse.Namespace, rate: float, workdir: Path) -> Rung:
    port, uas_port = free_udp_port(), free_udp_port()
    proxy = start_proxy(workdir, port, args.server_cpus)
    uas = None
    try:
        register_callee(workdir, port, uas_port)
        uas = start_uas(uas_port, callee=CALLEE[0])
        cpu0 = proxy.cpu_seconds()
        load = run_load(
            "uac_call",
            f"{HOST}:{port}",
            rate=rate,
            seconds=args.step_seconds,
            workdir=workdir,
            service=CALLEE[0],
            extra_args=["-recv_timeout", "5000", "-max_retrans", "5"],
            label="proxy call",
        )
        return Rung(load, args.step_seconds, proxy.cpu_seconds() - cpu0)
    finally:
        if uas is not None:
            stop(uas)
        stop(proxy.process)


def ladder(args: argparse.Namespace, workdir: Path) -> Rung | None:
    return climb(
        lambda rate: run_rung(args, rate, workdir),
        start=args.start_rate,
        budget=args.budget,
        rung_seconds=args.step_seconds,
        floor=5.0,
    )


def profile(args: argparse.Namespace, workdir: Path) -> None:
    """cProfile the proxy for one rung at ``--profile-rate``; the top functions."""
    output = workdir / "proxy.prof"
    port, uas_port = free_udp_port(), free_udp_port()
    proxy = start_proxy(workdir, port, args.server_cpus, profile=output)
    uas = None
    try:
        register_callee(workdir, port, uas_port)
        uas = start_uas(uas_port, callee=CALLEE[0])
        load = run_load(
            "uac_call",
            f"{HOST}:{port}",
            rate=args.profile_rate,
            seconds=args.step_seconds,
            workdir=workdir,
            service=CALLEE[0],
            label="proxy call (profiled)",
        )
        print(load.line(), file=sys.stderr)
    finally:
        if uas is not None:
            stop(uas)
        proxy.process.send_signal(signal.SIGINT)  # a clean exit writes the profile
        try:
            proxy.process.wait(15)
        except subprocess.TimeoutExpired:
            stop(proxy.process)
    report = pstats.Stats(str(output))
    report.sort_stats("tottime").print_stats(25)
    report.sort_stats("cumulative").print_stats(30)


def serve(args: argparse.Namespace, workdir: Path) -> None:
    """Only run the pinned proxy on --serve PORT (for bench-peers' run.sh --target)."""
    proxy = start_proxy(workdir, args.serve, args.server_cpus)
    print(f"proxy pid {proxy.process.pid} on {HOST}:{args.serve}", flush=True)
    try:
        proxy.process.wait()
    except KeyboardInterrupt:
        stop(proxy.process)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start-rate", type=float, default=200)
    parser.add_argument("--step-seconds", type=float, default=8.0)
    parser.add_argument("--budget", type=float, default=150.0, help="seconds for the ladder")
    parser.add_argument("--server-cpus", default="0", help='taskset CPU list ("" = unpinned)')
    parser.add_argument("--profile-rate", type=float, help="cProfile the proxy at this rate")
    parser.add_argument("--serve", type=int, metavar="PORT", help="only run the proxy")
    parser.add_argument("--workdir", type=Path, help="keep logs here (default: a temp dir)")
    args = parser.parse_args(argv)
    if shutil.which("sipp") is None:
        raise SystemExit("sipp not found: apt-get install -y sip-tester")
    with tempfile.TemporaryDirectory(prefix="sipline-bench-proxy-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.serve:
            serve(args, workdir)
            return 0
        if args.profile_rate:
            profile(args, workdir)
            return 0
        best = ladder(args, workdir)
    if best is None:
        print("proxy call: no rung passed")
        return 1
    per_call = 1e6 * best.cpu / max(best.load.successful, 1)
    print(
        f"proxy call: {best.load.offered_rate:.0f} cps sustained (failed "
        f"{best.load.failed_pct:.2f}%, retransmissions {best.load.retransmissions}), "
        f"{per_call:.0f} us proxy CPU per call, proxy on CPU {args.server_cpus or 'any'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
