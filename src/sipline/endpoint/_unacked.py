"""§13.3.1.4: the UAS core retransmits a 2xx to INVITE until the ACK comes.

Over an unreliable transport the endpoint resends the 2xx after T1, then at
doubling intervals capped at T2; when no ACK came within 64*T1 it gives up and
calls the request's ``on_ack_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sipline.sip import Request, SipParseError
from sipline.transaction import Outgoing, TransactionConfig, TransactionLayer

if TYPE_CHECKING:
    from sipline.endpoint._requests import IncomingRequest

logger = logging.getLogger("sipline.endpoint")


class UnackedResponses:
    """The 2xx responses to INVITE waiting for their ACK, by (Call-ID, CSeq number).

    The endpoint owns one; ``put_on_wire`` sends a retransmission, ``call_app``
    calls the application's ``on_ack_timeout`` (guarded as every application call).
    """

    __slots__ = ("_call_app", "_config", "_handles", "_now", "_put_on_wire", "_transactions")

    def __init__(
        self,
        config: TransactionConfig,
        transactions: TransactionLayer,
        *,
        now: Callable[[], float],
        put_on_wire: Callable[[Outgoing], None],
        call_app: Callable[..., None],
    ) -> None:
        self._config = config
        self._transactions = transactions
        self._now = now
        self._put_on_wire = put_on_wire
        self._call_app = call_app
        self._handles: dict[tuple[str, int], asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        return len(self._handles)

    def start(self, incoming: IncomingRequest, data: bytes, now: float) -> None:
        """``data`` (a 2xx to ``incoming``, just sent at ``now``) goes again after T1."""
        self._retransmit(incoming, data, self._config.t1, now)

    def _retransmit(
        self, incoming: IncomingRequest, data: bytes, interval: float, started: float
    ) -> None:
        key = (incoming.request.call_id, incoming.request.cseq.number)
        config = self._config
        if self._now() - started >= 64 * config.t1:
            self._handles.pop(key, None)
            logger.info("no ACK for the 2xx to %r from %s", incoming.request, incoming.source)
            if incoming.on_ack_timeout is not None:
                self._call_app(incoming.on_ack_timeout, incoming)
            return
        self._handles[key] = asyncio.get_running_loop().call_later(
            interval,
            self._resend,
            incoming,
            data,
            min(interval * 2, config.t2),
            started,
        )

    def _resend(
        self, incoming: IncomingRequest, data: bytes, interval: float, started: float
    ) -> None:
        self._transactions.counters.retransmissions["server_invite"] += 1
        self._put_on_wire(
            Outgoing(incoming.response_destination, data, incoming.final or incoming.request)
        )
        self._retransmit(incoming, data, interval, started)

    def ack_arrived(self, ack: Request) -> None:
        try:
            key = (ack.call_id, ack.cseq.number)
        except SipParseError:
            return
        handle = self._handles.pop(key, None)
        if handle is not None:
            handle.cancel()

    def close(self) -> None:
        """Stop every retransmission (the endpoint is closing)."""
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
