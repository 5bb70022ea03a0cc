"""The SDP hook between the call layer and the RTP relay.

Every SDP the B2BUA relays passes a ``MediaSession``: offers and answers coming
from one leg are rewritten for the other (the relay puts its own address and
ports in them).  ``PassThroughMedia`` leaves them unchanged (no relay).  A
session may refuse an offer with ``MediaRejected`` (no common codec: 488).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["MediaFactory", "MediaRejected", "MediaSession", "PassThroughMedia"]


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
    def __call__(self, call_id: str) -> MediaSession:
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
