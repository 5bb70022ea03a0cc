"""Records parsed with the SIP core, with the fields grouping and rendering need.

A record that does not parse is kept, with the parser's reason, and still placed on the
ladder: between the endpoints the capture names, in the call its Call-ID line (read
from the raw text) points at.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

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
    """One trace record and what the SIP parser made of it (``index`` is 1-based)."""

    index: int
    record: TraceRecord
    message: Message | None
    error: str | None
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


def _uri_user(uri: str) -> str | None:
    match = _URI_USER.match(uri)
    return (match.group(1) or match.group(2)) if match else None


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


def _traced(index: int, record: TraceRecord) -> TracedMessage:
    first_line_match = _RAW_FIRST_LINE.match(record.raw)
    first_line = first_line_match.group(0).decode("utf-8", "replace") if first_line_match else ""
    traced = TracedMessage(
        index=index,
        record=record,
        message=None,
        error=None,
        source=party_key(record.source),
        destination=party_key(record.destination),
        transport=record.transport or "?",
        first_line=first_line,
    )
    try:
        message = parse_message(record.raw)
    except SipParseError as error:
        traced.error = str(error) or "does not parse"
        raw_call_id = _RAW_CALL_ID.search(record.raw)
        if raw_call_id:
            traced.call_id = raw_call_id.group(1).decode("utf-8", "replace")
        return traced
    traced.message = message
    if isinstance(message, Request):
        _fill_request(traced, message)
    elif isinstance(message, Response):
        traced.status, traced.reason = message.status_code, message.reason
    _fill_common(traced, message)
    return traced


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
    messages = [_traced(index, record) for index, record in enumerate(records, 1)]
    if any(m.source == "?" or m.destination == "?" for m in messages):
        _infer_endpoints(messages)
    _mark_retransmissions(messages)
    return messages
