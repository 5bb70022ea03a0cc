"""The SDP hook between the call layer and the RTP relay.

Every SDP the B2BUA relays passes a ``MediaSession``: offers and answers coming
from one leg are rewritten for the other (the relay puts its own address and
ports in them).  ``PassThroughMedia`` leaves them unchanged (no relay).  A
session may refuse an offer with ``MediaRejected`` (no common codec: 488); the
RTP relay raises the SDP layer's ``RemoteProtocolError`` subclasses instead
(``SdpParseError`` 400, ``SdpNotAcceptable`` 488) and a plain exception when it
has no port pair left.  ``MediaRefusal.of(error)`` turns any of them into the
answer to the offerer: status, hang-up cause, Reason and Warning headers.

A session that also has ``stats()`` (the relay's) feeds the CDR and the
``P-RTP-Stat`` header of the 200 to a BYE (``media_report``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from sipline.routing import HangupCause, cause_for_status
from sipline.sip import LocalProtocolError, RemoteProtocolError

__all__ = [
    "MediaFactory",
    "MediaRefusal",
    "MediaRejected",
    "MediaReport",
    "MediaSession",
    "MediaSilence",
    "PassThroughMedia",
    "media_report",
]

logger = logging.getLogger("sipline.b2bua")


class MediaRejected(Exception):
    """The session cannot take this SDP (no common codec...): the offer gets 488."""


class MediaSession(Protocol):
    """The media of one call.  ``from_caller`` tells which leg the SDP comes from."""

    def offer(self, sdp: bytes, *, from_caller: bool) -> bytes:
        """An offer from one leg, rewritten for the other; may raise MediaRejected."""

    def answer(self, sdp: bytes, *, from_caller: bool) -> bytes:
        """An answer (or early-media SDP) from one leg, rewritten for the other."""

    def close(self) -> None:
        """The call is over: release ports."""


class MediaFactory(Protocol):
    def __call__(self, call_id: str, /) -> MediaSession:
        """A session for the call whose a-leg has ``call_id``."""


class PassThroughMedia:
    """No relay: SDP goes from leg to leg unchanged."""

    __slots__ = ()

    def __init__(self, call_id: str = "") -> None:
        pass

    def offer(self, sdp: bytes, *, from_caller: bool) -> bytes:
        return sdp

    def answer(self, sdp: bytes, *, from_caller: bool) -> bytes:
        return sdp

    def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class MediaRefusal:
    """What the offerer gets when its SDP cannot be taken."""

    status: int
    cause: HangupCause
    #: RFC 3261 §20.43: 305 "Incompatible media format", 399 miscellaneous.
    warning: str

    @classmethod
    def of(cls, error: Exception) -> MediaRefusal:
        """The answer for an exception out of ``MediaSession.offer/answer``."""
        if isinstance(error, MediaRejected):
            status, code = 488, 305
        elif isinstance(error, RemoteProtocolError):
            status = error.status_hint if 400 <= error.status_hint < 700 else 488
            code = 305 if status == 488 else 399
        elif isinstance(error, LocalProtocolError):
            logger.error("media session misused", exc_info=error)
            status, code = 500, 399
        else:  # no RTP port pair left, socket errors: a shortage on our side
            logger.error("media session failed", exc_info=error)
            status, code = 503, 399
        cause = HangupCause.SWITCH_CONGESTION if status == 503 else cause_for_status(status)
        text = "".join(c if c.isprintable() and c not in '"\\' else " " for c in str(error))
        return cls(status, cause, f'{code} sipline "{text[:120] or cause.name}"')

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [("Reason", self.cause.reason), ("Warning", self.warning)]


class MediaSilence(Protocol):
    """What the relay reports when a call's media went silent
    (``sipline.media.MediaTimeout``): ``B2bua.media_timed_out`` hangs the call up."""

    @property
    def call_id(self) -> str:
        """The a-leg Call-ID the session was made for."""
        ...


class MediaReport(Protocol):
    """Per-stream statistics of a call's media (``sipline.media.MediaStatistics``)."""

    @property
    def legs(self) -> tuple[object, ...]: ...

    def p_rtp_stat(self, side: str = "caller", stream: int = 0) -> str:
        """``PS=..;OS=..;PR=..;OR=..;PL=..;JI=..;LA=..;DU=..`` for the leg facing ``side``."""
        ...

    def as_dict(self) -> dict[str, object]: ...


def media_report(session: MediaSession) -> MediaReport | None:
    """The session's statistics when it keeps any (the relay does, bypass has none).

    A ``stats()`` method is looked up rather than ``isinstance`` against a
    runtime-checkable Protocol: that walks the Protocol's members on every call
    (1.6% of the server's CPU at 300 calls/s, called twice a call).
    """
    stats = getattr(session, "stats", None)
    if stats is None or not callable(stats):
        return None
    report: MediaReport = stats()
    return report if report.legs else None
