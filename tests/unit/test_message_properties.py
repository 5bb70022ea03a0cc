"""Property tests: generated messages round-trip; random or mutated bytes only
ever raise ``SipParseError``."""

from __future__ import annotations

import contextlib
import string
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sipline.sip import Request, Response, SipParseError, StreamFramer, parse_message

TORTURE = Path(__file__).parent.parent / "data" / "torture"
SAMPLES = [p.read_bytes() for p in sorted(TORTURE.glob("*.dat"))]

token = st.text(string.ascii_letters + string.digits + "-.!%*_+`'~", min_size=1, max_size=12)
host = st.sampled_from(["example.com", "192.0.2.1", "[2001:db8::1]", "h.example.org"])
user = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=10)
safe_value = st.text(string.ascii_letters + string.digits + " -./=@", min_size=0, max_size=30).map(
    str.strip
)


@st.composite
def messages(draw: st.DrawFn) -> Request | Response:
    branch = "z9hG4bK" + draw(token)
    headers = [
        (
            "Via",
            f"SIP/2.0/{draw(st.sampled_from(['UDP', 'TCP', 'TLS']))} {draw(host)}:5060;branch={branch}",
        ),
        ("From", f"<sip:{draw(user)}@{draw(host)}>;tag={draw(token)}"),
        ("To", f"<sip:{draw(user)}@{draw(host)}>"),
        ("Call-ID", draw(token)),
        ("CSeq", f"{draw(st.integers(0, 2**31 - 1))} INVITE"),
        ("Max-Forwards", str(draw(st.integers(0, 255)))),
    ]
    extra = draw(st.lists(st.tuples(token.map(lambda t: "X-" + t), safe_value), max_size=5))
    headers.extend(extra)
    body = draw(st.binary(max_size=200))
    headers.append(("Content-Length", str(len(body))))
    if draw(st.booleans()):
        return Request("INVITE", f"sip:{draw(user)}@{draw(host)}", headers, body)
    code = draw(st.integers(100, 699))
    return Response(code, draw(safe_value), headers, body)


@given(messages())
def test_generated_messages_round_trip_exactly(message: Request | Response) -> None:
    wire = bytes(message)
    parsed = parse_message(wire)
    assert parsed == message
    assert bytes(parsed) == wire
    (framed,) = StreamFramer().feed(wire)
    assert bytes(framed) == wire


@given(st.binary(max_size=600))
def test_random_bytes_only_raise_sip_parse_error(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse_message(data)


@settings(max_examples=300)
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_mutated_torture_messages_only_raise_sip_parse_error(
    sample: bytes, mutations: list[tuple[int, int]]
) -> None:
    data = bytearray(sample)
    for position, value in mutations:
        data[position % len(data)] = value
    try:
        message = parse_message(bytes(data))
    except SipParseError:
        return
    # Whatever parses must also serialize and expose its views without other errors.
    bytes(message)
    for view in ("vias", "from_", "to", "call_id", "cseq", "contacts", "routes", "expires"):
        with contextlib.suppress(SipParseError):
            getattr(message, view)


@given(st.sampled_from(SAMPLES), st.integers(1, 64))
def test_stream_framer_never_raises_anything_else(sample: bytes, chunk: int) -> None:
    framer = StreamFramer()
    try:
        for i in range(0, len(sample), chunk):
            framer.feed(sample[i : i + chunk])
    except SipParseError:
        pass
