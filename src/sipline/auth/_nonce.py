"""Stateless digest nonces and the nonce-count replay check.

A nonce is ``base64url(timestamp_ms[8] | random[8] | HMAC-SHA256(secret, timestamp |
random | realm)[:16])``: the server recognises its own nonces, and their age, with no
table (RFC 7616 §3.3 suggests exactly this: a time stamp and a private key).  Only
the replay check needs memory, bounded by :class:`NonceCounter`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from enum import Enum
from typing import Protocol

__all__ = ["NonceCounter", "NonceFactory", "NonceStatus", "NonceValidator"]

_STAMP = struct.Struct(">Q")
_MAC_SIZE = 16
_RAW_SIZE = _STAMP.size + 8 + _MAC_SIZE
_NONCE_LENGTH = 43  # len(base64url(32 bytes)) without padding
_CLOCK_SKEW = 5.0  # seconds a nonce may be "from the future" (clock steps)


class NonceStatus(Enum):
    VALID = "valid"
    STALE = "stale"  # ours, authentic, but older than the lifetime
    INVALID = "invalid"  # not ours (or altered, or for another realm)


class NonceValidator(Protocol):
    """What :class:`Authenticator` needs from a nonce source (tests may inject one)."""

    def issue(self, realm: str, now: float) -> str: ...

    def check(self, nonce: str, realm: str, now: float) -> NonceStatus: ...

    def issued_at(self, nonce: str) -> float:
        """When an authentic nonce was issued (call after ``check`` said VALID)."""


class NonceFactory:
    """Issues and checks stateless nonces bound to a realm, valid ``lifetime`` seconds."""

    __slots__ = ("_secret", "lifetime")

    def __init__(self, secret: bytes, lifetime: float = 300.0) -> None:
        if len(secret) < 16:
            raise ValueError("the nonce secret must be at least 16 bytes")
        if lifetime <= 0:
            raise ValueError("the nonce lifetime must be positive")
        self._secret = secret
        self.lifetime = lifetime

    def _mac(self, head: bytes, realm: str) -> bytes:
        return hmac.digest(self._secret, head + realm.encode(), hashlib.sha256)[:_MAC_SIZE]

    def issue(self, realm: str, now: float) -> str:
        head = _STAMP.pack(int(now * 1000)) + secrets.token_bytes(8)
        raw = head + self._mac(head, realm)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def check(self, nonce: str, realm: str, now: float) -> NonceStatus:
        raw = _decode(nonce)
        if raw is None:
            return NonceStatus.INVALID
        head, mac = raw[:-_MAC_SIZE], raw[-_MAC_SIZE:]
        if not hmac.compare_digest(mac, self._mac(head, realm)):
            return NonceStatus.INVALID
        issued = _STAMP.unpack_from(head)[0] / 1000
        if issued > now + _CLOCK_SKEW:
            return NonceStatus.INVALID
        if now - issued > self.lifetime:
            return NonceStatus.STALE
        return NonceStatus.VALID

    def issued_at(self, nonce: str) -> float:
        raw = _decode(nonce)
        if raw is None:
            raise ValueError("not a nonce of this factory")
        return float(_STAMP.unpack_from(raw)[0] / 1000)


def _decode(nonce: str) -> bytes | None:
    if len(nonce) != _NONCE_LENGTH or not nonce.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(nonce + "=")
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == _RAW_SIZE else None


class NonceCounter:
    """Highest nonce-count seen per nonce, to refuse replays (RFC 7616 §3.4.5).

    At most ``max_entries`` nonces are remembered; the oldest are forgotten first.
    A nonce that is not remembered is accepted only if it was issued after
    ``not_before`` and after every forgotten nonce: anything older may have been
    used already, so the caller answers it with a fresh ``stale=true`` challenge
    (the phone retries silently).  Pass the process start time as ``not_before``:
    the table does not survive a restart.
    """

    __slots__ = ("_horizon", "_max_entries", "_seen")

    def __init__(self, max_entries: int = 100_000, *, not_before: float = float("-inf")) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._seen: dict[str, tuple[int, float]] = {}
        self._max_entries = max_entries
        self._horizon = not_before

    def __len__(self) -> int:
        return len(self._seen)

    def accept(self, nonce: str, nc: int, issued_at: float) -> bool:
        """Record ``nc`` for ``nonce``; False when it is not above the last one seen."""
        last = self._seen.get(nonce)
        if last is None:
            if issued_at <= self._horizon:
                return False
            if len(self._seen) >= self._max_entries:
                self._forget_oldest()
        elif nc <= last[0]:
            return False
        self._seen[nonce] = (nc, issued_at)
        return True

    def _forget_oldest(self) -> None:
        seen = self._seen
        for _ in range(max(1, len(seen) // 8)):  # forget in batches: amortised O(1)
            oldest = next(iter(seen))
            self._horizon = max(self._horizon, seen.pop(oldest)[1])
