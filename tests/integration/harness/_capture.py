"""Packet capture on the loopback into a pcap file (dumpcap, which tshark itself uses;
tshark when dumpcap is not on PATH)."""

from __future__ import annotations

import shutil
import signal
import socket
import struct
import time
from pathlib import Path

from ._ports import free_port
from ._process import ManagedProcess

__all__ = ["Tshark", "pcap_packet_count", "port_filter"]


def port_filter(*ports: int) -> str:
    """A capture filter for UDP and TCP traffic to or from any of `ports`."""
    if not ports:
        raise ValueError("port_filter needs at least one port")
    return " or ".join(f"port {p}" for p in ports)


PROBE_PAYLOAD = b"sipline-harness-capture-probe"


def pcap_packet_count(path: Path, *, include_probes: bool = False) -> int:
    """Number of records in a classic pcap file (0 when it is missing or empty), not
    counting the capture's own start-up probes unless `include_probes`."""
    try:
        data = path.read_bytes()
    except OSError:
        return 0
    if len(data) < 24:
        return 0
    magic = data[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">"}.get(magic)
    endian = endian or {b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)  # ns
    if endian is None:
        raise ValueError(f"{path}: not a classic pcap file (magic {magic.hex()})")
    count, offset = 0, 24
    while offset + 16 <= len(data):
        (captured,) = struct.unpack_from(endian + "I", data, offset + 8)
        frame = data[offset + 16 : offset + 16 + captured]
        offset += 16 + captured
        if offset <= len(data) and (include_probes or not frame.endswith(PROBE_PAYLOAD)):
            count += 1
    return count


class Tshark(ManagedProcess):
    """Capture `capture_filter` (BPF) on `interface` into `pcap_path` until stopped.

    dumpcap says "Capturing on" before packets really flow and writes them in blocks, so on
    the loopback it also captures UDP datagrams to a private probe port (payload
    PROBE_PAYLOAD): `start()` and `stop()` send them until one reaches the file. The pcap
    holds a few of those at both ends; `packet_count()` leaves them out.
    """

    stop_signal = signal.SIGINT  # flushes and closes the file

    def __init__(
        self,
        capture_filter: str,
        *,
        workdir: Path,
        name: str = "capture",
        interface: str = "lo",
        pcap_path: Path | None = None,
    ) -> None:
        self.pcap_path = pcap_path if pcap_path is not None else workdir / f"{name}.pcap"
        self.probe_port = free_port() if interface == "lo" else None
        if self.probe_port is not None:
            capture_filter = f"({capture_filter}) or (udp dst port {self.probe_port})"
        self.capture_filter = capture_filter
        program = "dumpcap" if shutil.which("dumpcap") else "tshark"
        argv = [program, "-i", interface, "-f", capture_filter, "-w", str(self.pcap_path)]
        argv += ["-P"] if program == "dumpcap" else ["-F", "pcap"]
        super().__init__(name, [*argv, "-q"], workdir=workdir)

    def start(self, timeout: float = 15.0) -> Tshark:
        """Start and wait until the capture is running."""
        self.spawn()
        deadline = time.monotonic() + timeout
        if not self.wait_output("Capturing on", timeout) or not self._barrier(deadline):
            self.stop()
            raise RuntimeError(f"{self.name}: capture did not start:\n{self.output()}")
        return self

    def stop(self, grace: float = 5.0) -> int | None:
        """Stop after everything captured so far is in the file: libpcap hands packets over
        in blocks, and an interrupted dumpcap drops the block it has not been given yet."""
        if self.running:
            self._barrier(time.monotonic() + grace)
        return super().stop(grace)

    def _probes_in_file(self) -> int:
        return pcap_packet_count(self.pcap_path, include_probes=True) - self.packet_count()

    def _barrier(self, deadline: float) -> bool:
        """Send probes until one sent now is in the file (so is everything before it)."""
        if self.probe_port is None:
            return True
        before = self._probes_in_file()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while time.monotonic() < deadline and self.running:
                sock.sendto(PROBE_PAYLOAD, ("127.0.0.1", self.probe_port))
                time.sleep(0.05)
                if self._probes_in_file() > before:
                    return True
        return False

    def packet_count(self) -> int:
        """Packets written so far (complete after `stop()`)."""
        return pcap_packet_count(self.pcap_path)
