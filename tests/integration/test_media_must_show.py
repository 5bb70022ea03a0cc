"""Issue #7's "Must show" media items with the real peers the issue names.

- The echo extension returns what a SIPp call with RTP (``play_pcap_audio``) sends: the
  test writes a pcap of 2 s of a 440 Hz PCMU tone (Ethernet/IPv4/UDP/RTP, 20 ms
  packets), SIPp calls ``9196`` (``actions = ["echo"]``) and replays it after the ACK,
  and a loopback capture shows sipline sending SIPp's media port the same payloads, in
  the same order, as SIPp sent (SSRC, sequence numbers and timestamps are sipline's).
  The tone swells so that no two payloads are equal. SIPp 3.6.1 (built with PCAP
  support here) replays through a raw socket, so it needs root or CAP_NET_RAW.
- Two baresip phones (sine microphones: the caller 440 Hz, the callee 1000 Hz) call
  each other through a rule ``["record call.wav", "bridge user/$1"]``: the stereo WAV
  sipline writes in ``DATA/recordings`` holds the caller's tone on the left channel
  and the callee's on the right, and the capture shows RTP both ways on both legs,
  every datagram to or from a relay port.
"""

from __future__ import annotations

import socket
import struct
import sys
import time
import wave
from array import array
from collections.abc import Iterator
from pathlib import Path

import dpkt
import pytest
from harness import (
    Baresip,
    BaresipFactory,
    CaptureFactory,
    ServerFactory,
    ServerProcess,
    SippFactory,
    account_line,
)
from media_peers import tone
from media_support import (
    goertzel_power,
    import_users,
    rtp_flows,
    rtp_port_range,
    strongest,
    tone_frequency,
)

from sipline.media import rtp_payload, ulaw_encode

pytestmark = pytest.mark.integration

DOMAIN = "127.0.0.1"
USERS = {"1000": "alice-secret-1000", "1001": "bob-secret-1001"}
CALLER_TONE, CALLEE_TONE = 440, 1000
TALK_SECONDS = 3.0
PCAP_NAME = "media_tone.pcap"  # the name media_uac_pcap_echo.xml plays (literal there)
SAMPLES_PER_PACKET = 160  # 20 ms of 8 kHz G.711

Datagram = tuple[int, int, bytes]  # source port, destination port, UDP payload


def write_rtp_pcap(path: Path, payloads: list[bytes]) -> None:
    """A pcap of one PCMU stream, one packet per payload, 20 ms apart (SIPp paces its
    replay by the capture times and sends each UDP payload, RTP header included)."""
    source, destination = socket.inet_aton("192.0.2.1"), socket.inet_aton("192.0.2.2")
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=dpkt.pcap.DLT_EN10MB)
        for n, payload in enumerate(payloads):
            header = struct.pack("!BBHII", 0x80, 0x80 if n == 0 else 0, n, n * 160, 0x5EED)
            udp = dpkt.udp.UDP(sport=40000, dport=40002, data=header + payload)
            udp.ulen = len(udp)
            ip = dpkt.ip.IP(src=source, dst=destination, p=dpkt.ip.IP_PROTO_UDP, data=udp)
            ip.len = len(ip)
            frame = dpkt.ethernet.Ethernet(
                src=b"\x02" * 6, dst=b"\x04" * 6, type=dpkt.ethernet.ETH_TYPE_IP, data=ip
            )
            writer.writepkt(bytes(frame), ts=1_700_000_000 + n * 0.02)


def udp_datagrams(pcap: Path) -> Iterator[Datagram]:
    """Every UDP datagram between 127.0.0.1 addresses in a loopback capture."""
    with pcap.open("rb") as handle:
        reader = dpkt.pcap.Reader(handle)
        link = reader.datalink()
        for _, frame in reader:
            if link == dpkt.pcap.DLT_LINUX_SLL:
                packet = dpkt.sll.SLL(frame).data
            elif link == dpkt.pcap.DLT_EN10MB:
                packet = dpkt.ethernet.Ethernet(frame).data
            else:
                packet = dpkt.ip.IP(frame)
            if isinstance(packet, dpkt.ip.IP) and isinstance(packet.data, dpkt.udp.UDP):
                udp = packet.data
                yield udp.sport, udp.dport, bytes(udp.data)


