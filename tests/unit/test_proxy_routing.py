"""The proxy's I/O-free decisions (sipline.proxy._routing), RFC 3261 §16.

Who is "this proxy" (host *and* port, PEERS.md), route popping (§16.4, one or
several of our entries in one or several header lines), loop versus spiral
(§16.6 step 8, §16.3 step 4), the best response (§16.7 step 6, 7), and where a
response goes by its Via (§18.2.2, RFC 3581).
"""

from __future__ import annotations

import pytest

from sipline.proxy import (
    LocalIdentity,
    best_response,
    is_loop,
    loop_key,
    pop_own_routes,
    record_route_uri,
    remove_first_value,
    via_destination,
)
from sipline.sip import Address, Request, Response, Via, parse_message, parse_uri

PROXY = ("127.0.0.1", 5070)
IDENTITY = LocalIdentity(
    domains=frozenset({"example.com", "127.0.0.1"}),
    addresses=frozenset({PROXY, ("::1", 5070), ("127.0.0.1", 5060)}),
)


def request(
    *extra: str,
    method: str = "INVITE",
    uri: str = "sip:bob@example.com",
    call_id: str = "c1@host",
    to_tag: str = "",
) -> Request:
    lines = [
        f"{method} {uri} SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKcaller1;rport",
        "Max-Forwards: 70",
        "From: <sip:alice@example.com>;tag=from1",
        f"To: <sip:bob@example.com>{';tag=' + to_tag if to_tag else ''}",
        f"Call-ID: {call_id}",
        f"CSeq: 1 {method}",
        *extra,
        "Content-Length: 0",
    ]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, Request)
    return message


def response(code: int, *extra: str) -> Response:
    lines = [
        f"SIP/2.0 {code} Reason {code}",
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKp1",
        "From: <sip:alice@example.com>;tag=from1",
        f"To: <sip:bob@example.com>;tag=to{code}",
        "Call-ID: c1@host",
        "CSeq: 1 INVITE",
        *extra,
        "Content-Length: 0",
    ]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, Response)
    return message


# -- LocalIdentity ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("uri", "ours"),
    [
        ("sip:127.0.0.1:5070;lr", True),
        ("sip:127.0.0.1:5070;transport=tcp;lr", True),
        ("sip:127.0.0.1;lr", True),  # no port: 5060, also a listener of ours
        ("sip:127.0.0.1:5080;lr", False),  # same host, a phone's port (PEERS.md)
        ("sip:10.0.0.1:5070;lr", False),
        ("sip:[::1]:5070;lr", True),
        ("sip:[::1]:5060;lr", False),
        ("sips:[::1];lr", False),  # sips defaults to 5061
        ("sip:EXAMPLE.com;lr", True),  # our domain, no port, no user
        ("sip:example.com:5999;lr", False),  # a port that is not ours
        ("sip:bob@example.com", False),  # a user of our domain is a target, not us
        ("tel:+15551234", False),
    ],
)
def test_is_this_proxy_matches_host_and_port(uri: str, ours: bool) -> None:
    assert IDENTITY.is_this_proxy(parse_uri(uri)) is ours


def test_serves_users_of_our_domains_only() -> None:
    assert IDENTITY.serves(parse_uri("sip:bob@Example.COM"))
    assert IDENTITY.serves(parse_uri("sip:bob@127.0.0.1:5070"))
    assert not IDENTITY.serves(parse_uri("sip:bob@elsewhere.org"))
    assert not IDENTITY.serves(parse_uri("sip:example.com"))
    assert not IDENTITY.serves(parse_uri("tel:+15551234"))


# -- route popping (§16.4) -------------------------------------------------------------------
def test_pops_our_single_route_and_keeps_the_next_hop() -> None:
    req = request("Route: <sip:127.0.0.1:5070;lr>, <sip:10.0.0.9:5060;lr>")
    assert pop_own_routes(req, IDENTITY) == 1
    assert [str(r.uri) for r in req.routes] == ["sip:10.0.0.9:5060;lr"]
    assert req.headers.get_all("Route") == ["<sip:10.0.0.9:5060;lr>"]


