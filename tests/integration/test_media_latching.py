"""The relay's symmetric RTP (latching), media timeout and refused SDP, with a
hand-driven caller against a real baresip callee through `sipline serve`.

The caller is this test: a UDP SIP socket and an RTP socket on 127.0.0.1, whose SDP
advertises another address, as a phone behind NAT advertises its private address.
The relay sends to the SDP address until the phone's first packet arrives (a phone
may wait to hear before it talks), then only to the source it learnt.  Were the
advertised address 10.0.0.1 as on a real NAT, those first packets would leave the
host, which no test may do: the test advertises 127.0.0.2 instead, an address of
the loopback where nothing listens (so nothing is received there either), and
checks in a capture that nothing goes to it once the caller has spoken.

The callee (baresip, auto-answer, 1000 Hz sine) records what it hears.
"""

from __future__ import annotations

import json
import math
import secrets
import shutil
import socket
import subprocess
import sys
import time
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dpkt
import pytest
from harness import (
    Baresip,
    BaresipFactory,
    CaptureFactory,
    ServerFactory,
    ServerProcess,
    account_line,
)
from media_support import (
    import_users,
    rtp_port_range,
    strongest,
    tone_frequency,
    wav_samples,
)

from sipline.media import ulaw_decode, ulaw_encode
from sipline.sip import Request, Response, parse_message

pytestmark = pytest.mark.integration

DOMAIN = "127.0.0.1"
CALLEE, PASSWORD = "1001", "bob-secret-1001"
CALLEE_TONE, CALLER_TONE = 1000, 600
NAT_ADDRESS = "127.0.0.2"  # stands in for a private address such as 10.0.0.1
MEDIA_TIMEOUT = 2


@pytest.fixture
def rtp_ports() -> tuple[int, int]:
    return rtp_port_range()


@pytest.fixture
def server(
    sipline_server: ServerFactory, harness_dir: Path, rtp_ports: tuple[int, int]
) -> ServerProcess:
    data_dir = harness_dir / "data"
    import_users(data_dir, {CALLEE: PASSWORD})
    config = harness_dir / "sipline.toml"
    low, high = rtp_ports
    config.write_text(
        "[auth]\nregister = true\ninvite = false\n\n"
        f'[media]\nmode = "relay"\nrtp_ports = "{low}-{high}"\n'
        f"media_timeout = {MEDIA_TIMEOUT}\n"
    )
    return sipline_server(
        *("--config", str(config), "--listen", "udp:{host}:{port}", "--data", "{data_dir}"),
        *("--domain", DOMAIN, "--admin", "off"),
        data_dir=data_dir,
    )


@pytest.fixture
def callee(baresip: BaresipFactory, server: ServerProcess) -> Baresip:
    line = account_line(
        CALLEE, DOMAIN, password=PASSWORD, outbound=server.hostport, answermode="auto"
    )
    phone = baresip("callee")
    (phone.config_dir / "recordings").mkdir(parents=True)  # sndfile does not create it
    phone.start(line, record=True, extra_config={"audio_source": f"ausine,{CALLEE_TONE}"})
    assert phone.wait_registered(), phone.output()
    return phone


