"""One call through the B2BUA: its a-leg, its b-legs and its state machine.

The state table ``CALL_TRANSITIONS`` is ``(CallState, CallInput) -> CallState``.
Inputs come from two independent peers and timers, so an input that does not
apply any more (a 180 after the answer, a CANCEL crossing a 200) is not a bug:
``Call.advance`` returns False for a pair not in the table and changes nothing.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass

from sipline.b2bua._media import MediaSession
from sipline.dialog import Dialog, DialogSet
from sipline.endpoint import ClientRequest, IncomingRequest
from sipline.routing import HangupCause, Route, Target
from sipline.sip import Address, Request, Response

__all__ = ["CALL_TRANSITIONS", "Call", "CallInput", "CallState", "Failure", "Leg"]


class CallState(enum.Enum):
    ROUTING = "routing"  # dialplan and location look-ups
    RINGING = "ringing"  # b-legs sent, ringing
    EARLY_MEDIA = "early_media"  # a 183 with SDP went to the caller
    ANSWERED = "answered"  # a b-leg answered, the caller got 200
    ENDING = "ending"  # a BYE is on its way to one side
    ENDED = "ended"


class CallInput(enum.Enum):
    LEGS_STARTED = "legs started"
    RINGING = "180"
    EARLY_MEDIA = "183 with SDP"
    ANSWERED = "2xx"
    FAILED = "failure to the caller"
    CANCELLED = "CANCEL from the caller"
    HUNG_UP = "BYE (either side) or session timer"
    FINISHED = "tear-down done"


_S = CallState
_I = CallInput
CALL_TRANSITIONS: dict[tuple[CallState, CallInput], CallState] = {
    (_S.ROUTING, _I.LEGS_STARTED): _S.RINGING,
    (_S.ROUTING, _I.FAILED): _S.ENDED,
    (_S.ROUTING, _I.CANCELLED): _S.ENDED,
    (_S.ROUTING, _I.EARLY_MEDIA): _S.EARLY_MEDIA,  # sipline's own media (issue #7)
    (_S.ROUTING, _I.ANSWERED): _S.ANSWERED,
    (_S.RINGING, _I.LEGS_STARTED): _S.RINGING,
    (_S.RINGING, _I.RINGING): _S.RINGING,
    (_S.RINGING, _I.EARLY_MEDIA): _S.EARLY_MEDIA,
    (_S.RINGING, _I.ANSWERED): _S.ANSWERED,
    (_S.RINGING, _I.FAILED): _S.ENDED,
    (_S.RINGING, _I.CANCELLED): _S.ENDED,
    (_S.EARLY_MEDIA, _I.LEGS_STARTED): _S.EARLY_MEDIA,
    (_S.EARLY_MEDIA, _I.RINGING): _S.EARLY_MEDIA,
    (_S.EARLY_MEDIA, _I.EARLY_MEDIA): _S.EARLY_MEDIA,
    (_S.EARLY_MEDIA, _I.ANSWERED): _S.ANSWERED,
    (_S.EARLY_MEDIA, _I.FAILED): _S.ENDED,
    (_S.EARLY_MEDIA, _I.CANCELLED): _S.ENDED,
    (_S.ANSWERED, _I.HUNG_UP): _S.ENDING,
    (_S.ENDING, _I.HUNG_UP): _S.ENDING,
    (_S.ENDING, _I.FINISHED): _S.ENDED,
}


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a b-leg (or a target with no leg) did not answer."""

    status: int
    reason: str
    cause: HangupCause
    reason_header: str | None = None  # the callee's own Reason, relayed when present


class Leg:
    """One b-leg: one INVITE to one contact of a target, with its own Call-ID."""

    __slots__ = (
        "ack",
        "client",
        "destination",
        "dialog",
        "dialogs",
        "done",
        "failure",
        "request",
        "target",
        "timer",
    )

    def __init__(
        self, target: Target, request: Request, destination: Address | None, contact: str
    ) -> None:
        self.target = target
        self.request = request
        self.destination = destination
        self.dialogs = DialogSet(request, local_contact=contact)
        self.client: ClientRequest | None = None
        self.dialog: Dialog | None = None  # the confirmed dialog once it answered
        self.ack: Request | None = None  # our ACK of its 2xx (resent for retransmissions)
        self.failure: Failure | None = None
        self.done = False  # a final response came, or we gave up on it
        self.timer: asyncio.TimerHandle | None = None

    @property
    def call_id(self) -> str:
        return self.request.call_id


