"""The running server: store, authentication, registrar and call engine on one endpoint.

``Server(config).run_forever()`` is what ``sipline serve`` runs.  The
``Dispatcher`` is the endpoint's application: REGISTER goes to the registrar,
everything else to the call engine, after digest authentication of
out-of-dialog requests from local users (RFC 3261 §22; the 407 of the
FreeSWITCH flows).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import ipaddress
import json
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from sipline import __version__
from sipline.admin import AdminServer, CallRegistry, WireCounter
from sipline.auth import (
    AuthConfig,
    Authenticator,
    Authorized,
    Blocked,
    BruteForceGuard,
    Challenge,
    NonceCounter,
    NonceFactory,
)
from sipline.b2bua import B2bua, B2buaConfig, MediaFactory, MediaSilence
from sipline.config import Config, ConfigError, load_config
from sipline.endpoint import Endpoint, EndpointConfig, IncomingRequest
from sipline.logcontext import CallIdFilter, CallIdTextFormatter
from sipline.media import (
    BypassMediaSession,
    LocalMedia,
    RelayConfig,
    RtpRelay,
    relay_session_factory,
)
from sipline.messaging import MessageRelay
from sipline.proxy import LocalIdentity, Proxy, ProxyConfig
from sipline.registrar import Registrar, RegistrarConfig
from sipline.routing import parse_dialplan
from sipline.sip import (
    Address,
    Request,
    Response,
    SipParseError,
    SipUri,
    make_response,
    parse_authorization,
)
from sipline.store import SqliteStore, load_or_create_secret, open_store
from sipline.trace import TraceControl, make_trace
from sipline.transaction import TransactionConfig
from sipline.transport import TlsConfig, TransportConfig, parse_listen_spec
from sipline.trunks import Trunks, parse_trunks

logger = logging.getLogger("sipline")

_WILDCARDS = frozenset({"0.0.0.0", "::"})  # noqa: S104 - recognising, not binding


class CallEngine(Protocol):
    """What handles requests other than REGISTER (the B2BUA or the proxy)."""

    async def handle_request(self, incoming: IncomingRequest) -> None: ...

    def handle_ack(self, request: Request, source: Address) -> None: ...

    def handle_stray_response(self, response: Response, source: Address) -> None: ...


class NoCalls:
    """The call engine when none is configured: every call is refused cleanly."""

    async def handle_request(self, incoming: IncomingRequest) -> None:
        if incoming.in_dialog:
            incoming.respond(481)
        else:
            incoming.respond(480, headers=[("Reason", 'Q.850;cause=41;text="NO_CALL_ENGINE"')])

    def handle_ack(self, request: Request, source: Address) -> None:
        pass

    def handle_stray_response(self, response: Response, source: Address) -> None:
        pass


class Dispatcher:
    """The endpoint's application: authentication, then registrar or call engine."""

    def __init__(
        self,
        *,
        registrar: Registrar,
        authenticator: Authenticator,
        calls: CallEngine,
        domains: Callable[[], frozenset[str]],
        challenge_invites: bool,
        messages: MessageRelay | None = None,
        from_trunk: Callable[[IncomingRequest], object | None] | None = None,
    ) -> None:
        self.registrar = registrar
        self.authenticator = authenticator
        self.calls = calls
        self._domains = domains
        self._challenge_invites = challenge_invites
        #: Out-of-dialog MESSAGE (RFC 3428) goes here when set, after the same 407.
        self.messages = messages
        #: The trunk an INVITE comes from (``Trunks.inbound``: trusted, its DID
        #: normalised for the dialplan), or None; None: no trunks configured.
        self.from_trunk = from_trunk

    #: Set while the server shuts down: new calls are refused with 503.
    draining = False

    async def handle_request(self, incoming: IncomingRequest) -> None:
        request = incoming.request
        if self.draining and not incoming.in_dialog and request.method == "INVITE":
            incoming.respond(503, "Service Unavailable", headers=[("Retry-After", "30")])
            return
        if request.method == "REGISTER":
            reply = self.registrar.decide(request, incoming.source, incoming.local, time.time())
            if reply is not None:
                incoming.respond(reply.status_code, reply.reason, headers=reply.headers)
            return
        if self.from_trunk is not None and self.from_trunk(incoming) is not None:
            await self.calls.handle_request(incoming)  # a provider's call: not challenged
            return
        if not incoming.in_dialog and self._challenge_invites and self._from_local_user(request):
            try:
                result = self.authenticator.check(
                    request,
                    source=incoming.source,
                    realm=self._realm(request),
                    proxy=True,
                    now=time.time(),
                )
            except SipParseError as error:
                incoming.respond(400, f"Bad credentials: {error.reason}"[:120])
                return
            if isinstance(result, Challenge):
                incoming.respond(result.status_code, result.reason, headers=result.headers)
                return
            if isinstance(result, Blocked):
                if result.respond:
                    incoming.respond(result.status_code, result.reason)
                return
            if not isinstance(result, Authorized):
                incoming.respond(result.status_code, result.reason)
                return
            consume_credentials(request, self._realm(request))
            if self.messages is not None and request.method == "MESSAGE":
                aor = None if result.user is None else result.user.aor
                await self.messages.handle(incoming, authenticated=aor)
                return
            if isinstance(self.calls, B2bua) and result.user is not None:
                await self.calls.handle_request(incoming, authenticated=result.user.aor)
                return
        if self.messages is not None and request.method == "MESSAGE" and not incoming.in_dialog:
            await self.messages.handle(incoming)
            return
        await self.calls.handle_request(incoming)

    def answer_statelessly(
        self, request: Request, source: Address, local: Address
    ) -> Response | None:
        """A REGISTER without credentials is challenged without a transaction
        (``Registrar.answer_statelessly``); anything else: None."""
        if request.method != "REGISTER":
            return None
        reply = self.registrar.answer_statelessly(request, source, local, time.time())
        if reply is None:
            return None
        return make_response(request, reply.status_code, reply.reason, headers=reply.headers)

    def _from_local_user(self, request: Request) -> bool:
        """Requests whose From is in one of our domains must prove who they are."""
        try:
            uri = request.from_.uri
        except SipParseError:
            return True
        return not isinstance(uri, SipUri) or uri.host.lower() in self._domains()

    def _realm(self, request: Request) -> str:
        uri = request.from_.uri
        return uri.host.lower() if isinstance(uri, SipUri) else "sipline"

    def handle_ack(self, request: Request, source: Address) -> None:
        self.calls.handle_ack(request, source)

    def handle_stray_response(self, response: Response, source: Address) -> None:
        self.calls.handle_stray_response(response, source)