def test_pops_a_double_record_route_pair_in_one_line() -> None:
    req = request(
        "Route: <sip:127.0.0.1:5070;lr>, <sip:127.0.0.1:5070;transport=tcp;lr>, <sip:10.0.0.9;lr>"
    )
    assert pop_own_routes(req, IDENTITY) == 2
    assert req.headers.get_all("Route") == ["<sip:10.0.0.9;lr>"]


def test_pops_our_entries_spread_over_several_lines() -> None:
    req = request(
        "Route: <sip:127.0.0.1:5070;lr>",
        "Route: <sip:127.0.0.1:5070;transport=tcp;lr>",
        "Route: <sip:10.0.0.9;lr>, <sip:10.0.0.10;lr>",
    )
    assert pop_own_routes(req, IDENTITY) == 2
    assert req.headers.get_all("Route") == ["<sip:10.0.0.9;lr>, <sip:10.0.0.10;lr>"]


def test_popping_every_route_removes_the_header() -> None:
    req = request("Route: <sip:127.0.0.1:5070;lr>", "Route: <sip:[::1]:5070;transport=tcp;lr>")
    assert pop_own_routes(req, IDENTITY) == 2
    assert "Route" not in req.headers
    assert req.routes == []


def test_only_leading_routes_are_popped() -> None:
    req = request("Route: <sip:10.0.0.9;lr>, <sip:127.0.0.1:5070;lr>")
    assert pop_own_routes(req, IDENTITY) == 0
    assert len(req.routes) == 2
    req = request("Route: <sip:127.0.0.1:5080;lr>")  # a phone on our host, not us
    assert pop_own_routes(req, IDENTITY) == 0
    assert pop_own_routes(request(), IDENTITY) == 0


def test_remove_first_value_of_a_multi_valued_line() -> None:
    req = request("Route: <sip:a.example;lr>, <sip:b.example;lr>", "Route: <sip:c.example;lr>")
    remove_first_value(req.headers, "route")
    assert req.headers.get_all("route") == ["<sip:b.example;lr>", "<sip:c.example;lr>"]
    remove_first_value(req.headers, "route")
    assert req.headers.get_all("route") == ["<sip:c.example;lr>"]


# -- loop detection (§16.6 step 8, §16.3 step 4) ------------------------------------------------
OWN = ["127.0.0.1:5070"]


def with_via(req: Request, via: str) -> Request:
    req.headers.add("Via", via)
    return req


def test_the_same_request_back_through_our_via_is_a_loop() -> None:
    key = loop_key(request())
    looped = with_via(request(), f"SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc.{key}")
    assert loop_key(looped) == key  # Via is not part of the key
    assert is_loop(looped, OWN, loop_key(looped))


def test_a_spiral_with_another_request_uri_is_not_a_loop() -> None:
    key = loop_key(request(uri="sip:bob@example.com"))
    spiral = with_via(
        request(uri="sip:bob-mobile@example.com"),
        f"SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc.{key}",
    )
    assert loop_key(spiral) != key
    assert not is_loop(spiral, OWN, loop_key(spiral))


def test_routes_and_proxy_require_change_the_key() -> None:
    base = loop_key(request())
    assert loop_key(request("Route: <sip:10.0.0.9;lr>")) != base
    assert loop_key(request("Proxy-Require: foo")) != base
    assert loop_key(request(call_id="other@host")) != base
    assert loop_key(request(to_tag="t2")) != base
    assert loop_key(request()) == base  # deterministic


def test_a_loop_needs_our_sent_by_and_our_key() -> None:
    key = loop_key(request())
    other_host = with_via(request(), f"SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKabc.{key}")
    assert not is_loop(other_host, OWN, key)
    other_port = with_via(request(), f"SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKabc.{key}")
    assert not is_loop(other_port, OWN, key)
    other_key = with_via(request(), "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc.0123456789ab")
    assert not is_loop(other_key, OWN, key)
    assert not is_loop(request(), OWN, key)


