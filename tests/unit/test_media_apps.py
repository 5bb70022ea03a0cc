"""Media applications' sans-I/O cores (issue #7): tones, WAV, G.711 playback,
stereo recording alignment, RFC 4733 / INFO DTMF, the IVR state machine."""

from __future__ import annotations

import math
import wave
from array import array
from pathlib import Path

import pytest

from sipline.media import (
    IVR_TRANSITIONS,
    DigitReceived,
    DigitsCollected,
    IvrConfig,
    IvrInput,
    IvrMenu,
    IvrState,
    MediaFileError,
    MenuFailed,
    PromptStarted,
    PromptStopped,
    RtpHeader,
    RtpPacketizer,
    SampleSource,
    StereoMixer,
    TelephoneEvent,
    TelephoneEventReceiver,
    ToneGenerator,
    ToneSpec,
    WavRecorder,
    alaw_decode,
    alaw_encode,
    goertzel_power,
    parse_dtmf_info,
    read_wav,
    rtp_payload,
    ulaw_decode,
    ulaw_encode,
    write_wav,
)
from sipline.sip import LocalProtocolError, RemoteProtocolError

RATE = 8000


def sine(frequency: float, seconds: float, rate: int = RATE, amplitude: int = 10000) -> array[int]:
    count = int(seconds * rate)
    return array(
        "h", (int(amplitude * math.sin(2 * math.pi * frequency * n / rate)) for n in range(count))
    )


def strongest(samples: array[int], candidates: list[float]) -> float:
    return max(candidates, key=lambda f: goertzel_power(samples, f))


# -- tones ------------------------------------------------------------------------------


def test_tone_syntax_and_names() -> None:
    spec = ToneSpec.parse("%(2000,4000,440,480)")
    assert spec.segments[0].on_ms == 2000
    assert spec.segments[0].off_ms == 4000
    assert spec.segments[0].frequencies == (440.0, 480.0)
    assert spec.loops is None
    assert spec.cycle_ms == 6000
    assert ToneSpec.parse("ringback") == spec
    uk = ToneSpec.parse("%(400,200,400,450);%(400,2000,400,450);loops=2")
    assert len(uk.segments) == 2
    assert uk.loops == 2


@pytest.mark.parametrize(
    "text", ["", "%(100,100)", "%(a,1,440)", "%(100,100,5000)", "%(0,0,440)", "440"]
)
def test_bad_tones_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="tone"):
        ToneSpec.parse(text)


