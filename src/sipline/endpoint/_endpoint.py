"""The endpoint: transports and transactions glued to the application (the TU).

Everything the network sends arrives in ``_on_message`` (called by the transport
edge), goes through §18 Via handling and the request checks, then into the
sans-I/O ``TransactionLayer``; the events that come out reach the application,
and the messages it queues are put on the wire.  One ``loop.call_at`` handle
serves every transaction timer (STYLE.md: the aioquic ``transmit`` loop).  The
UAS core's 2xx retransmission (§13.3.1.4) is ``UnackedResponses`` (``_unacked.py``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from sipline.endpoint._config import Application, EndpointConfig, EndpointStats
from sipline.endpoint._requests import ClientRequest, IncomingRequest
from sipline.endpoint._unacked import UnackedResponses
from sipline.endpoint._via import (
    bad_request_response,
    response_destination,
    stamp_received,
)
from sipline.logcontext import current_call_id
from sipline.sip import (
    Address,
    Message,
    RemoteProtocolError,
    Request,
    Response,
    SipParseError,
    SipUri,
    make_response,
    new_branch,
    request_problem,
    safe_reason,
)
from sipline.transaction import (
    AckReceived,
    CancelReceived,
    ClientInviteTransaction,
    Outgoing,
    RequestReceived,
    ResponseReceived,
    ServerInviteTransaction,
    StrayResponseReceived,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
    make_trying,
)
from sipline.transport import (
    BadMessage,
    TraceSink,
    TransportError,
    TransportLayer,
    UdpTransport,
    resolve_targets,
)

logger = logging.getLogger("sipline.endpoint")

#: Methods a request may carry with Max-Forwards 0 and still be handled here:
#: the ones that end at this element (§8.2, RFC 4475 §3.3.11).
_LOCAL_METHODS = frozenset({"REGISTER", "OPTIONS", "ACK", "CANCEL"})
#: Never answered statelessly: INVITE needs its 100 Trying and retransmitted
#: final answer, ACK and CANCEL belong to an INVITE transaction.
_STATEFUL_METHODS = frozenset({"INVITE", "ACK", "CANCEL"})
_WILDCARDS = frozenset({"0.0.0.0", "::"})  # noqa: S104 - recognising, not binding


class Endpoint:
    """One SIP element's network presence: listeners, transactions, dispatch."""

    def __init__(
        self,
        config: EndpointConfig,
        application: Application,
        *,
        trace: Sequence[TraceSink] = (),
        resolver: object | None = None,
        is_blocked: Callable[[Address], bool] | None = None,
        answer_statelessly: Callable[[Request, Address, Address], Response | None] | None = None,
    ) -> None:
        self.config = config
        #: Sources whose requests are dropped unanswered (a brute-force guard).
        self.is_blocked = is_blocked
        #: The application's answer to a new request that needs no transaction (RFC
        #: 3261 §8.2.7: a challenge), or None to go through one; see _receive_request.
        self.answer_statelessly = answer_statelessly
        self.application = application
        self.transactions = TransactionLayer(config.transactions)
        self.transport = TransportLayer(config.transport, self._on_message, trace=trace)
        self.stats = EndpointStats()
        self._resolver = resolver
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline: float | None = None
        self._incoming: dict[int, IncomingRequest] = {}
        self._clients: dict[int, ClientRequest] = {}
        self._local_for_peer: dict[Address, Address] = {}
        #: 2xx responses to INVITE resent until their ACK comes (§13.3.1.4).
        self._unacked = UnackedResponses(
            config.transactions,
            self.transactions,
            now=self.now,
            put_on_wire=self._put_on_wire,
            call_app=self._call_app,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._local_hosts: dict[str, str] = {}
        self._allow = ", ".join(config.allowed_methods)
        self._supported = ", ".join(config.supported)
        self._accept = ", ".join(config.accept)
        self._allowed = frozenset(config.allowed_methods)

    # -- life cycle ---------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.transport.start()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._unacked.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.transport.close()

    @property
    def listeners(self) -> list[Address]:
        return [listener.local_address for listener in self.transport.listeners]

    def now(self) -> float:
        assert self._loop is not None, "the endpoint is not started"
        return self._loop.time()

    # -- inbound ------------------------------------------------------------------------------
    def _on_message(self, item: Message | BadMessage, source: Address, local: Address) -> None:
        if isinstance(item, BadMessage):
            self._answer_bad_message(item, source, local)
            return
        now = self.now()
        try:
            if isinstance(item, Request):
                self._receive_request(item, source, local, now)
            else:
                self.transactions.receive(item, source, now)
        except RemoteProtocolError as error:
            self._reject_unmatched(item, source, local, error)
        self._drain(now)

    def _receive_request(
        self, request: Request, source: Address, local: Address, now: float
    ) -> None:
        if self.is_blocked is not None and self.is_blocked(source):
            # Cheap on purpose: a password-guessing tool resends hundreds of requests
            # a second; no transaction, no answer.
            self.stats.blocked_dropped += 1
            return
        stamp_received(request, source)
        self._remember_local(source, local)
        problem = request_problem(request, proxy=self.config.proxy, supported=self.config.supported)
        if problem is None and request.max_forwards == 0 and request.method not in _LOCAL_METHODS:
            problem_status, problem_reason = 483, "Too Many Hops"
        elif problem is not None:
            problem_status, problem_reason = problem.status_code, problem.reason
        elif (
            request.method == "OPTIONS"
            and request.to.tag is None
            and self._answers_options(request)
        ):
            # §11.2 capabilities, answered statelessly (§8.2.7): a retransmitted
            # OPTIONS simply gets another 200, and no transaction lives 32 s for it.
            self.stats.options_answered += 1
            response = make_response(request, 200, headers=self._capability_headers())
            response.headers.add("Server", self.config.user_agent)
            self.transactions.send_stateless(response, response_destination(request, source))
            return
        else:
            if self.answer_statelessly is None or not self._answered_statelessly(
                request, source, local
            ):
                self.transactions.receive(request, source, now)
            return
        self.stats.rejected_requests += 1
        if request.method == "ACK":
            return
        headers = problem.headers if problem is not None else ()
        response = make_response(request, problem_status, problem_reason, headers=headers)
        self.transactions.send_stateless(response, response_destination(request, source))

    def _answered_statelessly(self, request: Request, source: Address, local: Address) -> bool:
        """Whether the application answered ``request`` without a transaction.

        Only for a request outside a dialog that the application judges from its
        bytes alone, the same way each time (a REGISTER without credentials gets a
        401): a retransmission then gets the same kind of answer, as from a
        stateless UAS (§8.2.7), and no transaction lives 32 s for it.
        """
        assert self.answer_statelessly is not None
        if request.method in _STATEFUL_METHODS or request.to.tag is not None:
            return False
        try:
            response = self.answer_statelessly(request, source, local)
        except RemoteProtocolError:
            raise
        except Exception:
            logger.exception("the application failed answering %r statelessly", request)
            return False
        if response is None:
            return False
        self.stats.answered_statelessly += 1
        response.headers.add("Server", self.config.user_agent)
        self.transactions.send_stateless(response, response_destination(request, source))
        return True

    def _reject_unmatched(
        self, message: Message, source: Address, local: Address, error: RemoteProtocolError
    ) -> None:
        if isinstance(message, Response) or message.method == "ACK":
            self.stats.responses_dropped += 1
            logger.info("dropped a message from %s: %s", source, error)
            return
        response = make_response(
            message,
            error.status_hint,
            safe_reason(f"Bad Request: {error}", fallback="Bad Request", limit=120),
        )
        self.transactions.send_stateless(response, source)

    def _answer_bad_message(self, item: BadMessage, source: Address, local: Address) -> None:
        data = bad_request_response(item.data, item.error)
        if data is None:
            self.stats.unparsable_dropped += 1
            return
        self.stats.bad_requests_answered += 1
        self._spawn(self._send_bytes(data, source, local))

    def _remember_local(self, peer: Address, local: Address) -> None:
        if self._local_for_peer.get(peer) != local:
            if len(self._local_for_peer) > 100_000:
                self._local_for_peer.clear()
            self._local_for_peer[peer] = local

    # -- events --------------------------------------------------------------------------------
    def _drain(self, now: float) -> None:
        """Hand the transaction layer's events up, put its messages on the wire, re-arm."""
        transactions = self.transactions
        while (event := transactions.next_event()) is not None:
            if isinstance(event, RequestReceived):
                self._dispatch_request(event)
            elif isinstance(event, ResponseReceived):
                client = self._clients.get(id(event.transaction))
                if client is not None:
                    client.deliver(event.response)
            elif isinstance(event, AckReceived):
                self._unacked.ack_arrived(event.request)
                self._call_app(self.application.handle_ack, event.request, event.source)
            elif isinstance(event, CancelReceived):
                self._cancel_received(event)
            elif isinstance(event, StrayResponseReceived):
                self._call_app(self.application.handle_stray_response, event.response, event.source)
            elif isinstance(event, TransactionTimedOut | TransportFailed):
                self._transaction_failed(event)
            elif isinstance(event, TransactionTerminated):
                key = id(event.transaction)
                self._incoming.pop(key, None)
                self._clients.pop(key, None)
        for outgoing in transactions.messages_to_send():
            self._put_on_wire(outgoing)
        self._arm_timer()

    def _dispatch_request(self, event: RequestReceived) -> None:
        request = event.request
        local = self._local_for_peer.get(event.source) or self.listeners[0]
        incoming = IncomingRequest(
            self,
            request,
            event.source,
            local,
            event.transaction,
            response_destination(request, event.source),
        )
        if (
            request.method == "OPTIONS"
            and not incoming.in_dialog
            and self._answers_options(request)
        ):
            # §11.2: the capabilities of this element.
            incoming.respond(200, headers=self._capability_headers())
            return
        if request.method not in self._allowed:
            incoming.respond(405, headers=[("Allow", self._allow)])
            return
        self._incoming[id(event.transaction)] = incoming
        if request.method == "INVITE":
            # §17.2.1: stop the caller's retransmissions at once (the app may take time).
            self.transactions.send_response(
                make_trying(request),
                self.now(),
                transaction=event.transaction,
                destination=incoming.response_destination,
            )
        self._spawn(self._run_application(incoming))

    def _answers_options(self, request: Request) -> bool:
        if not self.config.proxy:
            return True
        try:
            uri = request.request_uri
        except SipParseError:
            return True
        return not isinstance(uri, SipUri) or uri.user is None

    def _capability_headers(self) -> list[tuple[str, str]]:
        return [("Allow", self._allow), ("Accept", self._accept), ("Supported", self._supported)]

    async def _run_application(self, incoming: IncomingRequest) -> None:
        # Every log line while the application handles it names the call.
        current_call_id.set(incoming.request.call_id)
        try:
            await self.application.handle_request(incoming)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception(
                "the application failed on %r from %s", incoming.request, incoming.source
            )
            if incoming.final is None:
                incoming.respond(500, "Server Internal Error")

    def _cancel_received(self, event: CancelReceived) -> None:
        cancel = event.request
        invite = event.invite_transaction
        incoming = self._incoming.get(id(invite)) if invite is not None else None
        status = 200 if incoming is not None else 481
        response = make_response(cancel, status)
        self.transactions.send_response(
            response,
            self.now(),
            transaction=event.transaction,
            destination=response_destination(cancel, event.source),
        )
        if incoming is None or incoming.final is not None:
            return
        incoming.cancelled = True
        if incoming.on_cancel is not None:
            self._call_app(incoming.on_cancel, incoming)
        if incoming.final is None:
            incoming.respond(487)

    def _transaction_failed(self, event: TransactionTimedOut | TransportFailed) -> None:
        key = id(event.transaction)
        client = self._clients.get(key)
        if client is not None:
            client.fail(408 if isinstance(event, TransactionTimedOut) else 503)
            return
        incoming = self._incoming.get(key)
        if incoming is not None and isinstance(event.transaction, ServerInviteTransaction):
            logger.info(
                "no ACK for the final response to %r from %s", incoming.request, incoming.source
            )
            if incoming.on_ack_timeout is not None:
                self._call_app(incoming.on_ack_timeout, incoming)

    def _call_app(self, function: object, *args: object) -> None:
        try:
            function(*args)  # type: ignore[operator]
        except Exception:
            logger.exception("the application failed handling %r", args[0] if args else None)

    # -- outbound ------------------------------------------------------------------------------
    def send_response(
        self, incoming: IncomingRequest, response: Response, *, forwarded: bool = False
    ) -> None:
        """Send a response of ``incoming`` through its server transaction (§17.2).

        ``forwarded``: a proxy relaying a downstream response, which gets no Server
        header and whose 2xx the UAS (not this element) retransmits.
        """
        if not forwarded:
            response.headers.add("Server", self.config.user_agent)
        now = self.now()
        self.transactions.send_response(
            response,
            now,
            transaction=incoming.transaction,
            destination=incoming.response_destination,
        )
        if (
            not forwarded
            and incoming.request.method == "INVITE"
            and 200 <= response.status_code < 300
            and not incoming.response_destination.reliable
        ):
            self._unacked.start(incoming, bytes(response), now)  # §13.3.1.4
        self._drain(now)

    def send_request(
        self,
        request: Request,
        destination: Address | None = None,
        *,
        local: Address | None = None,
        loop_key: str | None = None,
    ) -> ClientRequest:
        """Send ``request`` in a new client transaction; returns its ``ClientRequest``.

        The endpoint adds this hop's Via.  Without ``destination`` the target comes
        from the first Route (loose routing) or the Request-URI, resolved per RFC 3263,
        trying the next target after a timeout or a 503.
        """
        client = ClientRequest(self, request)
        self._spawn(self._send_request(client, destination, local, loop_key))
        return client

    async def _send_request(
        self,
        client: ClientRequest,
        destination: Address | None,
        local: Address | None,
        loop_key: str | None = None,
    ) -> None:
        targets = [destination] if destination is not None else await self._targets(client.request)
        if not targets:
            client.fail(404, "No Route To Destination")
            return
        request = client.request
        for index, target in enumerate(targets):
            if client.cancel_requested:
                client.fail(487)
                return
            if index:
                request.headers.delete_at(request.headers.positions("via")[0])
            self._add_via(request, target, local, loop_key)
            client.destination = target
            last = index + 1 == len(targets)
            attempt = None if last else client.next_attempt()
            if last:
                client.last_attempt()
            now = self.now()
            try:
                transaction = self.transactions.send_request(request, target, now)
            except TransportError as error:
                self._send_failed(target, error)
                client.fail(503)
                return
            client.transaction = transaction
            self._clients[id(transaction)] = client
            self._drain(now)
            if attempt is None:
                return
            failure = await attempt
            if client.final is not None:
                return
            logger.info(
                "%s to %s failed with %d; trying the next target",
                request.method,
                target,
                failure.status_code,
            )

    async def resolve(self, request: Request) -> list[Address]:
        """Where ``request`` goes next: its first Route (loose routing) or its
        Request-URI, resolved per RFC 3263 (empty when it cannot be)."""
        return await self._targets(request)

    def listener_address(self, destination: Address, local: Address | None = None) -> Address:
        """The local address of the listener a message to ``destination`` leaves from."""
        return self.transport.listener_for(destination, local).local_address

    async def _targets(self, request: Request) -> list[Address]:
        routes = request.routes
        target_uri = (
            routes[0].uri if routes and isinstance(routes[0].uri, SipUri) else request.request_uri
        )
        if not isinstance(target_uri, SipUri):
            return []
        try:
            return await resolve_targets(target_uri, resolver=self._resolver)  # type: ignore[arg-type]
        except Exception:
            logger.exception("resolving %s failed", target_uri)
            return []

    def _add_via(
        self, request: Request, target: Address, local: Address | None, loop_key: str | None = None
    ) -> None:
        listener = self.transport.listener_for(target, local)
        sent_by = self.sent_by(listener.local_address, target)
        branch = new_branch() if loop_key is None else f"{new_branch()}.{loop_key}"
        via = f"SIP/2.0/{target.transport.upper()} {sent_by};branch={branch}"
        if target.transport == "udp":
            via += ";rport"
        request.headers.prepend("Via", via)

    def sent_by(self, local: Address, toward: Address) -> str:
        """``host:port`` of this element as seen from ``toward`` (Via, Contact)."""
        host = local.host
        if host in _WILDCARDS:
            host = self.config.advertised_host or self._local_host_toward(toward.host, host)
        return f"[{host}]:{local.port}" if ":" in host else f"{host}:{local.port}"

    def _local_host_toward(self, remote: str, wildcard: str) -> str:
        cached = self._local_hosts.get(remote)
        if cached is None:
            family = socket.AF_INET6 if ":" in wildcard else socket.AF_INET
            try:
                with socket.socket(family, socket.SOCK_DGRAM) as probe:
                    probe.connect((remote, 9))  # no packet is sent: this only picks a route
                    cached = str(probe.getsockname()[0])
            except OSError:
                cached = "::1" if family == socket.AF_INET6 else "127.0.0.1"
            self._local_hosts[remote] = cached
        return cached

    def send_ack(self, ack: Request, destination: Address, *, local: Address | None = None) -> None:
        """Send the ACK of a 2xx (or any stateless request) with a fresh Via (§13.2.2.4)."""
        self._add_via(ack, destination, local)
        self.transactions.send_stateless(ack, destination)
        self._drain(self.now())

    def send_stateless(self, message: Message, destination: Address) -> None:
        self.transactions.send_stateless(message, destination)
        self._drain(self.now())

    def cancel_request(self, client: ClientRequest, reason: str | None) -> None:
        transaction = client.transaction
        if isinstance(transaction, ClientInviteTransaction):
            now = self.now()
            self.transactions.cancel(transaction, now, reason=reason)
            self._drain(now)

    def _put_on_wire(self, outgoing: Outgoing) -> None:
        destination = outgoing.destination
        local = self._local_for_peer.get(destination)
        if destination.transport == "udp":
            try:
                listener = self.transport.listener_for(destination, local)
                if isinstance(listener, UdpTransport):
                    listener.send_nowait(outgoing.data, destination)
                    return
            except TransportError as error:
                self._send_failed(destination, error)
                return
        self._spawn(self._send_bytes(outgoing.data, destination, local))

    async def _send_bytes(self, data: bytes, destination: Address, local: Address | None) -> None:
        try:
            await self.transport.send(data, destination, local)
        except TransportError as error:
            self._send_failed(destination, error)
            self._drain(self.now())

    def _send_failed(self, destination: Address, error: TransportError) -> None:
        self.stats.send_failures += 1
        logger.info("sending to %s failed: %s", destination, error)
        self.transactions.transport_error(destination, self.now())

    # -- timers ---------------------------------------------------------------------------------
    def _arm_timer(self) -> None:
        deadline = self.transactions.next_deadline()
        if deadline == self._timer_deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_deadline = deadline
        if deadline is not None and self._loop is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_deadline = None
        now = self.now()
        self.transactions.handle_timer(now)
        self._drain(now)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
