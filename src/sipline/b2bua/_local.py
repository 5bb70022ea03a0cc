"""Calls the dialplan answers itself: media applications on sipline's own RTP endpoint.

A route with media steps (``answer``, ``echo``, ``playback``, ``tone``, ``sleep``,
``ivr``) becomes a ``LocalCall``: it takes the call's ``MediaSession`` slot, answers
the caller's offer with our SDP (``sipline.sdp.negotiate``) in a 183 (early media:
``tone``/``playback`` before any ``answer``) or a 200, runs the steps in order and
hangs up at the end (BYE, or a failure response when never answered).  The caller's
BYE or CANCEL ends the call through the B2BUA as usual (``close()``).  In-dialog
re-INVITE/UPDATE get a fresh answer; INFO carries DTMF (``application/dtmf-relay``).

``record_call`` wraps a bridged call's relay session so both legs are recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from sipline.b2bua._call import Call, CallInput, Failure
from sipline.b2bua._media import MediaRefusal, MediaRejected
from sipline.dialog import DialogInput
from sipline.endpoint import IncomingRequest
from sipline.media import (
    DigitReceived,
    DigitsCollected,
    Echo,
    IvrConfig,
    IvrMenu,
    LocalMedia,
    MediaFileError,
    MenuFailed,
    PromptStarted,
    PromptStopped,
    RecordingMediaSession,
    RelayMediaSession,
    RtpEndpoint,
    RtpHeader,
    SampleSource,
    TelephoneEventReceiver,
    ToneGenerator,
    parse_dtmf_info,
    rtp_payload,
)
from sipline.routing import HangupCause, MediaStep, Route
from sipline.sdp import Capabilities, Origin, SessionDescription, negotiate
from sipline.sip import RemoteProtocolError, SipUri, reason_phrase

if TYPE_CHECKING:
    from sipline.b2bua._b2bua import B2bua

__all__ = ["LocalCall", "local_media_for", "record_call", "start_local_call"]

logger = logging.getLogger("sipline.b2bua")
_SDP = "application/sdp"


def local_media_for(b2bua: B2bua, call: Call) -> LocalMedia:
    """The B2BUA's ``LocalMedia``; made on first use on the address the caller sees."""
    if b2bua.local_media is None:
        incoming = call.incoming
        host = b2bua.endpoint.sent_by(incoming.local, incoming.source).rpartition(":")[0]
        b2bua.local_media = LocalMedia(address=host.strip("[]"))
    return b2bua.local_media


def start_local_call(b2bua: B2bua, call: Call, route: Route) -> None:
    """Hand the call to a ``LocalCall`` running ``route.steps``."""
    call.media.close()  # the relay session made for the call has opened nothing yet
    try:
        local = LocalCall(b2bua, call, local_media_for(b2bua, call))
    except Exception as error:  # no RTP port pair left: 503
        b2bua._refuse(call, MediaRefusal.of(error))
        return
    call.media = local
    local.task = asyncio.get_running_loop().create_task(local.run(route.steps, route.hangup))


def record_call(b2bua: B2bua, call: Call, name: str) -> None:
    """``record FILE``: the call's relay session writes both legs to FILE."""
    if not isinstance(call.media, RelayMediaSession):
        logger.warning("record %s: the call's media does not go through the relay", name)
        return
    try:
        path = local_media_for(b2bua, call).recording_path(name)
    except (MediaFileError, OSError) as error:
        logger.error("record: %s", error)
        return
    call.media = RecordingMediaSession(call.media, path)