def test_ringback_has_its_frequencies_and_cadence() -> None:
    generator = ToneGenerator(ToneSpec.parse("ringback"))
    on = generator.read(RATE)  # the first second: tone
    assert on is not None
    for frequency in (440, 480):
        assert goertzel_power(on, frequency) > 100 * goertzel_power(on, 1000)
        assert goertzel_power(on, frequency) > 100 * goertzel_power(on, 620)
    rest = generator.read(RATE + RATE // 2)  # 1.0..2.5 s: the tone stops at 2 s
    assert rest is not None
    assert max(map(abs, rest[: RATE // 2])) > 1000
    assert max(map(abs, rest[RATE + 80 :])) == 0  # silence from 2.01 s
    assert not generator.finished


def test_tone_loops_end_with_padding_then_none() -> None:
    generator = ToneGenerator(ToneSpec.parse("%(100,100,1000);loops=1"))  # 1600 samples
    first = generator.read(1000)
    assert first is not None
    assert len(first) == 1000
    assert min(max(map(abs, first[i : i + 40])) for i in range(0, 800, 40)) > 1000  # on
    assert max(map(abs, first[800:])) == 0  # off from 100 ms
    assert not generator.finished
    last = generator.read(1000)  # 600 samples left, padded with silence
    assert last is not None
    assert len(last) == 1000
    assert max(map(abs, last)) == 0
    assert generator.finished
    assert generator.read(160) is None


def test_continuous_tone_never_pauses() -> None:
    generator = ToneGenerator(ToneSpec.parse("dialtone"))
    for _ in range(3):
        frame = generator.read(RATE)
        assert frame is not None
        assert strongest(frame, [350, 440, 1000, 2000]) in (350, 440)
        assert min(max(map(abs, frame[i : i + 80])) for i in range(0, RATE, 80)) > 500


# -- WAV --------------------------------------------------------------------------------


def test_wav_round_trip_mono_and_stereo(tmp_path: Path) -> None:
    tone = sine(1000, 0.5)
    write_wav(tmp_path / "mono.wav", [tone])
    assert read_wav(tmp_path / "mono.wav") == tone
    left, right = sine(500, 0.25), sine(1500, 0.5)
    write_wav(tmp_path / "stereo.wav", [left, right])
    with wave.open(str(tmp_path / "stereo.wav")) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (2, 2, RATE)
        assert reader.getnframes() == len(right)
    mixed = read_wav(tmp_path / "stereo.wav")  # mixed down to mono
    assert len(mixed) == len(right)
    assert mixed[100] == (left[100] + right[100]) // 2


def test_16khz_wav_is_resampled(tmp_path: Path) -> None:
    write_wav(tmp_path / "wide.wav", [sine(700, 1.0, rate=16000)], rate=16000)
    samples = read_wav(tmp_path / "wide.wav")
    assert len(samples) == RATE
    assert strongest(samples, [350, 700, 1400, 3000]) == 700


def test_8bit_wav_is_read(tmp_path: Path) -> None:
    with wave.open(str(tmp_path / "u8.wav"), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(RATE)
        writer.writeframes(bytes([128, 255, 0]))
    assert list(read_wav(tmp_path / "u8.wav")) == [0, 127 << 8, -128 << 8]


def test_bad_sound_files_say_why(tmp_path: Path) -> None:
    with pytest.raises(MediaFileError, match="no such sound file"):
        read_wav(tmp_path / "missing.wav")
    (tmp_path / "text.wav").write_text("hello")
    with pytest.raises(MediaFileError, match="not a PCM WAV file"):
        read_wav(tmp_path / "text.wav")


# -- G.711 through playback ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)]
)
def test_playback_packets_decode_back_to_the_file(encode, decode) -> None:  # type: ignore[no-untyped-def]
    tone = sine(1000, 0.2)
    source = SampleSource(tone)
    packetizer = RtpPacketizer(ssrc=1234)
    packets = []
    while (frame := source.read(160)) is not None:
        packets.append(packetizer.packet(0, encode(frame), 160))
    assert len(packets) == 10
    headers = [RtpHeader.parse(p) for p in packets]
    assert [h.marker for h in headers if h] == [True] + [False] * 9
    assert all(h is not None and h.ssrc == 1234 for h in headers)
    first = headers[0]
    assert first is not None
    for index, header in enumerate(headers):
        assert header is not None
        assert header.sequence == (first.sequence + index) & 0xFFFF
        assert header.timestamp == (first.timestamp + 160 * index) & 0xFFFFFFFF
    decoded = array("h")
    for packet in packets:
        payload = rtp_payload(packet)
        assert payload is not None
        assert len(payload) == 160
        decoded.extend(decode(payload))
    # G.711 is logarithmic: the error stays within a few percent of the sample.
    assert all(abs(a - b) <= max(64, abs(a) // 16) for a, b in zip(tone, decoded, strict=True))
    assert strongest(decoded, [500, 1000, 2000]) == 1000


def test_talkspurt_marker_and_skipped_time() -> None:
    packetizer = RtpPacketizer()
    first = RtpHeader.parse(packetizer.packet(0, b"\xff" * 160, 160))
    second = RtpHeader.parse(packetizer.packet(0, b"\xff" * 160, 160))
    packetizer.skip(800)
    packetizer.start_talkspurt()
    third = RtpHeader.parse(packetizer.packet(0, b"\xff" * 160, 160))
    assert first
    assert second
    assert third
    assert (first.marker, second.marker, third.marker) == (True, False, True)
    assert third.timestamp == (second.timestamp + 160 + 800) & 0xFFFFFFFF
    assert third.sequence == (second.sequence + 1) & 0xFFFF


def test_rtp_payload_skips_csrc_extension_and_padding() -> None:
    header = RtpHeader(False, 0, 1, 2, 3).pack()
    csrc_ext_pad = bytes([0x80 | 0x20 | 0x10 | 1]) + header[1:] + b"\0\0\0\1"
    packet = csrc_ext_pad + b"\xbe\xde\x00\x01" + b"XXXX" + b"payload" + b"\0\0\3"
    assert rtp_payload(packet) == b"payload"
    assert rtp_payload(b"\x80\x00") is None
    assert rtp_payload(bytes([0xA0]) + header[1:] + b"\x40") is None  # padding > length


# -- stereo recording -----------------------------------------------------------------------


def packets_of(samples: array[int], *, ssrc: int, timestamp: int, pt: int = 0) -> list[bytes]:
    out = []
    for index in range(0, len(samples), 160):
        payload = ulaw_encode(samples[index : index + 160])
        header = RtpHeader(index == 0, pt, index // 160, (timestamp + index) & 0xFFFFFFFF, ssrc)
        out.append(header.pack(payload))
    return out


def channel(frames: array[int], index: int) -> array[int]:
    return frames[index::2]


def test_mixer_aligns_channels_by_arrival_then_timestamps() -> None:
    mixer = StereoMixer(start=100.0)
    left = packets_of(sine(440, 1.0), ssrc=1, timestamp=4_294_967_000)  # wraps
    right = packets_of(sine(1200, 1.0), ssrc=2, timestamp=5)
    for index, packet in enumerate(left):
        mixer.receive(0, packet, 100.0 + index * 0.02 + 0.003)  # jitter: 3 ms
    for index, packet in enumerate(right):
        if index in (10, 11):
            continue  # lost: silence there
        mixer.receive(1, packet, 100.5 + index * 0.02 + (0.015 if index % 2 else 0))
    frames = mixer.take_all()
    caller, callee = channel(frames, 0), channel(frames, 1)
    assert len(caller) == len(callee) == RATE * 3 // 2
    start_left = 24  # 3 ms after the start
    assert caller[:start_left] == array("h", bytes(2 * start_left))
    assert strongest(caller[start_left : start_left + RATE], [440, 1200]) == 440
    assert max(map(abs, callee[: RATE // 2])) == 0  # the callee starts at 0.5 s
    assert strongest(callee[RATE // 2 : RATE // 2 + 1600], [440, 1200]) == 1200
    gap = callee[RATE // 2 + 1600 : RATE // 2 + 1920]  # packets 10 and 11
    assert max(map(abs, gap)) == 0
    assert max(map(abs, callee[RATE // 2 + 1920 : RATE // 2 + 2080])) > 1000


def test_mixer_skips_events_and_drops_late_packets() -> None:
    mixer = StereoMixer(start=0.0, window=0.1)
    packets = packets_of(sine(440, 0.4), ssrc=7, timestamp=0)
    event = RtpHeader(False, 101, 0, 0, 7).pack(TelephoneEvent(5, False, 10, 160).pack())
    mixer.receive(0, event, 0.0)  # not audio: skipped
    for index, packet in enumerate(packets[:-1]):
        mixer.receive(0, packet, index * 0.02)
    written = mixer.take(0.4)
    assert len(written) == 2 * int(0.3 * RATE)
    mixer.receive(0, packets[0], 0.41)  # far too late: its place is written already
    assert mixer.late == 1
    assert mixer.packets == len(packets)


def test_wav_recorder_writes_a_stereo_file(tmp_path: Path) -> None:
    recorder = WavRecorder(tmp_path / "call.wav", start=0.0)
    for index, packet in enumerate(packets_of(sine(440, 2.0), ssrc=1, timestamp=0)):
        recorder.receive(0, packet, index * 0.02)
    for index, packet in enumerate(packets_of(sine(1200, 2.0), ssrc=2, timestamp=9)):
        recorder.receive(1, packet, index * 0.02 + 0.001)
    recorder.close()
    with wave.open(str(tmp_path / "call.wav")) as reader:
        assert reader.getnchannels() == 2
        frames = array("h", reader.readframes(reader.getnframes()))
    assert abs(len(frames) // 2 - 2 * RATE) <= 16
    assert strongest(channel(frames, 0), [440, 1200]) == 440
    assert strongest(channel(frames, 1), [440, 1200]) == 1200


# -- DTMF -----------------------------------------------------------------------------------


def event_packet(
    event: int, *, end: bool, duration: int, timestamp: int, seq: int
) -> tuple[RtpHeader, bytes]:
    return RtpHeader(duration == 160, 101, seq, timestamp, 99), TelephoneEvent(
        event, end, 10, duration
    ).pack()


def test_telephone_event_payload() -> None:
    event = TelephoneEvent.parse(b"\x0b\x8a\x03\x20")
    assert event == TelephoneEvent(11, True, 10, 800)
    assert event.digit == "#"
    assert TelephoneEvent.parse(b"\x05\x4a\x00\xa0") == TelephoneEvent(
        5, False, 10, 160
    )  # R bit ignored
    assert event.pack() == b"\x0b\x8a\x03\x20"
    with pytest.raises(RemoteProtocolError):
        TelephoneEvent.parse(b"\x01\x02")


def test_one_digit_per_event_despite_updates_and_three_end_packets() -> None:
    receiver = TelephoneEventReceiver(101)
    digits: list[DigitReceived] = []
    seq = 0
    for event, timestamp in ((5, 1000), (9, 3000)):
        for duration in (160, 320, 480):
            digits += receiver.receive(
                *event_packet(event, end=False, duration=duration, timestamp=timestamp, seq=seq)
            )
            seq += 1
        for _ in range(3):  # RFC 4733 section 2.5.1.4: the end packet three times
            digits += receiver.receive(
                *event_packet(event, end=True, duration=640, timestamp=timestamp, seq=seq)
            )
            seq += 1
    assert digits == [DigitReceived("5", 80, "rfc4733"), DigitReceived("9", 80, "rfc4733")]
    audio = RtpHeader(False, 0, seq, 5000, 99)
    assert receiver.receive(audio, b"\xff" * 160) == []


def test_event_without_end_packets_is_reported_by_the_next_or_flush() -> None:
    receiver = TelephoneEventReceiver(101)
    assert receiver.receive(*event_packet(1, end=False, duration=160, timestamp=10, seq=1)) == []
    assert receiver.receive(*event_packet(2, end=False, duration=160, timestamp=900, seq=2)) == [
        DigitReceived("1", 20, "rfc4733")
    ]
    assert receiver.flush() == [DigitReceived("2", 20, "rfc4733")]
    assert receiver.flush() == []
    # a late update of the flushed event is not a new key press
    assert receiver.receive(*event_packet(2, end=True, duration=480, timestamp=900, seq=3)) == []
    # flash (event 16) is no digit
    assert receiver.receive(*event_packet(16, end=True, duration=480, timestamp=2000, seq=4)) == []


@pytest.mark.parametrize(
    ("content_type", "body", "digit", "duration"),
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", "5", 160),
        ("Application/DTMF-Relay; charset=x", b"Signal= #\nDuration= 250", "#", 250),
        ("application/dtmf-relay", b"Signal=11\r\n", "#", 0),
        ("application/dtmf", b"*", "*", 0),
        ("application/dtmf-relay", b"signal=a", "A", 0),
    ],
)
def test_info_dtmf_bodies(content_type: str, body: bytes, digit: str, duration: int) -> None:
    assert parse_dtmf_info(content_type, body) == DigitReceived(digit, duration, "info")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/dtmf-relay", b"Duration=160"),
        ("application/dtmf-relay", b"Signal=X"),
        ("application/dtmf-relay", b"Signal=99"),
        ("application/dtmf", b"\xff"),
        ("application/dtmf", b""),
    ],
)
def test_bad_info_dtmf_bodies(content_type: str, body: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_dtmf_info(content_type, body)


def test_other_info_bodies_are_not_dtmf() -> None:
    assert parse_dtmf_info("application/media_control+xml", b"<x/>") is None
    assert parse_dtmf_info(None, b"") is None


# -- IVR ------------------------------------------------------------------------------------


def test_ivr_collects_digits_after_the_prompt() -> None:
    menu = IvrMenu(IvrConfig("menu.wav", max_digits=4, timeout=3.0))
    assert menu.start(0.0) == [PromptStarted("menu.wav", 1)]
    assert menu.next_deadline() is None  # no timeout while the prompt plays
    assert menu.prompt_finished(5.0) == []
    assert menu.next_deadline() == 8.0
    assert menu.digit_received("1", 6.0) == []
    assert menu.next_deadline() == 9.0  # the timeout restarts after each digit
    assert menu.handle_timer(8.5) == []
    assert menu.digit_received("0", 8.6) == []
    assert menu.digit_received("0", 8.7) == []
    assert menu.digit_received("2", 8.8) == [DigitsCollected("1002")]
    assert menu.state is IvrState.DONE
    assert menu.digit_received("3", 9.0) == []


def test_ivr_barge_in_terminator_and_timeout_with_digits() -> None:
    menu = IvrMenu(IvrConfig("menu.wav", max_digits=4, timeout=2.0))
    menu.start(0.0)
    assert menu.digit_received("7", 1.0) == [PromptStopped()]
    assert menu.prompt_finished(1.1) == []  # the stopped prompt's end: no news
    assert menu.digit_received("#", 1.5) == [DigitsCollected("7")]
    other = IvrMenu(IvrConfig("menu.wav", max_digits=4, timeout=2.0))
    other.start(0.0)
    other.prompt_finished(1.0)
    other.digit_received("4", 1.5)
    assert other.handle_timer(3.5) == [DigitsCollected("4")]


def test_ivr_replays_the_prompt_then_gives_up() -> None:
    menu = IvrMenu(IvrConfig("menu.wav", max_digits=1, timeout=1.0, tries=2))
    menu.start(0.0)
    assert menu.digit_received("#", 0.5) == [PromptStopped()]  # a lone terminator: nothing yet
    menu.prompt_finished(1.0)  # ignored: stopped already
    assert menu.handle_timer(1.5) == [PromptStarted("menu.wav", 2)]
    menu.prompt_finished(3.0)
    assert menu.handle_timer(3.9) == []
    assert menu.handle_timer(4.0) == [MenuFailed("no digits after 2 prompts")]
    assert menu.finished
    assert menu.next_deadline() is None


def test_ivr_table_rejects_inputs_it_does_not_have() -> None:
    states = {state for state, _ in IVR_TRANSITIONS} | set(IVR_TRANSITIONS.values())
    assert states == set(IvrState)
    menu = IvrMenu(IvrConfig("x.wav"))
    with pytest.raises(LocalProtocolError):
        menu._advance(IvrInput.TIMEOUT)
    with pytest.raises(ValueError, match="ivr"):
        IvrConfig("x.wav", max_digits=0)


# -- telephone-events across legs with different payload types -------------------------------


def test_relay_carries_telephone_events_between_legs_numbered_differently() -> None:
    """Caller declares telephone-event 101, callee 96.  Each phone sends with the number
    the other declared (RFC 3264 section 6.1 as relayed): the event reaches the other
    side with the number it declared and its payload (E bit, duration) intact."""
    import asyncio
    import socket

    from sipline.media import RelayConfig, RelayMediaSession, RtpRelay
    from sipline.sdp import SessionDescription, payload_types

    def sdp(port: int, event: int) -> bytes:
        return (
            f"v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 {event}\r\na=rtpmap:0 PCMU/8000\r\n"
            f"a=rtpmap:{event} telephone-event/8000\r\na=fmtp:{event} 0-16\r\n"
        ).encode()

    def event_number(body: bytes) -> int:
        media = SessionDescription.parse(body).media[0]
        return next(r.payload_type for r in payload_types(media) if r.is_telephone_event)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        relay = RtpRelay(RelayConfig(rtp_ports="40000-40999", media_timeout=0))
        session = RelayMediaSession(relay, "dtmf")
        with socket.socket(type=socket.SOCK_DGRAM) as a, socket.socket(type=socket.SOCK_DGRAM) as b:
            for sock in (a, b):
                sock.bind(("127.0.0.1", 0))
                sock.setblocking(False)
            try:
                to_callee = session.offer(sdp(a.getsockname()[1], 101), from_caller=True)
                to_caller = session.answer(sdp(b.getsockname()[1], 96), from_caller=False)
                await session.ready()
                caller_sends, callee_sends = event_number(to_caller), event_number(to_callee)
                assert (caller_sends, callee_sends) == (96, 101)
                relay_for_caller = ("127.0.0.1", session.ports("caller")[0])
                relay_for_callee = ("127.0.0.1", session.ports("callee")[0])
                event = TelephoneEvent(5, True, 10, 640).pack()
                a.sendto(RtpHeader(True, caller_sends, 1, 160, 9).pack(event), relay_for_caller)
                got = await asyncio.wait_for(loop.sock_recv(b, 2048), 2)
                b.sendto(RtpHeader(False, callee_sends, 7, 320, 8).pack(event), relay_for_callee)
                back = await asyncio.wait_for(loop.sock_recv(a, 2048), 2)
            finally:
                session.close()
                await relay.aclose()
        for packet, declared in ((got, 96), (back, 101)):
            header = RtpHeader.parse(packet)
            assert header is not None
            assert header.payload_type == declared  # the receiver's own number
            assert TelephoneEvent.parse(rtp_payload(packet) or b"") == TelephoneEvent(
                5, True, 10, 640
            )
        receiver = TelephoneEventReceiver(96)
        header = RtpHeader.parse(got)
        assert header is not None
        assert receiver.receive(header, rtp_payload(got) or b"") == [
            DigitReceived("5", 80, "rfc4733")
        ]

    asyncio.run(main())
