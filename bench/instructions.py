"""Instructions per operation, counted by valgrind's callgrind.

Wall-clock rates swing on a busy or virtual machine; an instruction count does not:
the same code with the same inputs gives the same count, whatever else runs.  Use it
to compare two versions of the code; the rate benchmarks say what the count buys.

    .venv/bin/python bench/instructions.py parse      # parse + views + serialize
    .venv/bin/python bench/instructions.py register   # one authenticated registration

Each count is the difference of two runs, of N and N + DELTA operations, divided by
DELTA, so that start-up and imports cancel out.

- parse: the loop of bench/parse.py (parse, read top Via branch, From/To tags, CSeq,
  Call-ID, serialize) over distinct variants of its INVITE and 200 OK, in process.
- register: `sipline serve` under callgrind, 2,000 users imported; a client in this
  process (plain sockets and hashlib, not sipline) sends REGISTER, reads the 401,
  sends the REGISTER with an MD5 digest and reads the 200, one registration after the
  other.  Only the server's user-space instructions count (system calls are the
  kernel's).

Needs valgrind (Debian: valgrind).  Loopback only; the server it starts is stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from _sipp import free_udp_port, wait_sip_ready
from register import _register_bytes, make_users, provision

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
_COLLECTED = re.compile(rb"Collected : (\d+)")


def callgrind(argv: list[str]) -> subprocess.Popen[bytes]:
    """``python ARGV`` under callgrind, with a fixed hash seed (same dict layouts)."""
    return subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def collected(process: subprocess.Popen[bytes]) -> int:
    _, err = process.communicate()
    found = _COLLECTED.search(err)
    if found is None:
        raise SystemExit(f"callgrind printed no count:\n{err.decode(errors='replace')[-2000:]}")
    return int(found.group(1))


# -- parse ---------------------------------------------------------------------------------
def parse_worker(kind: str, count: int) -> None:
    """The measured loop, run under callgrind by ``parse_count``."""
    from parse import INVITE, OK, handle, variants

    for wire in variants(INVITE if kind == "invite" else OK, count):
        handle(wire)


def parse_count(kind: str, base: int, delta: int) -> int:
    runs = [
        callgrind([str(Path(__file__)), "_parse", kind, str(count)])
        for count in (base, base + delta)
    ]
    small, large = (collected(run) for run in runs)
    return (large - small) // delta


# -- register ------------------------------------------------------------------------------
# The users, their import and the REGISTER requests are bench/register.py's.
def final_response(sock: socket.socket) -> bytes:
    while True:
        data = sock.recv(65535)
        if not data.startswith(b"SIP/2.0 1"):
            return data


def register_all(port: int, users: list[tuple[str, str]], count: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(120)
        server = (HOST, port)
        ha2 = hashlib.md5(f"REGISTER:sip:{HOST}".encode()).hexdigest()
        for i in range(count):
            user, password = users[i % len(users)]
            sock.sendto(_register_bytes(user, i, 1, ""), server)
            challenge = final_response(sock)
            nonce = re.search(rb'nonce="([^"]+)"', challenge)
            if not challenge.startswith(b"SIP/2.0 401") or nonce is None:
                raise SystemExit(f"wanted a 401, got {challenge[:80]!r}")
            ha1 = hashlib.md5(f"{user}:{HOST}:{password}".encode()).hexdigest()
            cnonce = f"{i:08x}"
            text = f"{ha1}:{nonce.group(1).decode()}:00000001:{cnonce}:auth:{ha2}"
            digest = hashlib.md5(text.encode()).hexdigest()
            authorization = (
                f'Authorization: Digest username="{user}",realm="{HOST}",'
                f'nonce="{nonce.group(1).decode()}",uri="sip:{HOST}",response="{digest}",'
                f'algorithm=MD5,cnonce="{cnonce}",qop=auth,nc=00000001\r\n'
            )
            sock.sendto(_register_bytes(user, i, 2, authorization), server)
            ok = final_response(sock)
            if not ok.startswith(b"SIP/2.0 200"):
                raise SystemExit(f"wanted a 200, got {ok[:80]!r}")


def register_run(template: Path, work: Path, users: list[tuple[str, str]], count: int) -> int:
    data = work / f"data-{count}"
    shutil.copytree(template, data)
    port = free_udp_port()
    argv = ["-m", "sipline.cli", "serve", "--listen", f"udp:{HOST}:{port}", "--data", str(data)]
    argv += ["--domain", HOST, "--admin", "off", "--log-level", "warning"]
    server = callgrind(argv)
    try:
        if not wait_sip_ready(HOST, port, 300.0):
            raise SystemExit("sipline did not start under valgrind")
        register_all(port, users, count)
    finally:
        server.send_signal(signal.SIGINT)
    return collected(server)


def register_count(base: int, delta: int) -> int:
    users = make_users(2000)
    with tempfile.TemporaryDirectory(prefix="sipline-instr-") as tmp:
        work = Path(tmp)
        template, _ = provision(work, users)
        small = register_run(template, work, users, base)
        large = register_run(template, work, users, base + delta)
    return (large - small) // delta


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "_parse":
        parse_worker(sys.argv[2], int(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["parse", "register"])
    parser.add_argument("--base", type=int, default=None, help="operations in the short run")
    parser.add_argument("--delta", type=int, default=None, help="extra operations measured")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    if args.what == "parse":
        base, delta = args.base or 500, args.delta or 2000
        for kind, label in (("invite", "INVITE with SDP"), ("ok", "200 OK")):
            count = parse_count(kind, base, delta)
            print(f"parse + views + serialize, {label}: {count:,} instructions per message")
    else:
        base, delta = args.base or 200, args.delta or 1000
        count = register_count(base, delta)
        print(f"authenticated registration, server side: {count:,} instructions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
