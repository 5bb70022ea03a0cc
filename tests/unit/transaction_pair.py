"""Two real transaction layers on a fake link with a fake clock (STYLE.md convention 7).

``TransactionPair`` moves ``messages_to_send()`` of one layer into the other's
``receive()`` (through bytes and the real parser), can ``drop()`` what is in flight,
and steps a fake ``now`` from one deadline to the next to fire the timers.
"""

from __future__ import annotations

from sipline.sip import (
    Address,
    Request,
    make_request,
    new_branch,
    new_call_id,
    new_tag,
    parse_message,
)
from sipline.transaction import Event, Outgoing, TransactionConfig, TransactionLayer


def make_test_request(
    method: str = "INVITE",
    *,
    transport: str = "udp",
    branch: str | None = None,
    call_id: str | None = None,
    cseq: int = 1,
    to_tag: str | None = None,
) -> Request:
    """A request from the client side of a pair (127.0.0.1:5060) to the server side."""
    to = "<sip:bob@127.0.0.1:5070>" + (f";tag={to_tag}" if to_tag else "")
    return make_request(
        method,
        "sip:bob@127.0.0.1:5070",
        via=f"SIP/2.0/{transport.upper()} 127.0.0.1:5060;branch={branch or new_branch()}",
        from_=f"<sip:alice@127.0.0.1>;tag={new_tag()}",
        to=to,
        call_id=call_id or new_call_id(),
        cseq=cseq,
    )


class TransactionPair:
    """A client layer and a server layer joined by a link you control."""

    def __init__(self, transport: str = "udp", config: TransactionConfig | None = None) -> None:
        self.config = config or TransactionConfig()
        self.client = TransactionLayer(self.config)
        self.server = TransactionLayer(self.config)
        self.client_address = Address(transport, "127.0.0.1", 5060)
        self.server_address = Address(transport, "127.0.0.1", 5070)
        self.now = 0.0

    def _peer(self, sender: TransactionLayer) -> tuple[TransactionLayer, Address]:
        if sender is self.client:
            return self.server, self.client_address
        return self.client, self.server_address

    def transfer(self, sender: TransactionLayer | None = None) -> list[Outgoing]:
        """Deliver what ``sender`` (default: both, until quiet) has queued; return it."""
        senders = [sender] if sender is not None else [self.client, self.server]
        delivered: list[Outgoing] = []
        while True:
            batch = [(s, out) for s in senders for out in s.messages_to_send()]
            if not batch:
                return delivered
            for layer, out in batch:
                receiver, source = self._peer(layer)
                receiver.receive(parse_message(out.data), source, self.now)
                delivered.append(out)
            if sender is not None:
                return delivered

    def drop(self, sender: TransactionLayer | None = None) -> list[Outgoing]:
        """Lose what ``sender`` (default: both) has queued; return the lost messages."""
        senders = [sender] if sender is not None else [self.client, self.server]
        return [out for s in senders for out in s.messages_to_send()]

    def next_deadline(self) -> float | None:
        deadlines = [
            d for d in (self.client.next_deadline(), self.server.next_deadline()) if d is not None
        ]
        return min(deadlines) if deadlines else None

    def step(self) -> float:
        """Move ``now`` to the earliest deadline of either layer and fire it."""
        deadline = self.next_deadline()
        assert deadline is not None, "no timer is running"
        self.advance_to(deadline)
        return deadline

    def advance_to(self, now: float) -> None:
        """Move ``now`` forward and fire every timer due on either side."""
        assert now >= self.now
        self.now = now
        self.client.handle_timer(now)
        self.server.handle_timer(now)

    @staticmethod
    def events(layer: TransactionLayer) -> list[Event]:
        out: list[Event] = []
        while (event := layer.next_event()) is not None:
            out.append(event)
        return out
