"""Readers for text traces: siptrace logs (sipline's own and FreeSWITCH console
captures), phone syslog captures, and plain concatenated SIP messages.

All of them return :class:`TraceRecord` lists.  Text captures lose carriage returns and
often bodies ("SDP omitted"), so messages are rebuilt with CRLF line ends and, when
the body in the capture is shorter than its Content-Length, the header is rewritten to
what is there and a note says so: the message still parses and is still shown.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sipline.sip import Address

from ._framing import content_length
from ._record import LOCAL, Direction, Endpoint, Origin, TraceRecord

__all__ = ["SIPTRACE_HEADER", "read_plain", "read_siptrace", "read_syslog"]

#: ``recv 584 bytes from udp/[192.168.4.4]:5090 at 12:30:57.916812:`` as FreeSWITCH writes
#: it; sipline adds the local address (`` on udp/[10.0.0.1]:5060``) and a date.
SIPTRACE_HEADER = re.compile(
    r"(?P<dir>recv|send) (?P<size>\d+) bytes (?:from|to) "
    r"(?P<ptr>[a-z]+)/\[(?P<phost>[^\]\s]+)\]:(?P<pport>\d+)"
    r"(?: on (?P<ltr>[a-z]+)/\[(?P<lhost>[^\]\s]+)\]:(?P<lport>\d+))?"
    r" at (?:(?P<date>\d{4}-\d\d-\d\d)[ T])?(?P<time>\d\d:\d\d:\d\d(?:\.\d+)?):"
)
_DASHES = re.compile(r"^[ \t.]*-{20,}[ \t]*$")
_DASH_PREFIX = re.compile(r"^[\s.]*(?:-{20,}\s*)?")
_START_TEXT = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9.!%*_+`'~-]* [^ \r\n]+ SIP/2\.0(?=[\s^]|$)|SIP/2\.0 \d{3}(?=[\s^]|$))"
)
_HEADER_LINE = re.compile(r"^[A-Za-z0-9!%*_+`'~.-]+[ \t]*:")
_SDP_LINE = re.compile(r"^[a-z]=")
#: Header names used to cut a message that a capture flattened onto one line.
_KNOWN_HEADERS = (
    "Via|v|From|f|To|t|Call-ID|i|CSeq|Contact|m|Max-Forwards|Expires|Allow|Allow-Events|u"
    "|User-Agent|Server|Supported|k|Require|Content-Type|c|Content-Length|l|Content-Disposition"
    "|Date|Accept|Record-Route|Route|WWW-Authenticate|Proxy-Authenticate|Authorization"
    "|Proxy-Authorization|Reason|Session-Expires|x|Min-SE|Remote-Party-ID|P-Asserted-Identity"
    "|Event|o|Subscription-State|Refer-To|r|Referred-By|b|Warning|Retry-After|Unsupported"
)
_ONE_LINE_SPLIT = re.compile(rf"\s+(?=(?:{_KNOWN_HEADERS}):\s)")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


class _LineIndex:
    """Line numbers (1-based) of character offsets."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(self, offset: int) -> int:
        import bisect

        return bisect.bisect_right(self._starts, offset)


def _clock(date: str | None, time_text: str) -> float:
    hours, minutes, seconds = time_text.split(":")
    of_day = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    if date is None:
        return of_day
    day = calendar.timegm(datetime.strptime(date, "%Y-%m-%d").timetuple())
    return day + of_day


def _unwrap_midnight(records: list[TraceRecord], dated: list[bool]) -> list[TraceRecord]:
    """Times of day only: a jump back of more than 12 h is the next day."""
    offset = 0.0
    previous: float | None = None
    result = []
    for record, has_date in zip(records, dated, strict=True):
        time = record.time
        if time is not None and not has_date:
            if previous is not None and time + offset < previous - 43200:
                offset += 86400.0
            time += offset
            previous = time
            record = _replace_time(record, time)
        result.append(record)
    return result


def _replace_time(record: TraceRecord, time: float) -> TraceRecord:
    return TraceRecord(
        time,
        record.direction,
        record.source,
        record.destination,
        record.transport,
        record.raw,
        record.origin,
        record.notes,
    )


@dataclass(slots=True)
class _Block:
    raw: bytes
    notes: tuple[str, ...]


def _fix_length(head: list[str], body: bytes, notes: list[str]) -> bytes:
    """Join header lines and body; make Content-Length match the body we have."""
    declared = content_length(_encode("\n".join(head)))
    if declared is not None and declared != len(body):
        notes.append(
            f"body not in the capture: Content-Length {declared}, {len(body)} bytes present"
            if len(body) < declared
            else f"Content-Length {declared} but {len(body)} bytes of body in the capture"
        )
        head = [
            re.sub(
                r"^((?:content-length|l)[ \t]*:[ \t]*)\d+", rf"\g<1>{len(body)}", line, flags=re.I
            )
            for line in head
        ]
    return _encode("\r\n".join(head) + "\r\n\r\n") + body