class LocalCall:
    """A call answered by sipline (the call's ``MediaSession``)."""

    def __init__(self, b2bua: B2bua, call: Call, media: LocalMedia) -> None:
        self.b2bua = b2bua
        self.call = call
        self.media = media
        self.endpoint: RtpEndpoint = media.open_endpoint()
        self.endpoint.on_packet = self._packet
        self.task: asyncio.Task[None] | None = None
        self.answer_sdp = b""
        self.answered = False
        self.early = False
        self.closed = False
        self.echo: Echo | None = None
        self.events: TelephoneEventReceiver | None = None
        self.digits: list[DigitReceived] = []
        self._wake = asyncio.Event()
        self._origin: Origin | None = None

    # -- MediaSession ------------------------------------------------------------------
    def offer(self, sdp: bytes, *, from_caller: bool = True) -> bytes:
        """A re-INVITE/UPDATE offer from the caller: our new answer."""
        try:
            return self._negotiate(sdp)
        except RemoteProtocolError as error:
            raise MediaRejected(str(error)) from None

    def answer(self, sdp: bytes, *, from_caller: bool = False) -> bytes:
        raise MediaRejected("sipline's own media never sends offers")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.endpoint.close()
        self._wake.set()
        task = self.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    # -- signalling --------------------------------------------------------------------
    def _negotiate(self, body: bytes) -> bytes:
        """Answer ``body`` with our endpoint on its first audio stream (RFC 3264 §6);
        raises ``SdpParseError``/``SdpNotAcceptable``."""
        offer = SessionDescription.parse(body)
        first = next((i for i, m in enumerate(offer.media) if m.media == "audio" and m.port), None)
        ports = [self.endpoint.port if i == first else 0 for i in range(len(offer.media))]
        address = self.media.advertised_address
        result = negotiate(offer, Capabilities(), address=address, ports=ports, origin=self._origin)
        stream = next(s for s in result.streams if s.accepted)
        codec = stream.codecs[0]
        remote = (stream.remote_address, stream.remote_port) if stream.remote_address else None
        event = stream.telephone_event
        self.endpoint.configure(
            remote,
            payload_type=codec.payload_type,
            codec=codec.encoding,
            event_payload_type=None if event is None else event.payload_type,
            ptime=stream.ptime or 20,
        )
        if event is None:
            self.events = None
        elif self.events is None or self.events.payload_type != event.payload_type:
            self.events = TelephoneEventReceiver(event.payload_type)
        answer = result.answer
        origin = answer.origin
        if self._origin is not None and bytes(answer) != self.answer_sdp:
            origin = self._origin.next_version()  # RFC 3264 §8: changed, version + 1
            answer = answer.with_origin(origin)
        self._origin = origin
        self.answer_sdp = bytes(answer)
        return self.answer_sdp

    def _respond(self, status: int) -> None:
        headers = [
            ("Contact", self.call.a_dialog.local_contact or ""),
            ("Content-Type", _SDP),
        ]
        self.call.incoming.respond(status, headers=headers, body=self.answer_sdp)

    def _early_media(self) -> None:
        if not self.answered and not self.early:
            self._respond(183)
            self.call.advance(CallInput.EARLY_MEDIA)
            self.early = True

    def _answer(self) -> None:
        if self.answered:
            return
        call = self.call
        self._respond(200)
        call.a_dialog.process_input(DialogInput.RESPONSE_2XX)
        call.advance(CallInput.ANSWERED)
        call.answered_at = self.b2bua.clock()
        call.sip_code = 200
        self.b2bua.counters["answered"] += 1
        self.answered = True

    def handle_in_dialog(self, incoming: IncomingRequest) -> None:
        """Requests of the caller inside the call: new offers, DTMF INFO, the rest 200."""
        request = incoming.request
        content_type = request.headers.get("Content-Type")
        if request.method in ("INVITE", "UPDATE") and request.body:
            try:
                self._negotiate(request.body)
            except RemoteProtocolError as error:
                incoming.respond(error.status_hint, headers=[("Reason", str(error)[:80])])
                return
            contact = ("Contact", self.call.a_dialog.local_contact or "")
            incoming.respond(200, headers=[contact, ("Content-Type", _SDP)], body=self.answer_sdp)
            return
        if request.method == "INFO":
            try:
                digit = parse_dtmf_info(content_type, request.body)
            except RemoteProtocolError as error:
                incoming.respond(400, str(error)[:80])
                return
            if digit is not None:
                self._digit(digit)
        incoming.respond(200)

    # -- media -------------------------------------------------------------------------
    def _packet(self, data: bytes, arrival: float) -> None:
        if self.echo is not None:
            self.echo.receive(data, arrival)
        if self.events is not None:
            header = RtpHeader.parse(data)
            payload = rtp_payload(data)
            if header is None or payload is None:
                return
            try:
                digits = self.events.receive(header, payload)
            except RemoteProtocolError:
                return  # a malformed event packet: dropped
            for digit in digits:
                self._digit(digit)

    def _digit(self, digit: DigitReceived) -> None:
        logger.info("call %s: DTMF %s (%s)", self.call.call_id, digit.digit, digit.via)
        self.digits.append(digit)
        self._wake.set()

    # -- the steps ---------------------------------------------------------------------
    async def run(self, steps: tuple[MediaStep, ...], hangup: HangupCause | None) -> None:
        try:
            await self.endpoint.start()
            body = self.call.incoming.request.body
            try:
                if not body:  # a late offer: we would have to offer; not done
                    raise MediaRejected("no SDP offer in the INVITE")
                self._negotiate(body)
            except (RemoteProtocolError, MediaRejected) as error:
                self.b2bua._refuse(self.call, MediaRefusal.of(error))
                return
            while not self.closed:
                outcome = await self._run_steps(steps)
                if outcome is None:
                    break
                steps, hangup = outcome.steps, outcome.hangup  # an IVR's choice
                if not steps:
                    break
            self._end(hangup)
        except Exception:
            logger.exception("media application of %r failed", self.call)
            self._end(HangupCause.NORMAL_TEMPORARY_FAILURE)

    async def _run_steps(self, steps: tuple[MediaStep, ...]) -> Route | None:
        """Run ``steps``; an IVR's route (what its digits chose) when one ran."""
        for step in steps:
            if self.closed:
                return None
            if step.verb == "ivr":
                assert step.ivr is not None
                return await self._ivr(step.ivr)
            await self._step(step)
        return None

    async def _step(self, step: MediaStep) -> None:
        if step.verb in ("answer", "echo"):
            self._answer()
        else:
            self._early_media()
        if step.verb == "echo":
            self.echo = Echo(self.endpoint)
            await self._wait(step.seconds)
            self.echo = None
        elif step.verb == "tone":
            assert step.tone is not None
            await self.endpoint.play(ToneGenerator(step.tone), seconds=step.seconds)
        elif step.verb == "sleep":
            await self.endpoint.play(SampleSource.silence(step.seconds or 0.0))
        elif step.verb == "playback":
            assert step.file is not None
            source = self._sound(step.file)
            if source is not None:
                await self.endpoint.play(source)

    def _sound(self, name: str) -> SampleSource | None:
        try:
            return SampleSource(self.media.sound(name))
        except MediaFileError as error:
            logger.error("call %s: %s", self.call.call_id, error)  # FreeSWITCH goes on too
            return None

    async def _wait(self, seconds: float | None) -> None:
        """Until the call ends (or ``seconds``)."""
        loop = asyncio.get_running_loop()
        end = None if seconds is None else loop.time() + seconds
        while not self.closed:
            timeout = None if end is None else end - loop.time()
            if timeout is not None and timeout <= 0:
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _ivr(self, config: IvrConfig) -> Route | None:
        """Play the prompt, collect the digits (sans-I/O ``IvrMenu``), route them."""
        self._answer()
        loop = asyncio.get_running_loop()
        menu = IvrMenu(config)
        self.digits.clear()
        prompt: asyncio.Task[bool] | None = None
        events = menu.start(loop.time())
        try:
            while not self.closed:
                for event in events:
                    if isinstance(event, PromptStarted):
                        prompt = self._play_prompt(event.prompt)
                    elif isinstance(event, PromptStopped) and prompt is not None:
                        prompt.cancel()
                    elif isinstance(event, DigitsCollected):
                        return self._route_digits(event.digits)
                    elif isinstance(event, MenuFailed):
                        logger.info("call %s: IVR %s", self.call.call_id, event.reason)
                        return None
                deadline = menu.next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - loop.time())
                if not self.digits and not (prompt is not None and prompt.done()):
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout)
                now = loop.time()
                events = []
                if prompt is not None and prompt.done():
                    prompt = None
                    events += menu.prompt_finished(now)
                while self.digits:
                    events += menu.digit_received(self.digits.pop(0).digit, now)
                events += menu.handle_timer(now)
        finally:
            if prompt is not None:
                prompt.cancel()
        return None

    def _play_prompt(self, name: str) -> asyncio.Task[bool]:
        source = self._sound(name) or SampleSource.silence(0.0)
        task = asyncio.get_running_loop().create_task(self.endpoint.play(source))
        task.add_done_callback(lambda _: self._wake.set())
        return task

    def _route_digits(self, digits: str) -> Route:
        request = self.call.incoming.request
        uri = request.request_uri
        domain = uri.host.lower() if isinstance(uri, SipUri) else ""
        caller = request.from_.uri
        caller_user = (caller.user or "") if isinstance(caller, SipUri) else ""
        route = self.b2bua.dialplan.route(digits, caller_user, domain, self.b2bua._is_local_user)
        logger.info("call %s: IVR digits %s -> rule %s", self.call.call_id, digits, route.rule)
        if route.groups:
            # The caller is answered by sipline; bridging it on needs the B2BUA to ring
            # b-legs for an answered call, which it does not do (yet).
            logger.warning(
                "call %s: IVR digits %s lead to a bridge: not supported", self.call.call_id, digits
            )
            return Route(hangup=HangupCause.SERVICE_NOT_IMPLEMENTED)
        return route

    # -- the end -----------------------------------------------------------------------
    def _end(self, cause: HangupCause | None) -> None:
        if self.closed:
            return
        if self.answered:
            side = "callee" if cause is None else "system"
            self.b2bua.in_dialog.hang_up(self.call, cause or HangupCause.NORMAL_CLEARING, side=side)
        else:
            self._fail(cause or HangupCause.NO_ANSWER)

    def _fail(self, cause: HangupCause) -> None:
        status = cause.sip_status
        if status < 300:
            status = 480  # a "normal" cause without an answer: nobody answered
        self.b2bua._fail(self.call, Failure(status, reason_phrase(status), cause))
