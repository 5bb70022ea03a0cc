"""REFER / Replaces parsing, the sipfrag NOTIFY bodies and the Replaces matcher."""

from __future__ import annotations

import pytest

from sipline.b2bua._refer import (
    SIPFRAG_TYPE,
    Replaces,
    match_replaces,
    notify_headers,
    parse_refer_to,
    parse_replaces,
    refer_sub_wanted,
    sipfrag,
)
from sipline.sip import RemoteProtocolError, Request, parse_message


def refer(*refer_to: str, extra: str = "") -> Request:
    lines = "".join(f"Refer-To: {value}\r\n" for value in refer_to)
    message = parse_message(
        (
            "REFER sip:sipline@127.0.0.1:5060 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx1\r\n"
            "From: <sip:1000@127.0.0.1>;tag=a\r\nTo: <sip:1001@127.0.0.1>;tag=b\r\n"
            f"Call-ID: c1\r\nCSeq: 3 REFER\r\n{lines}{extra}Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(message, Request)
    return message


def test_blind_refer_to() -> None:
    target = parse_refer_to(refer("<sip:1002@127.0.0.1>"))
    assert (target.user, target.domain, target.replaces) == ("1002", "127.0.0.1", None)
    assert str(target.uri) == "sip:1002@127.0.0.1"


def test_refer_to_addr_spec_and_compact_form() -> None:
    message = parse_message(
        b"REFER sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\nf: <sip:a@h>;tag=1\r\n"
        b"t: <sip:b@h>;tag=2\r\ni: c\r\nCSeq: 1 REFER\r\nr: sip:1002@Example.COM\r\n"
        b"l: 0\r\n\r\n"
    )
    assert isinstance(message, Request)
    target = parse_refer_to(message)
    assert (target.user, target.domain) == ("1002", "example.com")


def test_attended_refer_to_with_escaped_replaces() -> None:
    value = (
        "<sip:1002@127.0.0.1?Replaces=abc%40host-1%3Bto-tag%3D77ab%3Bfrom-tag%3D66cd"
        "&Require=replaces>"
    )
    target = parse_refer_to(refer(value))
    assert target.replaces == Replaces("abc@host-1", "77ab", "66cd")
    assert str(target.uri) == "sip:1002@127.0.0.1"  # URI headers are not called


def test_replaces_with_early_only_and_spaces() -> None:
    parsed = parse_replaces("call-9 ; from-tag=f1 ;to-tag=t2; early-only")
    assert parsed == Replaces("call-9", "t2", "f1", early_only=True)


@pytest.mark.parametrize(
    "value",
    [
        "",
        ";to-tag=a;from-tag=b",
        "c1;to-tag=a",
        "c1;from-tag=b",
        "c1;to-tag=;from-tag=b",
        "c1;to-tag=a b;from-tag=c",
        "c 1;to-tag=a;from-tag=b",
    ],
)
def test_bad_replaces_is_400(value: str) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        parse_replaces(value)
    assert caught.value.status_hint == 400


def test_refer_to_count_and_scheme() -> None:
    for message in (refer(), refer("<sip:1@h>", "<sip:2@h>")):
        with pytest.raises(RemoteProtocolError) as caught:
            parse_refer_to(message)
        assert caught.value.status_hint == 400
    with pytest.raises(RemoteProtocolError) as caught:
        parse_refer_to(refer("<tel:+15551234>"))
    assert caught.value.status_hint == 416
    with pytest.raises(RemoteProtocolError) as caught:
        parse_refer_to(refer("<sip:1002@h?Replaces=c1%3Bto-tag%3Da>"))
    assert caught.value.status_hint == 400


def test_refer_sub() -> None:
    assert refer_sub_wanted(refer("<sip:1@h>"))
    assert not refer_sub_wanted(refer("<sip:1@h>", extra="Refer-Sub: False\r\n"))
    assert refer_sub_wanted(refer("<sip:1@h>", extra="Refer-Sub: true\r\n"))


def test_sipfrag_bodies_and_notify_headers() -> None:
    assert sipfrag(100) == b"SIP/2.0 100 Trying\r\n"
    assert sipfrag(200) == b"SIP/2.0 200 OK\r\n"
    assert sipfrag(486) == b"SIP/2.0 486 Busy Here\r\n"
    assert sipfrag(503, "Down\r\nX: y") == b"SIP/2.0 503 DownX: y\r\n"  # no header injection
    assert SIPFRAG_TYPE == "message/sipfrag;version=2.0"
    assert notify_headers(100) == [
        ("Event", "refer"),
        ("Subscription-State", "active;expires=60"),
    ]
    assert notify_headers(180)[1][1].startswith("active")
    for status in (200, 404, 603):
        assert notify_headers(status)[1] == (
            "Subscription-State",
            "terminated;reason=noresource",
        )


def test_match_replaces() -> None:
    # (Call-ID, our tag) -> (name, remote tag)
    dialogs = {("c1", "ours"): ("first", "theirs"), ("c2", "x"): ("second", "y")}

    def remote(entry: tuple[str, str]) -> str:
        return entry[1]

    # RFC 3891 §3: to-tag is our local tag, from-tag the remote one.
    assert match_replaces(Replaces("c1", "ours", "theirs"), dialogs, remote) == (
        "first",
        "theirs",
    )
    # Swapped tags (seen from some phones) still match, both tags checked.
    assert match_replaces(Replaces("c1", "theirs", "ours"), dialogs, remote) is not None
    assert match_replaces(Replaces("c1", "ours", "other"), dialogs, remote) is None
    assert match_replaces(Replaces("c3", "ours", "theirs"), dialogs, remote) is None
    assert match_replaces(Replaces("c2", "x", "theirs"), dialogs, remote) is None
