"""Registrar benchmark (issue #4): authenticated registrations per second, and memory
per binding.

Rate: `sipline serve` pinned to one core (`taskset -c 0`), 10,000 users imported with
`sipline user import` (CSV), SIPp (pinned to another core when there is one) running
tests/integration/scenarios/reg_uac_auth.xml: REGISTER -> 401 -> REGISTER with MD5
Authorization -> 200, one user after the other (the users of
/work/shared/bench-peers/gen_users.py: u00000.., the same seed).  The ladder of
bench-peers: each rung offers a fixed rate for --step-seconds against a fresh server; it
passes with <1% failed calls, no backlog (SIPp done within 5% + 1 s of the rung time) and
retransmissions for <2% of calls (on the loopback a retransmission means an answer came
>500 ms late).  The rate doubles until a rung fails, then bisects (geometric mean) until
the bracket is within 8% or --budget seconds run out; the highest passing rung is printed.

Memory: in this process, a SqliteStore in a temp dir, 100,000 bindings saved the way the
registrar saves them (one update per AOR); RSS before and after (/proc/self/status).

    .venv/bin/python bench/register.py                  # both (about 2-3 minutes)
    .venv/bin/python bench/register.py --skip-rate      # memory only
    .venv/bin/python bench/register.py --keep-server    # leave a provisioned server up
                                                        # (for bench-peers' run.sh --target)
Loopback only; every process started here is stopped by its PID.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import secrets
import shutil
import string
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _ladder import climb
from _sipp import cpu_seconds, free_port, read_stats, stop, wait_sip_ready

from sipline.auth import AuthConfig, Authenticator, BruteForceGuard, NonceCounter, NonceFactory
from sipline.registrar import Registrar, RegistrarConfig
from sipline.sip import (
    Address,
    DigestChallenge,
    Request,
    Response,
    make_credentials,
    parse_message,
)
from sipline.store import DATABASE_NAME, Binding, SqliteStore, User

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "tests" / "integration" / "scenarios" / "reg_uac_auth.xml"
DOMAIN = "127.0.0.1"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- users ---------------------------------------------------------------------------------
def make_users(n: int) -> list[tuple[str, str]]:
    """The bench-peers subscribers (gen_users.py: same seed, names and passwords)."""
    rng = random.Random(20240601)
    alphabet = string.ascii_letters + string.digits
    return [(f"u{i:05d}", "".join(rng.choice(alphabet) for _ in range(12))) for i in range(n)]


def provision(work: Path, users: list[tuple[str, str]]) -> tuple[Path, Path]:
    """Import the users into a data dir with `sipline user import`; the SIPp -inf file."""
    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    import_file = work / "users-import.csv"
    rows = [f"{u}@{DOMAIN},{p}" for u, p in users]
    # the callee of bench-peers' call workloads, so --keep-server serves run.sh as well
    rows.append(f"uas@{DOMAIN},uasSecret123")
    import_file.write_text("aor,password\n" + "\n".join(rows) + "\n")
    t0 = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "sipline.cli",
            "user",
            "import",
            str(import_file),
            "--data",
            str(data),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    log(f"imported {len(rows)} users in {time.monotonic() - t0:.1f} s")
    injection = work / "users.csv"
    lines = [f"{u};{p};[authentication username={u} password={p}]" for u, p in users]
    injection.write_text("SEQUENTIAL\n" + "\n".join(lines) + "\n")
    return data, injection


# -- processes -------------------------------------------------------------------------------


def pinned(core: int | None, argv: list[str]) -> list[str]:
    if core is None or shutil.which("taskset") is None:
        return argv
    return ["taskset", "-c", str(core), *argv]


def start_server(data: Path, port: int, core: int | None, logfile: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "sipline.cli", "serve"]
    argv += ["--listen", f"udp:{DOMAIN}:{port}", "--listen", f"tcp:{DOMAIN}:{port}"]
    argv += ["--data", str(data), "--domain", DOMAIN, "--admin", "off"]
    with logfile.open("ab") as out:
        server = subprocess.Popen(
            pinned(core, argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    if not wait_sip_ready(DOMAIN, port, 20.0):
        stop(server)
        raise ServerDidNotStartError(f"sipline did not answer OPTIONS on port {port}")
    return server


def start_server_anywhere(
    data: Path, core: int | None, logfile: Path
) -> tuple[int, subprocess.Popen[bytes]]:
    """Start on a free port; another tenant of the box may take a port between our check
    and the server's bind, so try a few."""
    for _ in range(5):
        port = free_port()
        try:
            return port, start_server(data, port, core, logfile)
        except ServerDidNotStartError:
            continue
    raise SystemExit(f"sipline did not start on five free ports; see {logfile}")


