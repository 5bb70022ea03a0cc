"""The sipline server under test (`python -m sipline.cli serve ...`) and an OPTIONS probe."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ._ports import free_port
from ._process import ManagedProcess

__all__ = ["ServerProcess", "options_ping"]


def _options_request(host: str, port: int, local: tuple[str, int], transport: str) -> bytes:
    tag = secrets.token_hex(4)
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    via_host = f"[{local[0]}]" if ":" in local[0] else local[0]
    return (
        f"OPTIONS sip:{target} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport.upper()} {via_host}:{local[1]};branch=z9hG4bK{tag};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{via_host}:{local[1]}>;tag={tag}\r\n"
        f"To: <sip:{target}>\r\n"
        f"Call-ID: probe-{tag}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Accept: application/sdp\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def _status(data: bytes) -> int | None:
    first = data.split(b"\r\n", 1)[0].split(b" ", 2)
    if len(first) >= 2 and first[0] == b"SIP/2.0" and first[1].isdigit():
        return int(first[1])
    return None


def options_ping(
    host: str = "127.0.0.1", port: int = 5060, transport: str = "udp", timeout: float = 1.0
) -> int | None:
    """Send one OPTIONS to host:port; the first final response's status code, or None when
    nothing (or only provisional responses) came back within `timeout` seconds."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    deadline = time.monotonic() + timeout
    with socket.socket(family, kind) as sock:
        sock.settimeout(timeout)
        try:
            if kind == socket.SOCK_STREAM:
                sock.connect((host, port))
            else:
                sock.bind((host, 0))
            local = sock.getsockname()[:2]
            request = _options_request(host, port, (local[0], local[1]), transport)
            if kind == socket.SOCK_DGRAM:
                sock.sendto(request, (host, port))
            else:
                sock.sendall(request)
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                status = _status(sock.recv(65535))
                if status is not None and status >= 200:
                    return status
        except OSError:  # refused, reset, timed out
            return None
    return None


class ServerProcess(ManagedProcess):
    """`sipline serve ARGS` in its own temp data dir; `start()` returns once it answers
    OPTIONS on (transport, host, port) with any final response."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        workdir: Path,
        name: str = "sipline",
        host: str = "127.0.0.1",
        port: int | None = None,
        transport: str = "udp",
        data_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.transport = transport
        self.data_dir = data_dir if data_dir is not None else workdir / f"{name}-data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        values = {"{host}": host, "{port}": str(self.port), "{data_dir}": str(self.data_dir)}
        expanded = []
        for arg in args:
            for placeholder, value in values.items():
                arg = arg.replace(placeholder, value)
            expanded.append(arg)
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        argv = [sys.executable, "-m", "sipline.cli", "serve", *expanded]
        super().__init__(name, argv, workdir=workdir, env=full_env, cwd=self.data_dir)

    @property
    def hostport(self) -> str:
        """The target for SIPp and phones: 127.0.0.1:5060, or [::1]:5060."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def start(self, ready_timeout: float = 20.0) -> ServerProcess:
        """Start and wait until it answers OPTIONS; raise (with its output) if it does not."""
        self.spawn()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if not self.running:
                code = self.stop()
                raise RuntimeError(
                    f"{self.name} exited with {code} before answering:\n{self.output()}"
                )
            if self.ping(timeout=0.25) is not None:
                return self
        self.stop()
        raise RuntimeError(
            f"{self.name} did not answer OPTIONS on {self.transport}:{self.hostport} "
            f"within {ready_timeout:g} s:\n{self.output()}"
        )

    def ping(self, timeout: float = 1.0) -> int | None:
        """Status code of the server's answer to an OPTIONS (None: no answer)."""
        return options_ping(self.host, self.port, self.transport, timeout)


def import_users(data_dir: Path, users: dict[str, str], domain: str = "127.0.0.1") -> None:
    """Create users (``user -> password``) in a server's data dir the way an operator
    does: ``sipline user import`` of a Flexisip-style users file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    users_file = data_dir.parent / "users.db.txt"
    lines = ["version:1", *(f"{u}@{domain} clrtxt:{p} ;" for u, p in users.items())]
    users_file.write_text("\n".join(lines) + "\n")
    command = [sys.executable, "-m", "sipline.cli", "user", "import", str(users_file)]
    done = subprocess.run(
        [*command, "--data", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
