"""JSON shapes of what the API returns (the OpenAPI schemas describe the same fields)."""

from __future__ import annotations

from typing import Any

from sipline.admin._interfaces import CallInfo, LegInfo, TrunkInfo
from sipline.sip import Address
from sipline.store import Binding, CdrRecord, User

__all__ = ["binding_json", "call_json", "cdr_json", "trunk_json", "user_json"]


def _address(address: Address) -> str:
    return f"{address.transport}:{address.hostport}"


def binding_json(binding: Binding, now: float) -> dict[str, Any]:
    return {
        "aor": binding.aor,
        "contact": binding.contact,
        "source": _address(binding.source),
        "local": _address(binding.local),
        "expires_in": binding.expires_in(now),
        "expires_at": binding.expires_at,
        "registered_at": binding.registered_at,
        "user_agent": binding.user_agent,
        "call_id": binding.call_id,
        "instance": binding.instance,
        "reg_id": binding.reg_id,
        "q": binding.q,
    }


def user_json(user: User) -> dict[str, Any]:
    """A user without its digests: HA1 values are password equivalents for the realm."""
    return {
        "aor": user.aor,
        "user": user.user,
        "domain": user.domain,
        "display_name": user.display_name,
        "created_at": user.created_at,
    }


def cdr_json(record: CdrRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "start_time": record.start_time,
        "caller": record.caller,
        "callee": record.callee,
        "call_ids": list(record.call_ids),
        "cause": record.cause,
        "data": record.data,
    }


def _leg_json(leg: LegInfo) -> dict[str, Any]:
    return {
        "call_id": leg.call_id,
        "side": leg.side,
        "peer": leg.peer,
        "state": leg.state,
        "codec": leg.codec,
        "local_tag": leg.local_tag,
        "remote_tag": leg.remote_tag,
    }


def call_json(call: CallInfo, now: float) -> dict[str, Any]:
    return {
        "id": call.id,
        "caller": call.caller,
        "callee": call.callee,
        "state": call.state,
        "started_at": call.started_at,
        "answered_at": call.answered_at,
        "duration": round(max(0.0, now - call.started_at), 3),
        "talk_time": round(max(0.0, now - call.answered_at), 3)
        if call.answered_at is not None
        else None,
        "legs": [_leg_json(leg) for leg in call.legs],
    }


def trunk_json(trunk: TrunkInfo) -> dict[str, Any]:
    return {
        "name": trunk.name,
        "target": trunk.target,
        "state": trunk.state,
        "detail": trunk.detail,
        "expires_at": trunk.expires_at,
        **{k: v for k, v in trunk.extra.items() if k not in ("name", "target", "state")},
    }
