"""A trunk's registration at its provider (RFC 3261 §10.2), sans-I/O.

``TrunkRegistration`` builds the REGISTER requests and reads their final responses;
the asyncio runner in ``_trunks.py`` sends them through the endpoint and calls
``handle_timer(now)`` at ``next_deadline()``.  One transition table,
``REGISTRATION_TRANSITIONS``: ``(RegistrationState, RegistrationInput) -> state``.

- A 401/407 is answered once with the trunk's credentials (same Call-ID, CSeq + 1,
  §22.2); a second challenge fails, unless it says ``stale=true`` (RFC 7616 §3.3).
  The challenge is kept: refreshes and the unREGISTER carry credentials for it at
  once (nonce count + 1), as a Sipura/SPA does; a new 401 is answered again.
- A 2xx gives the expiry the registrar granted (our Contact's ``expires``, else the
  Expires header, §10.2.4); the refresh goes out at ``max(expires / 2, expires - 30)``.
- 423 is retried at once with the registrar's Min-Expires (§10.3 step 7).
- Any other failure (timeout: the endpoint's 408) waits a back-off, doubling from
  ``backoff_initial`` to ``backoff_max`` (at least the Retry-After of a 503).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sipline.sip import (
    DigestChallenge,
    LocalProtocolError,
    Request,
    Response,
    SipParseError,
    make_credentials,
    new_call_id,
    new_tag,
)
from sipline.trunks._config import TrunkConfig

__all__ = [
    "REGISTRATION_TRANSITIONS",
    "RegistrationInput",
    "RegistrationState",
    "RegistrationTimers",
    "TrunkRegistration",
    "refresh_delay",
]


class RegistrationState(enum.Enum):
    UNREGISTERED = "unregistered"
    REGISTERING = "registering"
    REGISTERED = "registered"
    FAILED = "failed"


class RegistrationInput(enum.Enum):
    SEND = "REGISTER sent (first, refresh or retry)"
    CHALLENGED = "401/407 answered with credentials"
    ACCEPTED = "2xx"
    REJECTED = "failure response or timeout"
    STOPPED = "stop (unREGISTER sent or nothing to do)"


_S = RegistrationState
_I = RegistrationInput
REGISTRATION_TRANSITIONS: dict[tuple[RegistrationState, RegistrationInput], RegistrationState] = {
    (_S.UNREGISTERED, _I.SEND): _S.REGISTERING,
    (_S.REGISTERED, _I.SEND): _S.REGISTERING,  # the refresh
    (_S.FAILED, _I.SEND): _S.REGISTERING,  # the retry after the back-off
    (_S.REGISTERING, _I.SEND): _S.REGISTERING,  # 423: again with Min-Expires
    (_S.REGISTERING, _I.CHALLENGED): _S.REGISTERING,
    (_S.REGISTERING, _I.ACCEPTED): _S.REGISTERED,
    (_S.REGISTERING, _I.REJECTED): _S.FAILED,
    (_S.UNREGISTERED, _I.STOPPED): _S.UNREGISTERED,
    (_S.REGISTERING, _I.STOPPED): _S.UNREGISTERED,
    (_S.REGISTERED, _I.STOPPED): _S.UNREGISTERED,
    (_S.FAILED, _I.STOPPED): _S.UNREGISTERED,
}


@dataclass(frozen=True, slots=True)
class RegistrationTimers:
    backoff_initial: float = 5.0
    backoff_max: float = 300.0


def refresh_delay(expires: int) -> float:
    """Seconds after a 2xx when the refresh goes: half-way, or 30 s before expiry."""
    return max(expires / 2, expires - 30.0)


class TrunkRegistration:
    """The registration of one trunk: its REGISTERs, state, expiry and last error."""

    def __init__(
        self,
        trunk: TrunkConfig,
        contact: str,
        *,
        timers: RegistrationTimers | None = None,
        call_id: str | None = None,
    ) -> None:
        self.trunk = trunk
        self.contact = contact  # "<sip:user@host:port>" as the registrar should reach us
        self.timers = timers or RegistrationTimers()
        self.state = RegistrationState.UNREGISTERED
        self.call_id = call_id or new_call_id()  # §10.2: one Call-ID for every REGISTER
        self.from_tag = new_tag()
        self.cseq = 0
        self.expires = trunk.register_expires  # what we ask for
        self.expires_at: float | None = None
        self.failures = 0
        self.last_error: str | None = None
        self._deadline: float | None = None
        self._challenged = False  # credentials sent for the current attempt
        #: The registrar's last challenge, answered again (nc + 1) on refreshes and the
        #: unREGISTER (RFC 7616 §3.4.5) so they need no new round trip.
        self._challenge: tuple[str, DigestChallenge] | None = None
        self._nc = 0

    # -- state --------------------------------------------------------------------------
    def _input(self, what: RegistrationInput) -> None:
        after = REGISTRATION_TRANSITIONS.get((self.state, what))
        if after is None:
            raise LocalProtocolError(f"registration in state {self.state.name} cannot {what.name}")
        self.state = after

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` has something to do (refresh or retry)."""
        return self._deadline

    def handle_timer(self, now: float) -> Request | None:
        """The REGISTER to send when the refresh or the retry is due, else None."""
        if self._deadline is None or now < self._deadline:
            return None
        if self.state not in (RegistrationState.REGISTERED, RegistrationState.FAILED):
            return None
        return self.start(now)

    def start(self, now: float) -> Request:
        """Begin an attempt (first registration, refresh or retry)."""
        self._input(RegistrationInput.SEND)
        self._deadline = None
        self._challenged = False
        return self._register(self.expires)

    def stop(self, now: float) -> Request | None:
        """Unregister (Expires: 0, §10.2.2) when registered; no more refreshes."""
        was_registered = self.state is RegistrationState.REGISTERED
        self._input(RegistrationInput.STOPPED)
        self._deadline = None
        self.expires_at = None
        return self._register(0) if was_registered else None

    # -- responses ----------------------------------------------------------------------
    def receive_response(self, response: Response, now: float) -> Request | None:
        """A final response to our last REGISTER; the next REGISTER to send, if any."""
        status = response.status_code
        if status < 200 or self.state is not RegistrationState.REGISTERING:
            return None
        if 200 <= status < 300:
            self._accepted(response, now)
            return None
        if status in (401, 407):
            retry = self._answer_challenge(response)
            if retry is not None:
                return retry
            self._rejected(now, f"{status} {response.reason}: credentials refused")
            return None
        if status == 423:
            minimum = _delta_seconds(response.headers.get("Min-Expires"))
            if minimum is not None and self.expires < minimum <= 86400:
                self.expires = minimum
                self._input(RegistrationInput.SEND)
                self._challenged = False
                return self._register(self.expires)
        retry_after = _delta_seconds(response.headers.get("Retry-After"))
        self._rejected(now, f"{status} {response.reason}", retry_after)
        return None

    def _accepted(self, response: Response, now: float) -> None:
        granted = self._granted_expires(response)
        if granted <= 0:
            self._rejected(now, f"{response.status_code} without our Contact or with expires=0")
            return
        self._input(RegistrationInput.ACCEPTED)
        self.failures = 0
        self.last_error = None
        self.expires_at = now + granted
        self._deadline = now + refresh_delay(granted)

    def _granted_expires(self, response: Response) -> int:
        """§10.2.4: our Contact's expires parameter, else the Expires header."""
        try:
            contacts = response.contacts
            header = response.expires
        except SipParseError:
            return self.expires
        mine = _contact_key(self.contact)
        for contact in contacts:
            if _contact_key(str(contact.uri)) == mine and contact.expires is not None:
                return contact.expires
        if header is not None:
            return header
        return self.expires

    def _rejected(self, now: float, error: str, retry_after: int | None = None) -> None:
        self._input(RegistrationInput.REJECTED)
        self.failures += 1
        self.last_error = error
        self.expires_at = None
        self._deadline = now + max(self.backoff(), float(retry_after or 0))

    def backoff(self) -> float:
        """The wait before the next attempt after ``failures`` failures in a row."""
        timers = self.timers
        exponent = min(max(self.failures - 1, 0), 16)
        return float(min(timers.backoff_initial * (2**exponent), timers.backoff_max))

    def _answer_challenge(self, response: Response) -> Request | None:
        header = "WWW-Authenticate" if response.status_code == 401 else "Proxy-Authenticate"
        value = response.headers.get(header)
        if value is None or not self.trunk.username:
            return None
        try:
            challenge = DigestChallenge.parse(value, header=header)
        except SipParseError:
            return None
        if self._challenged and not challenge.stale:
            return None  # the same credentials were refused (§22.2)
        if self.trunk.realm is not None and challenge.realm != self.trunk.realm:
            return None
        self._input(RegistrationInput.CHALLENGED)
        self._challenged = True
        name = "Authorization" if response.status_code == 401 else "Proxy-Authorization"
        self._challenge = (name, challenge)
        self._nc = 0
        return self._register(self.expires)

    # -- building -----------------------------------------------------------------------
    def _register(self, expires: int) -> Request:
        trunk = self.trunk
        self.cseq += 1
        aor = f"<sip:{trunk.username}@{trunk.domain}>"
        headers = [
            ("Max-Forwards", "70"),
            ("From", f"{aor};tag={self.from_tag}"),
            ("To", aor),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.cseq} REGISTER"),
            ("Contact", self.contact),
            ("Expires", str(expires)),
        ]
        request = Request("REGISTER", trunk.request_uri(""), headers)
        if self._challenge is not None:
            name, challenge = self._challenge
            self._nc += 1
            credentials = make_credentials(
                challenge,
                username=trunk.username,
                password=trunk.password,
                method="REGISTER",
                uri=request.uri,
                nc=self._nc,
            )
            request.headers.add(name, str(credentials))
        return request


def _delta_seconds(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.split(";", 1)[0].split("(", 1)[0].strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


def _contact_key(uri: str) -> str:
    """user@host:port of a Contact URI, for finding ours in the registrar's list."""
    text = uri.strip().strip("<>")
    text = text.split(";", 1)[0]
    return text.partition(":")[2].lower()
