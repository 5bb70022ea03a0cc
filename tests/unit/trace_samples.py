"""A short call (INVITE ... BYE/200) as trace sink calls, for the trace tests."""

from __future__ import annotations

from sipline.sip import Address

PHONE = Address("udp", "192.0.2.10", 5062)
SERVER_UDP = Address("udp", "192.0.2.1", 5060)
SERVER_TCP = Address("tcp", "192.0.2.1", 5060)
CALLEE_TCP = Address("tcp", "192.0.2.20", 40123)
SERVER_WS6 = Address("ws", "2001:db8::1", 8080)
BROWSER_WS6 = Address("ws", "2001:db8::99", 51000)

CALL_ID = "f81d4fae-7dec-11d0-a765-00a0c91e6bf6@192.0.2.10"
SDP = (
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def message(first: str, cseq: str, *, to_tag: bool = True, body: bytes = b"") -> bytes:
    to = "To: <sip:bob@example.com>" + (";tag=b0b" if to_tag else "")
    lines = [
        first,
        "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport",
        'From: "Zoë" <sip:alice@example.com>;tag=1928301774',
        to,
        f"Call-ID: {CALL_ID}",
        f"CSeq: {cseq}",
        "Max-Forwards: 70",
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + body


INVITE = message("INVITE sip:bob@example.com SIP/2.0", "1 INVITE", to_tag=False, body=SDP)
RINGING = message("SIP/2.0 180 Ringing", "1 INVITE")
OK = message("SIP/2.0 200 OK", "1 INVITE", body=SDP)
ACK = message("ACK sip:bob@192.0.2.20 SIP/2.0", "1 ACK")
BYE = message("BYE sip:bob@192.0.2.20 SIP/2.0", "2 BYE")
BYE_OK = message("SIP/2.0 200 OK", "2 BYE")

T0 = 1_714_566_657.916812

#: (direction, transport, local, remote, timestamp, data) as the transport calls a sink.
CALL = [
    ("recv", "udp", SERVER_UDP, PHONE, T0, INVITE),
    ("send", "udp", SERVER_UDP, PHONE, T0 + 0.5, RINGING),
    ("send", "udp", SERVER_UDP, PHONE, T0 + 2.25, OK),
    ("recv", "udp", SERVER_UDP, PHONE, T0 + 2.3, ACK),
    ("recv", "udp", SERVER_UDP, PHONE, T0 + 10.000001, BYE),
    ("send", "udp", SERVER_UDP, PHONE, T0 + 10.1, BYE_OK),
]
