"""Brute-force protection: failed digest attempts counted per source and per user.

svcrack and friends send hundreds of REGISTERs a second, so the check a blocked
source goes through is one dict look-up, before any parsing of credentials or
database access.
"""

from __future__ import annotations

import logging

__all__ = ["BruteForceGuard"]

_LOG = logging.getLogger("sipline.auth")


class BruteForceGuard:
    """Blocks a source address for ``block_time`` seconds after too many failures.

    A source is blocked when it fails ``threshold`` times within ``window``
    seconds, or when it fails for a user that failed ``user_threshold`` times in
    the window (a distributed guess at one account: each source taking part is
    blocked at its next failure, while the user's own phones keep working).
    Memory is bounded by ``max_entries`` counters; old ones are purged first.
    """

    __slots__ = (
        "_blocked",
        "_by_source",
        "_by_user",
        "_logger",
        "block_time",
        "blocks",
        "failures",
        "max_entries",
        "threshold",
        "user_threshold",
        "window",
    )

    def __init__(
        self,
        threshold: int = 10,
        window: float = 60.0,
        block_time: float = 600.0,
        *,
        user_threshold: int | None = None,
        max_entries: int = 100_000,
        logger: logging.Logger | None = None,
    ) -> None:
        if threshold < 1 or window <= 0 or block_time <= 0:
            raise ValueError("threshold, window and block_time must be positive")
        self.threshold = threshold
        self.window = window
        self.block_time = block_time
        self.user_threshold = user_threshold if user_threshold is not None else 5 * threshold
        self.max_entries = max_entries
        #: Failed attempts and blocks since start (the admin metrics read them).
        self.failures = 0
        self.blocks = 0
        self._by_source: dict[str, list[float]] = {}  # host -> [count, window start]
        self._by_user: dict[str, list[float]] = {}
        self._blocked: dict[str, float] = {}  # host -> blocked until
        self._logger = logger or _LOG

    def blocked(self, host: str, now: float) -> bool:
        """True while ``host`` is blocked (one dict look-up on the common path)."""
        until = self._blocked.get(host)
        if until is None:
            return False
        if until > now:
            return True
        del self._blocked[host]
        return False

    def failed(self, host: str, user: str, now: float) -> bool:
        """Count a failed attempt by ``host`` for ``user``; True when ``host`` is now blocked."""
        self.failures += 1
        source_count = self._count(self._by_source, host, now)
        user_count = self._count(self._by_user, user, now)
        if source_count >= self.threshold:
            why = f"{source_count} failed authentications in {self.window:g} s"
        elif user_count >= self.user_threshold:
            why = f"failed authentication for {user!r}, which failed {user_count} times"
        else:
            return False
        self._blocked[host] = now + self.block_time
        self.blocks += 1
        self._by_source.pop(host, None)
        self._logger.warning(
            "blocking %s for %g s: %s", host, self.block_time, why, extra={"source": host}
        )
        if len(self._blocked) > self.max_entries:
            self._blocked = {h: t for h, t in self._blocked.items() if t > now}
        return True

    def _count(self, table: dict[str, list[float]], key: str, now: float) -> int:
        entry = table.get(key)
        if entry is None or now - entry[1] > self.window:
            if entry is None and len(table) >= self.max_entries:
                self._purge(table, now)
            entry = table[key] = [0, now]
        entry[0] += 1
        return int(entry[0])

    def _purge(self, table: dict[str, list[float]], now: float) -> None:
        for key in [k for k, (_, start) in table.items() if now - start > self.window]:
            del table[key]
        while len(table) >= self.max_entries:  # all recent: forget the oldest
            del table[next(iter(table))]
