"""Records parsed with the SIP core, with the fields grouping and rendering need.

Grouping needs only a few header fields (first line, Call-ID, CSeq, From/To tags and
users, top Via branch), so they are read by a quick scan of the raw header block and
the full parse (``parse_message`` with its validation) runs when someone first asks
for ``message`` or ``error``: the renderers and diagnoses, for the flows they show.
A header block the scan finds unusual (folded lines, a missing or repeated core
header, a bad CSeq, Content-Length or start line) is parsed at once instead.

A record that does not parse is kept, with the parser's reason, and still placed on the
ladder: between the endpoints the capture names, in the call its Call-ID line (read
from the raw text) points at.  When only the full parse finds the fault, the message
keeps the fields the scan read (it is grouped like its neighbours) and is drawn as
unparsed with the parser's reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from sipline.sip import Address, Message, Request, Response, SipParseError, parse_message

from ._record import Endpoint, TraceRecord

__all__ = ["TracedMessage", "parse_records", "party_key"]

_RAW_CALL_ID = re.compile(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*([^\s]+)")
_RAW_FIRST_LINE = re.compile(rb"^[^\r\n]{0,200}")
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization")


def party_key(endpoint: Endpoint) -> str:
    """The column a message end belongs to: ``host:port``, ``local`` or a name."""
    if isinstance(endpoint, Address):
        return endpoint.hostport
    return endpoint if endpoint is not None else "?"


def _user_of(uri: object) -> str | None:
    user = getattr(uri, "user", None)
    if user is None:
        user = getattr(uri, "number", None)
    return str(user) if user else None


@dataclass(slots=True)
class TracedMessage:
    """One trace record and what the SIP parser made of it (``index`` is 1-based);
    ``message`` and ``error`` are parsed on first use."""

    index: int
    record: TraceRecord
    source: str
    destination: str
    transport: str
    first_line: str
    call_id: str | None = None
    method: str | None = None
    status: int | None = None
    reason: str | None = None
    cseq: int | None = None
    cseq_method: str | None = None
    branch: str | None = None
    from_tag: str | None = None
    to_tag: str | None = None
    from_user: str | None = None
    to_user: str | None = None
    request_user: str | None = None
    has_credentials: bool = False
    retransmission_of: int | None = None
    _message: Message | None = None
    _error: str | None = None
    _parsed: bool = False

    @property
    def message(self) -> Message | None:
        """The parsed message, None when it does not parse (see ``error``)."""
        if not self._parsed:
            self._parse()
        return self._message

    @property
    def error(self) -> str | None:
        """Why the message does not parse, None when it does."""
        if not self._parsed:
            self._parse()
        return self._error

    def _parse(self) -> None:
        self._parsed = True
        try:
            self._message = parse_message(self.record.raw)
        except SipParseError as error:
            self._error = str(error) or "does not parse"

    @property
    def is_request(self) -> bool:
        return self.method is not None

    @property
    def is_response(self) -> bool:
        return self.status is not None

    @property
    def time(self) -> float | None:
        return self.record.time

    @property
    def transaction_method(self) -> str | None:
        """The method of the transaction (ACK and CANCEL kept as themselves)."""
        return self.method or self.cseq_method

    @property
    def label(self) -> str:
        """The short text drawn on the arrow."""
        if self.message is None:
            return "(unparsed)"
        if self.status is not None:
            return f"{self.status} {self.reason or ''}".strip()
        return self.method or "?"


_BRANCH = re.compile(r";\s*branch\s*=\s*([^;,\s]+)", re.IGNORECASE)
_VIA_TRANSPORT = re.compile(r"SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)", re.IGNORECASE)
_TAG = re.compile(r";\s*tag\s*=\s*([^;,\s]+)", re.IGNORECASE)
_URI_USER = re.compile(r"^\s*(?:(?:sips?):([^@;>?]+)@|tel:([^;>?]+))", re.IGNORECASE)


@lru_cache(maxsize=8192)
def _uri_user(uri: str) -> str | None:
    match = _URI_USER.match(uri)
    return (match.group(1) or match.group(2)) if match else None


@lru_cache(maxsize=8192)  # a dialog repeats its From and To in every message
def _name_address(value: str | None) -> tuple[str | None, str | None]:
    """(user, tag) of a From/To value, read from the text the parser accepted."""
    if not value:
        return None, None
    if "<" in value:
        uri = value[value.index("<") + 1 : value.rfind(">")]
        params = value[value.rfind(">") + 1 :]
    else:
        uri, _, rest = value.partition(";")
        params = ";" + rest
    tag = _TAG.search(params)
    return _uri_user(uri), tag.group(1) if tag else None


def _fill_request(traced: TracedMessage, message: Request) -> None:
    traced.method = message.method
    traced.request_user = _uri_user(message.uri)
    traced.has_credentials = any(h in message.headers for h in _CREDENTIAL_HEADERS)


def _fill_common(traced: TracedMessage, message: Message) -> None:
    """The fields grouping needs, read from the header text (the parser has checked
    the message; its typed views are used by the renderers, not on this hot path)."""
    headers = message.headers
    traced.call_id = headers.get("call-id")
    cseq = (headers.get("cseq") or "").split()
    if len(cseq) == 2 and cseq[0].isdigit():
        traced.cseq, traced.cseq_method = int(cseq[0]), cseq[1].upper()
    via = headers.get("via") or ""
    branch = _BRANCH.search(via.split(",", 1)[0])
    traced.branch = branch.group(1) if branch else None
    if traced.transport == "?":
        transport = _VIA_TRANSPORT.match(via.strip())
        traced.transport = transport.group(1).lower() if transport else "?"
    traced.from_user, traced.from_tag = _name_address(headers.get("from"))
    traced.to_user, traced.to_tag = _name_address(headers.get("to"))


def _first_line(raw: bytes) -> str:
    match = _RAW_FIRST_LINE.match(raw)
    return match.group(0).decode("utf-8", "replace") if match else ""


def _traced(index: int, record: TraceRecord, keys: dict[int, str]) -> TracedMessage:
    source, destination = record.source, record.destination
    source_key = keys.get(id(source))
    if source_key is None:
        source_key = keys[id(source)] = party_key(source)
    destination_key = keys.get(id(destination))
    if destination_key is None:
        destination_key = keys[id(destination)] = party_key(destination)
    traced = TracedMessage(index, record, source_key, destination_key, record.transport or "?", "")
    if _scan(traced, record.raw):
        return traced
    traced.first_line = _first_line(record.raw)
    traced._parsed = True
    try:
        message = parse_message(record.raw)
    except SipParseError as error:
        traced._error = str(error) or "does not parse"
        raw_call_id = _RAW_CALL_ID.search(record.raw)
        if raw_call_id:
            traced.call_id = raw_call_id.group(1).decode("utf-8", "replace")
        return traced
    traced._message = message
    if isinstance(message, Request):
        _fill_request(traced, message)
    elif isinstance(message, Response):
        traced.status, traced.reason = message.status_code, message.reason
    _fill_common(traced, message)
    return traced


#: Header names (full and compact, RFC 3261 section 7.3.3) the scan reads.
_SCANNED = {
    "via": "via",
    "v": "via",
    "from": "from",
    "f": "from",
    "to": "to",
    "t": "to",
    "call-id": "call-id",
    "i": "call-id",
    "cseq": "cseq",
    "content-length": "content-length",
    "l": "content-length",
    "max-forwards": "max-forwards",
    "authorization": "credentials",
    "proxy-authorization": "credentials",
}
_REQUIRED = frozenset({"via", "from", "to", "call-id", "cseq"})
_REPEATABLE = frozenset({"via", "credentials"})
_METHOD = re.compile(r"[!%'*+\-.0-9A-Z_`a-z~]+\Z")
_SCANNED_LINE = re.compile(
    r"\n(via|v|from|f|to|t|call-id|i|cseq|content-length|l|max-forwards"
    r"|authorization|proxy-authorization)[ \t]*:[ \t]*([^\r\n]*)",
    re.IGNORECASE,
)


def _scan(traced: TracedMessage, raw: bytes) -> bool:
    """Fill the grouping fields from the raw header block; False (nothing filled) when
    the block is unusual enough that the parser must look at it now."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = raw[:end].decode("utf-8", "surrogateescape")
    if "\n " in head or "\n\t" in head or head.count("\r") != head.count("\n"):
        return False  # folded lines, bare CR or LF: the parser decides
    found: dict[str, str] = {}
    for name, value in _SCANNED_LINE.findall(head):
        key = _SCANNED[name.lower()]
        if key not in found:
            found[key] = value.rstrip(" \t")
        elif key not in _REPEATABLE and found[key] != value.rstrip(" \t"):
            return False  # a second, different From/To/Call-ID/CSeq (section 20)
    if not found.keys() >= _REQUIRED or not _scan_lengths(found, len(raw) - end - 4):
        return False
    cseq = _cseq_fields(found["cseq"])
    first = head.partition("\r\n")[0]
    start = _start_line_fields(first)
    if cseq is None or start is None:
        return False
    traced.first_line = first[:200] if first.isascii() else _first_line(raw)
    traced.cseq, traced.cseq_method = cseq
    traced.method, traced.request_user, traced.status, traced.reason = start
    traced.call_id = found["call-id"]
    traced.has_credentials = traced.method is not None and "credentials" in found
    traced.branch, via_transport = _via_fields(found["via"])
    if traced.transport == "?":
        traced.transport = via_transport
    traced.from_user, traced.from_tag = _name_address(found["from"])
    traced.to_user, traced.to_tag = _name_address(found["to"])
    return True


