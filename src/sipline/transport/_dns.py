"""Locating SIP servers (RFC 3263 §4) with dnspython's asyncio resolver.

``resolve_targets(uri)`` turns a SIP URI into the ordered list of ``Address`` to try.
The resolver is injectable: anything with ``async resolve(qname, rdtype)`` returning
an iterable of dnspython rdata (or raising ``dns.exception.DNSException``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Iterable
from typing import Any, Protocol

import dns.asyncresolver
import dns.exception

from sipline.sip import DEFAULT_PORTS, Address, SipUri

# RFC 3263 §4.1 / RFC 7118 §8: NAPTR services we can use, and their transports.
_NAPTR_SERVICES = {b"SIP+D2U": "udp", b"SIP+D2T": "tcp", b"SIPS+D2T": "tls"}
# RFC 3263 §4.2: SRV owner names per transport.
_SRV_PREFIX = {"udp": "_sip._udp.", "tcp": "_sip._tcp.", "tls": "_sips._tcp."}
_LOCALHOST = ("127.0.0.1", "::1")  # RFC 6761 §6.3: "localhost" is the loopback


class DnsResolver(Protocol):
    async def resolve(self, qname: str, rdtype: str) -> Any: ...


def numeric_target(uri: SipUri) -> Address | None:
    """The one target of a URI whose host (or maddr) is an IP literal, found without
    any look-up (RFC 3263 §4.1, §4.2); None when DNS is needed."""
    secure = uri.scheme == "sips"
    target = uri.params.get("maddr") or uri.host
    if not _is_ip(target):
        return None
    chosen = _uri_transport(uri, secure) or ("tls" if secure else "udp")
    host = ipaddress.ip_address(target.strip("[]")).compressed
    return Address(chosen, host, uri.port or DEFAULT_PORTS[chosen])


async def resolve_targets(
    uri: SipUri, *, resolver: DnsResolver | None = None, rng: random.Random | None = None
) -> list[Address]:
    """The addresses to try for ``uri``, best first (RFC 3263 §4); empty if none.

    Numeric host: used as is.  Name with a port: A/AAAA.  Name without a port: NAPTR,
    then SRV (priority, then weight), then A/AAAA; without NAPTR records the SRV names
    ``_sip._udp``, ``_sip._tcp``, ``_sips._tcp``; without SRV records A/AAAA on the
    default port.  ``sips:`` URIs only get TLS.
    """
    secure = uri.scheme == "sips"
    target = uri.params.get("maddr") or uri.host  # RFC 3263 §4: maddr overrides the host
    transport = _uri_transport(uri, secure)
    if _is_ip(target) or target.lower() == "localhost" or uri.port is not None:
        chosen = transport or ("tls" if secure else "udp")  # RFC 3263 §4.1
        port = uri.port or DEFAULT_PORTS[chosen]
        return await _addresses(resolver, target, chosen, port)
    resolver = resolver or dns.asyncresolver.Resolver()
    if transport is not None:
        services = (
            [(transport, _SRV_PREFIX[transport] + target)] if transport in _SRV_PREFIX else []
        )
    else:
        services = await _naptr(resolver, target, secure)
        if not services:
            wanted = ("tls",) if secure else ("udp", "tcp", "tls")
            services = [(t, _SRV_PREFIX[t] + target) for t in wanted]
    results: list[Address] = []
    for service_transport, srv_name in services:
        for host, port in await _srv(resolver, srv_name, rng or random.Random()):
            results += await _addresses(resolver, host, service_transport, port)
    if not results:  # RFC 3263 §4.2: no SRV records, use A/AAAA and the default port
        chosen = transport or ("tls" if secure else "udp")
        results = await _addresses(resolver, target, chosen, DEFAULT_PORTS[chosen])
    return list(dict.fromkeys(results))


def _uri_transport(uri: SipUri, secure: bool) -> str | None:
    value = uri.params.get("transport")
    if value is None:
        return None
    name = value.lower()
    if secure and name == "tcp":
        return "tls"  # RFC 3261 §26.2.2: sips over "tcp" means TLS
    if secure and name == "ws":
        return "wss"
    return name if name in DEFAULT_PORTS else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


async def _query(resolver: DnsResolver, name: str, rdtype: str) -> list[Any]:
    try:
        return list(await resolver.resolve(name, rdtype))
    except dns.exception.DNSException:
        return []


async def _naptr(resolver: DnsResolver, target: str, secure: bool) -> list[tuple[str, str]]:
    """(transport, SRV name) pairs from the NAPTR records, order then preference."""
    records = sorted(await _query(resolver, target, "NAPTR"), key=lambda r: (r.order, r.preference))
    services: list[tuple[str, str]] = []
    for record in records:
        transport = _NAPTR_SERVICES.get(bytes(record.service).upper())
        if transport is None or bytes(record.flags).lower() != b"s":
            continue
        if secure and transport != "tls":
            continue  # RFC 3263 §4.1: a sips URI only uses SIPS+ services
        services.append((transport, record.replacement.to_text()))
    return services


async def _srv(resolver: DnsResolver, name: str, rng: random.Random) -> list[tuple[str, int]]:
    """Targets of ``name``'s SRV records in RFC 2782 order (priority, weighted random)."""
    records = [r for r in await _query(resolver, name, "SRV") if r.target.to_text() != "."]
    ordered: list[tuple[str, int]] = []
    for priority in sorted({r.priority for r in records}):
        group = [r for r in records if r.priority == priority]
        ordered += [(r.target.to_text(), int(r.port)) for r in _weighted_order(group, rng)]
    return ordered


def _weighted_order(records: list[Any], rng: random.Random) -> Iterable[Any]:
    """RFC 2782: pick records at random in proportion to their weight, zero weights last."""
    remaining = sorted(records, key=lambda r: r.weight)  # zero weights first, as §"Usage rules"
    while remaining:
        total = sum(r.weight for r in remaining)
        pick = rng.uniform(0, total) if total else 0.0
        running = 0
        for index, record in enumerate(remaining):
            running += record.weight
            if running >= pick:
                yield remaining.pop(index)
                break


async def _addresses(
    resolver: DnsResolver | None, host: str, transport: str, port: int
) -> list[Address]:
    host = host.strip("[]")
    if _is_ip(host):
        return [Address(transport, ipaddress.ip_address(host).compressed, port)]
    if host.rstrip(".").lower() == "localhost":
        return [Address(transport, ip, port) for ip in _LOCALHOST]
    resolver = resolver or dns.asyncresolver.Resolver()
    a, aaaa = await asyncio.gather(_query(resolver, host, "A"), _query(resolver, host, "AAAA"))
    return [Address(transport, str(record.address), port) for record in (*a, *aaaa)]
