"""Bypass mode: SDP passed end to end, media flows directly between the phones."""

from __future__ import annotations

from sipline.media._stats import MediaStatistics

__all__ = ["BypassMediaSession"]


class BypassMediaSession:
    """A ``MediaSession`` that changes nothing (no relay, no statistics)."""

    __slots__ = ("call_id",)

    def __init__(self, call_id: str = "") -> None:
        self.call_id = call_id

    def offer(self, sdp: bytes, *, from_caller: bool = True) -> bytes:
        return sdp

    def answer(self, sdp: bytes, *, from_caller: bool = False) -> bytes:
        return sdp

    def close(self) -> None:
        pass

    def stats(self) -> MediaStatistics:
        return MediaStatistics(self.call_id, 0.0, ())