def _dedent(line: str, indent: int) -> str:
    """Remove the capture's indentation (FreeSWITCH indents messages in newer logs)."""
    if line[:indent].isspace():
        return line[indent:]
    return line if indent == 0 else line.lstrip()


def _block_from_lines(lines: list[str], *, sdp_only: bool) -> _Block:
    """Rebuild a message from text lines that start with its start line."""
    indent = len(lines[0]) - len(lines[0].lstrip())
    head: list[str] = []
    index = 0
    for index, line in enumerate(lines):  # noqa: B007 - index used after the loop
        text = _dedent(line, indent)
        stripped = text.rstrip()
        if not stripped or _DASHES.match(stripped):
            break
        if head and not (_HEADER_LINE.match(stripped) or text[:1] in " \t"):
            break  # prose after a capture that left out the blank line
        head.append(stripped if not head or text[:1] not in " \t" else " " + stripped.strip())
    else:
        index = len(lines)
    body_lines: list[str] = []
    declared = content_length(_encode("\n".join(head))) or 0
    size = 0
    for line in lines[index + 1 :] if index < len(lines) else []:
        text = _dedent(line, indent).strip()
        if size >= declared or _DASHES.match(text) or (sdp_only and not _SDP_LINE.match(text)):
            break
        body_lines.append(text)
        size += len(_encode(text)) + 2
    body = _encode("".join(f"{line}\r\n" for line in body_lines))
    notes: list[str] = []
    return _Block(_fix_length(head, body, notes), tuple(notes))


def _block_from_one_line(text: str) -> _Block:
    """A message flattened onto one line: cut it before each known header name."""
    parts = [part.strip() for part in _ONE_LINE_SPLIT.split(text.strip()) if part.strip()]
    notes = ["rebuilt from one line of text (line breaks lost in the capture)"]
    return _Block(_fix_length(parts, b"", notes), tuple(notes))


def _exact_block(data: bytes, start: int, size: int) -> bytes | None:
    """sipline's own log keeps the message byte for byte: take exactly ``size`` bytes."""
    match = re.compile(rb"[ \t]*\r?\n[ \t]*-{20,}[ \t]*\r?\n").match(data, start)
    if match is None:
        return None
    raw = data[match.end() : match.end() + size]
    after = data[match.end() + size : match.end() + size + 200]
    if len(raw) != size or b"\r\n\r\n" not in raw:
        return None
    if after.strip() and not re.match(rb"\s*(?:-{20,}|recv |send )", after):
        return None
    return raw


def _siptrace_endpoints(match: re.Match[str]) -> tuple[Endpoint, Endpoint, str]:
    transport = match["ptr"]
    peer = Address(transport, match["phost"], int(match["pport"]))
    local: Endpoint = LOCAL
    if match["lhost"] is not None:
        local = Address(match["ltr"], match["lhost"], int(match["lport"]))
    if match["dir"] == "recv":
        return peer, local, transport
    return local, peer, transport


def read_siptrace(data: bytes, path: str) -> list[TraceRecord]:
    """siptrace blocks, wherever they are in the text (console logs, documents)."""
    text = _decode(data)
    lines = _LineIndex(text)
    matches = list(SIPTRACE_HEADER.finditer(text))
    records: list[TraceRecord] = []
    dated: list[bool] = []
    byte_offsets = _byte_offsets(text, [m.end() for m in matches])
    for number, match in enumerate(matches):
        end = matches[number + 1].start() if number + 1 < len(matches) else len(text)
        exact = _exact_block(data, byte_offsets[number], int(match["size"]))
        block = _Block(exact, ()) if exact is not None else _text_block(text[match.end() : end])
        source, destination, transport = _siptrace_endpoints(match)
        records.append(
            TraceRecord(
                time=_clock(match["date"], match["time"]),
                direction=Direction.RECEIVED if match["dir"] == "recv" else Direction.SENT,
                source=source,
                destination=destination,
                transport=transport,
                raw=block.raw,
                origin=Origin(path, line=lines.line_of(match.start())),
                notes=block.notes,
            )
        )
        dated.append(match["date"] is not None)
    return _unwrap_midnight(records, dated)


def _byte_offsets(text: str, offsets: list[int]) -> list[int]:
    if text.isascii():
        return offsets
    result = []
    position = 0
    size = 0
    for offset in offsets:
        size += len(_encode(text[position:offset]))
        position = offset
        result.append(size)
    return result


