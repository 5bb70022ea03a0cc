"""What configures an endpoint, what it reports, and what it hands requests to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sipline import __version__
from sipline.endpoint._requests import IncomingRequest
from sipline.sip import DEFAULT_SUPPORTED, Address, Request, Response
from sipline.transaction import TransactionConfig
from sipline.transport import TransportConfig


class Application(Protocol):
    """What the endpoint hands requests to (registrar, proxy, B2BUA...)."""

    async def handle_request(self, incoming: IncomingRequest) -> None:
        """Answer ``incoming`` (now or later) with ``incoming.respond(...)``."""

    def handle_ack(self, request: Request, source: Address) -> None:
        """An ACK for a 2xx (or one no transaction absorbed)."""

    def handle_stray_response(self, response: Response, source: Address) -> None:
        """A response no client transaction matches (late 2xx of a forked INVITE...)."""


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """How the endpoint behaves; built once from the config file."""

    transport: TransportConfig
    transactions: TransactionConfig = field(default_factory=TransactionConfig)
    allowed_methods: tuple[str, ...] = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER")
    supported: tuple[str, ...] = tuple(sorted(DEFAULT_SUPPORTED))
    accept: tuple[str, ...] = ("application/sdp",)
    #: Address put in Via/Contact when a listener is bound to a wildcard address.
    advertised_host: str | None = None
    user_agent: str = f"sipline/{__version__}"
    #: Act as a proxy (RFC 3261 §16.3): Proxy-Require is checked instead of Require,
    #: and OPTIONS addressed to a user are the application's to forward.
    proxy: bool = False


@dataclass(slots=True)
class EndpointStats:
    bad_requests_answered: int = 0
    unparsable_dropped: int = 0
    rejected_requests: int = 0
    responses_dropped: int = 0
    send_failures: int = 0
    blocked_dropped: int = 0
    options_answered: int = 0
    answered_statelessly: int = 0
