"""The live trace: the one ``TraceSink`` given to the endpoint (STYLE.md convention 10).

:class:`TraceControl` is called by the transport for every message in or out.  It keeps
the most recent messages in a bounded in-memory ring (always, so the admin API can
draw the ladder of any live call) and, while enabled, hands each message to its
writers: the siptrace text log, the pcap file, the HEP collector.  It can be switched
on and off at run time; nothing it does raises into the transport.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from sipline.analysis import Direction, Origin, TraceRecord, analyse, detail_flow
from sipline.analysis.render import render
from sipline.config import TraceSection
from sipline.sip import Address

from ._hep import HepSender
from ._pcap import PcapWriter
from ._siptrace import SiptraceWriter

__all__ = ["TraceControl", "TraceWriter", "make_trace"]

logger = logging.getLogger("sipline.trace")

#: Messages kept in memory for the admin API's ladders (about 1 kB each).
DEFAULT_MEMORY_RECORDS = 10_000
_LIVE = "live"


class TraceWriter(Protocol):
    """Where enabled tracing sends each message: a file, a collector."""

    @property
    def errors(self) -> int: ...

    def write(
        self,
        direction: str,
        transport: str,
        local: Address,
        remote: Address,
        timestamp: float,
        data: bytes,
    ) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class TraceControl:
    """A ``sipline.transport.TraceSink`` fanning out to writers and a memory ring."""

    def __init__(
        self,
        writers: Sequence[TraceWriter] = (),
        *,
        enabled: bool = False,
        memory_records: int = DEFAULT_MEMORY_RECORDS,
    ) -> None:
        self.writers = tuple(writers)
        self._enabled = enabled
        self._ring: collections.deque[_RingEntry] = collections.deque(maxlen=memory_records)
        self._count = 0
        self._failed_writers: set[int] = set()

    # --- the admin API's TraceControl protocol --------------------------------------

    @property
    def enabled(self) -> bool:
        return self._enabled

    def set_enabled(self, enabled: bool) -> None:
        if self._enabled and not enabled:
            self.flush()
        if enabled != self._enabled:
            logger.info("SIP trace %s", "enabled" if enabled else "disabled")
        self._enabled = enabled

    def records(self) -> list[TraceRecord]:
        """The messages kept in memory (most recent ones), oldest first."""
        return [_record(*entry) for entry in list(self._ring)]

    def file_path(self) -> Path | None:
        """The siptrace text log, None when there is none."""
        return next((w.path for w in self.writers if isinstance(w, SiptraceWriter)), None)

    # --- more ------------------------------------------------------------------------

    @property
    def errors(self) -> int:
        """Messages the writers could not write or send, since start."""
        return sum(writer.errors for writer in self.writers)

    @property
    def messages(self) -> int:
        """Messages seen since start (enabled or not)."""
        return self._count

    def ladder_for(
        self, call_id: str, output_format: str = "text", *, width: int = 100, explain: bool = False
    ) -> str | None:
        """The ladder of the call (all its B2BUA legs) that ``call_id`` belongs to, from
        the messages in memory; None when none of them has that Call-ID.  Formats are
        those of ``sipline ladder``: text, svg, html, mermaid, json."""
        flows = analyse(self.records(), details=False)
        flow = next((f for f in flows if call_id in f.call_ids), None)
        if flow is None:
            return None
        detail_flow(flow)
        return render([flow], output_format, width=width, explain=explain)

    def __call__(
        self,
        direction: str,
        transport: str,
        local: Address,
        remote: Address,
        timestamp: float,
        data: bytes,
        /,
    ) -> None:
        self._count += 1
        # Kept raw (a tuple is cheap on the hot path); records() builds TraceRecords.
        self._ring.append((direction, transport, local, remote, timestamp, data, self._count))
        if not self._enabled:
            return
        for writer in self.writers:
            try:
                writer.write(direction, transport, local, remote, timestamp, data)
            except Exception:  # a writer bug must not reach the transport
                if id(writer) not in self._failed_writers:
                    self._failed_writers.add(id(writer))
                    logger.exception("trace writer %r failed (logged once)", writer)

    def flush(self) -> None:
        for writer in self.writers:
            writer.flush()

    def close(self) -> None:
        """Write what is buffered and close files and sockets."""
        self._enabled = False
        for writer in self.writers:
            writer.close()


def make_trace(
    section: TraceSection,
    data_dir: str | Path,
    *,
    memory_records: int = DEFAULT_MEMORY_RECORDS,
) -> TraceControl:
    """The live trace as configured in ``[trace]``: files relative to ``data_dir``.

    Files are opened at the first message traced, so a disabled trace creates none.
    Raises ``ValueError`` (one line) for a bad ``hep`` collector.
    """
    base = Path(data_dir)
    writers: list[TraceWriter] = []
    if section.file:
        writers.append(
            SiptraceWriter(
                base / section.file, max_bytes=section.max_bytes, backups=section.backups
            )
        )
    if section.pcap:
        writers.append(
            PcapWriter(base / section.pcap, max_bytes=section.max_bytes, backups=section.backups)
        )
    if section.hep:
        writers.append(HepSender(section.hep))
    return TraceControl(writers, enabled=section.enabled, memory_records=memory_records)


_RingEntry = tuple[str, str, Address, Address, float, bytes, int]


def _record(
    direction: str,
    transport: str,
    local: Address,
    remote: Address,
    timestamp: float,
    data: bytes,
    number: int,
) -> TraceRecord:
    received = direction == "recv"
    return TraceRecord(
        time=timestamp,
        direction=Direction.RECEIVED if received else Direction.SENT,
        source=remote if received else local,
        destination=local if received else remote,
        transport=transport,
        raw=data,
        origin=Origin(_LIVE, packet=number),
    )
