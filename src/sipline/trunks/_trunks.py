"""The trunk layer at run time: registrations, outbound b-legs, inbound recognition.

``Trunks`` is built from the checked config (``parse_trunks``) and

- keeps each ``register = true`` trunk registered (``start(endpoint)`` runs one
  asyncio task per trunk around its sans-I/O ``TrunkRegistration``; ``stop()``
  unregisters);
- places the b-legs of the dialplan's ``trunk/NAME/NUMBER`` targets for the B2BUA
  (``start_legs``, the B2BUA's ``TrunkDialer``);
- recognises requests that come from a trunk (``inbound``): from one of its
  ``inbound_addresses``, or from the registrar of a registered trunk.  Those are not
  challenged, and their dialed number (DID) is normalised for the dialplan;
- reports each trunk's state to the admin API (``trunk_status``, a ``TrunkDirectory``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sipline.admin import TrunkInfo
from sipline.b2bua import CallerId, Failure, Leg, contact_for
from sipline.endpoint import Endpoint, IncomingRequest
from sipline.routing import HangupCause, Target
from sipline.sip import Address, Request, SipParseError, SipUri
from sipline.transport import TransportError
from sipline.trunks._config import TrunkConfig
from sipline.trunks._outbound import LegSettings, trunk_destination, trunk_leg
from sipline.trunks._registration import (
    RegistrationState,
    RegistrationTimers,
    TrunkRegistration,
)

if TYPE_CHECKING:
    from sipline.b2bua import B2bua, Call

__all__ = ["Trunks", "normalise_did"]

logger = logging.getLogger("sipline.trunks")

#: Seconds ``stop()`` waits for the provider's answer to each unREGISTER.
_UNREGISTER_WAIT = 2.0


class Trunks:
    """Every configured trunk, its registration and its calls."""

    def __init__(
        self, trunks: Iterable[TrunkConfig], *, timers: RegistrationTimers | None = None
    ) -> None:
        self.trunks: dict[str, TrunkConfig] = {trunk.name: trunk for trunk in trunks}
        self.timers = timers or RegistrationTimers()
        self.registrations: dict[str, TrunkRegistration] = {}
        #: Where each registration was last sent (the source of the provider's calls).
        self.registrars: dict[str, Address] = {}
        self._endpoint: Endpoint | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # -- life cycle ---------------------------------------------------------------------
    def start(self, endpoint: Endpoint) -> None:
        """Start registering the trunks that register (the endpoint is started)."""
        self._endpoint = endpoint
        for trunk in self.trunks.values():
            if not trunk.register:
                continue
            try:
                registration = self._registration(endpoint, trunk)
            except TransportError as error:
                logger.error("trunk %s cannot register: %s", trunk.name, error)
                continue
            self.registrations[trunk.name] = registration
            task = asyncio.create_task(self._keep_registered(endpoint, registration))
            self._tasks[trunk.name] = task

    def _registration(self, endpoint: Endpoint, trunk: TrunkConfig) -> TrunkRegistration:
        destination = trunk_destination(trunk)
        probe = destination or Address(trunk.transport, "0.0.0.0", trunk.default_port)  # noqa: S104
        local = endpoint.transport.listener_for(probe).local_address
        sent_by = endpoint.sent_by(local, destination or local)
        contact = contact_for(trunk.username, sent_by, trunk.transport)
        return TrunkRegistration(trunk, contact, timers=self.timers)

    async def stop(self) -> None:
        """Stop refreshing and unregister (Expires: 0) where registered."""
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        endpoint = self._endpoint
        waits = []
        for name, registration in self.registrations.items():
            request = registration.stop(time.time())
            if request is not None and endpoint is not None:
                client = endpoint.send_request(request, self.registrars.get(name))
                waits.append(asyncio.wait_for(client.final_response(), _UNREGISTER_WAIT))
        await asyncio.gather(*waits, return_exceptions=True)

    async def _keep_registered(self, endpoint: Endpoint, registration: TrunkRegistration) -> None:
        """Drive one registration: send what it asks, sleep until its next deadline."""
        trunk = registration.trunk
        destination = trunk_destination(trunk)
        request: Request | None = registration.start(time.time())
        while True:
            while request is not None:
                client = endpoint.send_request(request, destination)
                response = await client.final_response()
                if client.destination is not None:
                    self.registrars[trunk.name] = client.destination
                request = registration.receive_response(response, time.time())
                self._log_state(registration, response.status_code)
            deadline = registration.next_deadline()
            if deadline is None:
                return
            await asyncio.sleep(max(0.0, deadline - time.time()))
            request = registration.handle_timer(time.time())

    @staticmethod
    def _log_state(registration: TrunkRegistration, status: int) -> None:
        name = registration.trunk.name
        if registration.state is RegistrationState.REGISTERED:
            logger.info("trunk %s registered (%d s)", name, registration.expires)
        elif registration.state is RegistrationState.FAILED:
            logger.warning(
                "trunk %s: registration failed (%s); retry in %.0f s",
                name,
                registration.last_error,
                max(0.0, (registration.next_deadline() or 0.0) - time.time()),
            )
        else:
            logger.debug("trunk %s: %d, registering again", name, status)

    # -- outbound (the B2BUA's TrunkDialer) -----------------------------------------------
    def start_legs(
        self, b2bua: B2bua, call: Call, target: Target, caller_id: CallerId, offer: bytes
    ) -> list[Leg]:
        trunk = self.trunks.get(target.value)
        if trunk is None:
            logger.warning("%r: no trunk named %r", call, target.value)
            cause = HangupCause.NO_ROUTE_DESTINATION
            call.failures.append(Failure(404, "No Route To Destination", cause, cause.reason))
            return []
        config = b2bua.config
        settings = LegSettings(
            p_asserted_identity=config.send_p_asserted_identity,
            remote_party_id=config.send_remote_party_id,
            offer_100rel=config.offer_100rel,
        )
        try:
            leg = trunk_leg(
                b2bua.endpoint, call.incoming.request, target, trunk, caller_id, offer, settings
            )
        except TransportError as error:
            logger.warning("%r: trunk %s unreachable: %s", call, trunk.name, error)
            cause = HangupCause.NETWORK_OUT_OF_ORDER
            call.failures.append(Failure(503, "Service Unavailable", cause, cause.reason))
            return []
        return [leg]

    # -- inbound --------------------------------------------------------------------------
    def trunk_for_source(self, source: Address) -> TrunkConfig | None:
        """The trunk ``source`` belongs to: one of its inbound_addresses, or the
        registrar of a registered trunk (same host)."""
        for trunk in self.trunks.values():
            if any(entry.matches(source.host, source.port) for entry in trunk.inbound_addresses):
                return trunk
        for name, registrar in self.registrars.items():
            registration = self.registrations.get(name)
            if (
                registration is not None
                and registration.state is RegistrationState.REGISTERED
                and registrar.host == source.host
            ):
                return self.trunks[name]
        return None

    def inbound(self, incoming: IncomingRequest) -> TrunkConfig | None:
        """The trunk a new INVITE comes from (trusted: no challenge), its Request-URI
        user turned into the dialed number (DID) the dialplan routes; None otherwise."""
        request = incoming.request
        if request.method != "INVITE" or incoming.in_dialog:
            return None
        trunk = self.trunk_for_source(incoming.source)
        if trunk is None:
            return None
        try:
            normalise_did(request, trunk)
        except SipParseError:
            return trunk  # the B2BUA answers a bad Request-URI itself
        return trunk

    # -- TrunkDirectory (admin API) -------------------------------------------------------
    def trunk_status(self) -> list[TrunkInfo]:
        out = []
        for trunk in self.trunks.values():
            registration = self.registrations.get(trunk.name)
            registrar = self.registrars.get(trunk.name)
            extra: dict[str, object] = {
                "transport": trunk.transport,
                "register": trunk.register,
                "username": trunk.username,
                "caller_id": trunk.caller_id,
                "inbound_addresses": [str(a) for a in trunk.inbound_addresses],
            }
            if registration is None:
                out.append(
                    TrunkInfo(
                        name=trunk.name,
                        target=f"{trunk.transport}:{trunk.hostport}",
                        state="not_registering" if not trunk.register else "unregistered",
                        extra=extra,
                    )
                )
                continue
            extra["failures"] = registration.failures
            extra["registrar"] = str(registrar) if registrar is not None else None
            out.append(
                TrunkInfo(
                    name=trunk.name,
                    target=f"{trunk.transport}:{trunk.hostport}",
                    state=registration.state.value,
                    detail=registration.last_error or "",
                    expires_at=registration.expires_at,
                    extra=extra,
                )
            )
        return out


def normalise_did(request: Request, trunk: TrunkConfig) -> str:
    """The dialed number of an inbound call, written back into the Request-URI.

    A provider that calls our registration Contact puts our account name in the
    Request-URI and the number in To; then the To user is the DID.  The trunk's
    ``did_prefix_strip`` is removed from its start.
    """
    uri = request.request_uri
    if not isinstance(uri, SipUri):
        return ""
    did = uri.user or ""
    if trunk.register and trunk.username and did == trunk.username:
        to_uri = request.to.uri
        if isinstance(to_uri, SipUri) and to_uri.user:
            did = to_uri.user
    prefix = trunk.did_prefix_strip
    if prefix and did.startswith(prefix) and len(did) > len(prefix):
        did = did[len(prefix) :]
    if did != (uri.user or ""):
        request.uri = str(dataclasses.replace(uri, user=did))
    return did
