"""Pick the reader for a file (auto-detection or ``--input-format``) and read it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from ._pcap import PCAP_MAGICS, PCAPNG_MAGIC, read_pcap
from ._record import TraceFormatError, TraceRecord
from ._text_readers import SIPTRACE_HEADER, read_plain, read_siptrace, read_syslog

__all__ = ["INPUT_FORMATS", "detect_format", "read_records", "read_trace", "read_traces"]

Reader = Callable[[bytes, str], list[TraceRecord]]

#: ``--input-format`` choices; "sipline" and "freeswitch" share the siptrace layout.
INPUT_FORMATS = ("auto", "sipline", "freeswitch", "pcap", "syslog", "plain")
_READERS: dict[str, Reader] = {
    "sipline": read_siptrace,
    "freeswitch": read_siptrace,
    "pcap": read_pcap,
    "syslog": read_syslog,
    "plain": read_plain,
}
_SIPLINE_HEADER = re.compile(rb"(?:recv|send) \d+ bytes (?:from|to) \S+ on \S+ at \d{4}-")
_SYSLOG_LINE = re.compile(rb"\S.*?(?:[A-Z]+ \S+ SIP/2\.0|SIP/2\.0 \d{3} ).*\^M")
_PLAIN_START = re.compile(rb"(?m)^[ \t]*(?:[A-Z]+ \S+ SIP/2\.0\r?$|SIP/2\.0 \d{3} )")


def _is_binary(data: bytes) -> bool:
    sample = data[:4096]
    if b"\x00" in sample:
        return True
    controls = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 13, 12, 27))
    return controls > len(sample) // 20


def detect_format(data: bytes) -> str:
    """The input format of ``data``, or ``TraceFormatError`` naming what it looks like."""
    if data[:4] == PCAPNG_MAGIC or data[:4] in PCAP_MAGICS:
        return "pcap"
    if not data.strip():
        raise TraceFormatError("empty file: no SIP messages to show")
    if _SIPLINE_HEADER.search(data[:4096]):
        return "sipline"  # sipline's own log keeps binary bodies byte for byte
    if _is_binary(data):
        raise TraceFormatError(
            "binary data that is not a pcap or pcapng file (unknown magic number "
            f"{data[:4].hex()}); not a SIP trace"
        )
    if _SIPLINE_HEADER.search(data):
        return "sipline"
    if SIPTRACE_HEADER.search(data.decode("utf-8", errors="replace")):
        return "freeswitch"
    if _SYSLOG_LINE.search(data):
        return "syslog"
    if _PLAIN_START.search(data):
        return "plain"
    raise TraceFormatError(
        "not a SIP trace: no siptrace block, pcap header, syslog SIP line or SIP start line found"
    )


def read_trace(path: str | Path, input_format: str = "auto") -> list[TraceRecord]:
    """Every SIP message in one file; ``TraceFormatError`` (one line) on bad input."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise TraceFormatError(f"{name}: cannot read: {error.strerror or error}") from None
    return read_records(data, name, input_format)


def read_records(data: bytes, name: str, input_format: str = "auto") -> list[TraceRecord]:
    """Like :func:`read_trace` for bytes already in memory."""
    if input_format not in INPUT_FORMATS:
        raise TraceFormatError(f"unknown input format {input_format!r}: use one of {INPUT_FORMATS}")
    try:
        kind = detect_format(data) if input_format == "auto" else input_format
    except TraceFormatError as error:
        raise TraceFormatError(f"{name}: {error}") from None
    from ._analyse import without_cyclic_gc

    with without_cyclic_gc():
        records = _READERS[kind](data, name)
    if not records:
        raise TraceFormatError(f"{name}: no SIP messages found in this {kind} input")
    return records


def read_traces(paths: Iterable[str | Path], input_format: str = "auto") -> list[TraceRecord]:
    """Several files merged in time order (files without times keep their order)."""
    records: list[TraceRecord] = []
    for path in paths:
        records.extend(read_trace(path, input_format))
    if all(record.time is not None for record in records):
        records.sort(key=lambda record: record.time or 0.0)
    return records
