"""The B2BUA application: each INVITE becomes a call with its own b-legs.

``B2bua`` implements the endpoint's ``Application``: a new INVITE is routed by
the dialplan, every contact of the target rings on its own b-leg (own Call-ID,
tags and CSeq), the first 2xx wins and the others are cancelled (``LegRinger``,
``_ringing.py``); in-dialog requests are relayed by ``InDialogRelay``
(``_in_dialog.py``).  This module keeps the call's start, its failures and its end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from sipline.b2bua._build import CallerId, contact_for
from sipline.b2bua._call import Call, CallInput, CallState, Failure, Leg
from sipline.b2bua._cdr import call_record, codec_of
from sipline.b2bua._config import B2buaConfig
from sipline.b2bua._failures import short_reason
from sipline.b2bua._in_dialog import InDialogRelay, session_interval
from sipline.b2bua._local import record_call, start_local_call
from sipline.b2bua._media import (
    MediaFactory,
    MediaRefusal,
    MediaSilence,
    PassThroughMedia,
    media_report,
)
from sipline.b2bua._registry import call_info, result_of
from sipline.b2bua._ringing import LegRinger
from sipline.b2bua._transfer import handle_replacing_invite
from sipline.b2bua._trunk_hook import TrunkDialer
from sipline.dialog import Dialog
from sipline.endpoint import Endpoint, IncomingRequest
from sipline.media import LocalMedia
from sipline.routing import Dialplan, HangupCause
from sipline.sip import (
    Address,
    RemoteProtocolError,
    Request,
    Response,
    SipParseError,
    SipUri,
    reason_phrase,
)
from sipline.store import CdrStore, LocationStore, UserStore

if TYPE_CHECKING:
    from sipline.admin import CallInfo

__all__ = ["B2bua"]

logger = logging.getLogger("sipline.b2bua")


class B2bua:
    """Calls between phones through the server (the endpoint's application for calls).

    ``endpoint`` may be None and given later with ``attach()``.  ``locations`` finds
    the callee's bindings, ``users`` tells which numbers are
    local users (without it, a number with bindings is), ``cdr_store`` receives
    one record per call, ``media`` makes the SDP hook of each call, ``local_media``
    runs the dialplan's media applications (made on first use when None).
    """

    def __init__(
        self,
        endpoint: Endpoint | None,
        locations: LocationStore,
        dialplan: Dialplan,
        cdr_store: CdrStore | None,
        config: B2buaConfig | None = None,
        *,
        users: UserStore | None = None,
        media: MediaFactory = PassThroughMedia,
        local_media: LocalMedia | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._endpoint = endpoint
        self.locations = locations
        self.dialplan = dialplan
        self.cdr_store = cdr_store
        self.config = config or B2buaConfig()
        self.users = users
        self.media_factory = media
        #: sipline's own RTP endpoints and sounds (dialplan media applications).
        self.local_media = local_media
        self.clock = clock
        #: (Call-ID, our tag) of every leg -> its call and b-leg (None: the a-leg).
        self.dialogs: dict[tuple[str, str], tuple[Call, Leg | None]] = {}
        #: Dialogs of parties being let go (a transferor): their own BYE, which may
        #: cross ours (RFC 5589 §6.1), is answered 200 rather than 481.
        self.leaving: dict[tuple[str, str], Dialog] = {}
        self.calls: set[Call] = set()
        #: Live calls by ``Call.id``, oldest first (the admin API's view).
        self._by_id: dict[str, Call] = {}
        #: CallInfo of answered calls: nothing it shows changes until the call ends, and
        #: the admin API lists every call each second (10 us each: 50 ms at 5,000 calls).
        self._infos: dict[str, CallInfo] = {}
        self._results: Counter[str] = Counter()
        self.counters = {"calls": 0, "answered": 0, "failed": 0, "cancelled": 0}
        self.in_dialog = InDialogRelay(self)
        self.ringer = LegRinger(self)
        self._tasks: set[asyncio.Task[None]] = set()
        #: Places ``trunk/NAME/NUMBER`` b-legs (``sipline.trunks``); None: no trunks.
        self.trunks: TrunkDialer | None = None

    @property
    def endpoint(self) -> Endpoint:
        assert self._endpoint is not None, "attach the endpoint first"
        return self._endpoint

    def attach(self, endpoint: Endpoint) -> None:
        """Use ``endpoint`` (when it is built after the B2BUA, as its application)."""
        self._endpoint = endpoint

    def reload(self, dialplan: Dialplan) -> None:
        """Use ``dialplan`` for new calls; calls in progress keep their route."""
        self.dialplan = dialplan

    # -- Application ---------------------------------------------------------------------
    async def handle_request(
        self, incoming: IncomingRequest, *, authenticated: str | None = None
    ) -> None:
        """A request for the call layer (``authenticated``: the caller's AOR when known)."""
        request = incoming.request
        if incoming.in_dialog:
            await self.in_dialog.handle(incoming)
        elif request.method == "INVITE" and "Replaces" in request.headers:
            await handle_replacing_invite(self, incoming)  # RFC 3891
        elif request.method == "INVITE":
            await self._new_call(incoming, authenticated)
        elif request.method in ("BYE", "PRACK", "UPDATE", "INFO", "NOTIFY"):
            incoming.respond(481)  # §12.2.2: no dialog without a To tag
        else:
            incoming.respond(405, headers=[("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")])

    def handle_ack(self, request: Request, source: Address) -> None:
        try:
            entry = self.dialogs.get((request.call_id, request.to.tag or ""))
        except SipParseError:
            return
        if entry is not None and entry[1] is None:
            self.in_dialog.caller_acked(entry[0], request)
        elif entry is not None:
            self.in_dialog.callee_acked(entry[0], request)

    def handle_stray_response(self, response: Response, source: Address) -> None:
        try:
            if response.cseq.method != "INVITE" or not 200 <= response.status_code < 300:
                return
            entry = self.dialogs.get((response.call_id, response.from_.tag or ""))
        except SipParseError:
            return
        if entry is not None and entry[1] is not None:
            self.ringer.late_response(entry[0], entry[1], response)

    # -- CallRegistry (sipline.admin) ----------------------------------------------------------
    def active_calls(self) -> list[CallInfo]:
        """Calls not yet ended, oldest first."""
        infos = self._infos
        out: list[CallInfo] = []
        for call in self._by_id.values():
            info = infos.get(call.id)
            if info is None:
                info = call_info(call)
                if call.state is CallState.ANSWERED:
                    infos[call.id] = info
            out.append(info)
        return out

    def hangup(self, call_id: str) -> bool:
        """End a call from the admin API: BYE to both legs of an answered call, CANCEL
        of the ringing b-legs and 480 to the caller otherwise, each with an RFC 3326
        Reason (Q.850 cause 16); False when there is no such call."""
        call = self._by_id.get(call_id)
        if call is None:
            return False
        cause = HangupCause.NORMAL_CLEARING
        if call.state is CallState.ANSWERED:
            self.in_dialog.hang_up(call, cause, side="system")
        elif call.state in (CallState.ROUTING, CallState.RINGING, CallState.EARLY_MEDIA):
            for leg in call.legs:
                self.ringer.give_up_leg(call, leg, cause)
            self._fail(call, Failure(480, reason_phrase(480), cause, cause.reason), "system")
        return True

    def results(self) -> Mapping[str, int]:
        """Ended calls by result (``answered``, ``busy``, ``no_answer``, ``cancelled``,
        ``failed``) since start."""
        return dict(self._results)

    # -- a new call ------------------------------------------------------------------------
    async def _new_call(self, incoming: IncomingRequest, authenticated: str | None) -> None:
        """Route the INVITE and ring; runs in the endpoint's task of this INVITE."""
        request = incoming.request
        try:
            call = self._create_call(incoming, authenticated)
        except RemoteProtocolError as error:
            incoming.respond(error.status_hint, short_reason(error))
            return
        if call is None:
            return
        self.counters["calls"] += 1
        self.calls.add(call)
        if call.id in self._by_id:  # another INVITE with this Call-ID (forked upstream)
            call.id = f"{call.id};{incoming.to_tag}"
        self._by_id[call.id] = call
        self.dialogs[(call.call_id, incoming.to_tag)] = (call, None)
        incoming.on_cancel = partial(self._caller_cancelled, call)
        incoming.on_ack_timeout = partial(self._caller_never_acked, call)
        uri = request.request_uri
        assert isinstance(uri, SipUri)
        destination, domain = uri.user or "", uri.host.lower()
        caller_user = _user_of(request)
        route = self.dialplan.route(destination, caller_user, domain, self._is_local_user)
        call.route = route
        if route.steps:  # media applications: sipline answers itself (issue #7)
            start_local_call(self, call, route)
            return
        if route.record is not None:
            record_call(self, call, route.record)
        if route.hangup is not None:
            cause = route.hangup
            self._fail(call, Failure(cause.sip_status, reason_phrase(cause.sip_status), cause))
            return
        caller_id = CallerId(
            number=route.variables.get("caller_id_number") or caller_user,
            name=route.variables.get("caller_id_name") or request.from_.display_name,
            domain=domain,
        )
        try:
            offer = call.media.offer(request.body, from_caller=True) if request.body else b""
        except Exception as error:  # SDP refused (400/488) or no RTP port left (503)
            self._refuse(call, MediaRefusal.of(error))
            return
        await self.ringer.ring(call, caller_id, offer, domain)

    def _create_call(self, incoming: IncomingRequest, authenticated: str | None) -> Call | None:
        request = incoming.request
        uri = request.request_uri
        if not isinstance(uri, SipUri):
            incoming.respond(416)
            return None
        interval = session_interval(request.headers.get("Session-Expires"))
        if interval is not None and interval < self.config.min_session_expires:
            # RFC 4028 §8.1 (as a UAS): too small an interval gets 422 with our Min-SE.
            incoming.respond(422, headers=[("Min-SE", str(self.config.min_session_expires))])
            return None
        contact = contact_for(
            uri.user or self.config.contact_user,
            self.endpoint.sent_by(incoming.local, incoming.source),
            incoming.local.transport,
        )
        a_dialog = Dialog.as_uas(request, incoming.to_tag, local_contact=contact)
        caller = authenticated or f"{_user_of(request)}@{_host_of(request)}"
        return Call(
            incoming,
            a_dialog,
            self.media_factory(request.call_id),
            caller=caller,
            callee=f"{uri.user or ''}@{uri.host.lower()}",
            started_at=self.clock(),
        )

    def _is_local_user(self, user: str, domain: str) -> bool:
        if self.users is not None:
            return self.users.get_user(user, domain) is not None
        return bool(self.locations.lookup(f"{user}@{domain}", self.clock()))

    # -- b-legs (LegRinger, InDialogRelay, transfers) ------------------------------------------
    def b_destination(self, leg: Leg) -> Address:
        """Where in-dialog requests of a b-leg go: the INVITE's destination (sticky)."""
        destination = leg.destination
        if destination is None and leg.client is not None:
            destination = leg.client.destination
        assert destination is not None
        return destination

    # -- the end of a call --------------------------------------------------------------------
    def _fail(
        self,
        call: Call,
        failure: Failure,
        side: str | None = None,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        if not call.advance(CallInput.FAILED):
            return
        # §16.7 step 6: a 503 from a callee becomes 500 (our own shortage stays 503).
        status = 500 if failure.status == 503 and call.legs else failure.status
        reason = failure.reason if status == failure.status else reason_phrase(status)
        headers = [("Reason", failure.reason_header or failure.cause.reason), *extra]
        call.incoming.respond(status, reason, headers=headers)
        call.cause = failure.cause
        call.sip_code = status
        call.hangup_side = side or ("callee" if call.legs else "system")
        self.counters["failed"] += 1
        self.finish(call)

    def _refuse(self, call: Call, refusal: MediaRefusal) -> None:
        """The caller's offer is refused (RFC 3261 §21.4.26: 488 with a Warning)."""
        failure = Failure(refusal.status, reason_phrase(refusal.status), refusal.cause)
        self._fail(call, failure, "system", (("Warning", refusal.warning),))

    def media_timed_out(self, silence: MediaSilence) -> None:
        """The relay heard no RTP from a leg for ``media.media_timeout`` seconds (the
        phone crashed, lost its network...): BYE both legs with
        ``Reason: Q.850;cause=102;text="MEDIA_TIMEOUT"``; the CDR says MEDIA_TIMEOUT."""
        call = next((c for c in self.calls if c.call_id == silence.call_id), None)
        if call is None or call.state is not CallState.ANSWERED:
            return  # silence while ringing (no early media sent) is normal
        logger.info("%r: %s: hanging up", call, silence)
        self.in_dialog.hang_up(call, HangupCause.MEDIA_TIMEOUT, side="system")

    def _caller_cancelled(self, call: Call, incoming: IncomingRequest) -> None:
        """The caller's CANCEL (the endpoint answered it 200): 487, CANCEL every b-leg."""
        if not call.advance(CallInput.CANCELLED):
            return
        cause = HangupCause.ORIGINATOR_CANCEL
        for leg in call.legs:
            if not leg.done:
                leg.done = True
                if leg.client is not None:
                    leg.client.cancel(cause.reason)
        incoming.respond(487, headers=[("Reason", cause.reason)])
        call.cause = cause
        call.sip_code = 487
        call.hangup_side = "caller"
        self.counters["cancelled"] += 1
        call.settle_group()
        self.finish(call)

    def _caller_never_acked(self, call: Call, incoming: IncomingRequest) -> None:
        if call.state is CallState.ANSWERED:
            self.in_dialog.hang_up(call, HangupCause.RECOVERY_ON_TIMER_EXPIRE, side="system")

    def finish(self, call: Call) -> None:
        """The call is over: timers off, media closed, CDR written, dialogs forgotten."""
        call.cancel_timers()
        call.ended_at = self.clock()
        call.advance(CallInput.FINISHED)
        call.state = CallState.ENDED
        call.settle_group()
        try:
            call.media.close()
        except Exception:
            logger.exception("closing the media of %r failed", call)
        self._write_cdr(call)
        self.calls.discard(call)
        self._by_id.pop(call.id, None)
        self._infos.pop(call.id, None)
        self._results[result_of(call)] += 1
        self.dialogs.pop((call.call_id, call.incoming.to_tag), None)
        for leg in call.legs:
            self.dialogs.pop((leg.call_id, leg.request.from_.tag or ""), None)
        for key in call.extra_dialogs:  # brought in by a transfer
            self.dialogs.pop(key, None)
        self._unhook(call)

    def _unhook(self, call: Call) -> None:
        """Let the call be freed now rather than when its transactions end.

        The endpoint keeps the a-leg's IncomingRequest and each b-leg's ClientRequest
        until their transactions end (64*T1 = 32 s after a 2xx, RFC 6026 §8.7/§8.4):
        their callbacks held the whole call (dialogs, media session, route, CDR
        data; ~2 KB a call, the transactions' own messages are the rest of the
        ~30 KB a call the server holds that long).  A late 2xx of a b-leg still
        gets its ACK (and a BYE when it is another fork) through the leg alone.
        """
        incoming = call.incoming
        incoming.on_cancel = None
        incoming.on_ack_timeout = None
        for leg in call.legs:
            if leg.client is not None:
                leg.client.on_late_response = partial(self.ringer.late_2xx, leg)

    def _write_cdr(self, call: Call) -> None:
        if self.cdr_store is None:
            return
        answer = call.incoming.final
        codec = codec_of(answer.body) if answer is not None and answer.body else None
        report = media_report(call.media)
        media = report.as_dict() if report is not None else None
        try:
            self.cdr_store.append_cdr(call_record(call, codec=codec, media=media))
        except Exception:
            logger.exception("writing the CDR of %r failed", call)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("a call task failed", exc_info=task.exception())

    async def close(self) -> None:
        """Stop the call tasks (the endpoint closes its own)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _user_of(request: Request) -> str:
    uri = request.from_.uri
    return (uri.user or "") if isinstance(uri, SipUri) else ""


def _host_of(request: Request) -> str:
    uri = request.from_.uri
    return uri.host.lower() if isinstance(uri, SipUri) else ""
