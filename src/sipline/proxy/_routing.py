"""The decisions of an RFC 3261 §16 proxy that need no I/O: is a URI ours, route
processing, loop detection, Record-Route values, and the best response."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from sipline.sip import (
    Address,
    Headers,
    Request,
    Response,
    SipParseError,
    SipUri,
    Via,
    parse_name_addr_list,
    split_top_level,
)

_DEFAULT_PORTS = {"sip": 5060, "sips": 5061}


@dataclass(frozen=True, slots=True)
class LocalIdentity:
    """The names and addresses this proxy answers to.

    ``domains`` are served by its location service; ``addresses`` are ``(host,
    port)`` pairs of its listeners.  A URI is *this proxy* only when host and port
    both match a listener (PEERS.md: on loopback every phone shares the host).
    """

    domains: frozenset[str]
    addresses: frozenset[tuple[str, int]]

    def is_this_proxy(self, uri: object) -> bool:
        if not isinstance(uri, SipUri):
            return False
        host = uri.host.lower().strip("[]")
        port = uri.port or _DEFAULT_PORTS.get(uri.scheme, 5060)
        return (host, port) in self.addresses or (
            uri.port is None and host in self.domains and uri.user is None
        )

    def serves(self, uri: object) -> bool:
        """True when ``uri`` names a user of a domain served here (location service)."""
        return (
            isinstance(uri, SipUri)
            and uri.user is not None
            and uri.host.lower().strip("[]") in self.domains
        )


def pop_own_routes(request: Request, identity: LocalIdentity) -> int:
    """Remove the leading Route values that name this proxy (§16.4); how many."""
    removed = 0
    while True:
        routes = request.routes
        if not routes or not identity.is_this_proxy(routes[0].uri):
            return removed
        remove_first_value(request.headers, "route")
        removed += 1


def remove_first_value(headers: Headers, name: str) -> None:
    """Drop the first comma-separated value of the first ``name`` line."""
    position = headers.positions(name)[0]
    values = split_top_level(headers.items()[position][1])
    if len(values) <= 1:
        headers.delete_at(position)
    else:
        headers.replace_at(position, ", ".join(values[1:]))


def loop_key(request: Request) -> str:
    """The §16.6 step 8 hash of what makes a request unique at this proxy.

    The same request coming back with the same key is a loop (482); coming back
    with a different Request-URI or route is a spiral, which is fine.
    """
    try:
        parts = [
            request.uri,
            request.from_.tag or "",
            request.to.tag or "",
            request.call_id,
            str(request.cseq.number),
            ",".join(request.headers.get_all("route")),
            ",".join(request.headers.get_all("proxy-require")),
        ]
    except SipParseError:
        parts = [request.uri]
    return hashlib.blake2s(
        "\n".join(parts).encode("utf-8", "surrogateescape"), digest_size=6
    ).hexdigest()


def is_loop(request: Request, own_sent_by: Iterable[str], key: str) -> bool:
    """A Via of ours whose branch carries ``key``: the request has been here as is."""
    own = {s.lower() for s in own_sent_by}
    for via in request.vias:
        if via.sent_by.lower() in own and (via.branch or "").endswith("." + key):
            return True
    return False


def record_route_uri(sent_by: str, transport: str) -> str:
    """A Record-Route value for one of our listeners (loose routing, §16.6 step 4)."""
    scheme = "sips" if transport == "tls" else "sip"
    parameter = "" if transport == "udp" else f";transport={transport}"
    return f"<{scheme}:{sent_by}{parameter};lr>"


def route_set_uris(value: str) -> list[str]:
    return [str(route.uri) for route in parse_name_addr_list(value, header="Route")]


def best_response(responses: list[Response]) -> Response:
    """The response to forward when no branch succeeded (§16.7 step 6).

    A 6xx wins; else the lowest class, preferring within 4xx the ones a client
    can act on (401/407 with their challenges merged, 415, 420, 484), and never
    a 503 (it is turned into 500 by the caller, §16.7 step 6).
    """
    six = [r for r in responses if 600 <= r.status_code < 700]
    if six:
        return six[0]
    ranked = sorted(responses, key=_rank)
    best = ranked[0]
    if best.status_code in (401, 407):
        _merge_challenges(
            best, [r for r in responses if r.status_code in (401, 407) and r is not best]
        )
    return best


def _rank(response: Response) -> tuple[int, int]:
    code = response.status_code
    preferred = 0 if code in (401, 407, 415, 420, 484) else 1
    if code == 503:
        return (9, 0)
    if 300 <= code < 400:
        return (3, preferred)
    if 400 <= code < 500:
        return (4, preferred)
    return (5, preferred)


def _merge_challenges(best: Response, others: list[Response]) -> None:
    """§16.7 step 7: every WWW-/Proxy-Authenticate of the branches goes up together."""
    for other in others:
        for name in ("WWW-Authenticate", "Proxy-Authenticate"):
            for value in other.headers.get_all(name):
                if value not in best.headers.get_all(name):
                    best.headers.add(name, value)


def via_destination(via: Via) -> Address:
    """Where a response goes by this Via (§18.2.2, RFC 3581): received/rport first."""
    return via.response_address()
