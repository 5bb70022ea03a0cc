"""What the transaction layer tells the TU, and what it gives the transport to send.

Events are frozen, slotted dataclasses named as past-tense facts (STYLE.md, convention 4).
"""

from __future__ import annotations

from dataclasses import dataclass

from sipline.sip import Address, LocalProtocolError, Request, Response
from sipline.transaction._client_invite import ClientInviteTransaction
from sipline.transaction._client_non_invite import ClientNonInviteTransaction
from sipline.transaction._server_invite import ServerInviteTransaction
from sipline.transaction._server_non_invite import ServerNonInviteTransaction

ClientTransaction = ClientInviteTransaction | ClientNonInviteTransaction
ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction
AnyTransaction = ClientTransaction | ServerTransaction


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to put on the wire: ``data`` is ``bytes(message)``."""

    destination: Address
    data: bytes
    message: Request | Response


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request (not ACK, not CANCEL) created server ``transaction``."""

    request: Request
    source: Address
    transaction: ServerTransaction

    def __post_init__(self) -> None:
        if self.request.method in ("ACK", "CANCEL"):
            raise LocalProtocolError(f"{self.request.method} has its own event")


@dataclass(frozen=True, slots=True)
class AckReceived:
    """An ACK no transaction absorbed: the ACK of a 2xx, for the dialog layer (§13.3.1.4).

    ``transaction`` is the INVITE server transaction in Accepted it matched, if any
    (RFC 6026 §7.1; an ACK for 2xx normally has a branch of its own and matches none).
    """

    request: Request
    source: Address
    transaction: ServerInviteTransaction | None = None

    def __post_init__(self) -> None:
        if self.request.method != "ACK":
            raise LocalProtocolError(f"AckReceived for a {self.request.method}")


@dataclass(frozen=True, slots=True)
class CancelReceived:
    """A new CANCEL created server ``transaction``; it cancels ``invite_transaction``.

    ``invite_transaction`` is the INVITE server transaction the CANCEL matches by
    §9.2 / §17.2.3 (None: answer the CANCEL with 481).  The layer answers nothing by
    itself: a UAS answers 200 and then 487 to the INVITE, a proxy 200 and cancels
    its branches (§16.10).
    """

    request: Request
    source: Address
    transaction: ServerNonInviteTransaction
    invite_transaction: ServerInviteTransaction | None

    def __post_init__(self) -> None:
        if self.request.method != "CANCEL":
            raise LocalProtocolError(f"CancelReceived for a {self.request.method}")


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response for client ``transaction`` (retransmitted 2xx included, RFC 6026)."""

    response: Response
    transaction: ClientTransaction


@dataclass(frozen=True, slots=True)
class StrayResponseReceived:
    """A response no client transaction matches (RFC 6026 §7.3: the TU decides)."""

    response: Response
    source: Address


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """Timer B, F or H fired: no response (client) or no ACK (server) came."""

    transaction: AnyTransaction


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """The transport could not reach ``destination`` for ``transaction``."""

    transaction: AnyTransaction
    destination: Address


@dataclass(frozen=True, slots=True)
class TransactionTerminated:
    """``transaction`` reached Terminated and was forgotten by the layer."""

    transaction: AnyTransaction


Event = (
    RequestReceived
    | AckReceived
    | CancelReceived
    | ResponseReceived
    | StrayResponseReceived
    | TransactionTimedOut
    | TransportFailed
    | TransactionTerminated
)
