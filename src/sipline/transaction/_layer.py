"""The transaction layer: matching (RFC 3261 §17.1.3, §17.2.3), one timer heap, events.

Sans-I/O in aioquic's shape: ``receive(message, source, now)`` and the TU commands
(``send_request``, ``send_response``, ``cancel``, ``send_stateless``) queue events
(``next_event()``) and messages (``messages_to_send()``); ``next_deadline()`` says when
to call ``handle_timer(now)``.  ``transport_error(destination, now)`` reports a
transport failure to every transaction using ``destination``.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, deque
from dataclasses import dataclass, field

from sipline.sip import (
    BRANCH_MAGIC_COOKIE,
    Address,
    LocalProtocolError,
    Message,
    RemoteProtocolError,
    Request,
    Response,
    SipParseError,
)
from sipline.transaction._build import make_cancel
from sipline.transaction._client_invite import ClientInviteTransaction
from sipline.transaction._client_non_invite import ClientNonInviteTransaction
from sipline.transaction._config import TransactionConfig
from sipline.transaction._events import (
    AckReceived,
    AnyTransaction,
    CancelReceived,
    ClientTransaction,
    Event,
    Outgoing,
    RequestReceived,
    ResponseReceived,
    ServerTransaction,
    StrayResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from sipline.transaction._machine import Action, Transaction, TransactionInput, TransactionState
from sipline.transaction._server_invite import ServerInviteTransaction
from sipline.transaction._server_non_invite import ServerNonInviteTransaction

_I = TransactionInput
_TERMINATED = TransactionState.TERMINATED
_ServerKey = tuple[object, ...]


@dataclass(slots=True)
class TransactionCounters:
    """Totals since the layer was created, per transaction kind, for metrics."""

    created: Counter[str] = field(default_factory=Counter)
    terminated: Counter[str] = field(default_factory=Counter)
    retransmissions: Counter[str] = field(default_factory=Counter)
    timeouts: Counter[str] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    stray_responses: int = 0
    unmatched_acks: int = 0
    stateless_sent: int = 0


def _response_input(status_code: int) -> TransactionInput:
    if 100 <= status_code <= 199:
        return _I.RESPONSE_1XX
    if 200 <= status_code <= 299:
        return _I.RESPONSE_2XX
    if 300 <= status_code <= 699:
        return _I.RESPONSE_300_699
    raise RemoteProtocolError(f"status code {status_code} is outside 100-699")


def _send_input(status_code: int) -> TransactionInput:
    if 100 <= status_code <= 199:
        return _I.SEND_1XX
    if 200 <= status_code <= 299:
        return _I.SEND_2XX
    if 300 <= status_code <= 699:
        return _I.SEND_300_699
    raise LocalProtocolError(f"status code {status_code} is outside 100-699")


def _server_key(message: Message, method: str) -> _ServerKey:
    """The key of the server transaction ``message`` (request or response) belongs to.

    ``method`` is the CSeq method, with ACK already replaced by INVITE.
    """
    via = message.top_via
    branch = via.branch
    if branch is not None and branch.startswith(BRANCH_MAGIC_COOKIE):
        # §17.2.3: branch, sent-by and method identify the transaction.
        return ("3261", branch, via.sent_by.lower(), method)
    # §17.2.3, RFC 2543 peers: Call-ID, From tag, CSeq and the top Via; the
    # Request-URI and To tag are checked by _legacy_match.
    return ("2543", str(via), message.call_id, message.from_.tag, message.cseq.number, method)


def _legacy_match(transaction: ServerTransaction, request: Request) -> bool:
    """The rest of the RFC 2543 rule of §17.2.3 (Request-URI and To tag)."""
    original = transaction.request
    if request.uri != original.uri:
        return False
    if request.method == "ACK":
        # The ACK's To tag is the one of the response the transaction sent.
        response = transaction.last_response
        expected = (response or original).to.tag
        return request.to.tag == expected
    return request.to.tag == original.to.tag


def _client_key(branch: str | None, method: str) -> tuple[str | None, str]:
    # §17.1.3: top Via branch and CSeq method (so a CANCEL has its own transaction).
    return (branch, method)


class TransactionLayer:
    """All client and server transactions of one SIP element."""

    def __init__(self, config: TransactionConfig | None = None) -> None:
        self.config = config if config is not None else TransactionConfig()
        self.counters = TransactionCounters()
        self._clients: dict[tuple[object, ...], ClientTransaction] = {}
        self._servers: dict[_ServerKey, ServerTransaction] = {}
        self._events: deque[Event] = deque()
        self._outgoing: list[Outgoing] = []
        self._timers: list[tuple[float, int, Transaction, TransactionInput]] = []
        self._sequence = itertools.count()
        self._compact_at = 4096
        self._receiving_from: Address | None = None

    # -- what the edge drives -----------------------------------------------------

    def receive(self, message: Message, source: Address, now: float) -> None:
        """Feed one parsed message from the network.

        Raises only ``RemoteProtocolError`` (a header the matching needs is bad).
        """
        self._receiving_from = source
        try:
            if isinstance(message, Response):
                self._receive_response(message, source, now)
            else:
                self._receive_request(message, source, now)
        finally:
            self._receiving_from = None

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def messages_to_send(self) -> list[Outgoing]:
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must next be called, None when no timer runs."""
        heap = self._timers
        while heap:
            deadline, _, transaction, timer = heap[0]
            if transaction.deadline(timer) == deadline:
                return deadline
            heapq.heappop(heap)  # cancelled or re-armed: lazy deletion
        return None

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``."""
        heap = self._timers
        while heap and heap[0][0] <= now:
            deadline, _, transaction, timer = heapq.heappop(heap)
            if transaction.deadline(timer) == deadline:
                transaction.fire(timer, now)

    def transport_error(self, destination: Address, now: float) -> None:
        """The transport failed to send to ``destination`` (§17.1.1.2, §17.2.1, §18.4)."""
        affected: list[AnyTransaction] = [
            t for t in self._clients.values() if t.destination == destination
        ]
        affected += [t for t in self._servers.values() if t.response_destination == destination]
        for transaction in affected:
            if transaction.state is not _TERMINATED:
                transaction.process_input(_I.TRANSPORT_ERROR, now)

    # -- what the TU commands -----------------------------------------------------

    def send_request(self, request: Request, destination: Address, now: float) -> ClientTransaction:
        """Start a client transaction for ``request`` and send it to ``destination``.

        The request's top Via must carry an RFC 3261 branch (``new_branch()``).
        """
        method = request.method
        if method == "ACK":
            raise LocalProtocolError("an ACK is not a transaction: use send_stateless")
        try:
            branch = request.top_via.branch
            cseq_method = request.cseq.method
        except SipParseError as error:
            raise LocalProtocolError(f"cannot send this {method}: {error}") from error
        if branch is None or not branch.startswith(BRANCH_MAGIC_COOKIE):
            raise LocalProtocolError(f"the top Via needs a branch starting {BRANCH_MAGIC_COOKIE}")
        if cseq_method != method:
            raise LocalProtocolError(f"CSeq method {cseq_method} differs from {method}")
        key = _client_key(branch, method)
        if key in self._clients:
            raise LocalProtocolError(f"a {method} transaction with branch {branch} exists")
        transaction: ClientTransaction
        if method == "INVITE":
            transaction = ClientInviteTransaction(self, self.config, request, destination, key)
        else:
            transaction = ClientNonInviteTransaction(self, self.config, request, destination, key)
        self._clients[key] = transaction
        self.counters.created[transaction.KIND] += 1
        transaction.start(now)
        return transaction

    def send_response(
        self,
        response: Response,
        now: float,
        *,
        destination: Address | None = None,
        transaction: ServerTransaction | None = None,
    ) -> ServerTransaction:
        """Send ``response`` through its server transaction.

        The transaction is found by the response's Via, From, Call-ID and CSeq unless
        given.  Responses go where the request came from, or to ``destination`` (the
        endpoint's choice per RFC 3261 §18.2.2 / RFC 3581), kept for retransmissions.
        """
        if transaction is None:
            method = response.cseq.method
            transaction = self._servers.get(_server_key(response, method))
            if transaction is None or method == "ACK":
                raise LocalProtocolError(
                    f"no server transaction for this {response.status_code} to {method}"
                    " (terminated?): use send_stateless"
                )
        if destination is not None:
            transaction.response_destination = destination
        transaction.process_input(_send_input(response.status_code), now, response)
        return transaction

    def cancel(
        self, transaction: ClientTransaction, now: float, *, reason: str | None = None
    ) -> ClientNonInviteTransaction | None:
        """Cancel the INVITE of ``transaction`` (RFC 3261 §9.1).

        Returns the CANCEL's client transaction.  Returns None when the CANCEL is
        deferred (no provisional response yet: it is sent with the first one) or
        not needed (a final response came).  Calling it again returns the same.
        """
        if not isinstance(transaction, ClientInviteTransaction):
            raise LocalProtocolError("only INVITE transactions are cancelled (§9.1)")
        if not transaction.cancel_requested:
            transaction.cancel_requested = True
            transaction.cancel_reason = reason
            if transaction.state is TransactionState.PROCEEDING:
                return self._send_cancel(transaction, now)
        found = self._clients.get(_client_key(transaction.branch, "CANCEL"))
        return found if isinstance(found, ClientNonInviteTransaction) else None

    def send_stateless(self, message: Message, destination: Address) -> None:
        """Send without a transaction: ACK for 2xx, stateless forwarding, late 2xx."""
        self.counters.stateless_sent += 1
        self._outgoing.append(Outgoing(destination, bytes(message), message))

    @property
    def transaction_count(self) -> int:
        """Live client and server transactions."""
        return len(self._clients) + len(self._servers)

    # -- matching -----------------------------------------------------------------

    def _receive_response(self, response: Response, source: Address, now: float) -> None:
        event = _response_input(response.status_code)
        key = _client_key(response.top_via.branch, response.cseq.method)
        transaction = self._clients.get(key)
        if transaction is None:
            # RFC 6026 §7.3: the TU (a proxy forwards it, a UA may ACK and BYE).
            self.counters.stray_responses += 1
            self._events.append(StrayResponseReceived(response, source))
            return
        transaction.process_input(event, now, response)

    def _receive_request(self, request: Request, source: Address, now: float) -> None:
        method = request.method
        if request.cseq.method != method:
            raise RemoteProtocolError(
                f"CSeq method {request.cseq.method} differs from {method}", header="CSeq"
            )
        if method == "ACK":
            # §17.2.3: an ACK matches the INVITE transaction it acknowledges.
            invite = self._find_server(request, "INVITE")
            if isinstance(invite, ServerInviteTransaction):
                invite.process_input(_I.ACK, now, request)
            else:
                self.counters.unmatched_acks += 1
                self._events.append(AckReceived(request, source))
            return
        existing = self._find_server(request, method)
        if existing is not None:
            existing.process_input(_I.REQUEST_RETRANSMISSION, now, request)
            return
        key = _server_key(request, method)
        transaction: ServerTransaction
        if method == "INVITE":
            transaction = ServerInviteTransaction(self, self.config, request, source, key)
        else:
            transaction = ServerNonInviteTransaction(self, self.config, request, source, key)
        self._servers[key] = transaction
        self.counters.created[transaction.KIND] += 1
        transaction.start(now)

    def _find_server(self, request: Request, method: str) -> ServerTransaction | None:
        transaction = self._servers.get(_server_key(request, method))
        if transaction is None or transaction.key[0] == "3261":
            return transaction
        return transaction if _legacy_match(transaction, request) else None

    def _send_cancel(
        self, transaction: ClientInviteTransaction, now: float
    ) -> ClientNonInviteTransaction:
        cancel = make_cancel(transaction.request, reason=transaction.cancel_reason)
        sent = self.send_request(cancel, transaction.destination, now)
        assert isinstance(sent, ClientNonInviteTransaction)
        return sent

    # -- what the transactions call (TransactionOwner) ----------------------------

    def _transmit(
        self,
        transaction: Transaction,
        message: Message,
        destination: Address,
        *,
        retransmission: bool,
    ) -> None:
        if retransmission:
            self.counters.retransmissions[transaction.KIND] += 1
        self._outgoing.append(Outgoing(destination, bytes(message), message))

    def _pass_up(self, transaction: Transaction, message: Message, now: float) -> None:
        event: Event
        if isinstance(message, Response):
            assert isinstance(transaction, ClientInviteTransaction | ClientNonInviteTransaction)
            self._events.append(ResponseReceived(message, transaction))
            if (
                isinstance(transaction, ClientInviteTransaction)
                and transaction.cancel_requested
                and transaction.state is TransactionState.PROCEEDING
                and _client_key(transaction.branch, "CANCEL") not in self._clients
            ):
                self._send_cancel(transaction, now)  # deferred by cancel() (§9.1)
            return
        source = self._receiving_from or transaction.peer
        if isinstance(transaction, ServerInviteTransaction):
            if message.method == "ACK":
                event = AckReceived(message, source, transaction)
            else:
                event = RequestReceived(message, source, transaction)
        else:
            assert isinstance(transaction, ServerNonInviteTransaction)
            if message.method == "CANCEL":
                invite = self._find_server(message, "INVITE")
                invite = invite if isinstance(invite, ServerInviteTransaction) else None
                event = CancelReceived(message, source, transaction, invite)
            else:
                event = RequestReceived(message, source, transaction)
        self._events.append(event)

    def _report(self, transaction: Transaction, action: Action) -> None:
        assert isinstance(transaction, AnyTransaction)
        if action is Action.REPORT_TIMEOUT:
            self.counters.timeouts[transaction.KIND] += 1
            self._events.append(TransactionTimedOut(transaction))
        else:
            self.counters.transport_errors[transaction.KIND] += 1
            destination = (
                transaction.response_destination
                if isinstance(transaction, ServerInviteTransaction | ServerNonInviteTransaction)
                else transaction.destination
            )
            self._events.append(TransportFailed(transaction, destination))

    def _arm(self, transaction: Transaction, timer: TransactionInput, deadline: float) -> None:
        heap = self._timers
        heapq.heappush(heap, (deadline, next(self._sequence), transaction, timer))
        if len(heap) > self._compact_at:
            # Cancelled timers stay in the heap until popped; sweep them when the
            # heap doubles, so its size stays proportional to the live timers.
            heap[:] = [entry for entry in heap if entry[2].deadline(entry[3]) == entry[0]]
            heapq.heapify(heap)
            self._compact_at = max(4096, 2 * len(heap))

    def _terminated(self, transaction: Transaction) -> None:
        assert isinstance(transaction, AnyTransaction)
        if isinstance(transaction, ClientInviteTransaction | ClientNonInviteTransaction):
            if self._clients.get(transaction.key) is transaction:
                del self._clients[transaction.key]
        elif self._servers.get(transaction.key) is transaction:
            del self._servers[transaction.key]
        self.counters.terminated[transaction.KIND] += 1
        self._events.append(TransactionTerminated(transaction))