def media_config(ports: tuple[int, int], *, auth: bool, rules: str) -> str:
    return (
        f"[auth]\nregister = {str(auth).lower()}\ninvite = {str(auth).lower()}\n\n"
        f'[media]\nmode = "relay"\nrtp_ports = "{ports[0]}-{ports[1]}"\nmedia_timeout = 20\n\n'
        + rules
    )


def start_server(
    sipline_server: ServerFactory, harness_dir: Path, config: str, *, users: bool
) -> ServerProcess:
    data_dir = harness_dir / "data"
    if users:
        import_users(data_dir, USERS)
    path = harness_dir / "sipline.toml"
    path.write_text(config)
    return sipline_server(
        *("--config", str(path), "--listen", "udp:{host}:{port}", "--data", "{data_dir}"),
        *("--domain", DOMAIN, "--admin", "off"),
        data_dir=data_dir,
    )


# -- 1. echo with SIPp's pcap_play -------------------------------------------------------


def test_echo_returns_what_sipp_plays_from_a_pcap(
    sipline_server: ServerFactory,
    sipp: SippFactory,
    tshark: CaptureFactory,
    harness_dir: Path,
) -> None:
    # 440 Hz repeats every 5 packets: a slow swell makes every payload different
    sine = tone(CALLER_TONE, 2.0, amplitude=10000)
    swell = array("h", (int(s * (0.3 + 0.7 * n / len(sine))) for n, s in enumerate(sine)))
    audio = ulaw_encode(swell)
    payloads = [audio[i : i + SAMPLES_PER_PACKET] for i in range(0, len(audio), SAMPLES_PER_PACKET)]
    assert len(payloads) == 100
    assert len(set(payloads)) == 100  # so their order can be checked
    write_rtp_pcap(harness_dir / PCAP_NAME, payloads)  # SIPp's working directory

    ports = rtp_port_range()
    rules = '[[dialplan]]\nmatch = "^9196$"\nactions = ["echo"]\n'
    server = start_server(
        sipline_server, harness_dir, media_config(ports, auth=False, rules=rules), users=False
    )
    capture = tshark(bpf=f"udp portrange {ports[0]}-{ports[1]}")
    caller = sipp.uac(
        "media_uac_pcap_echo",
        server.hostport,
        service="9196",
        timeout=20.0,
        extra_args=("-mi", "127.0.0.1"),
    )
    caller.wait_result().assert_ok(calls=1)
    time.sleep(0.2)
    capture.stop()

    sipp_media_port = int(caller.argv[caller.argv.index("-mp") + 1])
    low, high = ports
    datagrams = list(udp_datagrams(capture.pcap_path))
    sent = [d for d in datagrams if d[0] == sipp_media_port and low <= d[1] <= high]
    back = [d for d in datagrams if low <= d[0] <= high and d[1] == sipp_media_port]
    flows = {(s, d) for s, d, _ in datagrams}
    assert sent, f"no RTP from SIPp's media port {sipp_media_port}; flows {flows}"
    assert {d[1] for d in sent} == {d[0] for d in back}, flows  # one sipline endpoint

    # SIPp sent the pcap's payloads, and the echo returned exactly those, in order.
    assert [rtp_payload(d[2]) for d in sent] == payloads
    assert [rtp_payload(d[2]) for d in back] == payloads
    # sipline's own RTP headers: another SSRC than the pcap's 0x5EED
    ssrcs = {struct.unpack_from("!I", d[2], 8)[0] for d in back}
    assert len(ssrcs) == 1
    assert ssrcs != {0x5EED}


# -- 2. a recorded bridge between two baresip phones -------------------------------------


def phone(baresip: BaresipFactory, user: str, server: ServerProcess, tone_hz: int) -> Baresip:
    line = account_line(user, DOMAIN, password=USERS[user], outbound=server.hostport)
    started = baresip(f"phone-{user}").start(
        line, extra_config={"audio_source": f"ausine,{tone_hz}"}
    )
    assert started.wait_registered(), started.output()
    return started


