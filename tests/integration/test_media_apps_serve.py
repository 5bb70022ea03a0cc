"""Dialplan media applications through `sipline serve` (issue #7): echo returns the
caller's payloads, a tone extension sends its frequencies as early media, a bridged
call with `record` gives a stereo WAV with each side's tone on its channel."""

from __future__ import annotations

import os
import threading
import time
import wave
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import ServerFactory, ServerProcess
from media_peers import RtpPeer, SipPeer, media_address, sdp, tone

from sipline.media import RtpHeader, TelephoneEvent, goertzel_power, rtp_payload, write_wav
from sipline.sip import Request, make_response

pytestmark = pytest.mark.integration

CONFIG = """
[auth]
register = false
invite = false

[[dialplan]]
match = "^9196$"
actions = ["echo"]

[[dialplan]]
match = "^9197$"
actions = ["tone ringback 2", "hangup USER_BUSY"]

[[dialplan]]
match = "^9198$"
actions = ["ivr {recordings}/menu.wav digits=2 timeout=3"]

[[dialplan]]
match = "^42$"
actions = ["tone %(1000,0,1000) 1"]

[[dialplan]]
match = "^(1\\\\d{{3}})$"
actions = ["record {recordings}/call-$1.wav", "bridge user/$1"]
"""


@pytest.fixture
def server(sipline_server: ServerFactory, tmp_path: Path) -> ServerProcess:
    config = tmp_path / "sipline.toml"
    config.write_text(CONFIG.format(recordings=tmp_path))
    write_wav(tmp_path / "menu.wav", [tone(700, 0.5)])
    return sipline_server(
        "--config",
        str(config),
        "--listen",
        "udp:{host}:{port}",
        "--data",
        "{data_dir}",
        "--domain",
        "127.0.0.1",
        "--admin",
        "off",
    )


@pytest.fixture
def caller(server: ServerProcess) -> Iterator[SipPeer]:
    peer = SipPeer("caller", server.port)
    yield peer
    peer.close()


@pytest.fixture
def rtp() -> Iterator[RtpPeer]:
    peer = RtpPeer()
    yield peer
    peer.close()


def strongest(samples: array[int], candidates: list[float]) -> float:
    return max(candidates, key=lambda f: goertzel_power(samples, f))


def test_echo_returns_the_callers_payloads(caller: SipPeer, rtp: RtpPeer) -> None:
    invite = caller.invite("9196", sdp(rtp.port))
    final = caller.responses_until_final()[-1]
    assert final.status_code == 200
    caller.ack(invite, final)
    payloads = [os.urandom(160) for _ in range(50)]
    rtp.send_payloads(payloads, media_address(final.body))
    time.sleep(0.3)
    assert caller.bye().status_code == 200
    back = [RtpHeader.parse(p) for p in rtp.received]
    echoed = [rtp_payload(p) for p in rtp.received]
    assert len(echoed) >= 45  # UDP on loopback: nothing should be lost
    assert set(echoed) <= set(payloads)
    assert echoed == [p for p in payloads if p in set(echoed)]  # in order
    ssrcs = {h.ssrc for h in back if h}
    assert len(ssrcs) == 1
    assert ssrcs != {rtp.packetizer.ssrc}  # our own SSRC, not the caller's


def test_tone_extension_sends_ringback_as_early_media_then_busy(
    caller: SipPeer, rtp: RtpPeer
) -> None:
    invite = caller.invite("9197", sdp(rtp.port))
    responses = caller.responses_until_final()
    early = [r for r in responses if r.status_code == 183]
    assert early
    assert early[0].body
    final = responses[-1]
    assert final.status_code == 486
    assert "cause=17" in (final.headers.get("Reason") or "")
    caller.ack(invite, final)
    audio = rtp.audio()
    assert len(audio) >= 8000 * 3 // 2  # ~2 s of 20 ms packets
    first_second = audio[:8000]
    assert {strongest(first_second, [350, 440, 480, 620, 1000])} <= {440, 480}
    for frequency in (440, 480):
        assert goertzel_power(first_second, frequency) > 50 * goertzel_power(first_second, 1000)
    headers = [RtpHeader.parse(p) for p in rtp.received]
    assert headers[0] is not None
    assert headers[0].marker


