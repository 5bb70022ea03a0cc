"""Building messages: responses from requests, new requests, identifiers.

Branches, tags and Call-IDs come from ``secrets`` (RFC 3261 §8.1.1.4, §8.1.1.7,
§19.3: globally unique and cryptographically random).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sipline.sip._errors import SipParseError
from sipline.sip._message import Request, Response

#: RFC 3261 §8.1.1.7: branches of RFC 3261 elements start with this cookie.
BRANCH_MAGIC_COOKIE = "z9hG4bK"

#: Reason phrases of RFC 3261 §21 and the extensions sipline speaks.
REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}


def reason_phrase(status_code: int) -> str:
    """The usual reason phrase of a status code (its class's phrase when unknown)."""
    phrase = REASON_PHRASES.get(status_code)
    if phrase is None:
        phrase = REASON_PHRASES.get(status_code // 100 * 100, "Unknown")
    return phrase


def safe_reason(text: str, *, fallback: str, limit: int = 100) -> str:
    """``text`` made fit for a reason phrase (RFC 3261 §25.1: no CR/LF or control
    characters), one line, bounded; ``fallback`` when nothing is left."""
    cleaned = "".join(c if c.isprintable() else " " for c in text)
    return cleaned[:limit].strip() or fallback


def new_branch() -> str:
    """A fresh Via branch with the RFC 3261 magic cookie."""
    return BRANCH_MAGIC_COOKIE + secrets.token_urlsafe(12)


def new_tag() -> str:
    """A fresh From/To tag (RFC 3261 §19.3: at least 32 bits of randomness)."""
    return secrets.token_hex(6)


def new_call_id() -> str:
    """A fresh Call-ID."""
    return secrets.token_urlsafe(18)


def make_response(
    request: Request,
    status_code: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    """A response to ``request`` per RFC 3261 §8.2.6.2.

    Via, From, Call-ID and CSeq are copied; To is copied and gets ``to_tag``
    (a fresh one when not given) unless it has a tag already or this is a 100.
    ``headers`` are appended after them.
    """
    source = request.headers
    out: list[tuple[str, str]] = [("Via", value) for value in source.get_all("via")]
    from_value = source.get("from")
    if from_value is not None:
        out.append(("From", from_value))
    to_value = source.get("to")
    if to_value is not None:
        if status_code != 100 and not _has_tag(request):
            to_value = f"{to_value};tag={to_tag or new_tag()}"
        out.append(("To", to_value))
    for name in ("Call-ID", "CSeq"):
        value = source.get(name)
        if value is not None:
            out.append((name, value))
    if status_code == 100:
        # RFC 3261 §8.2.6.1: a 100 echoes the request's Timestamp.
        timestamp = source.get("timestamp")
        if timestamp is not None:
            out.append(("Timestamp", timestamp))
    out.extend(headers)
    return Response(status_code, reason or reason_phrase(status_code), out, body)


def _has_tag(request: Request) -> bool:
    try:
        return request.to.tag is not None
    except SipParseError:
        return False


def make_request(
    method: str,
    uri: str,
    *,
    via: str,
    from_: str,
    to: str,
    call_id: str,
    cseq: int,
    max_forwards: int = 70,
    contact: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Request:
    """A new request with the mandatory headers of RFC 3261 §8.1.1 in the usual order.

    ``via`` is the whole Via value (``SIP/2.0/UDP host:port;branch=...;rport``).
    """
    out: list[tuple[str, str]] = [
        ("Via", via),
        ("Max-Forwards", str(max_forwards)),
        ("From", from_),
        ("To", to),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {method}"),
    ]
    if contact is not None:
        out.append(("Contact", contact))
    out.extend(headers)
    if content_type is not None:
        out.append(("Content-Type", content_type))
    return Request(method, uri, out, body)
