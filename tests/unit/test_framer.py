"""StreamFramer: Content-Length framing on TCP/TLS/WS streams."""

from __future__ import annotations

import pytest

from sipline.sip import Request, Response, SipParseError, StreamFramer

MESSAGE = (
    b"OPTIONS sip:a@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP h.example.com;branch=z9hG4bK1\r\n"
    b"From: <sip:b@example.com>;tag=1\r\n"
    b"To: <sip:a@example.com>\r\n"
    b"Call-ID: abc@h\r\n"
    b"CSeq: 2 OPTIONS\r\n"
    b"Content-Length: 4\r\n\r\n"
    b"body"
)
RESPONSE = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/TCP h.example.com;branch=z9hG4bK1\r\n"
    b"From: <sip:b@example.com>;tag=1\r\n"
    b"To: <sip:a@example.com>;tag=2\r\n"
    b"Call-ID: abc@h\r\n"
    b"CSeq: 2 OPTIONS\r\n"
    b"l: 0\r\n\r\n"
)


def test_several_messages_in_one_read() -> None:
    framer = StreamFramer()
    messages = framer.feed(MESSAGE + RESPONSE + MESSAGE)
    assert [type(m) for m in messages] == [Request, Response, Request]
    assert messages[0].body == b"body"
    assert bytes(messages[1]) == RESPONSE
    assert framer.buffered == 0


def test_one_byte_at_a_time() -> None:
    framer = StreamFramer()
    out = []
    stream = MESSAGE + RESPONSE
    for i in range(len(stream)):
        out.extend(framer.feed(stream[i : i + 1]))
    assert [bytes(m) for m in out] == [MESSAGE, RESPONSE]


def test_keepalive_ping_is_counted_and_pong_ignored() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == []
    assert framer.take_pings() == 1
    assert framer.take_pings() == 0
    messages = framer.feed(b"\r\n" + MESSAGE + b"\r\n\r\n" + RESPONSE)
    assert len(messages) == 2
    assert framer.take_pings() == 1


def test_ping_split_across_reads() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n") == []
    assert framer.feed(b"\r\n") == []
    assert framer.take_pings() == 1


def test_missing_content_length_is_a_framing_error() -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError, match="Content-Length"):
        framer.feed(RESPONSE.replace(b"l: 0\r\n", b""))


def test_wrong_content_length_desynchronises_and_fails() -> None:
    framer = StreamFramer()
    bad = MESSAGE.replace(b"Content-Length: 4", b"Content-Length: 2")
    # "bo" is the body, "dy" then starts a new message that cannot parse.
    framer.feed(bad)
    with pytest.raises(SipParseError):
        framer.feed(b"\r\n\r\n" + RESPONSE)


def test_size_limit() -> None:
    framer = StreamFramer(max_message_size=200)
    with pytest.raises(SipParseError, match=r"limit|longer"):
        framer.feed(MESSAGE.replace(b"Content-Length: 4", b"Content-Length: 4000"))
    framer = StreamFramer(max_message_size=100)
    with pytest.raises(SipParseError):
        framer.feed(b"X" * 101)


def test_body_arriving_later() -> None:
    framer = StreamFramer()
    head, body = MESSAGE[:-4], MESSAGE[-4:]
    assert framer.feed(head) == []
    (message,) = framer.feed(body)
    assert message.body == b"body"


def test_frames_are_returned_unparsed_so_one_bad_message_is_not_fatal() -> None:
    framer = StreamFramer()
    bad = MESSAGE.replace(b"CSeq: 2 OPTIONS", b"CSeq: x OPTIONS")
    frames = framer.frames(bad + RESPONSE)
    assert frames == [bad, RESPONSE]
    with pytest.raises(SipParseError):
        StreamFramer().feed(bad)