class ServerDidNotStartError(Exception):
    pass


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
    note: str = ""

    @property
    def failed_pct(self) -> float:
        return 100.0 * (self.offered - self.ok) / max(self.offered, 1)

    @property
    def passed(self) -> bool:
        return not self.note

    def line(self) -> str:
        mark = "ok  " if self.passed else "FAIL"
        per_op = self.server_cpu * 1e4 / self.rate if self.rate else 0.0
        return (
            f"  {mark} offered {self.rate:6d}/s  done {self.ok}/{self.offered}  failed "
            f"{self.failed_pct:5.2f}%  retrans {self.retrans}  wall {self.wall:5.1f}s  "
            f"server cpu {self.server_cpu:5.1f}% ({per_op:.0f} us/reg) {self.note}"
        )


def run_rung(args: argparse.Namespace, work: Path, data: Path, injection: Path, rate: int) -> Rung:
    secs = args.step_seconds
    rung = Rung(rate=rate, offered=max(1, int(rate * secs)))
    port, server = start_server_anywhere(data, args.core, work / "server.log")
    stat = work / f"stat_{rate}.csv"
    stat.unlink(missing_ok=True)
    hard = secs * 2 + 15
    sipp_core = None if (os.cpu_count() or 1) < 2 else (args.core + 1) % (os.cpu_count() or 2)
    argv = ["sipp", "-sf", str(SCENARIO), "-inf", str(injection), "-key", "expires", "3600"]
    argv += ["-i", DOMAIN, "-p", str(free_port()), "-cp", str(free_port()), "-mp", str(free_port())]
    argv += ["-nostdin", "-buff_size", "4194304", "-r", str(rate), "-rp", "1000"]
    argv += ["-m", str(rung.offered), "-timeout", f"{int(hard)}s", "-recv_timeout", "5000"]
    argv += ["-max_retrans", "5", "-trace_stat", "-stf", str(stat), "-fd", "1"]
    argv += [f"{DOMAIN}:{port}"]
    try:
        cpu0 = cpu_seconds(server.pid)
        t0 = time.monotonic()
        sipp = subprocess.Popen(
            pinned(sipp_core, argv),
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
    finally:
        stop(server)
    stats = read_stats(stat)

    def number(column: str) -> int:
        try:
            return int(float(stats.get(column, "0") or 0))
        except ValueError:
            return 0

    rung.ok = number("SuccessfulCall(C)")
    rung.failed = number("FailedCall(C)")
    rung.retrans = number("Retransmissions(C)")
    if not stats:
        rung.note = "no SIPp statistics"
    elif rung.failed_pct >= 1.0:
        rung.note = rung.note or ">=1% failed"
    elif rung.wall > secs * 1.05 + 1.0:
        rung.note = rung.note or "could not keep the offered rate (backlog)"
    elif rung.retrans > 0.02 * rung.offered:
        rung.note = "retransmissions >2% of calls"
    return rung


def ladder(args: argparse.Namespace, work: Path, data: Path, injection: Path) -> Rung | None:
    return climb(
        lambda rate: run_rung(args, work, data, injection, rate),
        start=args.start_rate,
        budget=args.budget,
        rung_seconds=args.step_seconds,
        cap=args.cap,
    )


# -- memory ------------------------------------------------------------------------------------
def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def memory_per_binding(count: int) -> tuple[float, float]:
    """(bytes of RSS per binding, seconds to save them) for `count` bindings."""
    with tempfile.TemporaryDirectory(prefix="sipline-bench-") as tmp:
        store = SqliteStore(Path(tmp) / DATABASE_NAME)
        try:
            # warm up: the first update compiles statements and fills the page cache
            now = time.time()
            warm = _binding(count, now)  # an AOR outside the measured range
            store.update(warm.aor, save=[warm])
            store.remove_aor(warm.aor)
            gc.collect()
            before = rss_bytes()
            t0 = time.monotonic()
            for i in range(count):
                store.update(f"u{i:06d}@{DOMAIN}", save=[_binding(i, now)])
            elapsed = time.monotonic() - t0
            gc.collect()
            after = rss_bytes()
            assert store.count() == count
        finally:
            store.close()
    return (after - before) / count, elapsed


def _binding(i: int, now: float) -> Binding:
    """What the registrar stores for a typical desk phone's REGISTER."""
    port = 5060 + i % 50000
    return Binding(
        aor=f"u{i:06d}@{DOMAIN}",
        key=f"sip:u{i:06d}@10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}:{port}",
        contact=f"<sip:u{i:06d}@10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}:{port};transport=udp>",
        expires_at=now + 3600,
        call_id=f"{i:08x}-4b7c-11ef-9d3f-0242ac120002",
        cseq=2,
        source=Address("udp", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", port),
        local=Address("udp", DOMAIN, 5060),
        user_agent="Yealink SIP-T46S 66.86.0.15",
        registered_at=now,
    )


# -- registrar core, in process ---------------------------------------------------------------
def core_rate(users: list[tuple[str, str]], seconds: float) -> tuple[float, int]:
    """(registrations per second of server time, count) through parse ->
    Registrar.decide -> response bytes, twice per registration (401, then 200), with the
    server's composition of Authenticator, nonces, guard and a SqliteStore: the
    registrar's own cost, without the endpoint, transport and event loop.  Only the
    server side is timed (the client's digest and request building are not)."""
    with tempfile.TemporaryDirectory(prefix="sipline-bench-") as tmp:
        store = SqliteStore(Path(tmp) / DATABASE_NAME)
        try:
            for user, password in users:
                store.add_user(User.create(user, DOMAIN, password))
            now = time.time()
            authenticator = Authenticator(
                store,
                NonceFactory(secrets.token_bytes(32)),
                AuthConfig(algorithms=("MD5", "SHA-256")),
                guard=BruteForceGuard(),
                counter=NonceCounter(not_before=now - 1),
            )
            config = RegistrarConfig(domains=frozenset({DOMAIN}), local_addresses=frozenset())
            registrar = Registrar(config, store, authenticator)
            local = Address("udp", DOMAIN, 5060)
            done = 0
            server_time = 0.0
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                user, password = users[done % len(users)]
                server_time += _register_once(registrar, user, password, done, local)
                done += 1
            return done / server_time, done
        finally:
            store.close()


def _register_once(registrar: Registrar, user: str, password: str, n: int, local: Address) -> float:
    """One registration; the seconds the server side took."""
    source = Address("udp", "127.0.0.2", 10000 + n % 50000)
    first = _register_bytes(user, n, 1, "")
    challenge, spent = _answer(registrar, first, source, local, 401)
    header = challenge.headers.get("WWW-Authenticate")
    assert header is not None
    credentials = make_credentials(
        DigestChallenge.parse(header),
        username=user,
        password=password,
        method="REGISTER",
        uri=f"sip:{DOMAIN}",
    )
    second = _register_bytes(user, n, 2, f"Authorization: {credentials}\r\n")
    return spent + _answer(registrar, second, source, local, 200)[1]


def _register_bytes(user: str, n: int, cseq: int, extra: str) -> bytes:
    return (
        f"REGISTER sip:{DOMAIN} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.2:{10000 + n % 50000};branch=z9hG4bK{n}x{cseq};rport\r\n"
        f"From: <sip:{user}@{DOMAIN}>;tag={n}\r\nTo: <sip:{user}@{DOMAIN}>\r\n"
        f"Call-ID: {n}-bench@127.0.0.2\r\nCSeq: {cseq} REGISTER\r\n"
        f"Contact: <sip:{user}@127.0.0.2:{10000 + n % 50000}>\r\nExpires: 3600\r\n"
        f"{extra}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def _answer(
    registrar: Registrar, data: bytes, source: Address, local: Address, want: int
) -> tuple[Response, float]:
    t0 = time.perf_counter()
    request = parse_message(data)
    assert isinstance(request, Request)
    response = registrar.process(request, source, local, time.time())
    if response is not None:
        bytes(response)  # serialised, as the endpoint does before sending
    spent = time.perf_counter() - t0
    if response is None or response.status_code != want:
        raise RuntimeError(f"wanted {want}, got {response and bytes(response).decode()}")
    return response, spent


# -- main --------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--bindings", type=int, default=100_000)
    parser.add_argument("--step-seconds", type=float, default=8.0)
    parser.add_argument("--budget", type=float, default=120.0, help="seconds for the ladder")
    parser.add_argument("--start-rate", type=float, default=500.0)
    parser.add_argument("--cap", type=float, default=20_000.0)
    parser.add_argument("--core", type=int, default=0, help="CPU core of the server")
    parser.add_argument("--work", type=Path, help="work dir (default: a temp dir, removed)")
    parser.add_argument("--skip-rate", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-core", action="store_true")
    parser.add_argument("--core-seconds", type=float, default=5.0)
    parser.add_argument(
        "--keep-server",
        metavar="PORT",
        type=int,
        help="after the ladder, start a provisioned server on PORT and leave it running",
    )
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="sipline-bench-reg-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if not args.skip_rate:
            if shutil.which("sipp") is None:
                raise SystemExit("sipp not found: apt-get install -y sip-tester")
            data, injection = provision(work, make_users(args.users))
            log(f"== register ladder: server on core {args.core}, {args.users} users")
            best = ladder(args, work, data, injection)
            if best is None:
                print("register: no rung passed")
            else:
                per_op = best.server_cpu * 1e4 / best.rate
                print(
                    f"register: {best.rate} reg/s sustained (failed {best.failed_pct:.2f}%, "
                    f"retrans {best.retrans}) [{per_op:.0f} us server CPU per registration, "
                    f"server {best.server_cpu:.0f}% of one core, {args.users} users]",
                    flush=True,
                )
            if args.keep_server:
                try:
                    server = start_server(data, args.keep_server, args.core, work / "server.log")
                except ServerDidNotStartError as error:
                    raise SystemExit(f"{error}; see {work / 'server.log'}") from None
                print(f"server left running: pid {server.pid} on {DOMAIN}:{args.keep_server}")
        if not args.skip_core:
            rate, count = core_rate(make_users(min(args.users, 2000)), args.core_seconds)
            print(
                f"registrar core (in process, no transport): {rate:.0f} reg/s "
                f"({1e6 / rate:.0f} us per registration: 2 parses, 2 decisions, 2 responses; "
                f"{count} registrations)",
                flush=True,
            )
        if not args.skip_memory:
            per_binding, elapsed = memory_per_binding(args.bindings)
            print(
                f"memory: {per_binding:.0f} bytes RSS per binding at {args.bindings} bindings "
                f"(SqliteStore, saved in {elapsed:.1f} s: {args.bindings / elapsed:.0f}/s)",
                flush=True,
            )
    finally:
        if args.work is None and not args.keep_server:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
