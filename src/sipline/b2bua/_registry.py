"""What the admin API sees of the calls (``sipline.admin.CallRegistry``).

``call_info`` describes a live call with its legs; ``result_of`` names how an
ended call went, for the totals of ``B2bua.results()``.  ``sipline.admin`` is
imported when a description is first asked for (the admin server has loaded
it by then), so the call engine does not load the web stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sipline.b2bua._call import Call, Leg
from sipline.b2bua._cdr import codec_of
from sipline.dialog import DialogState
from sipline.routing import HangupCause
from sipline.sip import Address

if TYPE_CHECKING:
    from sipline.admin import CallInfo

__all__ = ["call_info", "result_of"]

_RESULT_OF_CAUSE = {
    HangupCause.ORIGINATOR_CANCEL: "cancelled",
    HangupCause.USER_BUSY: "busy",
    HangupCause.NO_ANSWER: "no_answer",
    HangupCause.NO_USER_RESPONSE: "no_answer",
}


def result_of(call: Call) -> str:
    """``answered``, ``cancelled``, ``busy``, ``no_answer`` or ``failed``."""
    if call.answered_at is not None:
        return "answered"
    if call.cause is None:
        return "failed"
    return _RESULT_OF_CAUSE.get(call.cause, "failed")


def _peer(address: Address | None) -> str:
    return "" if address is None else f"{address.transport}:{address.hostport}"


def _leg_state(leg: Leg) -> str:
    if leg.dialog is not None:
        return leg.dialog.state.value
    early = any(d.state is DialogState.EARLY for d in leg.dialogs.dialogs.values())
    if early and not leg.done:
        return "early"
    return "terminated" if leg.done else "trying"


def call_info(call: Call) -> CallInfo:
    """The admin view of a live call: the caller's leg first, then each b-leg."""
    from sipline.admin import CallInfo, LegInfo

    final = call.incoming.final
    answered = final is not None and 200 <= final.status_code < 300
    codec = codec_of(final.body) if answered and final is not None and final.body else None
    a_dialog = call.a_dialog
    legs = [
        LegInfo(
            call_id=call.call_id,
            side="caller",
            peer=_peer(call.a_destination or call.incoming.source),
            state=a_dialog.state.value,
            codec=codec,
            local_tag=a_dialog.local_tag,
            remote_tag=a_dialog.remote_tag,
        )
    ]
    for leg in call.legs:
        destination = leg.destination
        if destination is None and leg.client is not None:
            destination = leg.client.destination
        legs.append(
            LegInfo(
                call_id=leg.call_id,
                side="callee",
                peer=_peer(destination),
                state=_leg_state(leg),
                codec=codec if leg is call.winner else None,
                local_tag=leg.request.from_.tag,
                remote_tag=None if leg.dialog is None else leg.dialog.remote_tag,
            )
        )
    return CallInfo(
        id=call.call_id,
        caller=call.caller,
        callee=call.callee,
        state=call.state.value,
        started_at=call.started_at,
        answered_at=call.answered_at,
        legs=tuple(legs),
    )
