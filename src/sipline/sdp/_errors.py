"""SDP errors: the peer's fault, carrying the SIP status to answer with."""

from __future__ import annotations

from sipline.sip import RemoteProtocolError

__all__ = ["SdpNotAcceptable", "SdpParseError"]


class SdpParseError(RemoteProtocolError):
    """A body that is not well-formed SDP (RFC 8866); answer 400."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, status_hint=400)


class SdpNotAcceptable(RemoteProtocolError):
    """A well-formed offer nothing in it can be accepted (no common codec, no usable
    address); answer 488 Not Acceptable Here (RFC 3261 section 21.4.26)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, status_hint=488)
