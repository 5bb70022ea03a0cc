"""The RFC 3261 §17 transaction layer, sans-I/O (RFC 6026 Accepted states included).

``TransactionLayer`` matches messages to the four state machines
(``ClientInviteTransaction``, ``ClientNonInviteTransaction``,
``ServerInviteTransaction``, ``ServerNonInviteTransaction``), runs their timers on
one heap (time is always passed in as ``now``) and reports events to the TU.
"""

from sipline.transaction._build import make_ack_for_non_2xx, make_cancel, make_trying
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
from sipline.transaction._layer import TransactionCounters, TransactionLayer
from sipline.transaction._machine import (
    Action,
    Transaction,
    TransactionInput,
    TransactionState,
    Transition,
    TransitionTable,
)
from sipline.transaction._server_invite import ServerInviteTransaction
from sipline.transaction._server_non_invite import ServerNonInviteTransaction

#: The four machines, for diagrams and table checks.
MACHINES = (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
)

__all__ = [
    "MACHINES",
    "AckReceived",
    "Action",
    "AnyTransaction",
    "CancelReceived",
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "ClientTransaction",
    "Event",
    "Outgoing",
    "RequestReceived",
    "ResponseReceived",
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "ServerTransaction",
    "StrayResponseReceived",
    "Transaction",
    "TransactionConfig",
    "TransactionCounters",
    "TransactionInput",
    "TransactionLayer",
    "TransactionState",
    "TransactionTerminated",
    "TransactionTimedOut",
    "Transition",
    "TransitionTable",
    "TransportFailed",
    "make_ack_for_non_2xx",
    "make_cancel",
    "make_trying",
]