def consume_credentials(request: Request, realm: str) -> None:
    """Drop the Proxy-Authorization this server checked, so it is not passed on to
    the next hop (credentials for other realms stay, RFC 3261 §22.3)."""
    values = request.headers.get_all("proxy-authorization")
    if not values:
        return
    keep = []
    for value in values:
        try:
            credentials = parse_authorization(value, header="Proxy-Authorization")
        except SipParseError:
            continue
        if credentials is None or credentials.realm.lower() != realm:
            keep.append(value)
    if len(keep) != len(values):
        request.headers.remove("proxy-authorization")
        for value in keep:
            request.headers.add("Proxy-Authorization", value)


def local_addresses(listen_hosts: list[str]) -> frozenset[str]:
    """The addresses this host answers on: the listeners', or every interface's for
    wildcard listeners (plus loopback and the host name)."""
    hosts = {h for h in listen_hosts if h not in _WILDCARDS}
    if any(h in _WILDCARDS for h in listen_hosts):
        hosts.update({"127.0.0.1", "::1", "localhost"})
        name = socket.gethostname()
        hosts.add(name.lower())
        try:
            for info in socket.getaddrinfo(name, None):
                hosts.add(str(info[4][0]))
        except OSError:
            pass
    return frozenset(h.lower() for h in hosts)


