"""Per-stream media statistics of a call, for the CDR and the BYE's ``P-RTP-Stat``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sipline.media._relay import RelayLeg

__all__ = ["LegStatistics", "MediaStatistics"]


@dataclass(frozen=True, slots=True)
class LegStatistics:
    """One stream as seen on the relay port facing one phone.  ``packets_received``
    etc. are what that phone sent us; ``packets_sent`` what we sent it."""

    leg: str  # "caller" / "callee"
    stream: int
    media: str
    local_port: int
    remote: str | None  # the learnt source, else the SDP address, "ip:port"
    latched: bool
    ssrc: int | None
    packets_received: int
    octets_received: int
    packets_lost: int
    jitter_ms: float
    packets_sent: int
    octets_sent: int
    rtcp_received: int
    rtcp_sent: int
    foreign_packets: int

    @classmethod
    def of(cls, side: str, stream: int, media: str, leg: RelayLeg) -> LegStatistics:
        remote = leg.source or leg.remote_rtp
        received = leg.received
        return cls(
            side,
            stream,
            media,
            leg.port,
            None if remote is None else f"{remote[0]}:{remote[1]}",
            leg.source is not None,
            received.ssrc,
            received.packets,
            received.octets,
            received.lost,
            round(received.jitter_ms, 3),
            leg.sent_packets,
            leg.sent_octets,
            leg.rtcp_received,
            leg.rtcp_sent,
            leg.foreign_packets,
        )


@dataclass(frozen=True, slots=True)
class MediaStatistics:
    call_id: str
    duration: float  # seconds from the first answer to close()
    legs: tuple[LegStatistics, ...]

    def leg(self, side: str, stream: int = 0) -> LegStatistics | None:
        return next((s for s in self.legs if s.leg == side and s.stream == stream), None)

    def p_rtp_stat(self, side: str = "caller", stream: int = 0) -> str:
        """The header value in the PS/OS/PR/OR/PL/JI/LA layout SIP gateways and
        FreeSWITCH/Yate use (``P-RTP-Stat`` / ``X-RTP-Stat``), from the relay's view of
        the leg facing ``side``: PS/OS sent to that phone, PR/OR received from it,
        PL its lost packets, JI jitter in ms; LA (latency) is not measured: 0; DU the
        duration in seconds."""
        stats = self.leg(side, stream)
        if stats is None:
            return f"PS=0;OS=0;PR=0;OR=0;PL=0;JI=0;LA=0;DU={round(self.duration)}"
        return (
            f"PS={stats.packets_sent};OS={stats.octets_sent};"
            f"PR={stats.packets_received};OR={stats.octets_received};"
            f"PL={stats.packets_lost};JI={round(stats.jitter_ms)};LA=0;"
            f"DU={round(self.duration)}"
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, for the CDR."""
        return {
            "call_id": self.call_id,
            "duration": round(self.duration, 3),
            "legs": [asdict(leg) for leg in self.legs],
        }