def _text_block(region: str) -> _Block:
    region = _DASH_PREFIX.sub("", region, count=1)
    first_line, _, _ = region.partition("\n")
    start = _START_TEXT.match(first_line.strip())
    if start is None:
        return _Block(_encode(region.strip()), ("no SIP message after the siptrace line",))
    if len(first_line.strip()) > start.end() + 2 and _ONE_LINE_SPLIT.search(first_line):
        return _block_from_one_line(first_line)
    return _block_from_lines(region.split("\n"), sdp_only=True)


# --- syslog -----------------------------------------------------------------------------

_SYSLOG_TIME = re.compile(
    r"(?P<iso>\d{4}-\d\d-\d\d)[T ](?P<itime>\d\d:\d\d:\d\d(?:\.\d+)?)"
    r"|(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<btime>\d\d:\d\d:\d\d(?:\.\d+)?)"
)
_PEER = re.compile(r"(?P<host>\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})")
_RECEIVED_WORDS = re.compile(r"(?i)\b(?:recv|rcvd|received|rx|incoming|from)\b|<<|<-")
_SENT_WORDS = re.compile(r"(?i)\b(?:send|sent|sending|tx|outgoing|to)\b|>>|->")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}


def _syslog_time(prefix: str) -> float | None:
    match = _SYSLOG_TIME.search(prefix)
    if match is None:
        return None
    if match["iso"]:
        return _clock(match["iso"], match["itime"])
    month = _MONTHS.get(match["mon"])
    if month is None:
        return None
    return _clock(f"1970-{month:02d}-{int(match['day']):02d}", match["btime"])


def _syslog_direction(prefix: str) -> Direction | None:
    received = _RECEIVED_WORDS.search(prefix)
    sent = _SENT_WORDS.search(prefix)
    if received and (not sent or received.start() < sent.start()):
        return Direction.RECEIVED
    return Direction.SENT if sent else None


def _syslog_endpoints(
    prefix: str, direction: Direction | None
) -> tuple[Endpoint, Endpoint, str | None]:
    transport = next((t for t in ("udp", "tcp", "tls", "wss", "ws") if t in prefix.lower()), None)
    peer_match = _PEER.search(prefix)
    peer: Endpoint = None
    if peer_match is not None:
        host = peer_match["host"].strip("[]")
        peer = Address(transport or "udp", host, int(peer_match["port"]))
    if direction is Direction.RECEIVED:
        return peer, LOCAL, transport
    if direction is Direction.SENT:
        return LOCAL, peer, transport
    return None, None, transport


def read_syslog(data: bytes, path: str) -> list[TraceRecord]:
    """One message per line, ``^M`` (or a real CR) standing for each line end."""
    records = []
    for number, line in enumerate(_decode(data).split("\n"), 1):
        start = _START_TEXT.search(line)
        if start is None:
            continue
        prefix = line[: start.start()]
        message = line[start.start() :].replace("^M", "\r").rstrip("\n")
        message = re.sub(r"\r(?!\n)", "\r\n", message)
        if "\r\n\r\n" not in message:
            message = message.rstrip("\r\n") + "\r\n\r\n"
        direction = _syslog_direction(prefix)
        source, destination, transport = _syslog_endpoints(prefix, direction)
        head, _, body = message.partition("\r\n\r\n")
        notes: list[str] = []
        raw = _fix_length(head.split("\r\n"), _encode(body), notes)
        records.append(
            TraceRecord(
                time=_syslog_time(prefix),
                direction=direction,
                source=source,
                destination=destination,
                transport=transport,
                raw=raw,
                origin=Origin(path, line=number),
                notes=tuple(notes),
            )
        )
    return records


# --- plain --------------------------------------------------------------------------------

_PLAIN_START = re.compile(
    r"^[ \t]*(?:[A-Za-z][A-Za-z0-9.!%*_+`'~-]* [^ \r\n]+ SIP/2\.0[ \t]*\r?$|SIP/2\.0 \d{3}\b)",
    re.MULTILINE,
)


def _plain_regions(text: str) -> Iterator[tuple[int, str]]:
    starts = [m.start() for m in _PLAIN_START.finditer(text)]
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(text)
        yield start, text[start:end]


def read_plain(data: bytes, path: str) -> list[TraceRecord]:
    """SIP messages one after the other, separated by nothing or by blank lines."""
    text = _decode(data).replace("\r\n", "\n")
    lines = _LineIndex(text)
    records = []
    for offset, region in _plain_regions(text):
        block = _block_from_lines(region.split("\n"), sdp_only=False)
        records.append(
            TraceRecord(
                time=None,
                direction=None,
                source=None,
                destination=None,
                transport=None,
                raw=block.raw,
                origin=Origin(path, line=lines.line_of(offset)),
                notes=block.notes,
            )
        )
    return records
