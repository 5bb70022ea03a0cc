"""A bare SIP user agent on a UDP socket of 127.0.0.1, driven by hand in tests where
SIPp or baresip cannot play the part (media checks, transfers, messaging)."""

from __future__ import annotations

import socket

from sipline.sip import Request, new_branch, new_call_id, new_tag


class UdpSipPeer:
    """Its socket, its Contact and Via, and the REGISTER that binds it to ``user``."""

    def __init__(self, user: str, server_port: int) -> None:
        self.user = user
        self.server = ("127.0.0.1", server_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@127.0.0.1:{self.port}>"

    def via(self) -> tuple[str, str]:
        return ("Via", f"SIP/2.0/UDP 127.0.0.1:{self.port};branch={new_branch()};rport")

    def register_request(self, expires: int = 600) -> Request:
        return Request(
            "REGISTER",
            f"sip:127.0.0.1:{self.server[1]}",
            [
                self.via(),
                ("Max-Forwards", "70"),
                ("From", f"<sip:{self.user}@127.0.0.1>;tag={new_tag()}"),
                ("To", f"<sip:{self.user}@127.0.0.1>"),
                ("Call-ID", new_call_id()),
                ("CSeq", "1 REGISTER"),
                ("Contact", self.contact),
                ("Expires", str(expires)),
            ],
        )
