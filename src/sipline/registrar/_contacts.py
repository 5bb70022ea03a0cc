"""From the Contact header fields of a REGISTER to the bindings to save and remove.

RFC 3261 §10.3 steps 6-7, RFC 5626 §6 (``+sip.instance`` / ``reg-id``), RFC 3327 (Path).
"""

from __future__ import annotations

from dataclasses import dataclass

from sipline.registrar._config import RegistrarConfig
from sipline.sip import (
    Address,
    NameAddress,
    RemoteProtocolError,
    Uri,
    parse_name_addr,
    parse_uint,
    unquote_string,
    uris_equivalent,
)
from sipline.store import Binding

__all__ = [
    "BindingChanges",
    "IntervalTooBriefError",
    "OutOfOrderError",
    "RegisterContext",
    "changes",
]


class IntervalTooBriefError(Exception):
    """A contact asked for less than ``min_expires`` (answer 423 with Min-Expires)."""


class OutOfOrderError(Exception):
    """Same Call-ID, CSeq not higher than the binding's (RFC 3261 §10.3 step 7)."""


@dataclass(frozen=True, slots=True)
class RegisterContext:
    """What every binding made from one REGISTER shares."""

    aor: str
    call_id: str
    cseq: int
    header_expires: int | None
    source: Address
    local: Address
    path: tuple[str, ...]
    user_agent: str | None
    now: float


@dataclass(slots=True)
class BindingChanges:
    save: dict[str, Binding]
    remove: set[str]
    outbound: bool  # a binding with +sip.instance and reg-id was made (RFC 5626)


def _expires(contact: NameAddress, ctx: RegisterContext, config: RegistrarConfig) -> int:
    # §10.2.1.1 / §10.3 step 6: Contact parameter, else Expires header, else default.
    expires = contact.expires
    if expires is None:
        expires = ctx.header_expires if ctx.header_expires is not None else config.default_expires
    # §10.3 step 6: 423 only for a nonzero interval under an hour and under the minimum.
    if 0 < expires < config.min_expires and expires < 3600:
        raise IntervalTooBriefError
    return min(expires, config.max_expires)


def _instance(contact: NameAddress) -> tuple[str | None, int | None]:
    value = contact.params.get("+sip.instance")
    if value is None:
        return None, None  # RFC 5626 §6: reg-id without +sip.instance is ignored
    reg_id_text = contact.params.get("reg-id")
    reg_id = None if reg_id_text is None else parse_uint(reg_id_text, header="Contact")
    return unquote_string(value), reg_id


def _key(
    contact: NameAddress, instance: str | None, reg_id: int | None, existing: dict[str, Binding]
) -> str:
    if instance is not None and reg_id is not None:
        # RFC 5626 §6: the flow is identified by instance and reg-id, not by the URI.
        return f"{instance};reg-id={reg_id}"
    for key, binding in existing.items():
        if binding.reg_id is None and uris_equivalent(_contact_uri(binding), contact.uri):
            return key  # §10.3 step 7: URI comparison rules of §19.1.4
    return str(contact.uri)


def _contact_uri(binding: Binding) -> Uri:
    return parse_name_addr(binding.contact, "Contact").uri


def changes(
    contacts: list[NameAddress],
    existing: dict[str, Binding],
    ctx: RegisterContext,
    config: RegistrarConfig,
) -> BindingChanges:
    """The bindings a REGISTER saves and removes; raises before anything is decided."""
    with_reg_id = [c for c in contacts if "+sip.instance" in c.params and "reg-id" in c.params]
    if len(with_reg_id) > 1:
        # RFC 5626 §6: more than one Contact with reg-id is an error.
        raise RemoteProtocolError("more than one Contact with reg-id", header="Contact")
    result = BindingChanges({}, set(), outbound=False)
    for contact in contacts:
        expires = _expires(contact, ctx, config)
        instance, reg_id = _instance(contact)
        key = _key(contact, instance, reg_id, existing)
        prior = existing.get(key)
        if prior is not None and prior.call_id == ctx.call_id and ctx.cseq <= prior.cseq:
            raise OutOfOrderError
        if expires == 0:
            result.save.pop(key, None)
            result.remove.add(key)
            continue
        result.remove.discard(key)
        result.outbound |= reg_id is not None
        result.save[key] = Binding(
            aor=ctx.aor,
            key=key,
            contact=str(contact.without_param("expires")),
            expires_at=ctx.now + expires,
            call_id=ctx.call_id,
            cseq=ctx.cseq,
            source=ctx.source,
            local=ctx.local,
            q=contact.q,
            instance=instance,
            reg_id=reg_id,
            path=ctx.path,
            user_agent=ctx.user_agent,
            registered_at=ctx.now,
        )
    return result
