"""Building b-leg requests and a-leg responses; where a b-leg goes."""

from __future__ import annotations

import functools
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sipline.sip import (
    DEFAULT_PORTS,
    Address,
    NameAddress,
    Request,
    Response,
    SipParseError,
    SipUri,
    Uri,
    new_call_id,
    new_tag,
    parse_name_addr,
    quote_string,
)

__all__ = [
    "RELAYED_HEADERS",
    "CallerId",
    "b_leg_invite",
    "binding_destination",
    "binding_target",
    "contact_for",
    "copy_headers",
    "uri_destination",
]

#: Headers carried across the legs with in-dialog requests and their responses.
RELAYED_HEADERS = (
    "Content-Type",
    "Content-Disposition",
    "Session-Expires",
    "Min-SE",
    "Event",
    "Subscription-State",
    "Info-Package",
    "Recv-Info",
    "Subject",
    "Priority",
    "Accept",
    "Reason",
    "Retry-After",
)


@dataclass(frozen=True, slots=True)
class CallerId:
    """Who calls, as the callee should see it (From display name, PAI, RPID)."""

    number: str
    name: str | None
    domain: str

    def name_addr(self) -> str:
        uri = f"sip:{self.number}@{self.domain}"
        if self.name:
            return f"{quote_string(self.name)} <{uri}>"
        return f"<{uri}>"


def copy_headers(message: Request | Response, names: Iterable[str]) -> list[tuple[str, str]]:
    headers = message.headers
    return [(name, value) for name in names for value in headers.get_all(name)]


def contact_for(user: str, sent_by: str, transport: str) -> str:
    """The server's Contact on one leg: ``<sip:USER@HOST:PORT;transport=tcp>``."""
    suffix = "" if transport == "udp" else f";transport={transport}"
    scheme = "sips" if transport == "tls" else "sip"
    safe_user = "".join(c for c in user if c.isalnum() or c in "-_.!~*'()+") or "sipline"
    return f"<{scheme}:{safe_user}@{sent_by}{suffix}>"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def uri_destination(uri: SipUri, default_transport: str = "udp") -> Address | None:
    """The address of a URI with an IP host (None: the endpoint resolves the name)."""
    host = uri.host.strip("[]")
    if not _is_ip(host):
        return None
    transport = (uri.params.get("transport") or default_transport).lower()
    if uri.scheme == "sips":
        transport = "tls"
    if transport not in DEFAULT_PORTS:
        transport = default_transport
    return Address(transport, host, uri.port or DEFAULT_PORTS[transport])


def binding_destination(contact: str, source: Address) -> Address:
    """Where to send a registered phone's INVITE.

    Over a connection, and when the Contact names another host than the one the
    REGISTER came from (a phone behind NAT), the REGISTER's source; else the
    Contact's own address (third-party registrations on the same host).
    """
    if source.reliable:
        return source
    try:
        uri = parse_name_addr(contact, "Contact").uri
    except SipParseError:
        return source
    return _contact_destination(uri, source)


@functools.lru_cache(maxsize=4096)
def binding_target(contact: str, source: Address, *, path: bool) -> tuple[str, Address] | None:
    """(Request-URI, destination) of a registered Contact; None when it does not parse.

    Cached: every call to a phone rings the same binding, and parsing its Contact
    twice per call showed in the profile.  ``path``: the binding came through a
    proxy that added Path (RFC 3327), so the INVITE goes back through it.
    """
    try:
        uri = parse_name_addr(contact, "Contact").uri
    except SipParseError:
        return None
    if path or source.reliable:
        return str(uri), source
    return str(uri), _contact_destination(uri, source)


def _contact_destination(uri: Uri, source: Address) -> Address:
    if not isinstance(uri, SipUri) or uri.host.strip("[]") != source.host:
        return source
    transport = (uri.params.get("transport") or source.transport).lower()
    if transport != source.transport:
        return source
    return Address(source.transport, source.host, uri.port or DEFAULT_PORTS[source.transport])


def b_leg_invite(
    a_invite: Request,
    *,
    request_uri: str,
    to: str,
    caller: CallerId,
    contact: str,
    body: bytes,
    routes: Iterable[str] = (),
    p_asserted_identity: bool = True,
    remote_party_id: bool = True,
    offer_100rel: bool = True,
) -> Request:
    """The b-leg INVITE: its own Call-ID, From tag and CSeq, the server's Contact.

    Max-Forwards is the a-leg's minus one (§16.6 step 3 in spirit: the call still
    crosses one more element); the caller's number and name go in From and in
    P-Asserted-Identity / Remote-Party-ID so the callee's phone shows them.
    """
    max_forwards = a_invite.max_forwards
    caller_addr = caller.name_addr()
    headers: list[tuple[str, str]] = [("Route", route) for route in routes]
    headers += [
        ("Max-Forwards", str(69 if max_forwards is None else max(max_forwards - 1, 0))),
        ("From", f"{caller_addr};tag={new_tag()}"),
        ("To", to),
        ("Call-ID", new_call_id()),
        ("CSeq", f"{secrets.randbelow(1 << 24) + 1} INVITE"),
        ("Contact", contact),
    ]
    supported = ["timer", "100rel"] if offer_100rel else ["timer"]
    headers.append(("Supported", ", ".join(supported)))
    headers.append(("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, MESSAGE, PRACK"))
    if p_asserted_identity:
        headers.append(("P-Asserted-Identity", caller_addr))
    if remote_party_id:
        headers.append(("Remote-Party-ID", f"{caller_addr};party=calling;screen=yes;privacy=off"))
    for name in ("Session-Expires", "Min-SE", "Alert-Info", "Subject", "Priority"):
        value = a_invite.headers.get(name)
        if value is not None:
            headers.append((name, value))
    if body:
        headers.append(("Content-Type", a_invite.headers.get("Content-Type") or "application/sdp"))
    return Request("INVITE", request_uri, headers, body)


def to_for_target(user: str, domain: str, display_name: str | None = None) -> str:
    target = NameAddress(SipUri(user=user, host=domain), display_name)
    return str(target)
