"""A transaction-stateful SIP proxy (RFC 3261 §16) on the endpoint.

For each request: validation (the endpoint's §16.3 checks, loop detection),
route processing (§16.4), target determination from the location service or
the Request-URI (§16.5), forking in q-value groups (parallel inside a group,
groups one after the other), forwarding with Record-Route (two entries when the
two sides use different transports, RFC 5658), and response processing (§16.7):
provisional and 2xx responses go up at once, the best final response once
every branch has ended; CANCEL cancels every pending branch (§16.10).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sipline.endpoint import ClientRequest, Endpoint, IncomingRequest
from sipline.proxy._routing import (
    LocalIdentity,
    best_response,
    is_loop,
    loop_key,
    pop_own_routes,
    record_route_uri,
    remove_first_value,
    via_destination,
)
from sipline.registrar import reach_address
from sipline.sip import (
    Address,
    Request,
    Response,
    SipParseError,
    SipUri,
    parse_name_addr,
)
from sipline.store import Binding, LocationStore, UserStore
from sipline.transport import TransportError, numeric_target

logger = logging.getLogger("sipline.proxy")

#: Requests that may create a dialog: the proxy stays on their path (§16.6 step 4).
_DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    #: Seconds an INVITE branch may stay unanswered after a provisional (Timer C, §16.8).
    call_timeout: float = 30.0
    #: Always Record-Route, not only when the transports differ.
    record_route: bool = True


@dataclass(slots=True)
class _Target:
    uri: str
    destination: Address | None
    local: Address | None
    path: tuple[str, ...]
    q: float


class Proxy:
    """The proxy application; ``attach(endpoint)`` before the endpoint starts."""

    def __init__(
        self,
        config: ProxyConfig,
        locations: LocationStore,
        users: UserStore,
        identity: Callable[[], LocalIdentity],
    ) -> None:
        self.config = config
        self.locations = locations
        self.users = users
        self._identity = identity
        self.endpoint: Endpoint | None = None
        self.forwarded = 0

    def attach(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    # -- requests ----------------------------------------------------------------------------
    async def handle_request(self, incoming: IncomingRequest) -> None:
        assert self.endpoint is not None, "attach the endpoint first"
        identity = self._identity()
        original = incoming.request
        request = Request(original.method, original.uri, original.headers.copy(), original.body)
        key = loop_key(original)
        own = [self.endpoint.sent_by(a, incoming.source) for a in self.endpoint.listeners]
        if is_loop(original, own, key):
            incoming.respond(482, "Loop Detected")
            return
        pop_own_routes(request, identity)
        targets = await self._targets(request, incoming, identity)
        if targets is None:
            return  # answered already
        self._decrement_max_forwards(request)
        await self._fork(incoming, request, targets, key)

    async def _targets(
        self, request: Request, incoming: IncomingRequest, identity: LocalIdentity
    ) -> list[list[_Target]] | None:
        """The target groups, highest q first; None once a final response was sent."""
        if request.routes:
            return [[_Target(request.uri, None, None, (), 1.0)]]
        try:
            uri = request.request_uri
        except SipParseError as error:
            incoming.respond(400, f"Bad Request-URI: {error.reason}"[:100])
            return None
        direct = [[_Target(request.uri, None, None, (), 1.0)]]
        if incoming.in_dialog:
            return direct  # the remote target of the dialog (§16.5: no location look-up)
        if identity.serves(uri):
            assert isinstance(uri, SipUri)
            return self._registered_targets(uri, incoming)
        if identity.is_this_proxy(uri):
            incoming.respond(404, "Not Found")
            return None
        if not self._from_local(request, identity):
            # Neither for a user of ours nor from one: no open relay.
            incoming.respond(403, "Relaying Denied")
            return None
        return direct

    def _registered_targets(
        self, uri: SipUri, incoming: IncomingRequest
    ) -> list[list[_Target]] | None:
        aor = f"{uri.user}@{uri.host.lower()}"
        bindings = self.locations.lookup(aor, time.time())
        if not bindings:
            known = self.users.get_user(uri.user or "", uri.host.lower()) is not None
            if known:
                incoming.respond(
                    480,
                    "Temporarily Unavailable",
                    headers=[("Reason", 'Q.850;cause=20;text="USER_NOT_REGISTERED"')],
                )
            else:
                incoming.respond(
                    404,
                    "Not Found",
                    headers=[("Reason", 'Q.850;cause=1;text="UNALLOCATED_NUMBER"')],
                )
            return None
        groups: dict[float, list[_Target]] = {}
        for binding in bindings:
            target = _binding_target(binding)
            if target is not None:
                groups.setdefault(target.q, []).append(target)
        return [groups[q] for q in sorted(groups, reverse=True)]

    @staticmethod
    def _from_local(request: Request, identity: LocalIdentity) -> bool:
        try:
            uri = request.from_.uri
        except SipParseError:
            return False
        return isinstance(uri, SipUri) and uri.host.lower() in identity.domains

    @staticmethod
    def _decrement_max_forwards(request: Request) -> None:
        max_forwards = request.max_forwards
        request.headers.set("Max-Forwards", str(69 if max_forwards is None else max_forwards - 1))

    # -- forwarding ----------------------------------------------------------------------------
    async def _fork(
        self, incoming: IncomingRequest, request: Request, groups: list[list[_Target]], key: str
    ) -> None:
        endpoint = self.endpoint
        assert endpoint is not None
        finals: list[Response] = []
        answered = False
        branches: list[ClientRequest] = []

        def cancel_all() -> None:
            for branch in branches:
                branch.cancel('SIP;cause=487;text="Request terminated"')

        incoming.on_cancel = lambda _incoming: cancel_all()
        for group in groups:
            clients = [await self._forward(incoming, request, target, key) for target in group]
            branches.extend(c for c in clients if c is not None)
            results = await asyncio.gather(
                *(self._relay(incoming, c, branches) for c in clients if c is not None)
            )
            finals.extend(r for r in results if r is not None and r.status_code >= 300)
            answered = any(r is not None and 200 <= r.status_code < 300 for r in results)
            if answered or incoming.cancelled or any(r.status_code >= 600 for r in finals):
                break
        if not answered and incoming.final is None:
            if not finals:
                incoming.respond(408, "Request Timeout")
                return
            best = best_response(finals)
            if best.status_code == 503:
                incoming.respond(500, "Server Internal Error")  # §16.7 step 6
            else:
                incoming.forward(best)

    async def _forward(
        self, incoming: IncomingRequest, request: Request, target: _Target, key: str
    ) -> ClientRequest | None:
        endpoint = self.endpoint
        assert endpoint is not None
        copy = Request(request.method, target.uri, request.headers.copy(), request.body)
        for route in reversed(target.path):
            copy.headers.prepend("Route", route)
        destination = target.destination or self._numeric_next_hop(copy)
        if destination is None:
            resolved = await endpoint.resolve(copy)
            if not resolved:
                return None
            destination = resolved[0]
        # A binding stored before a restart may name a listener that is gone: any
        # listener of the right transport does then.
        local = target.local if target.local in endpoint.listeners else None
        try:
            if copy.method in _DIALOG_CREATING and not incoming.in_dialog:
                self._record_route(copy, incoming, destination, local)
            endpoint.listener_address(destination, local)
        except TransportError as error:
            logger.info("cannot forward %s to %s: %s", copy.method, destination, error)
            return None  # this branch only; the others go on (§16.7 step 6 if none)
        self.forwarded += 1
        return endpoint.send_request(copy, destination, local=local, loop_key=key)

    def _record_route(
        self,
        request: Request,
        incoming: IncomingRequest,
        destination: Address,
        local: Address | None,
    ) -> None:
        """§16.6 step 4; RFC 5658 double Record-Route when the transports differ."""
        endpoint = self.endpoint
        assert endpoint is not None
        inbound = record_route_uri(
            endpoint.sent_by(incoming.local, incoming.source), incoming.local.transport
        )
        outbound_local = endpoint.listener_address(destination, local)
        outbound = record_route_uri(
            endpoint.sent_by(outbound_local, destination), outbound_local.transport
        )
        if outbound != inbound:
            request.headers.prepend("Record-Route", inbound)
            request.headers.prepend("Record-Route", outbound)
        elif self.config.record_route:
            request.headers.prepend("Record-Route", inbound)

    async def _relay(
        self, incoming: IncomingRequest, client: ClientRequest, branches: list[ClientRequest]
    ) -> Response | None:
        """Pass one branch's responses up; its final response (None if cancelled)."""
        client.on_late_response = lambda response: self._forward_late(incoming, response)
        timeout = self.config.call_timeout if client.request.method == "INVITE" else None
        try:
            async with asyncio.timeout(timeout):
                async for response in client:
                    remove_first_value(response.headers, "via")
                    code = response.status_code
                    if code == 100:
                        continue  # hop by hop: ours went up already
                    if code < 300:
                        incoming.forward(response)
                    if 200 <= code < 300:
                        for other in branches:
                            if other is not client:
                                other.cancel('SIP;cause=200;text="Call completed elsewhere"')
                    if code >= 200:
                        return response
        except TimeoutError:
            client.cancel('SIP;cause=408;text="Timer C"')
            return None
        return None

    def _forward_late(self, incoming: IncomingRequest, response: Response) -> None:
        if 200 <= response.status_code < 300 and response.headers.count("via") > 1:
            remove_first_value(response.headers, "via")
            incoming.forward(response)

    # -- what has no transaction ----------------------------------------------------------
    def handle_ack(self, request: Request, source: Address) -> None:
        """An ACK for a 2xx: forward it along its route, statelessly (§16.11)."""
        if self.endpoint is None:
            return
        ack = Request(request.method, request.uri, request.headers.copy(), request.body)
        if pop_own_routes(ack, self._identity()) == 0 and not ack.routes:
            identity = self._identity()
            try:
                if identity.is_this_proxy(ack.request_uri):
                    return  # an ACK for a response of our own
            except SipParseError:
                return
        self._decrement_max_forwards(ack)
        destination = self._numeric_next_hop(ack)
        if destination is not None:
            self.endpoint.send_ack(ack, destination)  # no look-up, no task
            return
        asyncio.get_running_loop().create_task(self._send_ack(ack))

    @staticmethod
    def _numeric_next_hop(request: Request) -> Address | None:
        routes = request.routes
        uri = routes[0].uri if routes else request.request_uri
        return numeric_target(uri) if isinstance(uri, SipUri) else None

    async def _send_ack(self, ack: Request) -> None:
        assert self.endpoint is not None
        targets = await self.endpoint.resolve(ack)
        if targets:
            self.endpoint.send_ack(ack, targets[0])

    def handle_stray_response(self, response: Response, source: Address) -> None:
        """A 2xx retransmission after the client transaction ended: up by Via (§16.11)."""
        if self.endpoint is None or not 200 <= response.status_code < 300:
            return
        vias = response.vias
        if len(vias) < 2:
            return
        remove_first_value(response.headers, "via")
        self.endpoint.send_stateless(response, via_destination(vias[1]))


def _binding_target(binding: Binding) -> _Target | None:
    try:
        contact = parse_name_addr(binding.contact, header="Contact")
    except SipParseError:
        return None
    return _Target(
        uri=str(contact.uri),
        destination=reach_address(binding),
        local=binding.local,
        path=binding.path,
        q=binding.q if binding.q is not None else 1.0,
    )
