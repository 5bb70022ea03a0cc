"""A plain-socket SIP phone for the transfer and messaging tests (127.0.0.1 only).

``Phone`` is driven step by step by the test: ``expect()`` returns the next
request or response that matches (keeping the others for later, and answering
retransmitted requests with the response already sent), ``respond()`` answers a
request, ``call()``/``answer()`` set up dialogs, ``send_in_dialog()`` sends a
request in one and waits for its final response.  SIPp cannot easily hold two
calls and send a REFER naming one of them in the other, hence these peers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from harness import UdpSipPeer

from sipline.dialog import Dialog
from sipline.sip import (
    Message,
    Request,
    Response,
    make_response,
    new_call_id,
    new_tag,
    parse_message,
)


def sdp(name: str, port: int, version: int = 1) -> bytes:
    return (
        f"v=0\r\no={name} 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
        f"t=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    ).encode()


Match = Callable[[Message], bool]


def request(method: str) -> Match:
    return lambda m: isinstance(m, Request) and m.method == method


def response(method: str, final: bool = True) -> Match:
    return lambda m: (
        isinstance(m, Response) and m.cseq.method == method and (m.status_code >= 200 or not final)
    )


class Phone(UdpSipPeer):
    def __init__(self, user: str, server_port: int) -> None:
        super().__init__(user, server_port)
        self.kept: list[Message] = []
        self.seen: dict[tuple[str, str], bytes | None] = {}  # (branch, method) -> answer

    def send(self, message: Message) -> None:
        self.sock.sendto(bytes(message), self.server)

    # -- receiving ------------------------------------------------------------------------
    def _next(self, deadline: float) -> Message | None:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                return None
            message = parse_message(data)
            if isinstance(message, Request) and message.method != "ACK":
                key = (message.top_via.branch or "", message.method)
                if key in self.seen:  # a retransmission: answer it again
                    answer = self.seen[key]
                    if answer is not None:
                        self.sock.sendto(answer, self.server)
                    continue
                self.seen[key] = None
            return message

    def expect(self, match: Match, timeout: float = 5.0) -> Message:
        for index, message in enumerate(self.kept):
            if match(message):
                return self.kept.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            message = self._next(deadline)
            if message is None:
                kept = [m.method if isinstance(m, Request) else m.status_code for m in self.kept]
                raise AssertionError(f"{self.user}: nothing expected came (kept {kept})")
            if match(message):
                return message
            self.kept.append(message)

    def expect_request(self, method: str, timeout: float = 5.0) -> Request:
        message = self.expect(request(method), timeout)
        assert isinstance(message, Request)
        return message

    def expect_final(self, method: str, timeout: float = 5.0) -> Response:
        message = self.expect(response(method), timeout)
        assert isinstance(message, Response)
        return message

    def respond(
        self,
        incoming: Request,
        status: int,
        *,
        to_tag: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> Response:
        out = make_response(incoming, status, to_tag=to_tag, headers=headers or [], body=body)
        data = bytes(out)
        self.sock.sendto(data, self.server)
        if status >= 200:
            self.seen[(incoming.top_via.branch or "", incoming.method)] = data
        return out

    # -- dialogs --------------------------------------------------------------------------
    def register(self) -> None:
        self.send(self.register_request())
        assert self.expect_final("REGISTER").status_code == 200

    def invite(
        self, target: str, body: bytes, extra: list[tuple[str, str]] | None = None
    ) -> Request:
        invite = Request(
            "INVITE",
            f"sip:{target}@127.0.0.1:{self.server[1]}",
            [
                self.via(),
                ("Max-Forwards", "70"),
                ("From", f"<sip:{self.user}@127.0.0.1>;tag={new_tag()}"),
                ("To", f"<sip:{target}@127.0.0.1>"),
                ("Call-ID", new_call_id()),
                ("CSeq", "1 INVITE"),
                ("Contact", self.contact),
                *(extra or []),
                ("Content-Type", "application/sdp"),
            ],
            body,
        )
        self.send(invite)
        return invite

    def acknowledge(self, invite: Request, ok: Response) -> Dialog:
        dialog = Dialog.as_uac(invite, ok, local_contact=self.contact)
        ack = dialog.create_ack(ok)
        ack.headers.prepend(*self.via())
        self.send(ack)
        return dialog

    def answer(self, invite: Request, body: bytes) -> Dialog:
        tag = new_tag()
        headers = [("Contact", self.contact), ("Content-Type", "application/sdp")]
        self.respond(invite, 200, to_tag=tag, headers=headers, body=body)
        self.expect_request("ACK")
        return Dialog.as_uas(invite, tag, local_contact=self.contact, early=False)

    def send_in_dialog(
        self,
        dialog: Dialog,
        method: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response:
        out = dialog.create_request(
            method, headers=headers or [], body=body, content_type=content_type
        )
        if method == "BYE":
            dialog.terminate()
        out.headers.prepend(*self.via())
        self.send(out)
        return self.expect_final(method)
