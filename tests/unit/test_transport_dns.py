"""RFC 3263 server location against a fake resolver (no network)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import pytest

from sipline.sip import Address, SipUri, parse_uri
from sipline.transport import resolve_targets


class FakeResolver:
    """Answers from a zone given as {(name, type): ["rdata text", ...]}; records queries."""

    def __init__(self, zone: dict[tuple[str, str], list[str]]) -> None:
        self.zone = {
            (name.rstrip(".").lower(), rdtype): rrs for (name, rdtype), rrs in zone.items()
        }
        self.queries: list[tuple[str, str]] = []

    async def resolve(self, qname: str, rdtype: str) -> list[Any]:
        self.queries.append((qname, rdtype))
        texts = self.zone.get((qname.rstrip(".").lower(), rdtype))
        if texts is None:
            raise dns.resolver.NXDOMAIN
        kind = dns.rdatatype.from_text(rdtype)
        return [dns.rdata.from_text(dns.rdataclass.IN, kind, text) for text in texts]


def uri(text: str) -> SipUri:
    parsed = parse_uri(text)
    assert isinstance(parsed, SipUri)
    return parsed


def resolve(text: str, zone: dict[tuple[str, str], list[str]], seed: int = 1) -> list[Address]:
    resolver = FakeResolver(zone)
    return asyncio.run(resolve_targets(uri(text), resolver=resolver, rng=random.Random(seed)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sip:alice@192.0.2.1", Address("udp", "192.0.2.1", 5060)),
        ("sips:alice@192.0.2.1", Address("tls", "192.0.2.1", 5061)),
        ("sip:alice@192.0.2.1:5080;transport=TCP", Address("tcp", "192.0.2.1", 5080)),
        ("sip:[2001:db8::1]", Address("udp", "2001:db8::1", 5060)),
        ("sips:[2001:db8::1]:5071;transport=tcp", Address("tls", "2001:db8::1", 5071)),
        ("sip:alice@192.0.2.1;transport=tls", Address("tls", "192.0.2.1", 5061)),
        ("sip:alice@example.com;maddr=192.0.2.9", Address("udp", "192.0.2.9", 5060)),
    ],
)
def test_numeric_host_is_used_without_queries(text: str, expected: Address) -> None:
    resolver = FakeResolver({})
    assert asyncio.run(resolve_targets(uri(text), resolver=resolver)) == [expected]
    assert resolver.queries == []


def test_name_with_port_uses_a_and_aaaa_only() -> None:
    resolver = FakeResolver(
        {
            ("proxy.example.com", "A"): ["192.0.2.10"],
            ("proxy.example.com", "AAAA"): ["2001:db8::10"],
            ("proxy.example.com", "NAPTR"): ['10 10 "s" "SIP+D2T" "" _sip._tcp.example.com.'],
        }
    )
    targets = asyncio.run(resolve_targets(uri("sip:proxy.example.com:5070"), resolver=resolver))
    assert targets == [Address("udp", "192.0.2.10", 5070), Address("udp", "2001:db8::10", 5070)]
    assert {rdtype for _, rdtype in resolver.queries} == {"A", "AAAA"}


ZONE_NAPTR = {
    ("example.com", "NAPTR"): [
        '20 10 "s" "SIP+D2U" "" _sip._udp.example.com.',
        '10 10 "s" "SIP+D2T" "" _sip._tcp.example.com.',
        '30 10 "s" "SIPS+D2T" "" _sips._tcp.example.com.',
        '5 10 "s" "SIP+D2W" "" _sip._ws.example.com.',  # WebSocket: not used for outbound
    ],
    ("_sip._tcp.example.com", "SRV"): [
        "10 0 5062 tcp1.example.com.",
        "20 0 5063 tcp2.example.com.",
    ],
    ("_sip._udp.example.com", "SRV"): ["10 0 5060 udp1.example.com."],
    ("_sips._tcp.example.com", "SRV"): ["10 0 5061 tls1.example.com."],
    ("tcp1.example.com", "A"): ["192.0.2.1"],
    ("tcp2.example.com", "AAAA"): ["2001:db8::2"],
    ("udp1.example.com", "A"): ["192.0.2.3"],
    ("tls1.example.com", "A"): ["192.0.2.4"],
}


def test_naptr_then_srv_then_addresses_in_order() -> None:
    assert resolve("sip:example.com", ZONE_NAPTR) == [
        Address("tcp", "192.0.2.1", 5062),
        Address("tcp", "2001:db8::2", 5063),
        Address("udp", "192.0.2.3", 5060),
        Address("tls", "192.0.2.4", 5061),
    ]


def test_sips_uri_only_uses_sips_services() -> None:
    assert resolve("sips:bob@example.com", ZONE_NAPTR) == [Address("tls", "192.0.2.4", 5061)]


def test_transport_param_skips_naptr_and_queries_that_srv() -> None:
    resolver = FakeResolver(ZONE_NAPTR)
    targets = asyncio.run(resolve_targets(uri("sip:example.com;transport=udp"), resolver=resolver))
    assert targets == [Address("udp", "192.0.2.3", 5060)]
    assert ("example.com", "NAPTR") not in resolver.queries


def test_without_naptr_srv_names_are_tried() -> None:
    zone = {
        ("_sip._tcp.example.net", "SRV"): ["1 0 5070 sip.example.net."],
        ("sip.example.net", "A"): ["198.51.100.7"],
    }
    assert resolve("sip:example.net", zone) == [Address("tcp", "198.51.100.7", 5070)]


def test_without_naptr_or_srv_falls_back_to_a_records_default_port() -> None:
    zone = {("example.org", "A"): ["203.0.113.5"], ("example.org", "AAAA"): ["2001:db8::5"]}
    assert resolve("sip:example.org", zone) == [
        Address("udp", "203.0.113.5", 5060),
        Address("udp", "2001:db8::5", 5060),
    ]
    assert resolve("sips:example.org", zone)[0] == Address("tls", "203.0.113.5", 5061)
    assert resolve("sip:example.org;transport=tcp", zone)[0] == Address("tcp", "203.0.113.5", 5060)


def test_unknown_name_gives_no_targets() -> None:
    assert resolve("sip:nowhere.invalid", {}) == []


def test_srv_dot_target_means_no_service() -> None:
    zone = {
        ("_sip._udp.example.com", "SRV"): ["0 0 0 ."],
        ("example.com", "A"): ["192.0.2.99"],
    }
    assert resolve("sip:example.com;transport=udp", zone) == [Address("udp", "192.0.2.99", 5060)]


def test_srv_weights_spread_picks_within_a_priority() -> None:
    zone = {
        ("_sip._udp.example.com", "SRV"): [
            "10 90 5060 heavy.example.com.",
            "10 10 5060 light.example.com.",
            "5 0 5060 first.example.com.",
        ],
        ("heavy.example.com", "A"): ["192.0.2.1"],
        ("light.example.com", "A"): ["192.0.2.2"],
        ("first.example.com", "A"): ["192.0.2.3"],
    }
    firsts: dict[str, int] = {}
    for seed in range(200):
        targets = resolve("sip:example.com;transport=udp", zone, seed=seed)
        assert targets[0].host == "192.0.2.3"  # lower priority value always first
        assert {t.host for t in targets} == {"192.0.2.1", "192.0.2.2", "192.0.2.3"}
        firsts[targets[1].host] = firsts.get(targets[1].host, 0) + 1
    assert firsts["192.0.2.1"] > firsts.get("192.0.2.2", 0) * 3  # ~90 % vs ~10 %
    assert firsts.get("192.0.2.2", 0) > 0


def test_localhost_is_loopback_without_queries() -> None:
    resolver = FakeResolver({})
    targets = asyncio.run(
        resolve_targets(uri("sip:alice@localhost;transport=tcp"), resolver=resolver)
    )
    assert targets == [Address("tcp", "127.0.0.1", 5060), Address("tcp", "::1", 5060)]
    assert resolver.queries == []


def test_numeric_target_needs_no_lookup() -> None:
    from sipline.transport import numeric_target

    assert numeric_target(uri("sip:1000@127.0.0.1:5070")) == Address("udp", "127.0.0.1", 5070)
    assert numeric_target(uri("sip:[::1];transport=tcp")) == Address("tcp", "::1", 5060)
    assert numeric_target(uri("sips:a@192.0.2.1")) == Address("tls", "192.0.2.1", 5061)
    assert numeric_target(uri("sip:a@pbx.example.com")) is None
