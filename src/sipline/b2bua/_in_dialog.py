"""In-dialog requests of an established call, relayed from one leg to the other.

Each leg keeps its own dialog (CSeq, tags, route set); a request from one side is
rebuilt in the other side's dialog, its final response carried back.  BYE is
answered at once (with the relay's ``P-RTP-Stat`` of that side's leg, as FreeSWITCH
and Yate do) and a BYE with ``Reason: Q.850;cause=16`` goes to the other side.
An SDP the media session refuses gets 488 (400 when malformed) with Reason and
Warning, leaving the call as it was (RFC 3261 §14.2); an answer it refuses in a
2xx or ACK ends the call, since the two legs no longer agree on the media.
Session timers (RFC 4028) are watched per call: a refresh (2xx to re-INVITE or
UPDATE) re-arms the watchdog; when none comes, both legs get a BYE.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from sipline.b2bua._build import RELAYED_HEADERS, copy_headers
from sipline.b2bua._call import Call, CallInput, CallState, Leg
from sipline.b2bua._config import B2buaConfig
from sipline.b2bua._local import LocalCall
from sipline.b2bua._media import MediaRefusal, media_report
from sipline.b2bua._transfer import handle_refer
from sipline.dialog import TARGET_REFRESH_METHODS, Dialog, DialogState
from sipline.endpoint import ClientRequest, IncomingRequest
from sipline.routing import HangupCause
from sipline.sip import Address, RemoteProtocolError, Request, Response, SipParseError

if TYPE_CHECKING:
    from sipline.b2bua._b2bua import B2bua

__all__ = ["InDialogRelay", "session_headers", "session_interval"]

logger = logging.getLogger("sipline.b2bua")

_RELAYED_REQUEST_HEADERS = tuple(h for h in RELAYED_HEADERS if h != "Content-Type")
_SDP = "application/sdp"


def session_interval(value: str | None) -> int | None:
    """The delta-seconds of a Session-Expires or Min-SE value (RFC 4028 §4)."""
    if not value:
        return None
    text = value.split(";", 1)[0].strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


def session_headers(call: Call, response: Response, config: B2buaConfig) -> list[tuple[str, str]]:
    """Session-Expires for the caller's 200 (RFC 4028 §9); sets ``call.session_interval``.

    The interval is the callee's (or, when the callee does not do timers, the
    caller's request).  A caller that supports timers refreshes (``refresher=uac``);
    its refreshes are relayed to the callee, which keeps both legs alive.
    """
    request = call.incoming.request
    interval = session_interval(response.headers.get("Session-Expires"))
    if interval is None:
        interval = session_interval(request.headers.get("Session-Expires"))
    if interval is None:
        return []
    call.session_interval = max(interval, config.min_session_expires)
    supported = ",".join(request.headers.get_all("Supported")).lower()
    if "timer" not in supported:
        return []
    return [
        ("Session-Expires", f"{call.session_interval};refresher=uac"),
        ("Require", "timer"),
    ]


class InDialogRelay:
    """The in-dialog half of the B2BUA (one per ``B2bua``)."""

    __slots__ = ("b2bua",)

    def __init__(self, b2bua: B2bua) -> None:
        self.b2bua = b2bua

    # -- dispatch ---------------------------------------------------------------------------
    def _leaving_party(self, incoming: IncomingRequest, key: tuple[str, str]) -> None:
        """A request in a dialog no longer bridged: a transferor's BYE gets 200."""
        dialog = self.b2bua.leaving.get(key)
        if dialog is None or incoming.request.method != "BYE":
            incoming.respond(481)
            return
        del self.b2bua.leaving[key]
        dialog.terminate()  # our own BYE, if not sent yet, is not needed any more
        incoming.respond(200)

    async def handle(self, incoming: IncomingRequest) -> None:
        request = incoming.request
        key = (request.call_id, request.to.tag or "")
        entry = self.b2bua.dialogs.get(key)
        if entry is None:
            self._leaving_party(incoming, key)
            return
        call, leg = entry
        from_caller = leg is None
        dialog = call.a_dialog if leg is None else _leg_dialog(leg, request)
        if dialog is None:
            incoming.respond(481)
            return
        try:
            dialog.receive_request(request)
        except RemoteProtocolError as error:  # §12.2.2: CSeq out of order -> 500
            incoming.respond(error.status_hint, "Server Internal Error: CSeq out of order")
            return
        method = request.method
        if method == "BYE":
            self._bye(call, incoming, from_caller)
        elif method == "PRACK" and from_caller:
            incoming.respond(481)  # we never send reliable provisionals to the caller
        elif method == "REFER":  # terminated here, never relayed (RFC 3515)
            await handle_refer(self.b2bua, call, leg, incoming)
        elif isinstance(call.media, LocalCall):  # sipline answered it (issue #7)
            call.media.handle_in_dialog(incoming)
        elif call.state is not CallState.ANSWERED or call.winner is None:
            incoming.respond(491 if method in ("INVITE", "UPDATE") else 481)
        else:
            await self._relay(call, incoming, from_caller)

    def _bye(self, call: Call, incoming: IncomingRequest, from_caller: bool) -> None:
        incoming.respond(200, headers=_rtp_stat(call, "caller" if from_caller else "callee"))
        if call.state is CallState.ANSWERED:
            self.hang_up(
                call, HangupCause.NORMAL_CLEARING, side="caller" if from_caller else "callee"
            )
        elif from_caller and call.is_ringing:
            self.b2bua._caller_cancelled(call, call.incoming)

    def hang_up(self, call: Call, cause: HangupCause, *, side: str) -> None:
        """End an answered call: BYE to each leg that did not send one (RFC 3326 Reason)."""
        if not call.advance(CallInput.HUNG_UP):
            return
        call.cause = cause
        call.hangup_side = side
        # A BYE is a normal clearing for the other side whoever asked (issue #5).
        reason = HangupCause.NORMAL_CLEARING.reason if side != "system" else cause.reason
        if side != "caller":
            stat = _rtp_stat(call, "caller")
            self._send_bye(call.a_dialog, call.a_destination, reason, stat)
        if side != "callee" and call.winner is not None and call.winner.dialog is not None:
            stat = _rtp_stat(call, "callee")
            destination = self.b2bua.b_destination(call.winner)
            self._send_bye(call.winner.dialog, destination, reason, stat)
        self.b2bua.finish(call)

    def _send_bye(
        self,
        dialog: Dialog,
        destination: Address | None,
        reason: str,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        if dialog.state is DialogState.TERMINATED:
            return
        bye = dialog.create_request("BYE", headers=[("Reason", reason), *(extra or ())])
        dialog.terminate()
        self.b2bua.endpoint.send_request(bye, destination)

    # -- relaying ---------------------------------------------------------------------------
    async def _relay(self, call: Call, incoming: IncomingRequest, from_caller: bool) -> None:
        request = incoming.request
        method = request.method
        if method == "INVITE":
            if call.pending_ack is not None or call.reinvite_busy:
                incoming.respond(491)  # RFC 3261 §14.2: one offer at a time
                return
            call.reinvite_busy = True
        try:
            await self._relay_request(call, incoming, from_caller)
        finally:
            if method == "INVITE":
                call.reinvite_busy = False

    async def _relay_request(
        self, call: Call, incoming: IncomingRequest, from_caller: bool
    ) -> None:
        request = incoming.request
        method = request.method
        winner = call.winner
        assert winner is not None
        assert winner.dialog is not None
        destination: Address | None
        if from_caller:
            other, destination = winner.dialog, self.b2bua.b_destination(winner)
        else:
            other, destination = call.a_dialog, call.a_destination
        body = request.body
        content_type = request.headers.get("Content-Type")
        is_offer = bool(body) and method in ("INVITE", "UPDATE") and _is_sdp(content_type)
        if is_offer:
            try:
                body = call.media.offer(body, from_caller=from_caller)
            except Exception as error:  # every refusal is answered
                refusal = MediaRefusal.of(error)
                incoming.respond(refusal.status, headers=refusal.headers)
                return
        out = other.create_request(
            method,
            headers=copy_headers(request, _RELAYED_REQUEST_HEADERS),
            body=body,
            content_type=content_type,
        )
        client = self.b2bua.endpoint.send_request(out, destination)
        response = await client.final_response()
        try:
            other.receive_response(response)
        except SipParseError:
            pass
        self._relay_response(call, incoming, response, from_caller, is_offer, other, client)

    def _relay_response(
        self,
        call: Call,
        incoming: IncomingRequest,
        response: Response,
        from_caller: bool,
        offered: bool,
        other: Dialog,
        client: ClientRequest,
    ) -> None:
        method = incoming.request.method
        status = response.status_code
        body = response.body
        if body and _is_sdp(response.headers.get("Content-Type")) and status < 300:
            media = call.media
            try:
                if offered:
                    body = media.answer(body, from_caller=not from_caller)
                else:
                    body = media.offer(body, from_caller=not from_caller)
            except Exception as error:  # every refusal is answered
                self._refused_in_response(call, incoming, response, other, client, error)
                return
        ok = 200 <= status < 300
        if ok and method == "INVITE":
            ack_to = client.destination
            if ack_to is None:
                pass
            elif offered or not body:
                self.b2bua.endpoint.send_ack(other.create_ack(response), ack_to)
            else:
                call.pending_ack = (from_caller, other, ack_to, response)
        headers = copy_headers(response, RELAYED_HEADERS if body else _RELAYED_REQUEST_HEADERS)
        if ok and from_caller and method in ("INVITE", "UPDATE"):
            headers += _refresh_headers(call, response)
        if ok and method in TARGET_REFRESH_METHODS:
            mine = call.a_dialog if from_caller else _mine(call)
            if mine is not None and mine.local_contact is not None:
                headers.append(("Contact", mine.local_contact))
        incoming.respond(status, response.reason, headers=headers, body=body)
        if ok and method in ("INVITE", "UPDATE"):
            self.arm_session_timer(call)  # RFC 4028 §10: a refresh
        elif status in (408, 481) and call.state is CallState.ANSWERED:
            # §12.2.1.2: the other side's dialog is gone; end the call on both sides.
            side = "callee" if from_caller else "caller"
            self.hang_up(call, HangupCause.NORMAL_TEMPORARY_FAILURE, side=side)

    def _refused_in_response(
        self,
        call: Call,
        incoming: IncomingRequest,
        response: Response,
        other: Dialog,
        client: ClientRequest,
        error: Exception,
    ) -> None:
        """The other side accepted with an SDP the media session refuses: the requester
        gets the refusal; a 2xx to an INVITE is ACKed (without an answer) and, the legs
        no longer agreeing on the media, the call ends (RFC 3261 §13.2.2.4 in spirit)."""
        refusal = MediaRefusal.of(error)
        incoming.respond(refusal.status, headers=refusal.headers)
        logger.info("%r: media refused in a %d: %s", call, response.status_code, error)
        is_invite = incoming.request.method == "INVITE"
        if response.status_code >= 200 and is_invite and client.destination is not None:
            self.b2bua.endpoint.send_ack(other.create_ack(response), client.destination)
        if response.status_code >= 200 and call.state is CallState.ANSWERED:
            self.hang_up(call, refusal.cause, side="system")

    # -- ACKs ------------------------------------------------------------------------------
    def caller_acked(self, call: Call, ack: Request) -> None:
        self._acked(call, ack, from_caller=True)

    def callee_acked(self, call: Call, ack: Request) -> None:
        self._acked(call, ack, from_caller=False)

    def _acked(self, call: Call, ack: Request, *, from_caller: bool) -> None:
        """The ACK that carries a late answer goes on in the other leg's ACK (§13.2.1)."""
        pending = call.pending_ack
        if pending is None or pending[0] != from_caller:
            return
        _, dialog, destination, response = pending
        call.pending_ack = None
        body = ack.body
        content_type = ack.headers.get("Content-Type")
        refusal: MediaRefusal | None = None
        if body and _is_sdp(content_type):
            try:
                body = call.media.answer(body, from_caller=from_caller)
            except Exception as error:  # an ACK cannot be refused
                refusal = MediaRefusal.of(error)
                body, content_type = b"", None
        self.b2bua.endpoint.send_ack(
            dialog.create_ack(response, body=body, content_type=content_type), destination
        )
        if refusal is not None and call.state is CallState.ANSWERED:
            self.hang_up(call, refusal.cause, side="system")

    def prack(self, leg: Leg, dialog: Dialog, response: Response) -> None:
        """RFC 3262 §7.2: PRACK a reliable provisional response of a b-leg."""
        rseq = response.headers.get("RSeq")
        if rseq is None or not rseq.strip().isdigit():
            return
        cseq = response.cseq
        prack = dialog.create_request("PRACK", headers=[("RAck", f"{rseq.strip()} {cseq}")])
        self.b2bua.endpoint.send_request(prack, self.b2bua.b_destination(leg))

    # -- session timers (RFC 4028) -----------------------------------------------------------
    def arm_session_timer(self, call: Call) -> None:
        interval = call.session_interval
        if interval is None or call.state is not CallState.ANSWERED:
            return
        if call.session_timer is not None:
            call.session_timer.cancel()
        # §10: without a refresh, BYE before the session expires.
        delay = interval - min(32.0, interval / 3)
        loop = asyncio.get_running_loop()
        call.session_timer = loop.call_later(delay, self._session_expired, call)

    def _session_expired(self, call: Call) -> None:
        call.session_timer = None
        logger.info("no session refresh for %r: hanging up", call)
        self.hang_up(call, HangupCause.RECOVERY_ON_TIMER_EXPIRE, side="system")


def _rtp_stat(call: Call, side: str) -> list[tuple[str, str]]:
    """``P-RTP-Stat`` of the relay's leg facing ``side`` (none without a relay)."""
    report = media_report(call.media)
    return [] if report is None else [("P-RTP-Stat", report.p_rtp_stat(side))]


def _refresh_headers(call: Call, response: Response) -> list[tuple[str, str]]:
    """RFC 4028 §9: the 2xx to the caller's refresh says the interval, refresher uac."""
    if call.session_interval is None or "Session-Expires" in response.headers:
        return []
    supported = ",".join(call.incoming.request.headers.get_all("Supported")).lower()
    if "timer" not in supported:
        return []
    return [("Session-Expires", f"{call.session_interval};refresher=uac"), ("Require", "timer")]


def _leg_dialog(leg: Leg, request: Request) -> Dialog | None:
    if leg.dialog is not None:
        return leg.dialog
    return leg.dialogs.dialogs.get(request.from_.tag or "")


def _mine(call: Call) -> Dialog | None:
    winner = call.winner
    return winner.dialog if winner is not None else None


def _is_sdp(content_type: str | None) -> bool:
    return content_type is None or content_type.split(";", 1)[0].strip().lower() == _SDP