class Call:
    """A call: the caller's INVITE (a-leg) and the b-legs that ring for it."""

    __slots__ = (
        "a_destination",
        "a_dialog",
        "answered_at",
        "call_id",
        "callee",
        "caller",
        "cause",
        "ended_at",
        "extra_dialogs",
        "failures",
        "group_done",
        "group_legs",
        "group_timer",
        "hangup_side",
        "id",
        "incoming",
        "legs",
        "media",
        "offer_in_invite",
        "pending_ack",
        "reinvite_busy",
        "ringing_sent",
        "route",
        "session_interval",
        "session_timer",
        "sip_code",
        "started_at",
        "state",
        "transfers",
        "winner",
    )

    def __init__(
        self,
        incoming: IncomingRequest,
        a_dialog: Dialog,
        media: MediaSession,
        *,
        caller: str,
        callee: str,
        started_at: float,
    ) -> None:
        self.incoming = incoming
        #: The a-leg's Call-ID (read on every message of the call: an attribute).
        self.call_id = incoming.request.call_id
        #: The call's name for the admin API: the a-leg's Call-ID (made unique by the
        #: B2BUA when two INVITEs share one).
        self.id = incoming.request.call_id
        self.a_dialog = a_dialog
        # In-dialog requests to the caller go where its INVITE came from (symmetric
        # signalling, NAT-friendly) unless a proxy record-routed the dialog.
        self.a_destination: Address | None = None if a_dialog.route_set else incoming.source
        self.media = media
        self.caller = caller
        self.callee = callee
        self.started_at = started_at
        self.state = CallState.ROUTING
        self.route: Route | None = None
        self.legs: list[Leg] = []
        self.group_legs: list[Leg] = []
        self.group_done: asyncio.Future[None] | None = None
        self.group_timer: asyncio.TimerHandle | None = None
        self.failures: list[Failure] = []
        self.winner: Leg | None = None
        self.ringing_sent = False
        self.offer_in_invite = bool(incoming.request.body)
        #: Late offer: (ACK expected from the caller?, dialog, destination, 2xx) of the
        #: ACK that waits for the answer in the other side's ACK.
        self.pending_ack: tuple[bool, Dialog, Address, Response] | None = None
        self.reinvite_busy = False
        self.session_interval: int | None = None
        self.session_timer: asyncio.TimerHandle | None = None
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.cause: HangupCause | None = None
        self.sip_code: int | None = None
        self.hangup_side: str | None = None
        #: Transfers this call went through (RFC 3515/3891), for the CDR.
        self.transfers: list[dict[str, object]] = []
        #: (Call-ID, our tag) of dialogs a transfer brought in, forgotten by ``finish``.
        self.extra_dialogs: list[tuple[str, str]] = []

    def advance(self, what: CallInput) -> bool:
        after = CALL_TRANSITIONS.get((self.state, what))
        if after is None:
            return False
        self.state = after
        return True

    @property
    def is_ringing(self) -> bool:
        return self.state in (CallState.RINGING, CallState.EARLY_MEDIA)

    def group_settled(self) -> bool:
        return all(leg.done for leg in self.group_legs)

    def settle_group(self) -> None:
        done = self.group_done
        if done is not None and not done.done():
            done.set_result(None)

    def cancel_timers(self) -> None:
        for handle in (self.group_timer, self.session_timer):
            if handle is not None:
                handle.cancel()
        self.group_timer = self.session_timer = None
        for leg in self.legs:
            if leg.timer is not None:
                leg.timer.cancel()
                leg.timer = None

    def __repr__(self) -> str:
        return f"<Call {self.state.name} {self.caller} -> {self.callee} {self.call_id}>"
