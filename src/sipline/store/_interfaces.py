"""The storage interfaces the applications code against (SQLite now; Redis/PostgreSQL later)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from sipline.store._model import Binding, CdrRecord, User

__all__ = ["CdrStore", "LocationStore", "StoreError", "UserExistsError", "UserStore"]


class StoreError(Exception):
    """A storage operation failed (the message says what and how to fix it)."""


class UserExistsError(StoreError):
    """``add`` of a user that is already there."""


class UserStore(Protocol):
    """Local users, keyed by (user, domain); domains are compared lower case."""

    def add_user(self, user: User) -> None:
        """Add ``user``; raises :class:`UserExistsError` when ``user@domain`` exists."""

    def get_user(self, user: str, domain: str) -> User | None: ...

    def list_users(self, domain: str | None = None) -> list[User]:
        """Every user (of ``domain`` when given), sorted by domain then user."""

    def update_user(self, user: User) -> bool:
        """Replace the stored user with the same (user, domain); False when absent."""

    def remove_user(self, user: str, domain: str) -> bool:
        """Remove a user; False when absent."""


class LocationStore(Protocol):
    """Bindings of addresses-of-record to contacts (RFC 3261 §10), the location service.

    Writes are durable when they return (the registrar answers 200 OK after).
    ``now`` is wall-clock time in seconds; expired bindings are never returned.
    """

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """Unexpired bindings of ``aor``, highest q first (q absent counts as 1.0)."""

    def update(self, aor: str, *, save: Sequence[Binding], remove: Iterable[str] = ()) -> None:
        """Atomically insert or replace ``save`` (by key) and delete the keys ``remove``."""

    def remove_aor(self, aor: str) -> int:
        """Delete every binding of ``aor``; the number removed."""

    def expire(self, now: float) -> list[Binding]:
        """Delete the bindings expired at ``now`` and return them."""

    def count(self) -> int:
        """Number of stored bindings (expired ones not yet purged included)."""

    def all_bindings(self, now: float) -> list[Binding]:
        """Every unexpired binding, by AOR (for the admin API)."""


class CdrStore(Protocol):
    """Call detail records, append-only."""

    def append_cdr(self, record: CdrRecord) -> int:
        """Store ``record`` and return its id."""

    def list_cdrs(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        caller: str | None = None,
        callee: str | None = None,
        call_id: str | None = None,
        cause: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[CdrRecord]:
        """Records matching every given filter, newest start time first."""
