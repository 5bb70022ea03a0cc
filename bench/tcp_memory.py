"""Memory per idle TCP connection held by the endpoint.

Starts ``tests/integration/endpoint_app.py`` with a TCP listener on 127.0.0.1, opens
``--connections`` TCP connections to it, each sending one OPTIONS and reading the 200,
and leaves them open (idle).  The server's resident memory (``VmRSS`` in
/proc/PID/status) is read before, after a warm-up of ``--warmup`` connections (the
one-time allocations: buffers, caches, code paths) and at the end.

    .venv/bin/python bench/tcp_memory.py [--connections 5000] [--warmup 200] [--uvloop]

Prints one line on stdout: the RSS growth per connection between warm-up and the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "tests" / "integration" / "endpoint_app.py"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def options(port: int, local: tuple[str, int], n: int) -> bytes:
    return (
        f"OPTIONS sip:{HOST}:{port};transport=tcp SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP {local[0]}:{local[1]};branch=z9hG4bKmem{n}x{os.getpid()}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:mem@{HOST}>;tag=m{n}\r\n"
        f"To: <sip:{HOST}:{port}>\r\n"
        f"Call-ID: mem-{n}-{os.getpid()}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def open_idle_connection(stack: ExitStack, port: int, n: int) -> None:
    """Connect, send one OPTIONS, read its 200 and keep the connection open."""
    sock = stack.enter_context(socket.create_connection((HOST, port), timeout=10))
    sock.sendall(options(port, sock.getsockname()[:2], n))
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError(f"connection {n} closed by the server")
        data += chunk
    if not data.startswith(b"SIP/2.0 200 "):
        status = data.split(b"\r\n", 1)[0]
        raise RuntimeError(f"connection {n}: {status!r}")


def settle(pid: int) -> int:
    """RSS once the server has finished reacting (two equal reads 0.2 s apart)."""
    previous = -1
    for _ in range(25):
        time.sleep(0.2)
        current = rss_kib(pid)
        if current == previous:
            return current
        previous = current
    return previous


def start_server(workdir: Path, port: int, use_uvloop: bool) -> subprocess.Popen[bytes]:
    log_path = workdir / "server.log"
    argv = [sys.executable, str(APP), "--listen", f"tcp:{HOST}:{port}"]
    if use_uvloop:
        argv.append("--uvloop")
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    deadline = time.monotonic() + 20
    while "listening on" not in log_path.read_text("utf-8", "replace"):
        if server.poll() is not None or time.monotonic() > deadline:
            stop(server)
            raise RuntimeError("the server did not start:\n" + log_path.read_text())
        time.sleep(0.05)
    return server


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.connections + 100
    if soft < need:  # both this process and the server (it inherits the limit)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need), hard))
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-tcp-memory-") as tmp:
        server = start_server(Path(tmp), port, args.uvloop)
        try:
            with ExitStack() as stack:
                start = settle(server.pid)
                for n in range(args.warmup):
                    open_idle_connection(stack, port, n)
                warm = settle(server.pid)
                began = time.monotonic()
                for n in range(args.warmup, args.connections):
                    open_idle_connection(stack, port, n)
                elapsed = time.monotonic() - began
                end = settle(server.pid)
                alive = server.poll() is None
        finally:
            stop(server)
    added = args.connections - args.warmup
    per_connection = (end - warm) * 1024 / max(1, added)
    loop = "uvloop" if args.uvloop else "asyncio"
    print(
        f"RSS {start} KiB at start, {warm} KiB after {args.warmup} connections, {end} KiB "
        f"after {args.connections} ({added} opened in {elapsed:.1f} s), server alive: {alive}",
        file=sys.stderr,
    )
    print(
        f"endpoint idle TCP connection ({loop}): {per_connection / 1024:.1f} KiB RSS each "
        f"({args.connections} connections, +{(end - start) / 1024:.1f} MiB in all)"
    )
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main())
