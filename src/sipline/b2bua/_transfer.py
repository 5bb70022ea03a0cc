"""Call transfer in the B2BUA: REFER (RFC 3515), Replaces (RFC 3891).

sipline terminates REFER itself; it never relays it.  The party that sends the
REFER (the *transferor*) leaves the call; the other party (the *transferee*)
stays and is bridged to the *target*:

* blind: ``Refer-To: <sip:C@domain>``: C is routed through the dialplan like a
  new call and rung on new b-legs;
* attended: ``Refer-To: <sip:C@domain?Replaces=...>`` naming another call of the
  transferor through sipline: the far party of that call is the target, and
  that call ends;
* an INVITE with a ``Replaces`` header naming one of our dialogs: its sender
  takes that dialog's place in the call.

Media (one approach for all three, so that it works both with the RTP relay and
without one): the target is asked for an *offer* (an INVITE without SDP, or a
re-INVITE without SDP for a target already in a call, RFC 3725 flow I), its
offer goes through the surviving call's ``MediaSession`` as an offer from the
side the transferor held, and in a re-INVITE to the transferee; the
transferee's answer, through the session again, goes in the ACK to the target.
The relay keeps the transferee's ports; without a relay the re-INVITE points the
transferee at the target directly.  An INVITE with Replaces carries its own
offer, which takes the same way to the transferee.

The transferor gets 202, a NOTIFY ``SIP/2.0 100 Trying`` (and ``180 Ringing``),
then the final status in a NOTIFY that ends the subscription, then our BYE.
The CDR of the surviving call lists each transfer under ``data["transfers"]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sipline.b2bua._build import CallerId, contact_for
from sipline.b2bua._call import Call, CallState, Leg
from sipline.b2bua._local import LocalCall
from sipline.b2bua._refer import (
    SIPFRAG_TYPE,
    ReferTarget,
    match_replaces,
    notify_headers,
    parse_refer_to,
    parse_replaces,
    refer_sub_wanted,
    sipfrag,
)
from sipline.dialog import Dialog, DialogState
from sipline.endpoint import ClientRequest, IncomingRequest
from sipline.routing import HangupCause, Target
from sipline.sip import (
    Address,
    RemoteProtocolError,
    Request,
    Response,
    SipParseError,
    SipUri,
    parse_uri,
)

if TYPE_CHECKING:
    from sipline.b2bua._b2bua import B2bua

__all__ = ["handle_refer", "handle_replacing_invite"]

#: How long a transferor's dialog is remembered after it was let go (64*T1).
_LEAVING_SECONDS = 32.0

logger = logging.getLogger("sipline.b2bua")

_SDP = "application/sdp"
_COMPLETED_ELSEWHERE = 'SIP;cause=200;text="Call completed elsewhere"'
#: Seconds the transferor's final NOTIFY may take before its BYE goes anyway.
_NOTIFY_WAIT = 4.0


@dataclass(slots=True)
class _Party:
    """One party of a call as the B2BUA holds it: the a-side (``leg`` None) or a b-leg."""

    call: Call
    leg: Leg | None
    dialog: Dialog
    destination: Address | None

    @property
    def is_caller(self) -> bool:
        return self.leg is None

    @property
    def key(self) -> tuple[str, str]:
        return (self.dialog.call_id, self.dialog.local_tag)


def _party(b2bua: B2bua, call: Call, leg: Leg | None) -> _Party | None:
    if leg is None:
        return _Party(call, None, call.a_dialog, call.a_destination)
    if leg.dialog is None:
        return None
    return _Party(call, leg, leg.dialog, b2bua.b_destination(leg))


def _other_party(b2bua: B2bua, party: _Party) -> _Party | None:
    call = party.call
    if party.leg is None:
        return None if call.winner is None else _party(b2bua, call, call.winner)
    return _party(b2bua, call, None)


class _Notifier:
    """The implicit subscription of one REFER (RFC 3515 §2.4.4): NOTIFYs to the transferor."""

    def __init__(self, b2bua: B2bua, party: _Party, enabled: bool) -> None:
        self.b2bua = b2bua
        self.party = party
        self.enabled = enabled
        self.last: ClientRequest | None = None
        self.done = False

    def progress(self, status: int, reason: str | None = None) -> None:
        if not self.enabled or self.done or self.party.dialog.state is DialogState.TERMINATED:
            return
        self.done = status >= 200
        notify = self.party.dialog.create_request(
            "NOTIFY",
            headers=notify_headers(status),
            body=sipfrag(status, reason),
            content_type=SIPFRAG_TYPE,
        )
        self.last = self.b2bua.endpoint.send_request(notify, self.party.destination)

    async def flushed(self) -> None:
        """Wait (a little) for the last NOTIFY's answer, so the BYE comes after it."""
        if self.last is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.last.final_response(), _NOTIFY_WAIT)


