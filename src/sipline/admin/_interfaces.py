"""What the admin API needs from the rest of the server, as small Protocols.

The admin layer sits on top (DESIGN.md, "Layers"): it reads the store and the
endpoint's counters directly, and everything else (the call engine, the live
trace, trunks, media, authentication counters) through the interfaces below,
each optional.  A part that is not wired shows as empty or absent in the API,
never as invented data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sipline.analysis import TraceRecord
from sipline.config import Config
from sipline.endpoint import Endpoint
from sipline.store import SqliteStore

__all__ = [
    "AuthStats",
    "CallInfo",
    "CallRegistry",
    "LegInfo",
    "MediaStats",
    "ReloadFunction",
    "ServerView",
    "TraceControl",
    "TrunkDirectory",
    "TrunkInfo",
]


@dataclass(frozen=True, slots=True)
class LegInfo:
    """One leg (one SIP dialog) of a call as the B2BUA sees it."""

    call_id: str
    #: ``caller`` (the A leg, toward the phone that called) or ``callee`` (a B leg).
    side: str
    #: The peer's transport address, e.g. ``udp:127.0.0.1:5062``.
    peer: str
    #: The dialog's state: ``early``, ``confirmed``, ``terminating``...
    state: str
    #: The negotiated audio codec (``PCMU/8000``), None before the answer.
    codec: str | None = None
    local_tag: str | None = None
    remote_tag: str | None = None


@dataclass(frozen=True, slots=True)
class CallInfo:
    """A live call: its id (stable for the call's lifetime), parties and legs."""

    id: str
    caller: str
    callee: str
    #: ``routing``, ``ringing``, ``answered``, ``ending``...
    state: str
    #: Wall-clock seconds.
    started_at: float
    answered_at: float | None = None
    legs: tuple[LegInfo, ...] = ()

    @property
    def call_ids(self) -> tuple[str, ...]:
        return tuple(leg.call_id for leg in self.legs)


@runtime_checkable
class CallRegistry(Protocol):
    """The call engine (B2BUA) as the admin API sees it."""

    def active_calls(self) -> list[CallInfo]:
        """Calls not yet ended, oldest first."""
        ...

    def hangup(self, call_id: str) -> bool:
        """Start ending the call ``call_id`` (BYE or CANCEL on each leg, with a Reason);
        False when there is no such call."""
        ...

    def results(self) -> Mapping[str, int]:
        """Totals of ended calls by result (``answered``, ``busy``, ``no_answer``,
        ``cancelled``, ``failed``...) since start."""
        ...


@runtime_checkable
class TraceControl(Protocol):
    """The live trace: switch it on/off, read what it holds, find its file."""

    @property
    def enabled(self) -> bool: ...

    def set_enabled(self, enabled: bool) -> None: ...

    def records(self) -> Sequence[TraceRecord]:
        """The messages kept in memory (most recent ones), oldest first."""
        ...

    def file_path(self) -> Path | None:
        """The siptrace text log being written, None when there is none."""
        ...

    def flush(self) -> None:
        """Write what is buffered (before the file is downloaded)."""
        ...


@dataclass(frozen=True, slots=True)
class TrunkInfo:
    """A trunk to an upstream provider and its registration state."""

    name: str
    target: str
    #: ``registered``, ``failed``, ``unregistered``, ``not_registering``...
    state: str
    detail: str = ""
    expires_at: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class TrunkDirectory(Protocol):
    def trunk_status(self) -> list[TrunkInfo]: ...


@runtime_checkable
class AuthStats(Protocol):
    """Counters of digest authentication since start."""

    @property
    def failures(self) -> int:
        """Wrong passwords and unknown users."""
        ...

    @property
    def blocks(self) -> int:
        """Sources blocked by the brute-force guard."""
        ...


@runtime_checkable
class MediaStats(Protocol):
    """Counters of the RTP relay since start."""

    @property
    def packets_relayed(self) -> int: ...

    @property
    def packets_lost(self) -> int:
        """Packets missing by RTP sequence number (RFC 3550 §6.4.1 cumulative loss)."""
        ...

    @property
    def active_sessions(self) -> int: ...


#: Re-reads the configuration and applies what can change at run time; returns
#: what changed (for the caller) or raises ``sipline.config.ConfigError``.
ReloadFunction = Callable[[], Awaitable[Mapping[str, Any]]]


class ServerView(Protocol):
    """The parts of ``sipline.server.Server`` the admin API reads."""

    @property
    def config(self) -> Config: ...

    @property
    def store(self) -> SqliteStore | None: ...

    @property
    def endpoint(self) -> Endpoint | None: ...

    @property
    def domains(self) -> frozenset[str]: ...