@lru_cache(maxsize=8192)  # responses repeat their request's Via
def _via_fields(via: str) -> tuple[str | None, str]:
    """(branch, transport) of the top Via value."""
    branch = _BRANCH.search(via.split(",", 1)[0])
    transport = _VIA_TRANSPORT.match(via)
    return branch.group(1) if branch else None, transport.group(1).lower() if transport else "?"


@lru_cache(maxsize=1024)
def _cseq_fields(value: str) -> tuple[int, str] | None:
    """RFC 3261 section 20.16: ``CSeq: 1 INVITE``; None when malformed."""
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or not parts[0].isascii():
        return None
    return int(parts[0]), parts[1].upper()


def _scan_lengths(found: dict[str, str], body: int) -> bool:
    """Content-Length within the body present, Max-Forwards a number (as the parser)."""
    length = found.get("content-length")
    if length is not None and not (length.isdigit() and length.isascii() and int(length) <= body):
        return False
    forwards = found.get("max-forwards")
    return forwards is None or (forwards.isdigit() and forwards.isascii())


_StartLine = tuple[str | None, str | None, int | None, str | None]


@lru_cache(maxsize=8192)  # status lines and in-dialog request lines repeat
def _start_line_fields(first: str) -> _StartLine | None:
    """(method, request user, status, reason) of a start line (RFC 3261 sections 7.1,
    7.2) as the parser reads it; None when the parser would reject it."""
    if first.startswith("SIP/2.0 "):
        code, _, reason = first[8:].partition(" ")
        if len(code) != 3 or not code.isdigit() or not code.isascii() or code[0] == "0":
            return None
        return None, None, int(code), reason
    parts = first.split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0" or not _METHOD.match(parts[0]):
        return None
    if not parts[1] or parts[1].startswith("<"):
        return None
    return parts[0], _uri_user(parts[1]), None, None