def test_recorded_bridge_has_each_side_on_its_channel(
    server: ServerProcess, caller: SipPeer, rtp: RtpPeer, tmp_path: Path
) -> None:
    callee = SipPeer("1001", server.port)
    callee_rtp = RtpPeer()
    try:
        callee.register()
        answering = callee.answer_one_call(sdp(callee_rtp.port, "0"))
        invite = caller.invite("1001", sdp(rtp.port))
        final = caller.responses_until_final()[-1]
        assert final.status_code == 200
        caller.ack(invite, final)
        relay_for_callee = media_address(callee.invites[0].body)
        to_callee = threading.Thread(
            target=callee_rtp.send_audio, args=(tone(1200, 1.5), relay_for_callee)
        )
        to_callee.start()
        rtp.send_audio(tone(440, 1.5), media_address(final.body))
        to_callee.join()
        time.sleep(0.2)
        assert caller.bye().status_code == 200
        answering.join(timeout=5)
    finally:
        callee.close()
        callee_rtp.close()
    path = tmp_path / "call-1001.wav"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with wave.open(str(path)) as reader:
                if reader.getnframes() > 8000:
                    frames = array("h", reader.readframes(reader.getnframes()))
                    channels = reader.getnchannels()
                    break
        except (FileNotFoundError, EOFError, wave.Error):
            pass
        time.sleep(0.1)
    else:
        pytest.fail(f"no recording at {path}")
    assert channels == 2
    left, right = frames[0::2], frames[1::2]
    assert strongest(left, [440, 1200, 1000]) == 440
    assert strongest(right, [440, 1200, 1000]) == 1200
    assert goertzel_power(left, 440) > 20 * goertzel_power(left, 1200)
    assert goertzel_power(right, 1200) > 20 * goertzel_power(right, 440)


def send_event(rtp: RtpPeer, digit: int, destination: tuple[str, int]) -> None:
    """One key press as RFC 4733 packets: three updates, the end packet three times."""
    timestamp = rtp.packetizer.timestamp
    for duration, end in (
        (160, False),
        (320, False),
        (480, False),
        (640, True),
        (640, True),
        (640, True),
    ):
        payload = TelephoneEvent(digit, end, 10, duration).pack()
        rtp.sock.sendto(rtp.packetizer.packet(101, payload, 0, timestamp=timestamp), destination)
        time.sleep(0.02)
    rtp.packetizer.skip(640)


def test_ivr_collects_rfc4733_and_info_digits_and_routes_them(
    caller: SipPeer, rtp: RtpPeer
) -> None:
    invite = caller.invite("9198", sdp(rtp.port))
    final = caller.responses_until_final()[-1]
    assert final.status_code == 200
    caller.ack(invite, final)
    time.sleep(0.7)  # the prompt (0.5 s) plays
    send_event(rtp, 4, media_address(final.body))
    assert caller.dialog is not None
    info = caller.dialog.create_request(
        "INFO", body=b"Signal=2\r\nDuration=160\r\n", content_type="application/dtmf-relay"
    )
    info.headers.prepend(*caller.via())
    caller.sock.sendto(bytes(info), caller.server)
    deadline = time.monotonic() + 6
    bye: Request | None = None
    while bye is None and time.monotonic() < deadline:
        message = caller.receive()
        if isinstance(message, Request) and message.method == "BYE":
            bye = message
    assert bye is not None, "sipline did not hang up after the routed tone"
    caller.sock.sendto(bytes(make_response(bye, 200)), caller.server)
    audio = rtp.audio()
    assert strongest(audio[:3000], [700, 1000]) == 700  # the prompt
    assert strongest(audio[-6000:], [700, 1000]) == 1000  # digits 42 chose the tone
