"""The INVITE server transaction: RFC 3261 §17.2.1, Figure 7, as updated by RFC 6026 §7.1."""

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

_TRANSITIONS: TransitionTable = {
    # §17.2.1: a retransmitted INVITE gets the last provisional response again.
    (_S.PROCEEDING, _I.REQUEST_RETRANSMISSION): ((_A.RETRANSMIT_RESPONSE,), _S.PROCEEDING),
    (_S.PROCEEDING, _I.SEND_1XX): ((_A.SEND_RESPONSE,), _S.PROCEEDING),
    # RFC 6026 §7.1: a 2xx moves to Accepted and starts L; the TU retransmits the 2xx.
    (_S.PROCEEDING, _I.SEND_2XX): ((_A.SEND_RESPONSE, _A.START_TIMER_L), _S.ACCEPTED),
    (_S.PROCEEDING, _I.SEND_300_699): (
        (_A.SEND_RESPONSE, _A.START_TIMER_G, _A.START_TIMER_H),
        _S.COMPLETED,
    ),
    (_S.PROCEEDING, _I.TRANSPORT_ERROR): ((_A.REPORT_TRANSPORT_ERROR,), _S.TERMINATED),
    (_S.PROCEEDING, _I.ACK): ((), _S.PROCEEDING),  # nothing to acknowledge yet
    # Completed: G retransmits the final response (unreliable only), H waits for ACK.
    (_S.COMPLETED, _I.TIMER_G): ((_A.RETRANSMIT_RESPONSE, _A.START_TIMER_G), _S.COMPLETED),
    (_S.COMPLETED, _I.TIMER_H): ((_A.REPORT_TIMEOUT,), _S.TERMINATED),
    (_S.COMPLETED, _I.REQUEST_RETRANSMISSION): ((_A.RETRANSMIT_RESPONSE,), _S.COMPLETED),
    (_S.COMPLETED, _I.ACK): ((_A.START_TIMER_I,), _S.CONFIRMED),
    (_S.COMPLETED, _I.TRANSPORT_ERROR): ((_A.REPORT_TRANSPORT_ERROR,), _S.TERMINATED),
    # Confirmed absorbs ACK retransmissions until I (T4, zero when reliable).
    (_S.CONFIRMED, _I.ACK): ((), _S.CONFIRMED),
    (_S.CONFIRMED, _I.REQUEST_RETRANSMISSION): ((), _S.CONFIRMED),
    (_S.CONFIRMED, _I.TRANSPORT_ERROR): ((), _S.CONFIRMED),
    (_S.CONFIRMED, _I.TIMER_I): ((), _S.TERMINATED),
    # RFC 6026 §7.1: Accepted absorbs INVITE retransmissions, passes ACKs up, and
    # sends the 2xx retransmissions the TU hands it, until L.
    (_S.ACCEPTED, _I.REQUEST_RETRANSMISSION): ((), _S.ACCEPTED),
    (_S.ACCEPTED, _I.ACK): ((_A.PASS_UP,), _S.ACCEPTED),
    (_S.ACCEPTED, _I.SEND_2XX): ((_A.SEND_RESPONSE,), _S.ACCEPTED),
    (_S.ACCEPTED, _I.TRANSPORT_ERROR): ((_A.REPORT_TRANSPORT_ERROR,), _S.ACCEPTED),
    (_S.ACCEPTED, _I.TIMER_L): ((), _S.TERMINATED),
}


class ServerInviteTransaction(Transaction):
    """Receives an INVITE, sends the TU's responses, retransmits a 300-699 until ACKed."""

    TABLE: ClassVar[TransitionTable] = _TRANSITIONS
    TIMERS: ClassVar[TimerTable] = {
        _S.COMPLETED: frozenset({_I.TIMER_G, _I.TIMER_H}),
        _S.CONFIRMED: frozenset({_I.TIMER_I}),
        _S.ACCEPTED: frozenset({_I.TIMER_L}),
    }
    # §17.2.1: the new transaction enters Proceeding and passes the INVITE up.
    INITIAL: ClassVar[Transition] = ((_A.PASS_UP,), _S.PROCEEDING)
    KIND: ClassVar[str] = "server_invite"

    __slots__ = ()

    @property
    def source(self) -> Address:
        """Where the INVITE came from."""
        return self.peer
