"""The MESSAGE relay: one copy per registered contact, the first 2xx wins (RFC 3428 §7).

The copies keep the sender's From, To and Call-ID (the phones thread a chat by
them), so the relay acts as a forking proxy for this one method, but builds
each copy itself: Request-URI the contact, Route the binding's Path, its own
Via, Max-Forwards one less, and ``P-Asserted-Identity`` naming the sender when
the Dispatcher authenticated it.  The sender gets the winning 2xx's status (200
or 202), 480 when the user has no binding, 404 when there is no such user, 413
for a body over ``max_body`` bytes, and otherwise the best failure of the
contacts (§16.7 step 6 ranking), or 408 when none answers in time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from sipline.endpoint import ClientRequest, Endpoint, IncomingRequest
from sipline.registrar import reach_address
from sipline.sip import Address, Request, SipParseError, SipUri, parse_name_addr
from sipline.store import Binding, LocationStore, UserStore

__all__ = ["MAX_BODY", "MessageRelay", "best_status", "message_for_binding"]

logger = logging.getLogger("sipline.messaging")

#: RFC 3428 §7 leaves the limit to the server; over it: 413.
MAX_BODY = 65536
#: Headers of the sender's MESSAGE carried in each copy (RFC 3428 §10 and the body's).
_CARRIED = (
    "Content-Type",
    "Content-Encoding",
    "Content-Language",
    "Content-Disposition",
    "Date",
    "Subject",
    "Priority",
    "In-Reply-To",
    "Expires",
    "Require",
    "Accept-Contact",
)


def message_for_binding(
    request: Request, binding: Binding, *, authenticated: str | None = None
) -> tuple[Request, Address] | None:
    """The copy of ``request`` for one registered contact and where to send it
    (None when the stored Contact does not parse)."""
    try:
        contact_uri = parse_name_addr(binding.contact, "Contact").uri
    except SipParseError:
        return None
    max_forwards = request.max_forwards
    headers: list[tuple[str, str]] = [("Route", route) for route in binding.path]
    headers += [
        ("Max-Forwards", str(69 if max_forwards is None else max_forwards - 1)),
        ("From", request.headers.get("From") or ""),
        ("To", request.headers.get("To") or ""),
        ("Call-ID", request.call_id),
        ("CSeq", f"{request.cseq.number} MESSAGE"),
    ]
    headers += [(name, value) for name in _CARRIED for value in request.headers.get_all(name)]
    if authenticated is not None:
        headers.append(("P-Asserted-Identity", f"<sip:{authenticated}>"))
    return Request("MESSAGE", str(contact_uri), headers, request.body), reach_address(binding)


def best_status(statuses: Iterable[int]) -> int:
    """The failure the sender gets when every contact failed: a 6xx first, then the
    lowest class, specific answers before the generic 408/480/503 (§16.7 step 6)."""

    def rank(status: int) -> tuple[int, int, int, int]:
        generic = 1 if status in (408, 480, 487, 503) else 0
        return (0 if status >= 600 else 1, status // 100, generic, status)

    return min(statuses, key=rank, default=480)


class MessageRelay:
    """Out-of-dialog MESSAGE requests for local users, delivered to their contacts."""

    def __init__(
        self,
        endpoint: Endpoint | None,
        locations: LocationStore,
        *,
        users: UserStore | None = None,
        clock: Callable[[], float] = time.time,
        max_body: int = MAX_BODY,
        timeout: float = 10.0,
    ) -> None:
        self._endpoint = endpoint
        self.locations = locations
        self.users = users
        self.clock = clock
        self.max_body = max_body
        #: Seconds the contacts have to answer (the sender's Timer F is 32 s).
        self.timeout = timeout
        self.counters = {"delivered": 0, "failed": 0}

    def attach(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    @property
    def endpoint(self) -> Endpoint:
        assert self._endpoint is not None, "attach the endpoint first"
        return self._endpoint

    async def handle(self, incoming: IncomingRequest, *, authenticated: str | None = None) -> None:
        """Deliver one MESSAGE and answer its sender."""
        request = incoming.request
        if len(request.body) > self.max_body:
            incoming.respond(413)  # RFC 3428 §7
            return
        uri = request.request_uri
        if not isinstance(uri, SipUri) or not uri.user:
            incoming.respond(416 if not isinstance(uri, SipUri) else 404)
            return
        user, domain = uri.user, uri.host.lower()
        if self.users is not None and self.users.get_user(user, domain) is None:
            incoming.respond(404)
            return
        bindings = self.locations.lookup(f"{user}@{domain}", self.clock())
        copies = [
            copy
            for binding in bindings
            if (copy := message_for_binding(request, binding, authenticated=authenticated))
        ]
        if not copies:
            incoming.respond(480)  # RFC 3261 §21.4.18: not registered
            return
        clients = [self.endpoint.send_request(copy, destination) for copy, destination in copies]
        status = await self._first_success(clients)
        self.counters["delivered" if status < 300 else "failed"] += 1
        incoming.respond(status)

    async def _first_success(self, clients: list[ClientRequest]) -> int:
        tasks = {asyncio.ensure_future(client.final_response()) for client in clients}
        failures: list[int] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        try:
            while tasks:
                done, tasks = await asyncio.wait(
                    tasks, timeout=max(deadline - loop.time(), 0), return_when="FIRST_COMPLETED"
                )
                if not done:
                    failures.append(408)
                    break
                for task in done:
                    status = task.result().status_code
                    if 200 <= status < 300:
                        return status
                    failures.append(status)
        finally:
            for task in tasks:
                task.cancel()
        return best_status(failures)
