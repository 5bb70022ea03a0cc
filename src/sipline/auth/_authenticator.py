"""The digest authentication policy: who is challenged, how, and what a failure gets.

RFC 3261 §22 (401 + WWW-Authenticate for a registrar, 407 + Proxy-Authenticate for
a proxy or B2BUA), RFC 7616 (qop=auth, stale nonces, nonce-count) and RFC 8760
(SHA-256 offered before MD5, one challenge header per algorithm).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from dataclasses import dataclass, field

from sipline.auth._guard import BruteForceGuard
from sipline.auth._nonce import NonceCounter, NonceStatus, NonceValidator
from sipline.sip import (
    Address,
    DigestChallenge,
    DigestCredentials,
    Request,
    SipParseError,
    compute_ha1,
    parse_authorization,
    parse_uri,
    uris_equivalent,
    verify_credentials,
)
from sipline.store import User, UserStore

__all__ = [
    "AuthConfig",
    "AuthResult",
    "Authenticator",
    "Authorized",
    "Blocked",
    "Challenge",
    "Forbidden",
]

_LOG = logging.getLogger("sipline.auth")
_ALGORITHMS = ("SHA-256", "MD5")
#: Stands for the nonce in a rendered challenge.
_NONCE_SLOT = "sipline-nonce-slot"
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """Authentication settings.

    ``algorithms``: offered in this order (RFC 8760 §2.4: most preferred first).
    ``trusted_networks``: CIDRs whose requests are never challenged (PBX trunks,
    gateways).  ``open_domains``: domains (= realms) served without
    authentication.  ``respond_when_blocked``: False drops a blocked source's
    requests silently, True answers them with a cheap 403.  ``md5_only_agents``:
    User-Agent prefixes of phones that fail on any challenge but MD5 (baresip
    1.0.0 refuses a 401 that also offers SHA-256): they are offered MD5 alone.
    """

    algorithms: tuple[str, ...] = _ALGORITHMS
    md5_only_agents: tuple[str, ...] = ("baresip",)
    trusted_networks: tuple[str, ...] = ()
    open_domains: frozenset[str] = frozenset()
    respond_when_blocked: bool = False
    _networks: tuple[IpNetwork, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        algorithms = tuple(a.upper() for a in self.algorithms)
        unknown = [a for a in algorithms if a not in _ALGORITHMS]
        if unknown or not algorithms:
            raise ValueError(
                f"digest algorithms must be among SHA-256, MD5; got {', '.join(self.algorithms)}"
            )
        networks: list[IpNetwork] = []
        for text in self.trusted_networks:
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise ValueError(
                    f"{text!r} is not an address or CIDR network; give e.g. 192.0.2.0/24"
                ) from None
        object.__setattr__(self, "algorithms", algorithms)
        object.__setattr__(self, "open_domains", frozenset(d.lower() for d in self.open_domains))
        object.__setattr__(self, "_networks", tuple(networks))

    def trusts(self, host: str) -> bool:
        if not self._networks:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)


@dataclass(frozen=True, slots=True)
class Authorized:
    """Go ahead.  ``user`` is the authenticated user (None when ``by`` is trusted/open)."""

    user: User | None
    by: str  # "digest", "trusted" or "open"


@dataclass(frozen=True, slots=True)
class Challenge:
    """Answer ``status_code`` (401 or 407) with ``headers`` (one per offered algorithm)."""

    status_code: int
    headers: tuple[tuple[str, str], ...]
    stale: bool = False

    @property
    def reason(self) -> str:
        return "Unauthorized" if self.status_code == 401 else "Proxy Authentication Required"


@dataclass(frozen=True, slots=True)
class Forbidden:
    """Answer 403 Forbidden, nothing more.  ``why`` is for the log, never for the wire."""

    why: str
    status_code: int = 403
    reason: str = "Forbidden"


@dataclass(frozen=True, slots=True)
class Blocked:
    """The source is blocked: drop the request, or answer 403 when ``respond``."""

    respond: bool
    status_code: int = 403
    reason: str = "Forbidden"


AuthResult = Authorized | Challenge | Forbidden | Blocked


class Authenticator:
    """Checks digest credentials of requests against a :class:`UserStore`.

    The realm is the domain of the user (FreeSWITCH's realm = domain): the
    registrar passes the domain of the To AOR, a proxy the domain of the From AOR.
    """

    def __init__(
        self,
        users: UserStore,
        nonces: NonceValidator,
        config: AuthConfig | None = None,
        *,
        guard: BruteForceGuard | None = None,
        counter: NonceCounter | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.users = users
        self.nonces = nonces
        self.config = config if config is not None else AuthConfig()
        self.guard = guard if guard is not None else BruteForceGuard()
        self._challenge_texts: dict[tuple[str, str, bool], str] = {}
        self._md5_only_prefixes = tuple(agent.lower() for agent in self.config.md5_only_agents)
        self.counter = counter if counter is not None else NonceCounter()  # (it has a len)
        self._logger = logger if logger is not None else _LOG
        # Unknown users are checked against a random digest: the same work as a
        # wrong password, so response time does not tell which users exist.
        dummy_password = secrets.token_hex(16)
        self._dummy_ha1 = {
            a: compute_ha1("nobody", "nowhere", dummy_password, a) for a in _ALGORITHMS
        }

    def check(
        self, request: Request, *, source: Address, realm: str, proxy: bool, now: float
    ) -> AuthResult:
        """Judge ``request`` (RFC 3261 §22.1, §22.3); the result says what to answer.

        Raises :class:`SipParseError` (answer 400) for a malformed Digest header.
        """
        host = source.host
        if self.config.trusts(host):
            return Authorized(None, "trusted")
        if self.guard.blocked(host, now):
            return Blocked(self.config.respond_when_blocked)
        realm = realm.lower()
        if realm in self.config.open_domains:
            return Authorized(None, "open")
        credentials = self._credentials(request, realm, proxy)
        if credentials is None or credentials.algorithm.upper() not in self.config.algorithms:
            return self.challenge(realm, proxy=proxy, now=now, request=request)
        status = self.nonces.check(credentials.nonce, realm, now)
        if status is NonceStatus.INVALID:
            return self.challenge(realm, proxy=proxy, now=now, request=request)
        if not _uri_matches(credentials.uri, request):
            # RFC 7616 §3.4.6: the digest-uri must name the Request-URI (not a guess
            # at the password, so not counted as one).
            return Forbidden(f"digest uri {credentials.uri!r} is not the Request-URI")
        user = self.users.get_user(credentials.username, realm)
        algorithm = credentials.algorithm.upper()
        ha1 = user.ha1(algorithm) if user is not None else None
        valid = verify_credentials(
            credentials,
            method=request.method,
            ha1=ha1 if ha1 is not None else self._dummy_ha1[algorithm],
            body=request.body,
        )
        if user is None or ha1 is None or not valid:
            return self._failed(host, credentials.username, realm, user is None, now)
        if status is NonceStatus.STALE:
            # RFC 7616 §3.3: stale=true only with a correct digest for the old nonce.
            return self.challenge(realm, proxy=proxy, now=now, stale=True, request=request)
        nc = credentials.nonce_count if credentials.nonce_count is not None else 1
        if not self.counter.accept(credentials.nonce, nc, self.nonces.issued_at(credentials.nonce)):
            # A replayed (or unknowable) nonce-count: refuse it and hand out a fresh nonce.
            self._logger.info(
                "nonce-count %s replayed for %s@%s from %s", nc, user.user, realm, host
            )
            return self.challenge(realm, proxy=proxy, now=now, stale=True, request=request)
        return Authorized(user, "digest")

    def challenge(
        self,
        realm: str,
        *,
        proxy: bool,
        now: float,
        stale: bool = False,
        request: Request | None = None,
    ) -> Challenge:
        """A 401/407 offering every configured algorithm with qop=auth (RFC 8760 §2.4)
        (MD5 alone to a ``request`` from one of ``md5_only_agents``)."""
        nonce = self.nonces.issue(realm, now)
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        algorithms = self.config.algorithms
        if request is not None and "MD5" in algorithms and self._md5_only(request):
            algorithms = ("MD5",)
        headers = tuple(
            (
                name,
                self._challenge_text(realm, algorithm, stale).replace(
                    f'nonce="{_NONCE_SLOT}"', f'nonce="{nonce}"', 1
                ),
            )
            for algorithm in algorithms
        )
        return Challenge(407 if proxy else 401, headers, stale)

    def _challenge_text(self, realm: str, algorithm: str, stale: bool) -> str:
        """The rendered challenge with a slot for the nonce (one render per realm)."""
        key = (realm, algorithm, stale)
        text = self._challenge_texts.get(key)
        if text is None:
            text = str(DigestChallenge(realm, _NONCE_SLOT, algorithm, ("auth",), stale=stale))
            if len(self._challenge_texts) < 1024:
                self._challenge_texts[key] = text
        return text

    def _md5_only(self, request: Request) -> bool:
        agents = self._md5_only_prefixes
        if not agents:
            return False
        agent = request.headers.get("user-agent")
        return agent is not None and agent.lower().startswith(agents)

    def _credentials(self, request: Request, realm: str, proxy: bool) -> DigestCredentials | None:
        header = "Proxy-Authorization" if proxy else "Authorization"
        for value in request.headers.get_all(header):
            credentials = parse_authorization(value, header=header)
            if credentials is not None and credentials.realm.lower() == realm:
                return credentials
        return None

    def _failed(self, host: str, username: str, realm: str, unknown: bool, now: float) -> Forbidden:
        why = "unknown user" if unknown else "wrong password"
        self._logger.info("authentication failed for %s@%s from %s: %s", username, realm, host, why)
        self.guard.failed(host, f"{username}@{realm}", now)
        return Forbidden(why)


def _uri_matches(digest_uri: str, request: Request) -> bool:
    if digest_uri == request.uri:
        return True
    try:
        return uris_equivalent(parse_uri(digest_uri), request.request_uri)
    except SipParseError:
        return False
