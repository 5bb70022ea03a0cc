"""The B2BUA's side of the media hook: refusals, statistics reports, relay counters."""

from __future__ import annotations

import asyncio
import socket

import pytest

from sipline.b2bua import MediaRefusal, MediaRejected, PassThroughMedia, media_report
from sipline.media import BypassMediaSession, PortsExhausted, RelayConfig, RtpRelay
from sipline.routing import HangupCause
from sipline.sdp import SdpNotAcceptable, SdpParseError
from sipline.sip import LocalProtocolError


@pytest.mark.parametrize(
    ("error", "status", "cause", "warning"),
    [
        (SdpParseError('no "v=" line'), 400, HangupCause.NORMAL_TEMPORARY_FAILURE, "399"),
        (SdpNotAcceptable("no codec"), 488, HangupCause.INCOMPATIBLE_DESTINATION, "305"),
        (MediaRejected("no codec"), 488, HangupCause.INCOMPATIBLE_DESTINATION, "305"),
        (PortsExhausted("all in use"), 503, HangupCause.SWITCH_CONGESTION, "399"),
        (
            LocalProtocolError("answer before offer"),
            500,
            HangupCause.NORMAL_TEMPORARY_FAILURE,
            "399",
        ),
    ],
)
def test_refusal_of_each_media_error(
    error: Exception, status: int, cause: HangupCause, warning: str
) -> None:
    refusal = MediaRefusal.of(error)
    assert (refusal.status, refusal.cause) == (status, cause)
    code, agent, text = refusal.warning.split(" ", 2)
    assert (code, agent) == (warning, "sipline")
    # RFC 3261 §20.43: warn-text is one quoted string, so inner quotes are dropped.
    assert text[0] == text[-1] == '"'
    assert '"' not in text[1:-1]
    assert dict(refusal.headers)["Reason"] == cause.reason


def test_sessions_without_statistics_have_no_report() -> None:
    assert media_report(PassThroughMedia()) is None
    assert media_report(BypassMediaSession("c")) is None


def test_relay_counts_relayed_packets_across_closed_legs() -> None:
    async def run() -> tuple[int, int, int, int]:
        relay = RtpRelay(RelayConfig(rtp_ports="45000-45099", media_timeout=0))
        a, b = relay.open_leg("a"), relay.open_leg("b")
        RtpRelay.bridge(a, b)
        await a.ready()
        await b.ready()
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone_a,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone_b,
        ):
            phone_a.bind(("127.0.0.1", 0))
            phone_b.bind(("127.0.0.1", 0))
            b.remote_rtp = phone_b.getsockname()
            for sequence in (1, 2, 4):  # 3 lost
                header = bytes([0x80, 0]) + sequence.to_bytes(2, "big") + bytes(8)
                phone_a.sendto(header + b"\xff" * 160, ("127.0.0.1", a.port))
            for _ in range(100):
                await asyncio.sleep(0.01)
                if relay.packets_relayed == 3:
                    break
            during = relay.active_sessions
            relay.close_leg(a)
            relay.close_leg(b)
            await asyncio.sleep(0)
            return relay.packets_relayed, relay.packets_lost, during, relay.active_sessions

    relayed, lost, during, after = asyncio.run(run())
    assert (relayed, lost) == (3, 1)
    assert (during, after) == (1, 0)