class Caller:
    """A minimal UAC over UDP: INVITE, ACK, BYE, and G.711 RTP from its own port."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = (server.host, server.port)
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind(("127.0.0.1", 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.sip_port = self.sip.getsockname()[1]
        self.rtp_port = self.rtp.getsockname()[1]
        self.call_id = f"latch-{secrets.token_hex(6)}"
        self.tag = secrets.token_hex(4)
        self.remote_tag = ""
        self.remote_target = f"sip:{CALLEE}@{DOMAIN}"
        self.cseq = 0
        self.sequence, self.timestamp, self.ssrc = 1, 0, 0x5EED1234
        self.relay: tuple[str, int] | None = None  # from the 200's SDP

    def close(self) -> None:
        self.sip.close()
        self.rtp.close()

    def sdp(self, advertised: str, port: int) -> bytes:
        return (
            f"v=0\r\no=- 1 1 IN IP4 {advertised}\r\ns=-\r\nc=IN IP4 {advertised}\r\n"
            f"t=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        ).encode()

    def _request(self, method: str, body: bytes = b"", cseq: int | None = None) -> bytes:
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        to_tag = f";tag={self.remote_tag}" if self.remote_tag else ""
        uri = self.remote_target if method != "INVITE" else f"sip:{CALLEE}@{DOMAIN}"
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.sip_port};branch=z9hG4bK{secrets.token_hex(6)};rport",
            "Max-Forwards: 70",
            f"From: <sip:caller@{DOMAIN}>;tag={self.tag}",
            f"To: <sip:{CALLEE}@{DOMAIN}>{to_tag}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:caller@127.0.0.1:{self.sip_port}>",
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def _send(self, data: bytes) -> None:
        self.sip.sendto(data, self.server)

    def messages(self, timeout: float) -> Iterator[Request | Response]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sip.settimeout(left)
            try:
                data = self.sip.recv(65535)
            except TimeoutError:
                return
            yield parse_message(data)

    def invite(self, body: bytes, timeout: float = 10.0) -> Response:
        """Send the INVITE; its final response (ACKed by us when 2xx)."""
        self._send(self._request("INVITE", body))
        for message in self.messages(timeout):
            if isinstance(message, Response) and message.status_code >= 200:
                if message.status_code < 300:
                    self.remote_tag = message.to.tag or ""
                    self.remote_target = str(message.contacts[0].uri)
                    self.relay = relay_address(message.body)
                    self._send(self._request("ACK", cseq=message.cseq.number))
                return message
        raise AssertionError(f"no final response to the INVITE within {timeout} s")

    def bye(self, timeout: float = 5.0) -> Response:
        self._send(self._request("BYE"))
        for message in self.messages(timeout):
            if isinstance(message, Response) and message.cseq.method == "BYE":
                return message
        raise AssertionError("no response to our BYE")

    def wait_bye(self, timeout: float) -> Request:
        """The server's BYE, answered 200."""
        for message in self.messages(timeout):
            if isinstance(message, Request) and message.method == "BYE":
                ok = bytes(message)  # echo the headers a 200 needs
                head = ok.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
                keep = (b"via", b"from", b"to", b"call-id", b"cseq")
                lines = [h for h in head if h.split(b":", 1)[0].strip().lower() in keep]
                reply = b"\r\n".join([b"SIP/2.0 200 OK", *lines, b"Content-Length: 0"])
                self._send(reply + b"\r\n\r\n")
                return message
        raise AssertionError(f"no BYE from the server within {timeout} s")

    def talk(self, seconds: float, tone: int) -> array[int]:
        """Send 20 ms PCMU packets of ``tone`` for ``seconds`` to the relay port of the
        200's SDP; the linear samples of every packet received on our RTP port."""
        assert self.relay is not None
        heard = array("h")
        start = time.monotonic()
        packets = int(seconds * 50)
        for index in range(packets):
            samples = array(
                "h",
                (
                    int(8000 * math.sin(2 * math.pi * tone * (self.timestamp + i) / 8000))
                    for i in range(160)
                ),
            )
            header = bytes([0x80, 0x00]) + self.sequence.to_bytes(2, "big")
            header += self.timestamp.to_bytes(4, "big") + self.ssrc.to_bytes(4, "big")
            self.rtp.sendto(header + ulaw_encode(samples), self.relay)
            self.sequence, self.timestamp = self.sequence + 1, self.timestamp + 160
            heard.extend(self._drain(start + (index + 1) * 0.02))
        return heard

    def _drain(self, until: float) -> array[int]:
        out = array("h")
        while (left := until - time.monotonic()) > 0:
            self.rtp.settimeout(left)
            try:
                data, source = self.rtp.recvfrom(2048)
            except TimeoutError:
                break
            assert source == self.relay, f"RTP from {source}, not the relay {self.relay}"
            if len(data) > 12 and data[1] & 0x7F == 0:
                out.extend(ulaw_decode(data[12:]))
        return out


def relay_address(sdp: bytes) -> tuple[str, int]:
    text = sdp.decode()
    address = next(line[9:] for line in text.split("\r\n") if line.startswith("c=IN IP4 "))
    port = next(int(line.split()[1]) for line in text.split("\r\n") if line.startswith("m=audio"))
    return address.strip(), port


@pytest.fixture
def caller(server: ServerProcess) -> Iterator[Caller]:
    peer = Caller(server)
    yield peer
    peer.close()