def stereo_wav(path: Path, timeout: float = 5.0) -> tuple[array[int], array[int], int]:
    """The left and right channels of a finished 16-bit stereo WAV, and its rate."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with wave.open(str(path), "rb") as reader:
                channels, width = reader.getnchannels(), reader.getsampwidth()
                rate, frames = reader.getframerate(), reader.readframes(reader.getnframes())
            break
        except (FileNotFoundError, EOFError, wave.Error):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
    assert (channels, width) == (2, 2), f"{path}: {channels} channels of {width * 8} bits"
    samples = array("h", frames)
    if sys.byteorder == "big":
        samples.byteswap()
    return array("h", samples[0::2]), array("h", samples[1::2]), rate


def assert_tone(samples: array[int], rate: int, tone_hz: int, other: int, side: str) -> None:
    measured = tone_frequency(samples, rate)
    assert abs(measured - tone_hz) < tone_hz * 0.05, f"{side}: {measured:.0f} Hz"
    assert strongest(samples, rate, (tone_hz, other, tone_hz * 2, 300, 2000)) == tone_hz
    assert goertzel_power(samples, rate, tone_hz) > 20 * goertzel_power(samples, rate, other)


def test_recorded_call_between_two_baresip_phones(
    sipline_server: ServerFactory,
    baresip: BaresipFactory,
    tshark: CaptureFactory,
    harness_dir: Path,
) -> None:
    ports = rtp_port_range()
    rules = (
        '[[dialplan]]\nmatch = "^(1\\\\d{3})$"\nactions = ["record call.wav", "bridge user/$1"]\n'
    )
    server = start_server(
        sipline_server, harness_dir, media_config(ports, auth=True, rules=rules), users=True
    )
    alice = phone(baresip, "1000", server, CALLER_TONE)
    bob = phone(baresip, "1001", server, CALLEE_TONE)
    capture = tshark(bpf=f"udp portrange {ports[0]}-{ports[1]} or udp port {server.port}")

    alice.dial(f"sip:1001@{DOMAIN}")
    bob.wait_event("CALL_INCOMING")
    bob.accept()
    alice.wait_event("CALL_ESTABLISHED")
    bob.wait_event("CALL_ESTABLISHED")
    time.sleep(TALK_SECONDS)
    alice.hangup()
    alice.wait_event("CALL_CLOSED")
    bob.wait_event("CALL_CLOSED")
    time.sleep(0.3)  # the last RTP in flight
    capture.stop()

    # The recording ("record call.wav" is relative to DATA/recordings): stereo, the
    # caller's tone on the left channel, the callee's on the right.
    left, right, rate = stereo_wav(server.data_dir / "recordings" / "call.wav")
    assert len(left) > rate * (TALK_SECONDS - 1), f"{len(left) / rate:.1f} s recorded"
    assert_tone(left, rate, CALLER_TONE, CALLEE_TONE, "left (caller)")
    assert_tone(right, rate, CALLEE_TONE, CALLER_TONE, "right (callee)")

    # RTP both ways on both legs, every datagram to or from a relay port.
    low, high = ports
    flows = rtp_flows(capture.pcap_path, ports)
    rtp = {f: n for f, n in flows.items() if n >= 50}  # RTCP is a few packets
    relay_ports = {p for f in rtp for p in (f[1], f[3]) if low <= p <= high}
    assert len(relay_ports) == 2, f"RTP flows: {flows}"  # one relay port per phone
    for port in relay_ports:
        into = [n for f, n in rtp.items() if f[3] == port]
        out_of = [n for f, n in rtp.items() if f[1] == port]
        assert len(into) == len(out_of) == 1, flows
        assert min(*into, *out_of) > 25 * TALK_SECONDS, flows
    phone_ports = {p for f in rtp for p in (f[1], f[3]) if not low <= p <= high}
    assert len(phone_ports) == 2, f"phones' RTP ports: {phone_ports}"