# -- REFER ------------------------------------------------------------------------------------
async def handle_refer(
    b2bua: B2bua, call: Call, leg: Leg | None, incoming: IncomingRequest
) -> None:
    """A REFER from one party of ``call`` (``leg`` None: from the caller)."""
    request = incoming.request
    try:
        target = parse_refer_to(request)
    except RemoteProtocolError as error:
        incoming.respond(error.status_hint, str(error)[:100] or None)
        return
    if isinstance(call.media, LocalCall):
        incoming.respond(403, "Transfer of a sipline media call is not supported")
        return
    referrer = _party(b2bua, call, leg)
    if (
        call.state is not CallState.ANSWERED
        or referrer is None
        or (leg is not None and leg is not call.winner)
    ):
        incoming.respond(481 if referrer is None else 491)
        return
    transferee = _other_party(b2bua, referrer)
    if transferee is None:
        incoming.respond(481)
        return
    wants_notify = refer_sub_wanted(request)
    headers = [("Contact", referrer.dialog.local_contact or "")]
    if not wants_notify:
        headers.append(("Refer-Sub", "false"))
    incoming.respond(202, headers=headers)
    notifier = _Notifier(b2bua, referrer, wants_notify)
    notifier.progress(100)
    referred_by = referrer.dialog.remote_uri
    if target.replaces is not None:
        await _attended(b2bua, referrer, transferee, target, notifier)
    else:
        await _blind(b2bua, referrer, transferee, target, notifier, referred_by)


async def _blind(
    b2bua: B2bua,
    referrer: _Party,
    transferee: _Party,
    target: ReferTarget,
    notifier: _Notifier,
    referred_by: str,
) -> None:
    call = referrer.call
    legs = _target_legs(b2bua, call, transferee, target, referred_by)
    if not legs:
        notifier.progress(404, "No Route To Destination")
        return
    won = await _ring(b2bua, call, legs, notifier)
    if isinstance(won, int):
        notifier.progress(won)
        return
    leg, response, dialog = won
    destination = b2bua.b_destination(leg)
    if call.state is not CallState.ANSWERED:  # the call ended while the target rang
        _ack_and_bye(b2bua, dialog, response, destination, b"")
        return
    answer = await _reoffer(b2bua, transferee, response, new_is_caller=referrer.is_caller)
    if answer is None:
        _ack_and_bye(b2bua, dialog, response, destination, b"")
        notifier.progress(500, "Transferee Refused The Media")
        return
    leg.ack = dialog.create_ack(response, body=answer, content_type=_SDP)
    b2bua.endpoint.send_ack(leg.ack, destination)
    leg.dialog = dialog
    leg.done = True
    call.legs.append(leg)  # listed in the CDR
    new = _Party(call, leg, dialog, destination)
    _install(b2bua, referrer, new, "blind")
    await _finish_referrer(b2bua, referrer, notifier)


def _target_legs(
    b2bua: B2bua, call: Call, transferee: _Party, target: ReferTarget, referred_by: str
) -> list[Leg]:
    """One offerless INVITE per contact of the dialplan's first group for the target."""
    domain = target.domain
    route = b2bua.dialplan.route(target.user, _user(transferee), domain, b2bua._is_local_user)
    if route.steps or route.hangup is not None or not route.groups:
        return []
    caller = CallerId(number=_user(transferee) or "sipline", name=None, domain=domain)
    legs: list[Leg] = []
    for group_target in route.groups[0]:
        for leg in b2bua.ringer.legs_to(
            call, group_target, caller, domain, b"", remote_party_id=False, offer_100rel=False
        ):
            leg.request.headers.add("Referred-By", f"<{referred_by}>")  # RFC 3892
            legs.append(leg)
    return legs