# -- best response (§16.7) ---------------------------------------------------------------------
def codes(*statuses: int) -> list[Response]:
    return [response(code) for code in statuses]


@pytest.mark.parametrize(
    ("statuses", "best"),
    [
        ((486, 603), 603),  # a 6xx wins over everything (step 6)
        ((600, 603), 600),
        ((302, 486, 503), 302),  # the lowest class
        ((486, 404), 486),  # same class, no preference: the first
        ((486, 407), 407),  # 401/407/415/420/484 preferred within 4xx
        ((404, 484), 484),
        ((503, 486), 486),  # 503 only when nothing else came
        ((503, 500), 500),
        ((408, 500, 503), 408),
        ((503,), 503),  # the caller turns it into 500
    ],
)
def test_best_response_by_class_and_preference(statuses: tuple[int, ...], best: int) -> None:
    assert best_response(codes(*statuses)).status_code == best


def test_6xx_is_chosen_even_after_a_challenge() -> None:
    picked = best_response(
        [response(407, 'Proxy-Authenticate: Digest realm="a", nonce="1"'), response(603)]
    )
    assert picked.status_code == 603
    assert "Proxy-Authenticate" not in picked.headers


def test_challenges_of_every_401_and_407_are_merged() -> None:
    first = response(401, 'WWW-Authenticate: Digest realm="a.example", nonce="n1"')
    second = response(407, 'Proxy-Authenticate: Digest realm="b.example", nonce="n2"')
    third = response(
        401,
        'WWW-Authenticate: Digest realm="c.example", nonce="n3"',
        'WWW-Authenticate: Digest realm="a.example", nonce="n1"',  # a duplicate
    )
    picked = best_response([response(486), first, second, third])
    assert picked is first
    assert picked.headers.get_all("WWW-Authenticate") == [
        'Digest realm="a.example", nonce="n1"',
        'Digest realm="c.example", nonce="n3"',
    ]
    assert picked.headers.get_all("Proxy-Authenticate") == ['Digest realm="b.example", nonce="n2"']


# -- Record-Route values and Via destinations ------------------------------------------------
def test_record_route_uri_per_transport() -> None:
    assert record_route_uri("127.0.0.1:5070", "udp") == "<sip:127.0.0.1:5070;lr>"
    assert record_route_uri("127.0.0.1:5070", "tcp") == "<sip:127.0.0.1:5070;transport=tcp;lr>"
    assert record_route_uri("[::1]:5071", "tls") == "<sips:[::1]:5071;transport=tls;lr>"
    assert IDENTITY.is_this_proxy(parse_uri(record_route_uri("127.0.0.1:5070", "tcp")[1:-1]))


@pytest.mark.parametrize(
    ("via", "where"),
    [
        (
            "SIP/2.0/UDP 10.0.0.1:5080;branch=z9hG4bK1;received=192.0.2.7;rport=40000",
            Address("udp", "192.0.2.7", 40000),
        ),
        ("SIP/2.0/UDP 10.0.0.1:5080;branch=z9hG4bK1;rport", Address("udp", "10.0.0.1", 5080)),
        ("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1", Address("udp", "10.0.0.1", 5060)),
        (
            "SIP/2.0/UDP 10.0.0.1:5080;branch=z9hG4bK1;received=192.0.2.7",
            Address("udp", "192.0.2.7", 5080),
        ),
        ("SIP/2.0/TCP [::1]:5090;branch=z9hG4bK1", Address("tcp", "::1", 5090)),
        ("SIP/2.0/TLS example.com;branch=z9hG4bK1", Address("tls", "example.com", 5061)),
    ],
)
def test_via_destination_uses_received_and_rport(via: str, where: Address) -> None:
    req = request(method="OPTIONS")
    req.headers.set("Via", via)
    top = req.top_via
    assert isinstance(top, Via)
    assert via_destination(top) == where
