"""Ringing the b-legs of a new call: the route's groups in turn, every contact of a
group on its own b-leg (own Call-ID, tags and CSeq), the first 2xx wins and the
others are cancelled (RFC 3326 ``Call completed elsewhere``); a 2xx that comes too
late is ACKed and, from another fork, BYEd (§13.2.2.4).

``LegRinger`` is the B2BUA's (one per ``B2bua``): it uses the B2BUA's endpoint,
configuration, location store and dialog table, and calls back into it to fail the
call (``_fail``), to run a b-leg's task (``_spawn``) and for PRACK and session
timers (``in_dialog``).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import TYPE_CHECKING

from sipline.b2bua._build import (
    CallerId,
    b_leg_invite,
    binding_target,
    contact_for,
    to_for_target,
    uri_destination,
)
from sipline.b2bua._call import Call, CallInput, CallState, Failure, Leg
from sipline.b2bua._failures import best_failure, cause_of, is_reliable
from sipline.b2bua._in_dialog import session_headers
from sipline.b2bua._media import MediaRefusal
from sipline.dialog import Dialog, DialogInput
from sipline.routing import HangupCause, Target
from sipline.sip import (
    Address,
    RemoteProtocolError,
    Response,
    SipUri,
    parse_uri,
    reason_phrase,
)

if TYPE_CHECKING:
    from sipline.b2bua._b2bua import B2bua

__all__ = ["COMPLETED_ELSEWHERE", "LegRinger"]

logger = logging.getLogger("sipline.b2bua")

#: RFC 3326 §2 example: the CANCEL of the b-legs that lost the race.
COMPLETED_ELSEWHERE = 'SIP;cause=200;text="Call completed elsewhere"'


class LegRinger:
    """The ringing half of the B2BUA: b-legs from INVITE to their final response."""

    __slots__ = ("b2bua",)

    def __init__(self, b2bua: B2bua) -> None:
        self.b2bua = b2bua

    # -- ringing -----------------------------------------------------------------------------
    async def ring(self, call: Call, caller_id: CallerId, offer: bytes, domain: str) -> None:
        """Ring the route's groups in turn until one answers or the caller gives up."""
        route = call.route
        assert route is not None
        loop = asyncio.get_running_loop()
        for group in route.groups:
            if call.state not in (CallState.ROUTING, CallState.RINGING, CallState.EARLY_MEDIA):
                return
            if not self._start_group(call, group, caller_id, offer, domain):
                continue
            call.group_done = loop.create_future()
            call.group_timer = loop.call_later(route.call_timeout, self._group_timed_out, call)
            await call.group_done
            if call.group_timer is not None:
                call.group_timer.cancel()
                call.group_timer = None
        if call.state in (CallState.ROUTING, CallState.RINGING, CallState.EARLY_MEDIA):
            self.b2bua._fail(call, best_failure(call.failures))

    def _start_group(
        self, call: Call, group: tuple[Target, ...], caller_id: CallerId, offer: bytes, domain: str
    ) -> bool:
        call.group_legs = []
        for target in group:
            if target.kind == "trunk" and self.b2bua.trunks is not None:
                for leg in self.b2bua.trunks.start_legs(self.b2bua, call, target, caller_id, offer):
                    self._start_leg(call, leg)  # sent by the trunk layer (digest on 401/407)
                continue
            config = self.b2bua.config
            for leg in self.legs_to(
                call,
                target,
                caller_id,
                domain,
                offer,
                remote_party_id=config.send_remote_party_id,
                offer_100rel=config.offer_100rel,
            ):
                self._start_leg(call, leg)
        if not call.group_legs:
            return False
        call.advance(CallInput.LEGS_STARTED)
        return True

    def _start_leg(self, call: Call, leg: Leg) -> None:
        call.legs.append(leg)
        call.group_legs.append(leg)
        self.b2bua.dialogs[(leg.call_id, leg.request.from_.tag or "")] = (call, leg)
        client = leg.client or self.b2bua.endpoint.send_request(leg.request, leg.destination)
        client.on_late_response = partial(self.late_response, call, leg)
        leg.client = client
        if leg.target.timeout:
            loop = asyncio.get_running_loop()
            leg.timer = loop.call_later(leg.target.timeout, self._leg_timed_out, call, leg)
        self.b2bua._spawn(self._run_leg(call, leg))

    def legs_to(
        self,
        call: Call,
        target: Target,
        caller_id: CallerId,
        domain: str,
        body: bytes,
        *,
        remote_party_id: bool,
        offer_100rel: bool,
    ) -> list[Leg]:
        """A b-leg (its INVITE built, not sent) per contact of ``target`` to ring."""
        legs: list[Leg] = []
        for request_uri, destination, local, routes, to in self.contacts_of(call, target, domain):
            sent_by = self.b2bua.endpoint.sent_by(local, destination or local)
            contact = contact_for(caller_id.number, sent_by, local.transport)
            invite = b_leg_invite(
                call.incoming.request,
                request_uri=request_uri,
                to=to,
                caller=caller_id,
                contact=contact,
                body=body,
                routes=routes,
                p_asserted_identity=self.b2bua.config.send_p_asserted_identity,
                remote_party_id=remote_party_id,
                offer_100rel=offer_100rel,
            )
            legs.append(Leg(target, invite, destination, contact))
        return legs

    def contacts_of(
        self, call: Call, target: Target, domain: str
    ) -> list[tuple[str, Address | None, Address, tuple[str, ...], str]]:
        """(Request-URI, destination, local listener, Route set, To) per contact to ring."""
        if target.kind == "user":
            user, _, user_domain = target.value.partition("@")
            user_domain = (user_domain or domain).lower()
            bindings = self.b2bua.locations.lookup(f"{user}@{user_domain}", self.b2bua.clock())
            if not bindings:
                cause = HangupCause.SUBSCRIBER_ABSENT
                call.failures.append(Failure(480, reason_phrase(480), cause, cause.reason))
            to = to_for_target(user, user_domain)
            out: list[tuple[str, Address | None, Address, tuple[str, ...], str]] = []
            destination: Address | None
            for binding in bindings:
                found = binding_target(binding.contact, binding.source, path=bool(binding.path))
                if found is None:
                    continue
                uri, destination = found
                out.append((uri, destination, binding.local, binding.path, to))
            return out
        if target.kind == "sip":
            sip_uri = parse_uri(target.value)
            assert isinstance(sip_uri, SipUri)
            destination = uri_destination(sip_uri)
            listener = self.b2bua.endpoint.transport.listener_for(
                destination or Address("udp", "127.0.0.1", 5060)
            )
            return [(target.value, destination, listener.local_address, (), f"<{target.value}>")]
        # trunk/NAME/NUMBER: the trunks issue plugs in here; until then, no route.
        cause = HangupCause.NO_ROUTE_DESTINATION
        call.failures.append(Failure(404, "No Route To Destination", cause, cause.reason))
        return []

    # -- b-leg responses ---------------------------------------------------------------------
    async def _run_leg(self, call: Call, leg: Leg) -> None:
        assert leg.client is not None
        async for response in leg.client:
            status = response.status_code
            try:
                if status < 200:
                    self._leg_provisional(call, leg, response)
                elif status < 300:
                    self._leg_answered(call, leg, response)
                else:
                    self._leg_failed(call, leg, response)
            except RemoteProtocolError as error:
                logger.info("bad %d on b-leg %s: %s", status, leg.call_id, error)

    def _leg_provisional(self, call: Call, leg: Leg, response: Response) -> None:
        if response.status_code == 100:
            return
        dialog = leg.dialogs.dialog_for_response(response)
        if dialog is not None and is_reliable(response):
            self.b2bua.in_dialog.prack(leg, dialog, response)
        if not call.is_ringing or leg.done:
            return
        incoming = call.incoming
        contact = [("Contact", call.a_dialog.local_contact or "")]
        sdp = b""
        if response.body and call.offer_in_invite and call.state is not CallState.EARLY_MEDIA:
            try:
                sdp = call.media.answer(response.body, from_caller=False)
            except Exception as error:  # ring without early media; the 2xx decides
                logger.info("%r: early media refused: %s", call, error)
        if sdp:
            content_type = response.headers.get("Content-Type") or "application/sdp"
            incoming.respond(183, headers=[*contact, ("Content-Type", content_type)], body=sdp)
            call.advance(CallInput.EARLY_MEDIA)
        elif not call.ringing_sent and call.state is CallState.RINGING:
            status = response.status_code if not response.body else 180
            incoming.respond(status, response.reason, headers=contact)
            call.ringing_sent = True
            call.advance(CallInput.RINGING)

    def _leg_answered(self, call: Call, leg: Leg, response: Response) -> None:
        dialog = leg.dialogs.dialog_for_response(response)
        assert dialog is not None  # a 2xx always has a To tag after dialog_for_response
        was_done = leg.done
        leg.done = True
        if leg.timer is not None:
            leg.timer.cancel()
        if was_done or call.winner is not None or not call.is_ringing:
            self._ack_and_bye(leg, dialog, response)
            return
        call.winner = leg
        leg.dialog = dialog
        for other in call.group_legs:
            if other is not leg and not other.done:
                other.done = True
                if other.client is not None:
                    other.client.cancel(COMPLETED_ELSEWHERE)
        self._answer_caller(call, leg, response)
        call.settle_group()

    def _answer_caller(self, call: Call, leg: Leg, response: Response) -> None:
        dialog = leg.dialog
        assert dialog is not None
        headers = [("Contact", call.a_dialog.local_contact or "")]
        body = response.body
        try:
            if call.offer_in_invite:
                self.b2bua.endpoint.send_ack(
                    dialog.create_ack(response), self.b2bua.b_destination(leg)
                )
                body = call.media.answer(body, from_caller=False) if body else b""
            else:
                # Late offer (§13.2.1): the 2xx carries the callee's offer; the ACK of the
                # caller will carry the answer, which the callee's ACK then takes.
                body = call.media.offer(body, from_caller=False) if body else b""
                call.pending_ack = (True, dialog, self.b2bua.b_destination(leg), response)
        except Exception as error:  # the callee's SDP is refused
            self._refused_answer(call, leg, response, MediaRefusal.of(error))
            return
        if body:
            content_type = response.headers.get("Content-Type") or "application/sdp"
            headers.append(("Content-Type", content_type))
        headers += session_headers(call, response, self.b2bua.config)
        call.incoming.respond(200, headers=headers, body=body)
        call.a_dialog.process_input(DialogInput.RESPONSE_2XX)
        call.advance(CallInput.ANSWERED)
        call.answered_at = self.b2bua.clock()
        call.sip_code = 200
        self.b2bua.counters["answered"] += 1
        self.b2bua.in_dialog.arm_session_timer(call)

    def _leg_failed(self, call: Call, leg: Leg, response: Response) -> None:
        leg.dialogs.dialog_for_response(response)
        if leg.done:
            return
        leg.done = True
        if leg.timer is not None:
            leg.timer.cancel()
        status = response.status_code
        reason_header = response.headers.get("Reason")
        cause = cause_of(status, reason_header)
        leg.failure = Failure(status, response.reason, cause, reason_header)
        call.failures.append(leg.failure)
        if call.group_settled():
            call.settle_group()

    def _leg_timed_out(self, call: Call, leg: Leg) -> None:
        leg.timer = None
        self.give_up_leg(call, leg)
        if call.group_settled():
            call.settle_group()

    def _group_timed_out(self, call: Call) -> None:
        call.group_timer = None
        for leg in call.group_legs:
            self.give_up_leg(call, leg)
        call.settle_group()

    def give_up_leg(self, call: Call, leg: Leg, cause: HangupCause = HangupCause.NO_ANSWER) -> None:
        """No answer in time (or the call is dropped): CANCEL the leg with ``cause``."""
        if leg.done:
            return
        leg.done = True
        leg.failure = Failure(480, reason_phrase(480), cause, cause.reason)
        call.failures.append(leg.failure)
        if leg.client is not None:
            leg.client.cancel(cause.reason)

    def late_response(self, call: Call, leg: Leg, response: Response) -> None:
        """A 2xx after the leg's final response: re-ACK ours, ACK and BYE any other fork."""
        pending = call.pending_ack
        dialog = leg.dialog
        if (
            pending is not None
            and dialog is not None
            and pending[1] is dialog
            and response.to.tag == dialog.remote_tag
        ):
            return  # late offer: the ACK waits for the caller's answer
        self.late_2xx(leg, response)

    def late_2xx(self, leg: Leg, response: Response) -> None:
        """A 2xx after the final response, during the call or after it ended."""
        if response.cseq.method != "INVITE" or not 200 <= response.status_code < 300:
            return
        dialog = leg.dialog
        if dialog is not None and response.to.tag == dialog.remote_tag:
            self.b2bua.endpoint.send_ack(dialog.create_ack(response), self.b2bua.b_destination(leg))
            return
        try:
            other = Dialog.as_uac(leg.request, response, local_contact=leg.dialogs.local_contact)
        except RemoteProtocolError:
            return
        self._ack_and_bye(leg, other, response)

    def _ack_and_bye(self, leg: Leg, dialog: Dialog, response: Response) -> None:
        """§13.2.2.4 at a UAC that wants one answer: ACK the extra 2xx, then BYE it."""
        destination = leg.destination or (leg.client.destination if leg.client else None)
        if destination is None:
            return
        self.b2bua.endpoint.send_ack(dialog.create_ack(response), destination)
        if dialog.state.name == "TERMINATED":
            return
        bye = dialog.create_request("BYE", headers=[("Reason", COMPLETED_ELSEWHERE)])
        dialog.terminate()
        self.b2bua.endpoint.send_request(bye, destination)

    def _refused_answer(
        self, call: Call, leg: Leg, response: Response, refusal: MediaRefusal
    ) -> None:
        """The callee answered with an SDP the media session refuses: §13.2.2.4, ACK
        (without an answer to its late offer) and BYE it at once; the caller gets the
        refusal."""
        dialog = leg.dialog
        assert dialog is not None
        destination = self.b2bua.b_destination(leg)
        if not call.offer_in_invite:
            self.b2bua.endpoint.send_ack(dialog.create_ack(response), destination)
        bye = dialog.create_request("BYE", headers=[("Reason", refusal.cause.reason)])
        dialog.terminate()
        self.b2bua.endpoint.send_request(bye, destination)
        failure = Failure(refusal.status, reason_phrase(refusal.status), refusal.cause)
        self.b2bua._fail(call, failure, "callee", (("Warning", refusal.warning),))
