"""How to reach a registered phone: its Contact, or the address its REGISTER came from.

A phone behind NAT registers a Contact with its private address; only the
source address the registrar saw (received/rport, RFC 3581) reaches it.  A
registration made on behalf of another device (a third-party Contact) must be
reached at the Contact.  The rule, like a NAT-detecting SIP server's:

- stream transports (TCP, TLS, WS): always the connection the REGISTER came on
  (phones give their ephemeral port or an unreachable listener as Contact);
- UDP: the Contact's address when its host is the source host (no NAT between
  us), else the source address (NAT rewrote the address).
"""

from __future__ import annotations

from sipline.sip import DEFAULT_PORTS, Address, SipParseError, SipUri, parse_name_addr
from sipline.store import Binding


def reach_address(binding: Binding) -> Address:
    """The transport address to send a request for ``binding`` to."""
    source = binding.source
    if source.reliable:
        return source
    try:
        uri = parse_name_addr(binding.contact, header="Contact").uri
    except SipParseError:
        return source
    if not isinstance(uri, SipUri):
        return source
    host = uri.host.strip("[]")
    if host != source.host:
        return source
    transport = (uri.transport or "udp").lower()
    if transport != source.transport:
        return source
    return Address(transport, host, uri.port or DEFAULT_PORTS.get(transport, 5060))
