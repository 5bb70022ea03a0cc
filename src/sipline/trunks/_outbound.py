"""The b-leg of a call that goes out through a trunk (dialplan ``trunk/NAME/NUMBER``).

The INVITE is the B2BUA's b-leg INVITE (own Call-ID, tags, CSeq) with the provider
as Request-URI host and the trunk's caller ID presentation:

- ``pass``: the caller's number in From, P-Asserted-Identity and Remote-Party-ID;
- a fixed number: that number instead;
- ``anonymous``: RFC 3323 §4.1.1.3 From ``"Anonymous" <sip:anonymous@anonymous.invalid>``
  and ``Privacy: id``, the real identity only in P-Asserted-Identity (RFC 3325 §9.3)
  for the provider to keep to itself.

``from_user`` / ``from_domain`` replace the From URI's user and host (providers that
want the account in From); the presented number stays in the identity headers.
"""

from __future__ import annotations

from functools import partial

from sipline.b2bua import CallerId, Leg, b_leg_invite, contact_for
from sipline.endpoint import Endpoint
from sipline.routing import Target
from sipline.sip import Address, Request, quote_string
from sipline.trunks._auth import AuthenticatedClient, DigestCache, TrunkDialogSet
from sipline.trunks._config import TrunkConfig

__all__ = ["LegSettings", "present_caller", "presented_number", "trunk_destination", "trunk_leg"]

_ANONYMOUS = '"Anonymous" <sip:anonymous@anonymous.invalid>'


class LegSettings:
    """What the B2BUA's config says about b-leg INVITEs (identity headers, 100rel)."""

    __slots__ = ("offer_100rel", "p_asserted_identity", "remote_party_id")

    def __init__(
        self, *, p_asserted_identity: bool, remote_party_id: bool, offer_100rel: bool
    ) -> None:
        self.p_asserted_identity = p_asserted_identity
        self.remote_party_id = remote_party_id
        self.offer_100rel = offer_100rel


def trunk_destination(trunk: TrunkConfig) -> Address | None:
    """The provider's address when its host is one (None: RFC 3263 resolves the name)."""
    if not trunk.is_ip:
        return None
    return Address(trunk.transport, trunk.host, trunk.default_port)


def trunk_leg(
    endpoint: Endpoint,
    a_invite: Request,
    target: Target,
    trunk: TrunkConfig,
    caller: CallerId,
    offer: bytes,
    settings: LegSettings,
) -> Leg:
    """Build the b-leg through ``trunk`` and send its INVITE (authenticating on 401/407).

    Raises ``sipline.transport.TransportError`` when no listener has the trunk's transport.
    """
    number = target.number or ""
    destination = trunk_destination(trunk)
    probe = destination or Address(trunk.transport, "0.0.0.0", trunk.default_port)  # noqa: S104
    local = endpoint.transport.listener_for(probe).local_address
    sent_by = endpoint.sent_by(local, destination or local)
    presented = presented_number(trunk, caller)
    contact = contact_for(trunk.from_user or presented or "sipline", sent_by, trunk.transport)
    invite = b_leg_invite(
        a_invite,
        request_uri=trunk.request_uri(number),
        to=f"<sip:{number}@{trunk.domain}>",
        caller=CallerId(number=presented or "anonymous", name=caller.name, domain=trunk.domain),
        contact=contact,
        body=offer,
        p_asserted_identity=settings.p_asserted_identity,
        remote_party_id=settings.remote_party_id,
        offer_100rel=settings.offer_100rel,
    )
    present_caller(invite, trunk, caller)
    cache = DigestCache(trunk.username, trunk.password, trunk.realm)
    leg = Leg(target, invite, destination, contact)
    leg.dialogs = TrunkDialogSet(invite, cache, local_contact=contact)
    leg.client = AuthenticatedClient(
        endpoint, invite, destination, cache, on_resend=partial(_resent, leg)
    )
    return leg


def _resent(leg: Leg, request: Request) -> None:
    """The authorized INVITE replaced the first one: the dialog starts from its CSeq."""
    leg.request = request
    leg.dialogs.request = request


def presented_number(trunk: TrunkConfig, caller: CallerId) -> str | None:
    """The number the provider is asked to show (None: anonymous)."""
    if trunk.caller_id == "anonymous":
        return None
    if trunk.caller_id == "pass":
        return caller.number or None
    return trunk.caller_id


def present_caller(invite: Request, trunk: TrunkConfig, caller: CallerId) -> None:
    """Apply the trunk's From and privacy rules to a b-leg INVITE (keeping the From tag)."""
    tag = invite.from_.tag
    if trunk.caller_id == "anonymous":
        real = f"<sip:{trunk.from_user or caller.number or 'anonymous'}@{trunk.domain}>"
        invite.headers.set("From", f"{_ANONYMOUS};tag={tag}")
        invite.headers.set("Privacy", "id")
        if "P-Asserted-Identity" in invite.headers:
            invite.headers.set("P-Asserted-Identity", real)
        if "Remote-Party-ID" in invite.headers:
            invite.headers.set("Remote-Party-ID", f"{real};party=calling;screen=yes;privacy=full")
        return
    if trunk.from_user is not None or trunk.from_domain is not None:
        number = presented_number(trunk, caller) or "anonymous"
        user = trunk.from_user or number
        name = f"{quote_string(caller.name)} " if caller.name else ""
        invite.headers.set("From", f"{name}<sip:{user}@{trunk.domain}>;tag={tag}")
