"""What an element answers to a request that parsed but that it cannot accept.

The parser accepts some messages that RFC 4475 calls invalid or odd because the
defect only matters to the element handling them (an unknown version is answered
505, a CSeq method that does not match 400, an unknown URI scheme 416, an unknown
``Require`` option 420...).  ``request_problem`` is that judgement, shared by
every application (registrar, proxy, B2BUA) so none of them re-implements it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sipline.sip._errors import SipParseError
from sipline.sip._message import SIP_VERSION, Request
from sipline.sip._uri import SipUri, TelUri

#: The option tags sipline implements (RFC 3262 100rel, RFC 4028 timer, ...).
DEFAULT_SUPPORTED = frozenset({"path", "outbound", "timer", "replaces", "100rel", "norefersub"})


@dataclass(frozen=True, slots=True)
class RequestProblem:
    """The response to send instead of processing the request."""

    status_code: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


def request_problem(
    request: Request,
    *,
    proxy: bool = False,
    allowed_methods: Collection[str] | None = None,
    supported: Collection[str] = DEFAULT_SUPPORTED,
) -> RequestProblem | None:
    """Check a parsed request as RFC 3261 §8.2 (UAS) or §16.3 (proxy) says.

    Returns ``None`` when the request may be processed.
    """
    if request.version != SIP_VERSION or request.top_via.protocol.upper() != SIP_VERSION:
        return RequestProblem(505, "Version Not Supported")
    if request.cseq.method != request.method:
        return RequestProblem(400, "CSeq method does not match the request method")
    try:
        uri = request.request_uri
    except SipParseError as exc:
        return RequestProblem(400, f"Bad Request-URI: {exc.reason}")
    if not isinstance(uri, SipUri | TelUri):
        return RequestProblem(416, "Unsupported URI Scheme")
    if isinstance(uri, SipUri) and uri.headers:
        return RequestProblem(400, "Request-URI must not carry headers")
    if proxy and request.max_forwards == 0 and request.method != "ACK":
        return RequestProblem(483, "Too Many Hops")
    if allowed_methods is not None and request.method not in allowed_methods:
        allow = (("Allow", ", ".join(sorted(allowed_methods))),)
        known = request.method in {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER"}
        return RequestProblem(
            405 if known else 501, "Method Not Allowed" if known else "Not Implemented", allow
        )
    # §8.2.2.3 (UAS: Require) and §16.3 step 6 (proxy: Proxy-Require).
    require_header = "proxy-require" if proxy else "require"
    if request.method not in ("ACK", "CANCEL"):
        unsupported = [
            tag for tag in request.headers.values(require_header) if tag.lower() not in supported
        ]
        if unsupported:
            return RequestProblem(420, "Bad Extension", (("Unsupported", ", ".join(unsupported)),))
    return None
