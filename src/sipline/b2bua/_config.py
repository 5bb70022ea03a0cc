"""How the B2BUA behaves; built once from the config file."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["B2BUA_METHODS", "B2buaConfig"]

#: Methods the endpoint must let through to the B2BUA (its ``allowed_methods``).
B2BUA_METHODS = (
    "INVITE",
    "ACK",
    "CANCEL",
    "BYE",
    "OPTIONS",
    "UPDATE",
    "INFO",
    "MESSAGE",
    "PRACK",
    "NOTIFY",
    "REFER",
)


@dataclass(frozen=True, slots=True)
class B2buaConfig:
    """B2BUA settings (the dialplan's ``set call_timeout=`` overrides the timeout per call)."""

    #: Seconds a group of b-legs rings before the caller gets 480 NO_ANSWER.
    call_timeout: float = 30.0
    #: RFC 4028 §5: the smallest Session-Expires accepted (422 below it).
    min_session_expires: int = 90
    #: Caller id towards the callee (besides the From display name).
    send_p_asserted_identity: bool = True
    send_remote_party_id: bool = True
    #: Offer reliable provisional responses (RFC 3262) on b-legs and PRACK them.
    offer_100rel: bool = True
    #: User part of the server's Contact when there is no better one.
    contact_user: str = "sipline"
    #: Seconds to wait for the caller's ACK that carries a late answer (§13.3.1.4).
    late_ack_timeout: float = 32.0
