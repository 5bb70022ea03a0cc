"""The registrar (RFC 3261 §10.3): a sans-I/O policy from a REGISTER to its response.

``Registrar.process(request, source, local, now)`` returns the response to send (or
None to send nothing, for a blocked source); the bindings are committed to the
:class:`LocationStore` before it returns, so the 200 OK is only sent for bindings
that survive a restart.  ``handle(incoming)`` is the asyncio adapter for the endpoint.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Protocol

from sipline.auth import Authenticator, Authorized, Blocked, Challenge
from sipline.registrar._config import RegistrarConfig
from sipline.registrar._contacts import (
    IntervalTooBriefError,
    OutOfOrderError,
    RegisterContext,
    changes,
)
from sipline.sip import (
    Address,
    NameAddress,
    RemoteProtocolError,
    Request,
    Response,
    SipUri,
    make_response,
    request_problem,
    safe_reason,
)
from sipline.store import Binding, LocationStore, StoreError

__all__ = ["IncomingRequest", "RegisterReply", "Registrar"]

_LOG = logging.getLogger("sipline.registrar")


class IncomingRequest(Protocol):
    """What the endpoint hands an application: the request and a way to answer it.

    ``respond`` may send at once (``sipline.endpoint``) or return an awaitable.
    """

    @property
    def request(self) -> Request: ...
    @property
    def source(self) -> Address: ...
    @property
    def local(self) -> Address: ...

    def respond(
        self,
        status_code: int,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> object: ...


@dataclass(frozen=True, slots=True)
class RegisterReply:
    """The status, reason and headers (beyond Via/From/To/Call-ID/CSeq) to answer with."""

    status_code: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


class Registrar:
    """Processes REGISTER requests against a location store, with digest authentication.

    ``authenticator`` None registers anyone (tests, closed networks); otherwise the
    realm is the domain of the To AOR and an authenticated user may only register
    their own AOR (§10.3 step 4).
    """

    def __init__(
        self,
        config: RegistrarConfig,
        locations: LocationStore,
        authenticator: Authenticator | None,
        *,
        logger: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self.locations = locations
        self.authenticator = authenticator
        self._logger = logger if logger is not None else _LOG

    def process(
        self, request: Request, source: Address, local: Address, now: float
    ) -> Response | None:
        """The response to ``request`` (a REGISTER), or None to drop it silently."""
        reply = self.decide(request, source, local, now)
        if reply is None:
            return None
        return make_response(request, reply.status_code, reply.reason, headers=reply.headers)

    async def handle(self, incoming: IncomingRequest) -> None:
        """Asyncio adapter: process with the wall clock and answer through the endpoint."""
        reply = self.decide(incoming.request, incoming.source, incoming.local, time.time())
        if reply is not None:
            sent = incoming.respond(reply.status_code, reply.reason, headers=reply.headers)
            if inspect.isawaitable(sent):
                await sent

    def expire(self, now: float) -> list[Binding]:
        """Purge expired bindings (call about once a second); the ones removed."""
        expired = self.locations.expire(now)
        for binding in expired:
            self._logger.info("binding of %s to %s expired", binding.aor, binding.contact)
        return expired

    def decide(
        self, request: Request, source: Address, local: Address, now: float
    ) -> RegisterReply | None:
        """What to answer, without building the response."""
        if request.method != "REGISTER":
            return RegisterReply(405, "Method Not Allowed", (("Allow", "REGISTER"),))
        try:
            return self._decide(request, source, local, now)
        except RemoteProtocolError as exc:
            return RegisterReply(exc.status_hint, safe_reason(str(exc), fallback="Bad Request"))
        except StoreError as exc:
            self._logger.error("cannot store bindings: %s", exc)
            return RegisterReply(500, "Server Internal Error", (("Retry-After", "5"),))

    def answer_statelessly(
        self, request: Request, source: Address, local: Address, now: float
    ) -> RegisterReply | None:
        """The reply to a REGISTER without credentials when it stores nothing: the
        401 challenge (or a refusal) that a stateless UAS gives (RFC 3261 §8.2.7), so
        the first half of every registration costs no server transaction; a
        retransmission simply gets another challenge.  None: the request has
        credentials, or may register without them (a trusted source, an open domain),
        and goes through a transaction and :meth:`decide`."""
        if (
            self.authenticator is None
            or request.method != "REGISTER"
            or request.headers.get("authorization") is not None
        ):
            return None
        try:
            reply = self._screen(request, source, local, now)
        except RemoteProtocolError:
            return None  # decide() words the 400
        return None if reply is _DROP else reply

    def _decide(
        self, request: Request, source: Address, local: Address, now: float
    ) -> RegisterReply | None:
        reply = self._screen(request, source, local, now)
        if reply is not None:
            return None if reply is _DROP else reply
        to_uri = request.to.uri
        assert isinstance(to_uri, SipUri)  # _screen made sure
        return self._bind(request, to_uri.aor, source, local, now)

    def _screen(
        self, request: Request, source: Address, local: Address, now: float
    ) -> RegisterReply | None:
        """Every check before the bindings change (§10.3 steps 1-5); None: go on."""
        problem = request_problem(request)
        if problem is not None:
            return RegisterReply(problem.status_code, problem.reason, problem.headers)
        # §10.3 step 1: the Request-URI names the domain; we do not forward REGISTERs.
        uri = request.request_uri
        if not isinstance(uri, SipUri) or not self.config.serves(uri.host, local.host):
            return RegisterReply(404, "Not Found (domain not served here)")
        to_uri = request.to.uri
        # §10.3 step 5: the To AOR must be valid for the domain.
        if not isinstance(to_uri, SipUri) or to_uri.user is None:
            return RegisterReply(404, "Not Found (To is not a user address)")
        if not self.config.serves(to_uri.host, local.host):
            return RegisterReply(404, "Not Found (domain not served here)")
        return self._authenticate(request, source, to_uri, now)

    def _authenticate(
        self, request: Request, source: Address, to_uri: SipUri, now: float
    ) -> RegisterReply | None:
        """None when the request may go on, else the reply (``_DROP``: send nothing)."""
        if self.authenticator is None:
            return None
        domain = to_uri.host.lower()
        # §10.3 step 3 / §22.4: challenge with 401; realm = the user's domain.
        result = self.authenticator.check(
            request, source=source, realm=domain, proxy=False, now=now
        )
        if isinstance(result, Authorized):
            user = result.user
            # §10.3 step 4: an authenticated user registers only its own AOR.
            if user is not None and (user.user != to_uri.user or user.domain != domain):
                self._logger.info("%s may not register %s", user.aor, to_uri.aor)
                return RegisterReply(403, "Forbidden")
            return None
        if isinstance(result, Challenge):
            return RegisterReply(result.status_code, result.reason, result.headers)
        if isinstance(result, Blocked) and not result.respond:
            return _DROP
        return RegisterReply(result.status_code, result.reason)

    def _bind(
        self, request: Request, aor: str, source: Address, local: Address, now: float
    ) -> RegisterReply:
        contacts = request.contacts
        ctx = RegisterContext(
            aor=aor,
            call_id=request.call_id,
            cseq=request.cseq.number,
            header_expires=request.expires,
            source=source,
            local=local,
            path=tuple(request.headers.values("path")),
            user_agent=request.headers.get("user-agent"),
            now=now,
        )
        existing = {b.key: b for b in self.locations.lookup(aor, now)}
        if any(c.is_star for c in contacts):
            return self._remove_all(contacts, existing, ctx)
        try:
            change = changes(contacts, existing, ctx, self.config)
        except IntervalTooBriefError:
            # §10.3 step 6 / §20.23: 423 with the minimum we accept.
            return RegisterReply(
                423, "Interval Too Brief", (("Min-Expires", str(self.config.min_expires)),)
            )
        except OutOfOrderError:
            return _OUT_OF_ORDER
        kept = (existing.keys() - change.remove) | change.save.keys()
        if len(kept) > self.config.max_bindings:
            return RegisterReply(403, f"Too Many Contacts (at most {self.config.max_bindings})")
        if change.save or change.remove:
            self.locations.update(aor, save=list(change.save.values()), remove=change.remove)
        outbound = change.outbound and "outbound" in _supported(request)
        return self._ok(request, aor, now, outbound=outbound)

    def _remove_all(
        self, contacts: list[NameAddress], existing: dict[str, Binding], ctx: RegisterContext
    ) -> RegisterReply:
        # §10.3 step 6: "*" only alone and with Expires: 0, else 400.
        if len(contacts) != 1 or ctx.header_expires != 0:
            return RegisterReply(
                400, "Bad Request (Contact: * needs Expires: 0 and no other Contact)"
            )
        # §10.3 step 7: even "*" does not undo a newer REGISTER of the same Call-ID.
        if any(b.call_id == ctx.call_id and ctx.cseq <= b.cseq for b in existing.values()):
            return _OUT_OF_ORDER
        if existing:
            self.locations.update(ctx.aor, save=(), remove=existing.keys())
        return RegisterReply(200, "OK", (("Date", _http_date(ctx.now)),))

    def _ok(self, request: Request, aor: str, now: float, *, outbound: bool) -> RegisterReply:
        # §10.3 step 8: the 200 lists every current binding with its expires, and a Date.
        headers = [
            ("Contact", f"{b.contact};expires={b.expires_in(now)}")
            for b in self.locations.lookup(aor, now)
        ]
        headers.append(("Date", _http_date(now)))
        # RFC 3327 §5.3: the Path the registrar stored is returned in the 200.
        if "path" in _supported(request):
            headers += [("Path", value) for value in request.headers.get_all("path")]
        if outbound:
            headers.append(("Require", "outbound"))  # RFC 5626 §6
        return RegisterReply(200, "OK", tuple(headers))


_DROP = RegisterReply(0, "drop")  # a blocked source: no answer at all

# §10.3 step 7 says the request "fails" without naming a code; we answer as §12.2.2
# does for an out-of-order CSeq inside a dialog: 500.
_OUT_OF_ORDER = RegisterReply(500, "Server Internal Error (CSeq out of order)")


def _http_date(now: float) -> str:
    """The Date header value (RFC 3261 §20.17) of ``now``."""
    return _date_of_second(int(now))


@functools.lru_cache(maxsize=4)
def _date_of_second(second: int) -> str:
    """Rendered once per second, not once per REGISTER."""
    return formatdate(second, usegmt=True)


def _supported(request: Request) -> set[str]:
    return {tag.lower() for tag in request.headers.values("supported")}
