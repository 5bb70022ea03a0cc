"""Factories behind the `sipline_server`, `baresip` and `tshark` fixtures: each starts
its process, registers it with the test's ProcessGroup (stopped on teardown), returns it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from ._baresip import Baresip
from ._capture import Tshark, port_filter
from ._process import ManagedProcess
from ._server import ServerProcess

__all__ = ["BaresipFactory", "CaptureFactory", "ServerFactory"]

Register = Callable[[ManagedProcess], None]


class ServerFactory:
    """`sipline_server(*args, port=None, transport="udp", ...)` -> started ServerProcess.

    In `args`, "{host}", "{port}" and "{data_dir}" are replaced by the chosen values, e.g.
    `sipline_server("--listen", "udp:{host}:{port}", "--data-dir", "{data_dir}")`.
    """

    def __init__(self, workdir: Path, register: Register) -> None:
        self._workdir = workdir
        self._register = register
        self._count = 0

    def __call__(
        self,
        *args: str,
        host: str = "127.0.0.1",
        port: int | None = None,
        transport: str = "udp",
        data_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 20.0,
    ) -> ServerProcess:
        self._count += 1
        name = "sipline" if self._count == 1 else f"sipline-{self._count}"
        server = ServerProcess(
            args,
            workdir=self._workdir,
            name=name,
            host=host,
            port=port,
            transport=transport,
            data_dir=data_dir,
            env=env,
        )
        self._register(server)
        return server.start(ready_timeout)


class BaresipFactory:
    """`baresip("alice")` -> a Baresip phone with its ports chosen, not started yet:
    call `.start(account_line(...))` on it."""

    def __init__(self, workdir: Path, register: Register) -> None:
        self._workdir = workdir
        self._register = register
        self._names: set[str] = set()

    def __call__(self, name: str = "phone", *, host: str = "127.0.0.1") -> Baresip:
        unique, n = name, 1
        while unique in self._names:
            n += 1
            unique = f"{name}-{n}"
        self._names.add(unique)
        phone = Baresip(unique, workdir=self._workdir, host=host)
        self._register(phone)
        return phone


class CaptureFactory:
    """`tshark(5060, 5062)` or `tshark(bpf="udp port 5060")` -> a running capture on lo
    into `<tmp>/capture-N.pcap`; `.stop()` it before reading the file."""

    def __init__(self, workdir: Path, register: Register) -> None:
        self._workdir = workdir
        self._register = register
        self._count = 0

    def __call__(self, *ports: int, bpf: str | None = None, interface: str = "lo") -> Tshark:
        self._count += 1
        capture = Tshark(
            bpf if bpf is not None else port_filter(*ports),
            workdir=self._workdir,
            name=f"capture-{self._count}",
            interface=interface,
        )
        self._register(capture)
        return capture.start()
