"""The non-INVITE server transaction: RFC 3261 §17.2.2, Figure 8."""

from __future__ import annotations

from typing import ClassVar

from sipline.sip import Address
from sipline.transaction._machine import (
    Action,
    TimerTable,
    Transaction,
    TransactionInput,
    TransactionState,
    Transition,
    TransitionTable,
)

_S = TransactionState
_I = TransactionInput
_A = Action

_FINAL = ((_A.SEND_RESPONSE, _A.START_TIMER_J), _S.COMPLETED)

_TRANSITIONS: TransitionTable = {
    # §17.2.2: retransmissions in Trying are discarded (nothing to resend yet).
    (_S.TRYING, _I.REQUEST_RETRANSMISSION): ((), _S.TRYING),
    (_S.TRYING, _I.TRANSPORT_ERROR): ((), _S.TRYING),
    (_S.TRYING, _I.SEND_1XX): ((_A.SEND_RESPONSE,), _S.PROCEEDING),
    (_S.TRYING, _I.SEND_2XX): _FINAL,
    (_S.TRYING, _I.SEND_300_699): _FINAL,
    (_S.PROCEEDING, _I.REQUEST_RETRANSMISSION): ((_A.RETRANSMIT_RESPONSE,), _S.PROCEEDING),
    (_S.PROCEEDING, _I.SEND_1XX): ((_A.SEND_RESPONSE,), _S.PROCEEDING),
    (_S.PROCEEDING, _I.SEND_2XX): _FINAL,
    (_S.PROCEEDING, _I.SEND_300_699): _FINAL,
    (_S.PROCEEDING, _I.TRANSPORT_ERROR): ((_A.REPORT_TRANSPORT_ERROR,), _S.TERMINATED),
    # Completed answers retransmissions with the final response until J.
    (_S.COMPLETED, _I.REQUEST_RETRANSMISSION): ((_A.RETRANSMIT_RESPONSE,), _S.COMPLETED),
    # "Any other final responses passed by the TU ... MUST be discarded" (§17.2.2).
    (_S.COMPLETED, _I.SEND_2XX): ((), _S.COMPLETED),
    (_S.COMPLETED, _I.SEND_300_699): ((), _S.COMPLETED),
    (_S.COMPLETED, _I.TRANSPORT_ERROR): ((_A.REPORT_TRANSPORT_ERROR,), _S.TERMINATED),
    (_S.COMPLETED, _I.TIMER_J): ((), _S.TERMINATED),
}


class ServerNonInviteTransaction(Transaction):
    """Receives a non-INVITE request and answers its retransmissions."""

    TABLE: ClassVar[TransitionTable] = _TRANSITIONS
    TIMERS: ClassVar[TimerTable] = {_S.COMPLETED: frozenset({_I.TIMER_J})}
    # §17.2.2: the new transaction enters Trying and passes the request up.
    INITIAL: ClassVar[Transition] = ((_A.PASS_UP,), _S.TRYING)
    KIND: ClassVar[str] = "server_non_invite"

    __slots__ = ()

    @property
    def source(self) -> Address:
        """Where the request came from."""
        return self.peer
