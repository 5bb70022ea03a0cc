"""The siptrace text log: FreeSWITCH's ``siptrace`` layout with the local address and a
date added, and the message kept byte for byte.

    recv 584 bytes from udp/[192.168.4.4]:5090 on udp/[10.0.0.1]:5060 at 2024-05-01 12:30:57.916812:
    ------------------------------------------------------------------------
    INVITE sip:...                        (exactly 584 bytes)
    ------------------------------------------------------------------------

``sipline.analysis`` reads it back (``read_siptrace``) with the same bytes, addresses,
directions and times (UTC, microseconds).
"""

from __future__ import annotations

import time
from pathlib import Path

from sipline.sip import Address

from ._files import FileTraceWriter, RotatingFile

__all__ = ["SiptraceWriter", "format_siptrace"]

_DASHES = b"-" * 72


def _endpoint(transport: str, address: Address) -> str:
    return f"{transport}/[{address.host or '?'}]:{address.port}"


def _clock(timestamp: float) -> str:
    micros = round(timestamp * 1_000_000)
    seconds, micros = divmod(micros, 1_000_000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}"


def format_siptrace(
    direction: str,
    transport: str,
    local: Address,
    remote: Address,
    timestamp: float,
    data: bytes,
) -> bytes:
    """One siptrace block: header line, dashes, the exact bytes, dashes."""
    preposition = "from" if direction == "recv" else "to"
    header = (
        f"{direction} {len(data)} bytes {preposition} {_endpoint(transport, remote)} "
        f"on {_endpoint(transport, local)} at {_clock(timestamp)}:\n"
    )
    return b"".join((header.encode(), _DASHES, b"\n", data, b"\n", _DASHES, b"\n"))


class SiptraceWriter(FileTraceWriter):
    """Appends siptrace blocks to a size-rotated file (see :class:`RotatingFile`)."""

    def __init__(self, path: Path, *, max_bytes: int = 50_000_000, backups: int = 5) -> None:
        self.file = RotatingFile(path, max_bytes=max_bytes, backups=backups)

    def write(
        self,
        direction: str,
        transport: str,
        local: Address,
        remote: Address,
        timestamp: float,
        data: bytes,
    ) -> None:
        self.file.write(format_siptrace(direction, transport, local, remote, timestamp, data))
