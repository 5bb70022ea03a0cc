"""The INVITE client transaction: RFC 3261 §17.1.1, Figure 5, as updated by RFC 6026 §7.2."""

from __future__ import annotations

from typing import ClassVar

from sipline.sip import Address, LocalProtocolError, Message, Request, Response
from sipline.transaction._build import make_ack_for_non_2xx
from sipline.transaction._config import TransactionConfig
from sipline.transaction._machine import (
    Action,
    TimerTable,
    Transaction,
    TransactionInput,
    TransactionOwner,
    TransactionState,
    Transition,
    TransitionTable,
)

_S = TransactionState
_I = TransactionInput
_A = Action

_TRANSITIONS: TransitionTable = {
    # §17.1.1.2: Calling retransmits on A (unreliable only) and gives up on B.
    (_S.CALLING, _I.TIMER_A): ((_A.RETRANSMIT_REQUEST, _A.START_TIMER_A), _S.CALLING),
    (_S.CALLING, _I.TIMER_B): ((_A.REPORT_TIMEOUT,), _S.TERMINATED),
    (_S.CALLING, _I.TRANSPORT_ERROR): ((_A.REPORT_TRANSPORT_ERROR,), _S.TERMINATED),
    (_S.CALLING, _I.RESPONSE_1XX): ((_A.PASS_UP,), _S.PROCEEDING),
    # RFC 6026 §7.2: a 2xx moves to Accepted (not Terminated) and starts M.
    (_S.CALLING, _I.RESPONSE_2XX): ((_A.PASS_UP, _A.START_TIMER_M), _S.ACCEPTED),
    # §17.1.1.3: the transaction itself ACKs a 300-699 response.
    (_S.CALLING, _I.RESPONSE_300_699): (
        (_A.SEND_ACK, _A.PASS_UP, _A.START_TIMER_D),
        _S.COMPLETED,
    ),
    (_S.PROCEEDING, _I.RESPONSE_1XX): ((_A.PASS_UP,), _S.PROCEEDING),
    (_S.PROCEEDING, _I.RESPONSE_2XX): ((_A.PASS_UP, _A.START_TIMER_M), _S.ACCEPTED),
    (_S.PROCEEDING, _I.RESPONSE_300_699): (
        (_A.SEND_ACK, _A.PASS_UP, _A.START_TIMER_D),
        _S.COMPLETED,
    ),
    # Nothing is sent in Proceeding: a broken connection may be reopened by the
    # server for the response (§18.2.2), so the error is absorbed.
    (_S.PROCEEDING, _I.TRANSPORT_ERROR): ((), _S.PROCEEDING),
    # §17.1.1.2: retransmitted finals are ACKed again, not passed up.
    (_S.COMPLETED, _I.RESPONSE_300_699): ((_A.SEND_ACK,), _S.COMPLETED),
    (_S.COMPLETED, _I.RESPONSE_1XX): ((), _S.COMPLETED),
    # A 2xx from another fork after a 300-699: the TU must ACK and BYE it.
    (_S.COMPLETED, _I.RESPONSE_2XX): ((_A.PASS_UP,), _S.COMPLETED),
    (_S.COMPLETED, _I.TIMER_D): ((), _S.TERMINATED),
    (_S.COMPLETED, _I.TRANSPORT_ERROR): ((_A.REPORT_TRANSPORT_ERROR,), _S.TERMINATED),
    # RFC 6026 §7.2: every 2xx (retransmission or fork) in Accepted goes to the TU.
    (_S.ACCEPTED, _I.RESPONSE_2XX): ((_A.PASS_UP,), _S.ACCEPTED),
    (_S.ACCEPTED, _I.RESPONSE_1XX): ((), _S.ACCEPTED),
    (_S.ACCEPTED, _I.RESPONSE_300_699): ((), _S.ACCEPTED),
    (_S.ACCEPTED, _I.TRANSPORT_ERROR): ((), _S.ACCEPTED),
    (_S.ACCEPTED, _I.TIMER_M): ((), _S.TERMINATED),
}


class ClientInviteTransaction(Transaction):
    """Sends an INVITE, retransmits it, ACKs 300-699 responses, reports the outcome."""

    TABLE: ClassVar[TransitionTable] = _TRANSITIONS
    TIMERS: ClassVar[TimerTable] = {
        _S.CALLING: frozenset({_I.TIMER_A, _I.TIMER_B}),
        _S.COMPLETED: frozenset({_I.TIMER_D}),
        _S.ACCEPTED: frozenset({_I.TIMER_M}),
    }
    INITIAL: ClassVar[Transition] = (
        (_A.SEND_REQUEST, _A.START_TIMER_A, _A.START_TIMER_B),
        _S.CALLING,
    )
    KIND: ClassVar[str] = "client_invite"

    __slots__ = ("_ack", "cancel_reason", "cancel_requested")

    def __init__(
        self,
        owner: TransactionOwner,
        config: TransactionConfig,
        request: Request,
        peer: Address,
        key: tuple[object, ...] = (),
    ) -> None:
        super().__init__(owner, config, request, peer, key)
        self._ack: Request | None = None
        #: Set by ``TransactionLayer.cancel`` before any provisional response (§9.1).
        self.cancel_requested = False
        self.cancel_reason: str | None = None

    @property
    def destination(self) -> Address:
        """Where the INVITE (and the ACK of a 300-699) is sent."""
        return self.peer

    @property
    def ack(self) -> Request | None:
        """The ACK this transaction sent for a 300-699 response, if any."""
        return self._ack

    def _perform(self, action: Action, now: float, message: Message | None) -> None:
        if action is not Action.SEND_ACK:
            super()._perform(action, now, message)
            return
        retransmission = self._ack is not None
        if self._ack is None:
            if not isinstance(message, Response):
                raise LocalProtocolError("SEND_ACK needs the final response")
            self._ack = make_ack_for_non_2xx(self.request, message)
        # §17.1.1.3: the ACK goes where the INVITE went.
        self._owner._transmit(self, self._ack, self.peer, retransmission=retransmission)
