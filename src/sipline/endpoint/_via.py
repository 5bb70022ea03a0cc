"""RFC 3261 §18 Via handling at the endpoint: what a request's Via says about its
sender, and where the responses go."""

from __future__ import annotations

import re

from sipline.sip import Address, Request, SipParseError, reason_phrase, safe_reason


def stamp_received(request: Request, source: Address) -> None:
    """Add ``received`` and fill ``rport`` in the top Via (§18.2.1, RFC 3581 §4).

    ``received`` is added when the sent-by host is not the source address or the
    client asked for ``rport``, which then gets the source port.
    """
    via = request.top_via
    wants_rport = via.has_rport and via.rport is None
    # RFC 3581 §4: with rport, received is added even when it equals the sent-by host.
    if wants_rport or via.host.strip("[]") != source.host:
        request.replace_top_via(
            via.with_received(source.host, source.port if wants_rport else None)
        )


def response_destination(request: Request, source: Address) -> Address:
    """Where the responses to ``request`` go (§18.2.2, RFC 3581 §4).

    Over a connection: back over it (the source).  Over UDP: to ``received`` (or
    the sent-by host) at ``rport`` (or the sent-by port).
    """
    if source.reliable:
        return source
    via = request.top_via
    if via.received is None and via.rport is None and via.host.strip("[]") == source.host:
        return source
    return via.response_address(source.transport)


_LINE = re.compile(rb"^(via|v|from|f|to|t|call-id|i|cseq)[ \t]*:[ \t]*(.*?)\r?$", re.I | re.M)
_CANONICAL = {"v": "Via", "f": "From", "t": "To", "i": "Call-ID"}


def bad_request_response(data: bytes, error: SipParseError) -> bytes | None:
    """A ``400`` for an unparsable request, built from the raw lines we can read.

    The reason phrase names the defect (RFC 3261 §21.4.1 lets it explain).  Returns
    None when there is no Via to answer along.
    """
    head = data.split(b"\r\n\r\n", 1)[0]
    lines: list[bytes] = []
    has_via = False
    for match in _LINE.finditer(head):
        raw_name = match.group(1).decode("ascii").lower()
        name = _CANONICAL.get(
            raw_name, raw_name.title().replace("Cseq", "CSeq").replace("Call-Id", "Call-ID")
        )
        has_via |= name == "Via"
        lines.append(name.encode() + b": " + match.group(2))
    if not has_via:
        return None
    reason = safe_reason(f"Bad Request: {error}", fallback="Bad Request", limit=120)
    start = f"SIP/2.0 {error.status_hint} {reason if error.status_hint == 400 else reason_phrase(error.status_hint)}"
    return b"\r\n".join([start.encode(), *lines, b"Content-Length: 0", b"", b""])
