"""Server-level request handling: credentials this server checked are not forwarded."""

from __future__ import annotations

from sipline.server import consume_credentials, local_addresses
from sipline.sip import Request


def invite(*authorizations: str) -> Request:
    headers = [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKa1"),
        ("From", "<sip:1000@example.com>;tag=1"),
        ("To", "<sip:1001@example.com>"),
        ("Call-ID", "c1"),
        ("CSeq", "2 INVITE"),
    ]
    headers += [("Proxy-Authorization", value) for value in authorizations]
    return Request("INVITE", "sip:1001@example.com", headers)


OURS = 'Digest username="1000", realm="example.com", nonce="n", uri="sip:1001@example.com", response="0123456789abcdef0123456789abcdef"'
THEIRS = OURS.replace('realm="example.com"', 'realm="upstream.example.net"')


def test_our_realm_is_consumed_others_are_kept() -> None:
    request = invite(OURS, THEIRS)
    consume_credentials(request, "example.com")
    assert request.headers.get_all("Proxy-Authorization") == [THEIRS]


def test_nothing_to_consume_leaves_the_request_untouched() -> None:
    request = invite(THEIRS)
    version = request.headers.version
    consume_credentials(request, "example.com")
    assert request.headers.version == version


def test_wildcard_listeners_mean_every_local_address() -> None:
    addresses = local_addresses(["0.0.0.0"])
    assert {"127.0.0.1", "localhost"} <= addresses
    assert local_addresses(["192.0.2.1"]) == frozenset({"192.0.2.1"})
