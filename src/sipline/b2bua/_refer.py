"""REFER (RFC 3515) and Replaces (RFC 3891), sans-I/O: parsing and the NOTIFYs.

``parse_refer_to`` reads the one ``Refer-To`` of a REFER: the target URI (its
URI headers stripped) and the dialog a ``?Replaces=`` header names (attended
transfer).  ``parse_replaces`` reads a ``Replaces`` header (of an INVITE, or
the decoded value embedded in a Refer-To).  ``match_replaces`` finds the dialog
a Replaces names in the B2BUA's dialog table.  ``sipfrag`` and
``notify_headers`` build the progress NOTIFYs a transferor gets (§2.4.5).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from sipline.sip import (
    RemoteProtocolError,
    Request,
    SipParseError,
    SipUri,
    parse_name_addr,
    reason_phrase,
)

__all__ = [
    "SIPFRAG_TYPE",
    "ReferTarget",
    "Replaces",
    "match_replaces",
    "notify_headers",
    "parse_refer_to",
    "parse_replaces",
    "refer_sub_wanted",
    "sipfrag",
]

_T = TypeVar("_T")
#: RFC 3261 §25.1 token characters (a tag is a token).
_TOKEN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")


@dataclass(frozen=True, slots=True)
class Replaces:
    """RFC 3891 §6.1: the dialog to replace, as the recipient sees it: ``to_tag`` is
    the recipient's local tag, ``from_tag`` the remote one."""

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False


@dataclass(frozen=True, slots=True)
class ReferTarget:
    """The target of a REFER: the URI to call and, for an attended transfer, the
    dialog the new call replaces."""

    uri: SipUri  # without URI headers
    replaces: Replaces | None = None

    @property
    def user(self) -> str:
        return self.uri.user or ""

    @property
    def domain(self) -> str:
        return self.uri.host.lower()


def parse_replaces(value: str) -> Replaces:
    """``callid;to-tag=X;from-tag=Y[;early-only]`` (RFC 3891 §6.1).

    Raises ``RemoteProtocolError`` (400) when the Call-ID or a tag is missing.
    """
    call_id, *params = (part.strip() for part in value.split(";"))
    if not call_id or any(c.isspace() for c in call_id):
        raise RemoteProtocolError("Replaces without a Call-ID", status_hint=400, header="Replaces")
    tags: dict[str, str] = {}
    early_only = False
    for param in params:
        name, _, tag = param.partition("=")
        name = name.strip().lower()
        if name == "early-only":
            early_only = True
        elif name in ("to-tag", "from-tag"):
            tag = tag.strip()
            if not tag or not set(tag) <= _TOKEN:
                raise RemoteProtocolError(
                    f"Replaces {name} is not a token", status_hint=400, header="Replaces"
                )
            tags[name] = tag
    if "to-tag" not in tags or "from-tag" not in tags:
        raise RemoteProtocolError(
            "Replaces needs to-tag and from-tag", status_hint=400, header="Replaces"
        )
    return Replaces(call_id, tags["to-tag"], tags["from-tag"], early_only)


def parse_refer_to(request: Request) -> ReferTarget:
    """The one Refer-To of a REFER (RFC 3515 §2.4.1: none or several: 400).

    The URI's headers are decoded by the URI parser (``%3B`` -> ``;``); a
    ``Replaces`` among them becomes ``ReferTarget.replaces``; the others (e.g.
    ``Require=replaces``) are dropped from the URI to call.  A URI other than
    sip/sips gets 416.
    """
    values = request.headers.get_all("Refer-To")
    if len(values) != 1:
        raise RemoteProtocolError(
            "REFER needs exactly one Refer-To", status_hint=400, header="Refer-To"
        )
    try:
        uri = parse_name_addr(values[0], "Refer-To").uri
    except SipParseError as error:
        raise RemoteProtocolError(
            f"bad Refer-To: {error.reason}", status_hint=400, header="Refer-To"
        ) from error
    if not isinstance(uri, SipUri):
        raise RemoteProtocolError("Refer-To is not a SIP URI", status_hint=416, header="Refer-To")
    replaces = None
    for name, value in uri.headers:
        if name.lower() == "replaces":
            replaces = parse_replaces(value)
    return ReferTarget(dataclasses.replace(uri, headers=()), replaces)


def refer_sub_wanted(request: Request) -> bool:
    """RFC 4488 §4: ``Refer-Sub: false`` asks for no implicit subscription (no NOTIFYs)."""
    value = request.headers.get("Refer-Sub")
    return value is None or value.split(";", 1)[0].strip().lower() != "false"


def match_replaces(
    replaces: Replaces,
    dialogs: Mapping[tuple[str, str], _T],
    remote_tag_of: Callable[[_T], str | None],
) -> _T | None:
    """The entry of ``dialogs`` (keyed by (Call-ID, our tag)) that ``replaces`` names.

    RFC 3891 §3: the to-tag is our local tag and the from-tag the remote one.  Some
    phones swap the two in a Refer-To; the swapped reading is tried second.  The
    remote tag must match too, so a guessed Call-ID and one tag are not enough.
    """
    for local, remote in (
        (replaces.to_tag, replaces.from_tag),
        (replaces.from_tag, replaces.to_tag),
    ):
        entry = dialogs.get((replaces.call_id, local))
        if entry is not None and remote_tag_of(entry) == remote:
            return entry
    return None


def sipfrag(status: int, reason: str | None = None) -> bytes:
    """RFC 3515 §2.4.5: a NOTIFY body, the status line of the referred request's response."""
    text = "".join(c for c in (reason or reason_phrase(status)) if c.isprintable())
    return f"SIP/2.0 {status} {text}\r\n".encode()


def notify_headers(status: int, *, expires: int = 60) -> list[tuple[str, str]]:
    """Event and Subscription-State of a NOTIFY carrying ``status`` (RFC 3515 §2.4.4,
    §2.4.7): active while provisional, terminated with the final response."""
    state = f"active;expires={expires}" if status < 200 else "terminated;reason=noresource"
    return [("Event", "refer"), ("Subscription-State", state)]


#: The Content-Type of the NOTIFY body (RFC 3420).
SIPFRAG_TYPE = "message/sipfrag;version=2.0"
