"""Parser benchmark: messages per second on one core.

Each iteration parses the message, reads Via, From, To, CSeq and Call-ID, and
serializes it back, as a proxy or B2BUA does for every message it handles.

    .venv/bin/python bench/parse.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import time

from sipline.sip import parse_message

SDP = (
    b"v=0\r\n"
    b"o=bob 2890844526 2890844526 IN IP4 192.168.4.4\r\n"
    b"s=X-Lite\r\n"
    b"c=IN IP4 192.168.4.4\r\n"
    b"t=0 0\r\n"
    b"m=audio 8000 RTP/AVP 0 8 3 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:3 GSM/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)

INVITE = (
    b"INVITE sip:alice@192.168.4.4 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.4.4:26000;branch=z9hG4bK-d8754z-87d60b47b6627c3a-1---d8754z-;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:bob@192.168.4.4:26000>\r\n"
    b'To: "alice"<sip:alice@192.168.4.4>\r\n'
    b'From: "Bob"<sip:bob@192.168.4.4>;tag=15c8325a\r\n'
    b"Call-ID: YWEwYjNlZTZjOWZjNDg3ZjU3MjQ3MTA1ZmQ1MDM5YmQ.\r\n"
    b"CSeq: 2 INVITE\r\n"
    b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO\r\n"
    b"Content-Type: application/sdp\r\n"
    b'Proxy-Authorization: Digest username="bob",realm="192.168.4.4",'
    b'nonce="31c5c3e0-cc6e-46c8-a661-599b0c7f87d8",uri="sip:alice@192.168.4.4",'
    b'response="327887635344405bcd545da06763c466",cnonce="c164b74f625ff2161bd8d47dba3a0ee2",'
    b"nc=00000001,qop=auth,algorithm=MD5\r\n"
    b"User-Agent: X-Lite release 1014k stamp 47051\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n\r\n" + SDP
)

OK = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 192.168.4.4;rport=5060;branch=z9hG4bKey90QUyHZQXNN\r\n"
    b"To: <sip:alice@192.168.4.4:5090>;tag=3813e926\r\n"
    b'From: "Bob"<sip:bob@192.168.4.4>;tag=Dp9ZQS3SB26pg\r\n'
    b"Call-ID: 0d74ac35-cca4-122d-81a2-2990e5b2bd3e\r\n"
    b"CSeq: 130069215 BYE\r\n"
    b"Content-Length: 0\r\n\r\n"
)


# More variants than any value cache of the parser holds (the name-addr cache keeps
# 4096), so that From/To/Via are parsed for every message as with real traffic.
VARIANTS = 20_000


def variants(data: bytes, count: int = VARIANTS) -> list[bytes]:
    """``count`` copies of ``data`` with their own branch, tags, callee and Call-ID,
    so that no cache inside the parser sees a Via, From, To or Call-ID value twice
    within ``count`` messages."""
    out = []
    for i in range(count):
        unique = f"{i:06d}".encode()
        out.append(
            data.replace(b"branch=z9hG4bK", b"branch=z9hG4bK" + unique)
            .replace(b"tag=", b"tag=" + unique)
            .replace(b"sip:alice@", b"sip:alice" + unique + b"@")
            .replace(b"Call-ID: ", b"Call-ID: " + unique)
        )
    return out


def handle(wire: bytes) -> None:
    """The work measured: parse, read the views a proxy reads, serialize."""
    message = parse_message(wire)
    message.top_via.branch  # noqa: B018 - reading the views is the work measured
    message.from_.tag  # noqa: B018
    message.to.tag  # noqa: B018
    message.cseq  # noqa: B018
    message.call_id  # noqa: B018
    bytes(message)


def run(data: bytes, seconds: float) -> float:
    messages = variants(data)
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for wire in messages:
            handle(wire)
        count += len(messages)
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    for label, data in (
        (f"INVITE with SDP ({len(INVITE)} bytes)", INVITE),
        (f"200 OK ({len(OK)} bytes)", OK),
    ):
        rate = run(data, args.seconds)
        print(
            f"parse + Via/From/To/CSeq/Call-ID + serialize, {label}: {rate:,.0f} msg/s ({1e6 / rate:.1f} us/msg)"
        )


if __name__ == "__main__":
    main()
