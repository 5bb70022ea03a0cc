"""Everything the admin handlers read, in one object kept in the aiohttp application."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web

from sipline.admin._interfaces import (
    AuthStats,
    CallRegistry,
    MediaStats,
    ReloadFunction,
    ServerView,
    TraceControl,
    TrunkDirectory,
)
from sipline.admin._metrics import CallRate, WireCounter
from sipline.store import SqliteStore

__all__ = ["CONTEXT", "AdminContext", "ApiError"]


class ApiError(Exception):
    """Answered by the error middleware as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class AdminContext:
    server: ServerView
    token: str
    wire: WireCounter = field(default_factory=WireCounter)
    rate: CallRate = field(default_factory=CallRate)
    calls: CallRegistry | None = None
    trace: TraceControl | None = None
    trunks: TrunkDirectory | None = None
    auth_stats: AuthStats | None = None
    media_stats: MediaStats | None = None
    reload: ReloadFunction | None = None
    started_at: float = field(default_factory=time.time)

    def store(self) -> SqliteStore:
        store = self.server.store
        if store is None:
            raise ApiError(503, "the store is not open (the server is starting or stopping)")
        return store

    def started_calls(self) -> int:
        """Calls started since start: ended ones plus those in progress."""
        if self.calls is None:
            return 0
        return sum(self.calls.results().values()) + len(self.calls.active_calls())


CONTEXT = web.AppKey("sipline_admin_context", AdminContext)
