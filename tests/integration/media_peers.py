"""Plain-socket SIP and RTP peers for the media application tests (127.0.0.1 only).

``SipPeer`` sends requests and answers INVITEs on one UDP socket; ``RtpPeer`` sends
paced G.711 packets and keeps what it receives."""

from __future__ import annotations

import math
import socket
import threading
import time
from array import array

from harness import UdpSipPeer

from sipline.dialog import Dialog
from sipline.media import RtpHeader, RtpPacketizer, rtp_payload, ulaw_decode, ulaw_encode
from sipline.sdp import SessionDescription, connection_address
from sipline.sip import (
    Request,
    Response,
    make_response,
    new_call_id,
    new_tag,
    parse_message,
)


def sdp(port: int, formats: str = "0 101") -> bytes:
    return (
        "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP {formats}\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
    ).encode()


def media_address(body: bytes) -> tuple[str, int]:
    description = SessionDescription.parse(body)
    media = description.media[0]
    return connection_address(description, media).address, media.port


def tone(frequency: float, seconds: float, amplitude: int = 8000) -> array[int]:
    count = int(seconds * 8000)
    step = 2 * math.pi * frequency / 8000
    return array("h", (int(amplitude * math.sin(step * n)) for n in range(count)))


class SipPeer(UdpSipPeer):
    def __init__(self, name: str, server_port: int) -> None:
        super().__init__(name, server_port)
        self.name = name
        self.sock.settimeout(5)
        self.dialog: Dialog | None = None
        self.invites: list[Request] = []

    def receive(self) -> Request | Response:
        return parse_message(self.sock.recv(65535))

    def register(self) -> None:
        self.sock.sendto(bytes(self.register_request()), self.server)
        assert self.final().status_code == 200

    def final(self) -> Response:
        while True:
            message = self.receive()
            if isinstance(message, Response) and message.status_code >= 200:
                return message

    def invite(self, destination: str, body: bytes) -> Request:
        invite = Request(
            "INVITE",
            f"sip:{destination}@127.0.0.1:{self.server[1]}",
            [
                self.via(),
                ("Max-Forwards", "70"),
                ("From", f"<sip:{self.name}@127.0.0.1>;tag={new_tag()}"),
                ("To", f"<sip:{destination}@127.0.0.1>"),
                ("Call-ID", new_call_id()),
                ("CSeq", "1 INVITE"),
                ("Contact", self.contact),
                ("Content-Type", "application/sdp"),
            ],
            body,
        )
        self.sock.sendto(bytes(invite), self.server)
        return invite

    def responses_until_final(self) -> list[Response]:
        out: list[Response] = []
        while not out or out[-1].status_code < 200:
            message = self.receive()
            if isinstance(message, Response):
                out.append(message)
        return out

    def ack(self, invite: Request, response: Response) -> None:
        if response.status_code < 300:
            self.dialog = Dialog.as_uac(invite, response, local_contact=self.contact)
            ack = self.dialog.create_ack(response)
            ack.headers.prepend(*self.via())  # the dialog leaves Via to the transport
        else:  # §17.1.1.3: the ACK of a failure reuses the INVITE's branch
            ack = Request(
                "ACK",
                invite.uri,
                [
                    ("Via", invite.headers.get("Via") or ""),
                    ("Max-Forwards", "70"),
                    ("From", invite.headers.get("From") or ""),
                    ("To", response.headers.get("To") or ""),
                    ("Call-ID", invite.call_id),
                    ("CSeq", f"{invite.cseq.number} ACK"),
                ],
            )
        self.sock.sendto(bytes(ack), self.server)

    def bye(self) -> Response:
        assert self.dialog is not None
        bye = self.dialog.create_request("BYE")
        bye.headers.prepend(*self.via())
        self.sock.sendto(bytes(bye), self.server)
        while True:
            response = self.final()
            if response.cseq.method == "BYE":
                return response

    def answer_one_call(self, body: bytes, wait_bye: float = 15.0) -> threading.Thread:
        """In a thread: 200 (with ``body``) to the first INVITE, 200 to its BYE."""

        def run() -> None:
            deadline = time.monotonic() + wait_bye
            tag = new_tag()
            while time.monotonic() < deadline:
                try:
                    message = self.receive()
                except TimeoutError:
                    continue
                if not isinstance(message, Request):
                    continue
                if message.method == "INVITE":
                    self.invites.append(message)
                    headers = [("Contact", self.contact), ("Content-Type", "application/sdp")]
                    response = make_response(message, 200, to_tag=tag, headers=headers, body=body)
                    self.sock.sendto(bytes(response), self.server)
                elif message.method == "BYE":
                    self.sock.sendto(bytes(make_response(message, 200)), self.server)
                    return

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


class RtpPeer:
    """Sends G.711 µ-law in 20 ms packets and keeps every packet it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.packetizer = RtpPacketizer()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.received.append(self.sock.recv(2048))
            except TimeoutError:
                continue
            except OSError:
                return

    def send_payloads(self, payloads: list[bytes], destination: tuple[str, int]) -> None:
        due = time.monotonic()
        for payload in payloads:
            self.sock.sendto(self.packetizer.packet(0, payload, len(payload)), destination)
            due += 0.02
            time.sleep(max(0.0, due - time.monotonic()))

    def send_audio(self, samples: array[int], destination: tuple[str, int]) -> None:
        payload = ulaw_encode(samples)
        self.send_payloads([payload[i : i + 160] for i in range(0, len(payload), 160)], destination)

    def audio(self) -> array[int]:
        """The PCMU payloads received, decoded, in sequence-number order."""
        packets = [(RtpHeader.parse(p), rtp_payload(p)) for p in self.received]
        ordered = sorted((h.sequence, p) for h, p in packets if h and p and h.payload_type == 0)
        out = array("h")
        for _, payload in ordered:
            out.extend(ulaw_decode(payload))
        return out

    def close(self) -> None:
        self._stop.set()
        self._reader.join(timeout=1)
        self.sock.close()