def _infer_endpoints(messages: Sequence[TracedMessage]) -> None:
    """Plain dumps name no addresses: requests go from the top Via's sent-by to the
    Request-URI host (RFC 3261 section 18.2.2 sends responses back to sent-by), and a
    response travels its request's way back."""
    sides: dict[tuple[str | None, str | None, str | None], tuple[str, str]] = {}
    for traced in messages:
        message = traced.message
        if message is None or (traced.source != "?" and traced.destination != "?"):
            continue
        key = (traced.call_id, traced.branch, traced.cseq_method)
        if isinstance(message, Request):
            try:
                source = message.top_via.sent_by
            except SipParseError:
                source = "?"
            try:
                uri = message.request_uri
                host, port = getattr(uri, "host", None), getattr(uri, "port", None)
                destination = f"{host}:{port or 5060}" if host else "?"
            except SipParseError:
                destination = "?"
            traced.source, traced.destination = source, destination
            sides.setdefault(key, (source, destination))
        else:
            request_side = sides.get(key)
            if request_side is not None:
                traced.destination, traced.source = request_side
            else:
                try:
                    traced.destination = message.top_via.sent_by
                except SipParseError:
                    traced.destination = "?"


def _mark_retransmissions(messages: Sequence[TracedMessage]) -> None:
    """Same bytes between the same ends again: a retransmission (RFC 3261 section 17)."""
    seen: dict[tuple[str, str, bytes], int] = {}
    for traced in messages:
        key = (traced.source, traced.destination, traced.record.raw)
        first = seen.get(key)
        if first is None:
            seen[key] = traced.index
        else:
            traced.retransmission_of = first


def parse_records(records: Sequence[TraceRecord]) -> list[TracedMessage]:
    """Parse every record; indices are 1-based in input order."""
    keys: dict[int, str] = {}  # by id(): readers share one Address per end; records live on
    messages = [_traced(index, record, keys) for index, record in enumerate(records, 1)]
    if any(m.source == "?" or m.destination == "?" for m in messages):
        _infer_endpoints(messages)
    _mark_retransmissions(messages)
    return messages
