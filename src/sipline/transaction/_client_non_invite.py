"""The non-INVITE client transaction: RFC 3261 §17.1.2, Figure 6."""

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

_FINAL = ((_A.PASS_UP, _A.START_TIMER_K), _S.COMPLETED)

_TRANSITIONS: TransitionTable = {
    # §17.1.2.2: E retransmits (doubling up to T2), F gives up.
    (_S.TRYING, _I.TIMER_E): ((_A.RETRANSMIT_REQUEST, _A.START_TIMER_E), _S.TRYING),
    (_S.TRYING, _I.TIMER_F): ((_A.REPORT_TIMEOUT,), _S.TERMINATED),
    (_S.TRYING, _I.TRANSPORT_ERROR): ((_A.REPORT_TRANSPORT_ERROR,), _S.TERMINATED),
    (_S.TRYING, _I.RESPONSE_1XX): ((_A.PASS_UP,), _S.PROCEEDING),
    (_S.TRYING, _I.RESPONSE_2XX): _FINAL,
    (_S.TRYING, _I.RESPONSE_300_699): _FINAL,
    # In Proceeding, E keeps retransmitting, every T2.
    (_S.PROCEEDING, _I.TIMER_E): ((_A.RETRANSMIT_REQUEST, _A.START_TIMER_E), _S.PROCEEDING),
    (_S.PROCEEDING, _I.TIMER_F): ((_A.REPORT_TIMEOUT,), _S.TERMINATED),
    (_S.PROCEEDING, _I.TRANSPORT_ERROR): ((_A.REPORT_TRANSPORT_ERROR,), _S.TERMINATED),
    (_S.PROCEEDING, _I.RESPONSE_1XX): ((_A.PASS_UP,), _S.PROCEEDING),
    (_S.PROCEEDING, _I.RESPONSE_2XX): _FINAL,
    (_S.PROCEEDING, _I.RESPONSE_300_699): _FINAL,
    # Completed buffers response retransmissions for K (T4, zero when reliable).
    (_S.COMPLETED, _I.RESPONSE_1XX): ((), _S.COMPLETED),
    (_S.COMPLETED, _I.RESPONSE_2XX): ((), _S.COMPLETED),
    (_S.COMPLETED, _I.RESPONSE_300_699): ((), _S.COMPLETED),
    (_S.COMPLETED, _I.TRANSPORT_ERROR): ((), _S.COMPLETED),
    (_S.COMPLETED, _I.TIMER_K): ((), _S.TERMINATED),
}


class ClientNonInviteTransaction(Transaction):
    """Sends a non-INVITE request (REGISTER, BYE, CANCEL, OPTIONS...) until answered."""

    TABLE: ClassVar[TransitionTable] = _TRANSITIONS
    TIMERS: ClassVar[TimerTable] = {
        _S.TRYING: frozenset({_I.TIMER_E, _I.TIMER_F}),
        _S.PROCEEDING: frozenset({_I.TIMER_E, _I.TIMER_F}),
        _S.COMPLETED: frozenset({_I.TIMER_K}),
    }
    INITIAL: ClassVar[Transition] = (
        (_A.SEND_REQUEST, _A.START_TIMER_E, _A.START_TIMER_F),
        _S.TRYING,
    )
    KIND: ClassVar[str] = "client_non_invite"

    __slots__ = ()

    @property
    def destination(self) -> Address:
        """Where the request is sent."""
        return self.peer
