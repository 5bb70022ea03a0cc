"""What the four transaction state machines share: states, inputs, actions, one runner.

Each machine (one file each) is a subclass of ``Transaction`` that declares
``TABLE``, one explicit transition table ``(state, input) -> (actions, next_state)``
next to the class, ``TIMERS``, the timers that may keep running in each state, and
``INITIAL``, the actions taken when the transaction is created.  ``process_input``
is the only runner.  A pair missing from the table is our own misuse: the
transaction ends ``TERMINATED`` and ``LocalProtocolError`` is raised.  Network input
the RFC says to absorb is in the table, with no action.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import ClassVar, Protocol

from sipline.sip import Address, LocalProtocolError, Message, Request, Response
from sipline.transaction._config import TransactionConfig


class TransactionState(Enum):
    """States of RFC 3261 §17 Figures 5-8 and RFC 6026 §7 (``ACCEPTED``)."""

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class TransactionInput(Enum):
    """What a transaction reacts to: its timers, the network and the TU."""

    TIMER_A = "Timer A"
    TIMER_B = "Timer B"
    TIMER_D = "Timer D"
    TIMER_E = "Timer E"
    TIMER_F = "Timer F"
    TIMER_G = "Timer G"
    TIMER_H = "Timer H"
    TIMER_I = "Timer I"
    TIMER_J = "Timer J"
    TIMER_K = "Timer K"
    TIMER_L = "Timer L"
    TIMER_M = "Timer M"
    TRANSPORT_ERROR = "transport error"
    # From the network, to a client transaction.
    RESPONSE_1XX = "1xx"
    RESPONSE_2XX = "2xx"
    RESPONSE_300_699 = "300-699"
    # From the network, to a server transaction.
    REQUEST_RETRANSMISSION = "request"
    ACK = "ACK"
    # From the TU, to a server transaction.
    SEND_1XX = "1xx from TU"
    SEND_2XX = "2xx from TU"
    SEND_300_699 = "300-699 from TU"


class Action(Enum):
    """What a transition does, in the order the table lists them."""

    SEND_REQUEST = "send request"
    RETRANSMIT_REQUEST = "resend request"
    SEND_ACK = "send ACK"
    PASS_UP = "to TU"  # noqa: S105 (the RFC's "passed up to the TU", not a password)
    SEND_RESPONSE = "send response"
    RETRANSMIT_RESPONSE = "resend response"
    REPORT_TIMEOUT = "inform TU: timeout"
    REPORT_TRANSPORT_ERROR = "inform TU: transport error"
    START_TIMER_A = "start A"
    START_TIMER_B = "start B"
    START_TIMER_D = "start D"
    START_TIMER_E = "start E"
    START_TIMER_F = "start F"
    START_TIMER_G = "start G"
    START_TIMER_H = "start H"
    START_TIMER_I = "start I"
    START_TIMER_J = "start J"
    START_TIMER_K = "start K"
    START_TIMER_L = "start L"
    START_TIMER_M = "start M"


Transition = tuple[tuple[Action, ...], TransactionState]
TransitionTable = Mapping[tuple[TransactionState, TransactionInput], Transition]
TimerTable = Mapping[TransactionState, frozenset[TransactionInput]]

_S = TransactionState
_I = TransactionInput
TIMER_OF_ACTION: Mapping[Action, TransactionInput] = {
    action: TransactionInput["TIMER_" + action.name[-1]]
    for action in Action
    if action.name.startswith("START_TIMER_")
}
#: Timers that exist only on unreliable transports (§17.1.1.2, §17.1.2.2, §17.2.1).
_RETRANSMIT_TIMERS = frozenset({_I.TIMER_A, _I.TIMER_E, _I.TIMER_G})
#: Timers that are zero on reliable transports (Table 4).
_ZERO_WHEN_RELIABLE = frozenset({_I.TIMER_D, _I.TIMER_I, _I.TIMER_J, _I.TIMER_K})


class TransactionOwner(Protocol):
    """The layer a transaction reports to (``TransactionLayer``, or a test's owner)."""

    def _transmit(
        self,
        transaction: Transaction,
        message: Message,
        destination: Address,
        *,
        retransmission: bool,
    ) -> None: ...

    def _pass_up(self, transaction: Transaction, message: Message, now: float) -> None: ...

    def _report(self, transaction: Transaction, action: Action) -> None: ...

    def _arm(self, transaction: Transaction, timer: TransactionInput, deadline: float) -> None: ...

    def _terminated(self, transaction: Transaction) -> None: ...


class Transaction:
    """Base of the four machines: state, timers and the ``process_input`` runner."""

    TABLE: ClassVar[TransitionTable]
    TIMERS: ClassVar[TimerTable]
    INITIAL: ClassVar[Transition]
    KIND: ClassVar[str]

    __slots__ = (
        "_config",
        "_deadlines",
        "_due",
        "_intervals",
        "_owner",
        "key",
        "last_response",
        "peer",
        "reliable",
        "request",
        "response_destination",
        "state",
    )

    def __init__(
        self,
        owner: TransactionOwner,
        config: TransactionConfig,
        request: Request,
        peer: Address,
        key: tuple[object, ...] = (),
    ) -> None:
        self._owner = owner
        self._config = config
        self.request = request
        #: Where the request goes (client) or came from (server).
        self.peer = peer
        #: Where responses go (server); the TU may redirect it (RFC 3261 §18.2.2).
        self.response_destination = peer
        self.reliable = peer.reliable
        self.key = key
        self.state = self.INITIAL[1]
        #: The last response sent (server) or passed up (client).
        self.last_response: Response | None = None
        self._deadlines: dict[TransactionInput, float] = {}
        self._intervals: dict[TransactionInput, float] = {}
        self._due: list[TransactionInput] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.request.method} {self.state.name}>"

    @property
    def branch(self) -> str | None:
        """The branch of the request's top Via, which names the transaction."""
        return self.request.top_via.branch

    @property
    def method(self) -> str:
        return self.request.method

    def deadline(self, timer: TransactionInput) -> float | None:
        """When ``timer`` fires, or None when it is not running."""
        return self._deadlines.get(timer)

    # -- the runner ---------------------------------------------------------------

    def start(self, now: float) -> None:
        """Take the ``INITIAL`` actions (send the request, or pass it up)."""
        self._apply(self.INITIAL, now, self.request)

    def fire(self, timer: TransactionInput, now: float) -> None:
        """Timer ``timer`` expired: feed it to the table."""
        self._deadlines.pop(timer, None)
        self.process_input(timer, now)

    def process_input(
        self, event: TransactionInput, now: float, message: Message | None = None
    ) -> None:
        """Run one transition of ``TABLE``; ``message`` is the response/request involved."""
        state = self.state
        transition = self.TABLE.get((state, event))
        if transition is None:
            if state is not _S.TERMINATED:
                self._set_state(_S.TERMINATED)
                self._owner._terminated(self)
            raise LocalProtocolError(
                f"{type(self).__name__}: {event.name} is not allowed in state {state.name}"
            )
        self._apply(transition, now, message)

    def _apply(self, transition: Transition, now: float, message: Message | None) -> None:
        actions, next_state = transition
        self._set_state(next_state)
        for action in actions:
            self._perform(action, now, message)
        if next_state is _S.TERMINATED:
            self._owner._terminated(self)
            return
        while self._due and self.state is not _S.TERMINATED:
            self.process_input(self._due.pop(0), now)

    def _set_state(self, state: TransactionState) -> None:
        self.state = state
        allowed = self.TIMERS.get(state, frozenset())
        for timer in [t for t in self._deadlines if t not in allowed]:
            del self._deadlines[timer]
        self._due.clear()

    def _perform(self, action: Action, now: float, message: Message | None) -> None:
        owner = self._owner
        if action is Action.SEND_REQUEST or action is Action.RETRANSMIT_REQUEST:
            retransmission = action is Action.RETRANSMIT_REQUEST
            owner._transmit(self, self.request, self.peer, retransmission=retransmission)
        elif action is Action.PASS_UP:
            if isinstance(message, Response):
                self.last_response = message
            owner._pass_up(self, message if message is not None else self.request, now)
        elif action is Action.SEND_RESPONSE:
            if not isinstance(message, Response):
                raise LocalProtocolError(f"{action.name} needs the response to send")
            self.last_response = message
            owner._transmit(self, message, self.response_destination, retransmission=False)
        elif action is Action.RETRANSMIT_RESPONSE:
            if self.last_response is not None:  # nothing sent yet: nothing to repeat
                owner._transmit(
                    self, self.last_response, self.response_destination, retransmission=True
                )
        elif action is Action.REPORT_TIMEOUT or action is Action.REPORT_TRANSPORT_ERROR:
            owner._report(self, action)
        elif action in TIMER_OF_ACTION:
            self._start_timer(TIMER_OF_ACTION[action], now)
        else:
            raise LocalProtocolError(f"{type(self).__name__} cannot {action.name}")

    # -- timers -------------------------------------------------------------------

    def _start_timer(self, timer: TransactionInput, now: float) -> None:
        interval = self._interval(timer)
        if interval is None:
            return
        if interval == 0:
            self._due.append(timer)  # fires right after this transition
            return
        deadline = now + interval
        self._deadlines[timer] = deadline
        self._owner._arm(self, timer, deadline)

    def _interval(self, timer: TransactionInput) -> float | None:
        """The next interval of ``timer`` (RFC 3261 §17, Table 4), None when unused."""
        config = self._config
        if timer in _RETRANSMIT_TIMERS:
            if self.reliable:  # retransmission is the transport's job on TCP/TLS/WS
                return None
            previous = self._intervals.get(timer)
            if timer is _I.TIMER_E and self.state is _S.PROCEEDING:
                value = config.t2  # §17.1.2.2: E is reset to T2 in Proceeding
            elif previous is None:
                value = config.t1
            elif timer is _I.TIMER_A:
                value = 2 * previous  # §17.1.1.2: A doubles, no cap
            else:
                value = min(2 * previous, config.t2)  # §17.1.2.2 (E), §17.2.1 (G)
            self._intervals[timer] = value
            return value
        if timer in _ZERO_WHEN_RELIABLE and self.reliable:
            return 0.0
        if timer is _I.TIMER_D:
            return config.timer_d
        if timer is _I.TIMER_I or timer is _I.TIMER_K:
            return config.t4
        return config.timeout  # B, F, H, J, L, M: 64*T1