def _primary_address(wildcard: str) -> str:
    """An address of this host to put in SDP when the relay binds a wildcard (set
    ``server.advertised_host`` behind NAT): a non-loopback one of its name, else loopback."""
    version = ipaddress.ip_address(wildcard).version
    for text in sorted(local_addresses([wildcard])):
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue  # the host name
        if address.version == version and not address.is_loopback:
            return text
    return "::1" if version == 6 else "127.0.0.1"


class Server:
    """Everything ``sipline serve`` runs, started and stopped as one."""

    def __init__(self, config: Config, *, overrides: dict[str, Any] | None = None) -> None:
        self.config = config
        #: Command-line values, re-applied over the file on reload.
        self._overrides = overrides or {}
        self.data_dir = Path(config.server.data_dir)
        self.store: SqliteStore | None = None
        self.endpoint: Endpoint | None = None
        self.trace: TraceControl | None = None
        self.admin: AdminServer | None = None
        self.dispatcher: Dispatcher | None = None
        self.calls: CallEngine | None = None
        #: The RTP relay (``[media] mode = "relay"`` in B2BUA mode).
        self.relay: RtpRelay | None = None
        #: Trunks to providers (``[[trunks]]``): registrations, outbound and inbound calls.
        self.trunks = Trunks(parse_trunks(config.trunks))
        #: Requests by method and responses by code, for /metrics.
        self.wire = WireCounter()
        self.domains: frozenset[str] = frozenset()
        self.identity = LocalIdentity(frozenset(), frozenset())
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        config = self.config
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = store = open_store(self.data_dir)
        secret = load_or_create_secret(self.data_dir)
        specs = tuple(parse_listen_spec(s) for s in config.server.listen)
        self.domains = frozenset(d.lower() for d in config.server.domains) or local_addresses(
            [s.host for s in specs]
        )
        auth = config.auth
        authenticator = Authenticator(
            store,
            NonceFactory(secret, lifetime=auth.nonce_lifetime),
            AuthConfig(
                trusted_networks=auth.trusted_networks,
                algorithms=auth.algorithms,
                md5_only_agents=auth.md5_only_agents,
            ),
            guard=BruteForceGuard(
                threshold=auth.max_failures, window=auth.failure_window, block_time=auth.block_time
            ),
            counter=NonceCounter(not_before=time.time()),
        )
        registrar = self._make_registrar(store, authenticator)
        self.calls = calls = self._make_call_engine(store)
        self.dispatcher = dispatcher = Dispatcher(
            registrar=registrar,
            authenticator=authenticator,
            calls=calls,
            domains=lambda: self.domains,
            challenge_invites=auth.invite,
            messages=MessageRelay(None, store, users=store) if isinstance(calls, B2bua) else None,
            from_trunk=self.trunks.inbound if self.trunks.trunks else None,
        )
        tls = TlsConfig(
            cert_file=Path(config.transport.tls_certificate)
            if config.transport.tls_certificate
            else None,
            key_file=Path(config.transport.tls_private_key)
            if config.transport.tls_private_key
            else None,
            data_dir=self.data_dir,
        )
        endpoint_config = EndpointConfig(
            transport=TransportConfig(
                listen=specs,
                max_message_size=config.transport.max_message_size,
                idle_timeout=config.transport.idle_timeout,
                tls=tls,
            ),
            transactions=TransactionConfig(
                t1=config.transactions.t1, t2=config.transactions.t2, t4=config.transactions.t4
            ),
            allowed_methods=(
                "INVITE",
                "ACK",
                "CANCEL",
                "BYE",
                "OPTIONS",
                "REGISTER",
                "INFO",
                "UPDATE",
                "PRACK",
                "MESSAGE",
                "REFER",
                "NOTIFY",
            ),
            advertised_host=config.server.advertised_host or None,
            user_agent=config.server.user_agent,
            proxy=config.server.mode == "proxy",
        )
        guard = authenticator.guard
        self.trace = make_trace(config.trace, self.data_dir)
        self.endpoint = Endpoint(
            endpoint_config,
            dispatcher,
            trace=[self.trace, self.wire],
            is_blocked=lambda source: guard.blocked(source.host, time.time()),
            answer_statelessly=dispatcher.answer_statelessly,
        )
        if isinstance(calls, Proxy | B2bua):
            calls.attach(self.endpoint)
        if dispatcher.messages is not None:
            dispatcher.messages.attach(self.endpoint)
        await self.endpoint.start()
        self.identity = self._local_identity(self.endpoint)
        self.trunks.start(self.endpoint)
        if config.admin.listen != "off":
            self.admin = AdminServer(
                self,
                config.admin.listen,
                self.data_dir,
                trace=self.trace,
                wire=self.wire,
                calls=calls if isinstance(calls, CallRegistry) else None,
                media_stats=self.relay,
                reload=self.reload,
                auth_stats=authenticator.guard,
                trunks=self.trunks,
            )
            await self.admin.start()
        self._tasks.append(asyncio.create_task(self._expire_bindings()))
        self._announce()

    def _make_registrar(self, store: SqliteStore, authenticator: Authenticator) -> Registrar:
        registrar_config = RegistrarConfig(
            domains=frozenset(self.config.server.domains),
            local_addresses=self.domains,
            default_expires=self.config.registrar.default_expires,
            min_expires=self.config.registrar.min_expires,
            max_expires=self.config.registrar.max_expires,
        )
        return Registrar(
            registrar_config, store, authenticator if self.config.auth.register else None
        )

    def _make_call_engine(self, store: SqliteStore) -> CallEngine:
        if self.config.server.mode == "proxy":
            return Proxy(
                ProxyConfig(call_timeout=float(self.config.calls.call_timeout)),
                store,
                store,
                lambda: self.identity,
            )
        b2bua = B2bua(
            None,
            store,
            parse_dialplan(self.config.dialplan),
            store,
            B2buaConfig(call_timeout=float(self.config.calls.call_timeout)),
            users=store,
            media=self._make_media(lambda silence: b2bua.media_timed_out(silence)),
        )
        b2bua.trunks = self.trunks
        if self.relay is not None:  # the dialplan's echo/playback/tone/ivr/record
            b2bua.local_media = LocalMedia.from_relay(
                self.relay,
                sounds=self.data_dir / "sounds",
                recordings=self.data_dir / "recordings",
            )
        return b2bua

    def _make_media(self, on_timeout: Callable[[MediaSilence], None]) -> MediaFactory:
        """``[media]``: ``relay`` anchors each call's RTP on our ports (bound on the
        first listener's address, advertised as ``server.advertised_host`` when set);
        ``bypass`` leaves the SDP alone."""
        media = self.config.media
        if media.mode == "bypass":
            return BypassMediaSession
        host = parse_listen_spec(self.config.server.listen[0]).host
        advertised = self.config.server.advertised_host or None
        if advertised is None and host in _WILDCARDS:
            advertised = _primary_address(host)
        self.relay = RtpRelay(
            RelayConfig(
                address=host,
                advertised_address=advertised,
                rtp_ports=media.rtp_ports,
                media_timeout=float(media.media_timeout),
            )
        )
        return relay_session_factory(self.relay, on_timeout)

    def _local_identity(self, endpoint: Endpoint) -> LocalIdentity:
        """Our (host, port) pairs: the listeners', with wildcards spelled out."""
        addresses: set[tuple[str, int]] = set()
        for listener in endpoint.listeners:
            hosts = self.domains if listener.host in _WILDCARDS else {listener.host}
            addresses.update((host, listener.port) for host in hosts)
        return LocalIdentity(domains=self.domains, addresses=frozenset(addresses))

    def _announce(self) -> None:
        assert self.endpoint is not None
        assert self.store is not None
        for address in self.endpoint.listeners:
            print(f"sipline {__version__}: listening on {address}", flush=True)
        print(f"sipline: data in {self.data_dir.resolve()}", flush=True)
        print(f"sipline: domains: {', '.join(sorted(self.domains))}", flush=True)
        if not self.store.count_users():
            domain = next(iter(sorted(self.domains)), "example.com")
            print(
                "sipline: no users yet; add one with: "
                f"sipline user add 1000@{domain} --data {self.data_dir}",
                flush=True,
            )

    async def _expire_bindings(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.store is not None:
                for binding in self.store.expire(time.time()):
                    logger.info("registration of %s at %s expired", binding.aor, binding.contact)

    async def stop(self) -> None:
        """Graceful shutdown: refuse new calls, give calls up time to end, flush state."""
        if self.dispatcher is not None and isinstance(self.calls, B2bua):
            self.dispatcher.draining = True
            deadline = time.monotonic() + self.config.server.shutdown_grace
            if self.calls.calls:
                logger.info(
                    "waiting up to %d s for %d call(s) to end",
                    self.config.server.shutdown_grace,
                    len(self.calls.calls),
                )
            while self.calls.calls and time.monotonic() < deadline:  # noqa: ASYNC110 - calls end on network events; a 0.2 s poll at shutdown is enough
                await asyncio.sleep(0.2)
            await self.calls.close()
        if self.admin is not None:
            await self.admin.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.trunks.stop()  # unREGISTER while the endpoint still runs
        if self.endpoint is not None:
            await self.endpoint.close()
        if self.relay is not None:
            await self.relay.aclose()  # RTP ports of calls still up at the deadline
        if self.trace is not None:
            self.trace.close()
        if self.store is not None:
            self.store.close()

    async def reload(self) -> dict[str, Any]:
        """Re-read the config file and apply the dialplan without dropping calls.

        A broken file is refused (``ConfigError``, one line per problem) and the
        running configuration stays.
        """
        if self.config.source is None:
            return {"dialplan": "unchanged (no config file)"}
        fresh = load_config(self.config.source, server=self._overrides)
        rules = len(fresh.dialplan)
        if isinstance(self.calls, B2bua):
            self.calls.reload(parse_dialplan(fresh.dialplan))
        self.config = dataclasses.replace(self.config, dialplan=fresh.dialplan)
        logger.info("configuration reloaded: %d dialplan rule(s)", rules)
        return {"dialplan": f"{rules} rule(s)"}

    def _reload_on_signal(self) -> None:
        async def run() -> None:
            try:
                await self.reload()
            except ConfigError as error:
                for problem in error.problems:
                    logger.error("reload refused, keeping the running configuration: %s", problem)

        self._tasks.append(asyncio.create_task(run()))

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload_on_signal)
        await self.start()
        try:
            await self._stop.wait()
        finally:
            logger.info("shutting down")
            await self.stop()


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        call_id = getattr(record, "call_id", None)
        if call_id is not None:
            entry["call_id"] = call_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str, form: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(CallIdFilter())
    if form == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(CallIdTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("sipline")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def tune_garbage_collector() -> None:
    """Fewer, cheaper collections for a server that keeps thousands of live transactions.

    A UDP server transaction lives 32 s after its final response (Timer J), so at
    1,000 requests/s some 30,000 are alive: full collections walking them paused the
    server for 150-300 ms and made phones retransmit.  SIP messages form almost no
    reference cycles, so collecting young objects 100 times less often costs little
    memory; what exists at start-up (modules, config) is frozen out of every collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(70_000, 20, 100)
