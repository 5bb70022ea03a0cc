"""Requests and responses the transaction layer builds itself: ACK, CANCEL, 100 Trying."""

from __future__ import annotations

from sipline.sip import LocalProtocolError, Request, Response, make_response


def _copied_header(request: Request, name: str) -> str:
    value = request.headers.get(name)
    if value is None:
        raise LocalProtocolError(f"the {request.method} has no {name} header to copy")
    return value


def _hop_headers(request: Request, method: str, to: str) -> list[tuple[str, str]]:
    """Headers shared by ACK-for-non-2xx (§17.1.1.3) and CANCEL (§9.1)."""
    max_forwards = request.max_forwards
    headers = [
        # The single Via is the top Via of the original request: same branch.
        ("Via", str(request.top_via)),
        ("Max-Forwards", str(70 if max_forwards is None else max_forwards)),
    ]
    # Route headers of the original request are copied (§17.1.1.3, §9.1).
    headers.extend(("Route", route) for route in request.headers.get_all("route"))
    headers += [
        ("From", _copied_header(request, "from")),
        ("To", to),
        ("Call-ID", _copied_header(request, "call-id")),
        ("CSeq", f"{request.cseq.number} {method}"),
    ]
    return headers


def make_ack_for_non_2xx(invite: Request, response: Response) -> Request:
    """The ACK a client INVITE transaction sends for a 300-699 response (§17.1.1.3).

    Request-URI, Call-ID, From and CSeq number come from the INVITE, the To (with
    its tag) from the response; the branch is the INVITE's.
    """
    if invite.method != "INVITE" or not 300 <= response.status_code <= 699:
        raise LocalProtocolError(
            f"an ACK is built for a 300-699 to an INVITE, not {response.status_code}"
            f" to {invite.method}"
        )
    to = response.headers.get("to")
    if to is None:
        raise LocalProtocolError("the response has no To header")
    return Request("ACK", invite.uri, _hop_headers(invite, "ACK", to))


def make_cancel(request: Request, *, reason: str | None = None) -> Request:
    """A CANCEL for ``request`` (RFC 3261 §9.1).

    Request-URI, Call-ID, From, To and CSeq number are the request's, the single
    Via is its top Via (so the CANCEL matches its transaction, §9.2).  ``reason``
    is a Reason header value (RFC 3326), e.g. ``SIP;cause=200;text="Call completed
    elsewhere"``.
    """
    if request.method in ("ACK", "CANCEL"):
        raise LocalProtocolError(f"an {request.method} cannot be cancelled")
    headers = _hop_headers(request, "CANCEL", _copied_header(request, "to"))
    if reason is not None:
        headers.append(("Reason", reason))
    return Request("CANCEL", request.uri, headers)


def make_trying(request: Request) -> Response:
    """The ``100 Trying`` a TU sends for an INVITE it will not answer within 200 ms.

    RFC 3261 §17.2.1 leaves it to the TU; §8.2.6.1: no To tag, Timestamp echoed.
    """
    if request.method == "ACK":
        raise LocalProtocolError("an ACK is never answered")
    return make_response(request, 100, "Trying")