def packets_to(pcap: Path, address: str) -> list[float]:
    """Capture times of the UDP datagrams sent to ``address``."""
    times = []
    target = socket.inet_aton(address)
    with pcap.open("rb") as handle:
        for stamp, frame in dpkt.pcap.Reader(handle):
            packet = dpkt.ethernet.Ethernet(frame).data
            if isinstance(packet, dpkt.ip.IP) and packet.dst == target:
                times.append(float(stamp))
    return times


def cdrs(server: ServerProcess) -> list[dict[str, Any]]:
    script = (
        "import json, sys; from sipline.store import open_store; s = open_store(sys.argv[1]);"
        "print(json.dumps([{'cause': r.cause, 'data': r.data} for r in s.list_cdrs()]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(server.data_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    records: list[dict[str, Any]] = json.loads(done.stdout)
    return records


def test_latching_a_phone_that_advertises_a_private_address(
    caller: Caller,
    callee: Baresip,
    tshark: CaptureFactory,
    rtp_ports: tuple[int, int],
    tmp_path: Path,
) -> None:
    low, high = rtp_ports
    capture = tshark(bpf=f"udp and (host {NAT_ADDRESS} or portrange {low}-{high})")
    final = caller.invite(caller.sdp(NAT_ADDRESS, 40000))
    assert final.status_code == 200, final
    assert caller.relay is not None
    assert caller.relay[0] == "127.0.0.1"
    assert low <= caller.relay[1] <= high
    first_packet_at = time.time()
    heard = caller.talk(3.0, CALLER_TONE)
    assert caller.bye().status_code == 200
    callee.wait_event("CALL_CLOSED")
    capture.stop()
    pcap = tmp_path / "latching.pcap"
    shutil.copyfile(capture.pcap_path, pcap)

    # The caller got the callee's audio on the port it sends from, not the SDP's.
    assert len(heard) > 8000, f"{len(heard)} samples received"
    assert abs(tone_frequency(heard, 8000) - CALLEE_TONE) < CALLEE_TONE * 0.05
    assert strongest(heard, 8000, (CALLEE_TONE, CALLER_TONE, 440, 2000)) == CALLEE_TONE
    # The callee heard the caller (the relay forwarded what it latched onto).
    recording = sorted((callee.config_dir / "recordings").glob("dump-*-dec.wav"))[-1]
    samples, rate = wav_samples(recording)
    assert abs(tone_frequency(samples, rate) - CALLER_TONE) < CALLER_TONE * 0.05
    # Once the caller spoke, nothing more went to its advertised address.
    late = [t for t in packets_to(pcap, NAT_ADDRESS) if t > first_packet_at + 0.2]
    assert late == [], f"{len(late)} packets to {NAT_ADDRESS} after latching"


def test_media_timeout_hangs_up_both_legs(
    caller: Caller, callee: Baresip, server: ServerProcess
) -> None:
    final = caller.invite(caller.sdp("127.0.0.1", caller.rtp_port))
    assert final.status_code == 200
    caller.talk(1.0, CALLER_TONE)  # then silence: the phone "lost its network"
    bye = caller.wait_bye(timeout=MEDIA_TIMEOUT + 5)
    assert bye.headers.get("Reason") == 'Q.850;cause=102;text="MEDIA_TIMEOUT"'
    assert (bye.headers.get("P-RTP-Stat") or "").startswith("PS=")
    callee.wait_event("CALL_CLOSED")
    assert 'Reason: Q.850;cause=102;text="MEDIA_TIMEOUT"' in callee.output()
    deadline = time.monotonic() + 5
    while not (records := cdrs(server)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(records) == 1
    assert records[0]["cause"] == "MEDIA_TIMEOUT"
    assert records[0]["data"]["hangup_side"] == "system"
    legs = {leg["leg"]: leg for leg in records[0]["data"]["media"]["legs"]}
    assert legs["caller"]["packets_received"] >= 40  # the second it talked


def test_malformed_sdp_gets_400_with_a_warning(caller: Caller, callee: Baresip) -> None:
    final = caller.invite(b"v=0\r\nthis is not SDP\r\n")
    assert final.status_code == 400
    assert (final.headers.get("Warning") or "").startswith('399 sipline "')
    assert "Q.850;cause=" in (final.headers.get("Reason") or "")
    assert not [e for e in callee.events if e.get("type") == "CALL_INCOMING"]