async def _ring(
    b2bua: B2bua, call: Call, legs: list[Leg], notifier: _Notifier
) -> tuple[Leg, Response, Dialog] | int:
    """Ring ``legs`` at once; the first 2xx wins, the others are cancelled.  The
    status to report when none answers (the lowest failure, 408 on timeout)."""
    queue: asyncio.Queue[tuple[Leg, Response]] = asyncio.Queue()
    for leg in legs:
        leg.client = client = b2bua.endpoint.send_request(leg.request, leg.destination)
        client.on_late_response = _late_2xx_handler(b2bua, leg)
        b2bua._spawn(_pump(client, leg, queue))
    route_timeout = call.route.call_timeout if call.route is not None else 30.0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + route_timeout
    waiting = set(legs)
    failures: list[int] = []
    rang = False
    while waiting:
        try:
            leg, response = await asyncio.wait_for(queue.get(), deadline - loop.time())
        except TimeoutError:
            failures.append(408)
            break
        status = response.status_code
        if status < 200:
            if status in (180, 183) and not rang:
                rang = True
                notifier.progress(180)
            continue
        waiting.discard(leg)
        if status >= 300:
            failures.append(status)
            continue
        dialog = leg.dialogs.dialog_for_response(response)
        if dialog is None:
            continue
        for other in waiting:
            if other.client is not None:
                other.client.cancel(_COMPLETED_ELSEWHERE)
        if waiting:  # a 2xx racing the CANCEL is ACKed and hung up
            b2bua._spawn(_drain_losers(b2bua, queue, waiting))
        return leg, response, dialog
    for leg in waiting:
        if leg.client is not None:
            leg.client.cancel(HangupCause.NO_ANSWER.reason)
    if waiting:
        b2bua._spawn(_drain_losers(b2bua, queue, waiting))
    return min(failures, key=lambda s: (s // 100, s in (408, 480, 487, 503), s), default=480)


async def _pump(
    client: ClientRequest, leg: Leg, queue: asyncio.Queue[tuple[Leg, Response]]
) -> None:
    async for response in client:
        queue.put_nowait((leg, response))


async def _drain_losers(
    b2bua: B2bua, queue: asyncio.Queue[tuple[Leg, Response]], legs: set[Leg]
) -> None:
    waiting = set(legs)
    while waiting:
        try:
            leg, response = await asyncio.wait_for(queue.get(), 64.0)
        except TimeoutError:
            return
        if response.status_code < 200:
            continue
        waiting.discard(leg)
        dialog = leg.dialogs.dialog_for_response(response)
        if response.status_code < 300 and dialog is not None:
            _ack_and_bye(b2bua, dialog, response, b2bua.b_destination(leg), b"")


def _late_2xx_handler(b2bua: B2bua, leg: Leg) -> Callable[[Response], None]:
    def resend(response: Response) -> None:
        # A retransmitted 2xx of the winner: our ACK again (§13.2.2.4).
        dialog = leg.dialog
        if leg.ack is not None and dialog is not None and response.to.tag == dialog.remote_tag:
            b2bua.endpoint.send_ack(leg.ack, b2bua.b_destination(leg))

    return resend


# -- attended transfer ---------------------------------------------------------------------
async def _attended(
    b2bua: B2bua,
    referrer: _Party,
    transferee: _Party,
    target: ReferTarget,
    notifier: _Notifier,
) -> None:
    replaces = target.replaces
    assert replaces is not None
    entry = match_replaces(replaces, b2bua.dialogs, lambda e: _remote_tag(e[0], e[1]))
    if entry is None or entry[0] is referrer.call:
        notifier.progress(481)
        return
    other_call, other_leg = entry
    held = _party(b2bua, other_call, other_leg)  # the transferor's other dialog
    new = None if held is None else _other_party(b2bua, held)
    if other_call.state is not CallState.ANSWERED or held is None or new is None:
        notifier.progress(481)
        return
    offer = await _ask_offer(b2bua, new)
    if offer is None:
        notifier.progress(488)
        return
    response, client = offer
    answer = await _reoffer(b2bua, transferee, response, new_is_caller=referrer.is_caller)
    destination = client.destination or new.destination
    if destination is not None:
        body = answer or b""
        b2bua.endpoint.send_ack(
            new.dialog.create_ack(response, body=body, content_type=_SDP), destination
        )
    if answer is None or referrer.call.state is not CallState.ANSWERED:
        notifier.progress(500, "Transferee Refused The Media")
        return
    # The other call ends for the transferor only: BYE its dialog, not the target's.
    other_call.transfers.append(_note("attended-away", held, new, b2bua.clock()))
    b2bua.in_dialog.hang_up(
        other_call, HangupCause.NORMAL_CLEARING, side="caller" if new.is_caller else "callee"
    )
    source = destination or new.destination or other_call.incoming.source
    moved = _Party(referrer.call, None, new.dialog, source)
    moved.leg = _leg_for(new, referrer, new.call.incoming.request, source)
    _install(b2bua, referrer, moved, "attended")
    await _finish_referrer(b2bua, referrer, notifier)


async def _ask_offer(b2bua: B2bua, party: _Party) -> tuple[Response, ClientRequest] | None:
    """RFC 3725 flow I: a re-INVITE without SDP; the 2xx carries the party's offer.
    None when it fails (a 2xx without SDP is ACKed first)."""
    invite = party.dialog.create_request("INVITE")
    client = b2bua.endpoint.send_request(invite, party.destination)
    response = await client.final_response()
    with contextlib.suppress(SipParseError):
        party.dialog.receive_response(response)
    if not 200 <= response.status_code < 300:
        return None
    if not response.body:
        if client.destination is not None:
            b2bua.endpoint.send_ack(party.dialog.create_ack(response), client.destination)
        return None
    return response, client


# -- INVITE with Replaces ------------------------------------------------------------------
async def handle_replacing_invite(b2bua: B2bua, incoming: IncomingRequest) -> None:
    """RFC 3891 §3: an INVITE whose Replaces names one of our confirmed dialogs; its
    sender takes that dialog's party's place (481 when no dialog matches)."""
    request = incoming.request
    try:
        replaces = parse_replaces(request.headers.get("Replaces") or "")
    except RemoteProtocolError as error:
        incoming.respond(400, str(error)[:100])
        return
    entry = match_replaces(replaces, b2bua.dialogs, lambda e: _remote_tag(e[0], e[1]))
    if entry is None:
        incoming.respond(481)
        return
    call, leg = entry
    old = _party(b2bua, call, leg)
    if call.state is not CallState.ANSWERED or old is None or isinstance(call.media, LocalCall):
        incoming.respond(481)  # only confirmed dialogs of bridged calls are replaced
        return
    if replaces.early_only:
        incoming.respond(486)  # §3: early-only and the dialog is confirmed
        return
    stay = _other_party(b2bua, old)
    if stay is None or not request.body:
        incoming.respond(481 if stay is None else 488, None if stay is None else "Offer Needed")
        return
    answer = await _reoffer(b2bua, stay, request, new_is_caller=old.is_caller)
    if answer is None or call.state is not CallState.ANSWERED:
        incoming.respond(488)
        return
    uri = request.request_uri
    user = uri.user if isinstance(uri, SipUri) and uri.user else b2bua.config.contact_user
    contact = contact_for(
        user, b2bua.endpoint.sent_by(incoming.local, incoming.source), incoming.local.transport
    )
    dialog = Dialog.as_uas(request, incoming.to_tag, local_contact=contact, early=False)
    new = _Party(call, None, dialog, None if dialog.route_set else incoming.source)
    new.leg = _leg_for(new, old, request, incoming.source)
    incoming.respond(200, headers=[("Contact", contact), ("Content-Type", _SDP)], body=answer)
    _install(b2bua, old, new, "replaces")
    _bye(b2bua, old, _COMPLETED_ELSEWHERE)


# -- shared steps ----------------------------------------------------------------------------
async def _reoffer(
    b2bua: B2bua, stay: _Party, offer_message: Request | Response, *, new_is_caller: bool
) -> bytes | None:
    """Re-INVITE ``stay`` with the new party's offer (through the call's media
    session, as coming from the side ``new_is_caller`` names); the answer for the
    new party, or None when the media or the transferee refused."""
    call = stay.call
    if stay.dialog.state is DialogState.TERMINATED or call.state is not CallState.ANSWERED:
        return None
    if call.reinvite_busy or call.pending_ack is not None:
        return None  # another offer is in progress (RFC 3261 §14.1)
    call.reinvite_busy = True
    try:
        try:
            offer = call.media.offer(offer_message.body, from_caller=new_is_caller)
        except Exception as error:  # refused SDP (or no port left)
            logger.info("%r: transfer offer refused: %s", call, error)
            return None
        invite = stay.dialog.create_request("INVITE", body=offer, content_type=_SDP)
        client = b2bua.endpoint.send_request(invite, stay.destination)
        response = await client.final_response()
        with contextlib.suppress(SipParseError):
            stay.dialog.receive_response(response)
        if not 200 <= response.status_code < 300:
            return None
        if client.destination is not None:
            b2bua.endpoint.send_ack(stay.dialog.create_ack(response), client.destination)
        if not response.body:
            return None
        try:
            return call.media.answer(response.body, from_caller=stay.is_caller)
        except Exception as error:
            logger.info("%r: transferee's answer refused: %s", call, error)
            return None
    finally:
        call.reinvite_busy = False


def _install(b2bua: B2bua, old: _Party, new: _Party, kind: str) -> None:
    """``new`` takes ``old``'s side of the call (the dialog table follows)."""
    call = old.call
    if old.is_caller:
        call.a_dialog = new.dialog
        call.a_destination = new.destination
        b2bua.dialogs[new.key] = (call, None)
    else:
        assert new.leg is not None
        call.winner = new.leg
        b2bua.dialogs[new.key] = (call, new.leg)
    call.extra_dialogs.append(new.key)
    b2bua.dialogs.pop(old.key, None)
    _let_go(b2bua, old)
    call.transfers.append(_note(kind, old, new, b2bua.clock()))
    logger.info("%r: %s transfer: %s replaced by %s", call, kind, old.dialog, new.dialog)


def _let_go(b2bua: B2bua, party: _Party) -> None:
    """Keep the leaving party's dialog for a while: its own BYE may come (RFC 5589
    §6.1 shows a transferor hanging up after the final NOTIFY) or cross ours."""
    key = party.key
    b2bua.leaving[key] = party.dialog
    asyncio.get_running_loop().call_later(_LEAVING_SECONDS, b2bua.leaving.pop, key, None)


async def _finish_referrer(b2bua: B2bua, referrer: _Party, notifier: _Notifier) -> None:
    notifier.progress(200)
    await notifier.flushed()
    _bye(b2bua, referrer, HangupCause.NORMAL_CLEARING.reason)


def _bye(b2bua: B2bua, party: _Party, reason: str) -> None:
    if party.dialog.state is DialogState.TERMINATED:
        return
    bye = party.dialog.create_request("BYE", headers=[("Reason", reason)])
    party.dialog.terminate()
    b2bua.endpoint.send_request(bye, party.destination)


def _ack_and_bye(
    b2bua: B2bua, dialog: Dialog, response: Response, destination: Address, body: bytes
) -> None:
    b2bua.endpoint.send_ack(dialog.create_ack(response, body=body), destination)
    if dialog.state is not DialogState.TERMINATED:
        bye = dialog.create_request("BYE", headers=[("Reason", _COMPLETED_ELSEWHERE)])
        dialog.terminate()
        b2bua.endpoint.send_request(bye, destination)


def _leg_for(new: _Party, old: _Party, invite: Request, source: Address) -> Leg | None:
    """The b-leg object for a party that takes the callee side (None for the caller
    side): its own leg when it has one, else one made from the INVITE it sent us
    (``source``: where that INVITE came from)."""
    if old.is_caller:
        return None
    if new.leg is not None:
        return new.leg
    user = _uri_user(new.dialog.remote_uri)
    destination = new.destination or source
    leg = Leg(Target("user", user), invite, destination, new.dialog.local_contact or "")
    leg.dialog = new.dialog
    leg.done = True
    return leg


def _note(kind: str, old: _Party, new: _Party, now: float) -> dict[str, object]:
    return {
        "kind": kind,
        "time": now,
        "replaced": old.dialog.remote_uri,
        "replaced_call_id": old.dialog.call_id,
        "by": new.dialog.remote_uri,
        "by_call_id": new.dialog.call_id,
    }


def _remote_tag(call: Call, leg: Leg | None) -> str | None:
    if leg is None:
        return call.a_dialog.remote_tag
    return None if leg.dialog is None else leg.dialog.remote_tag


def _user(party: _Party) -> str:
    return _uri_user(party.dialog.remote_uri)


def _uri_user(text: str) -> str:
    try:
        uri = parse_uri(text)
    except SipParseError:
        return ""
    return (uri.user or "") if isinstance(uri, SipUri) else ""
