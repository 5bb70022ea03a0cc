"""The media edge: RTP relay (asyncio sockets), G.711, and the B2BUA's media hook.

``RtpRelay(RelayConfig(...))`` owns the port range; ``RelayMediaSession(relay, call_id,
on_timeout=...)`` (or ``relay_session_factory(relay, on_timeout)``) is the per-call
object the B2BUA hands each SDP to; ``BypassMediaSession`` passes SDP unchanged (media
flows phone to phone).
"""

from sipline.media._bypass import BypassMediaSession
from sipline.media._g711 import (
    ALAW_TO_ULAW,
    ULAW_TO_ALAW,
    alaw_decode,
    alaw_encode,
    alaw_to_ulaw,
    linear_to_alaw,
    linear_to_ulaw,
    ulaw_decode,
    ulaw_encode,
    ulaw_to_alaw,
)
from sipline.media._ports import PortAllocator, PortsExhausted, bind_pair
from sipline.media._relay import ForwardPlan, RelayConfig, RelayLeg, RtpRelay
from sipline.media._rtp import RtpHeader, StreamStatistics, is_rtcp, is_rtp
from sipline.media._session import MediaTimeout, RelayMediaSession, relay_session_factory
from sipline.media._stats import LegStatistics, MediaStatistics

__all__ = [
    "ALAW_TO_ULAW",
    "ULAW_TO_ALAW",
    "BypassMediaSession",
    "ForwardPlan",
    "LegStatistics",
    "MediaStatistics",
    "MediaTimeout",
    "PortAllocator",
    "PortsExhausted",
    "RelayConfig",
    "RelayLeg",
    "RelayMediaSession",
    "RtpHeader",
    "RtpRelay",
    "StreamStatistics",
    "alaw_decode",
    "alaw_encode",
    "alaw_to_ulaw",
    "bind_pair",
    "is_rtcp",
    "is_rtp",
    "linear_to_alaw",
    "linear_to_ulaw",
    "relay_session_factory",
    "ulaw_decode",
    "ulaw_encode",
    "ulaw_to_alaw",
]
