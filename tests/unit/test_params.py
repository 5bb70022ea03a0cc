"""Params and the lexical helpers (tokens, quoted strings, top-level splitting)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipline.sip._errors import SipParseError
from sipline.sip._params import (
    Params,
    is_token,
    quote_string,
    split_top_level,
    unquote_string,
)


def test_parse_keeps_order_spelling_and_flags() -> None:
    params = Params.parse(";Branch=z9hG4bK1;rport;Received=192.0.2.1")
    assert params.items() == (("Branch", "z9hG4bK1"), ("rport", None), ("Received", "192.0.2.1"))
    assert params.get("branch") == "z9hG4bK1"
    assert params.get("BRANCH") == "z9hG4bK1"
    assert params.get("rport") is None
    assert params.has("RPORT")
    assert "rport" in params
    assert "missing" not in params
    assert params.get("missing") is None
    assert len(params) == 3
    assert list(params) == ["Branch", "rport", "Received"]
    assert params.names() == ("branch", "rport", "received")
    assert str(params) == ";Branch=z9hG4bK1;rport;Received=192.0.2.1"


def test_lws_around_separators_is_tolerated() -> None:
    # RFC 4475 §3.1.1.1 (wsinv) style: LWS around ";" and "=", folded lines.
    params = Params.parse(" ;   tag    = 1918181833n\r\n  ; q = 0.33 ;\r\n  secondparam ")
    assert params.items() == (("tag", "1918181833n"), ("q", "0.33"), ("secondparam", None))


def test_quoted_values_are_kept_raw_and_unquoted_on_request() -> None:
    params = Params.parse(';text="Call completed; elsewhere \\"now\\"";cause=200')
    assert params.get("text") == '"Call completed; elsewhere \\"now\\""'
    assert params.get_unquoted("text") == 'Call completed; elsewhere "now"'
    assert params.get_unquoted("cause") == "200"
    assert params.get_unquoted("nope") is None


def test_ipv6_values() -> None:
    params = Params.parse(";received=2001:db8::9:255;maddr=[2001:db8::1]")
    assert params.get("received") == "2001:db8::9:255"
    assert params.get("maddr") == "[2001:db8::1]"


def test_empty_text_gives_no_params() -> None:
    assert len(Params.parse("")) == 0
    assert not Params.parse("   ")
    assert str(Params()) == ""


@pytest.mark.parametrize(
    "text",
    [";;", ";", ";a=", ";=b", "a=b", ";a=b;", ";a b", ';a="unterminated', ";a=b c", ";,;"],
)
def test_malformed_params_raise(text: str) -> None:
    with pytest.raises(SipParseError) as info:
        Params.parse(text, header="Via")
    assert info.value.header == "Via"
    assert info.value.status_hint == 400


def test_with_and_without_are_copies() -> None:
    params = Params.parse(";tag=1;lr")
    changed = params.with_("TAG", "2")
    assert changed.items() == (("tag", "2"), ("lr", None))
    assert params.get("tag") == "1"
    assert params.with_("expires", "60").items() == (("tag", "1"), ("lr", None), ("expires", "60"))
    assert params.without("LR").items() == (("tag", "1"),)
    assert params.without("absent") is params
    dup = Params([("a", "1"), ("b", None), ("A", "3")])
    assert dup.with_("a", "9").items() == (("a", "9"), ("b", None))
    assert dup.without("a").items() == (("b", None),)


def test_equality_ignores_name_case_but_not_order_or_values() -> None:
    assert Params.parse(";Tag=1;LR") == Params.parse(";tag=1;lr")
    assert hash(Params.parse(";Tag=1")) == hash(Params.parse(";tag=1"))
    assert Params.parse(";tag=1") != Params.parse(";tag=2")
    assert Params.parse(";a;b") != Params.parse(";b;a")
    assert Params() != "not params"


def test_is_token() -> None:
    assert is_token("INVITE")
    assert is_token("!interesting-Method0123456789_*+`.%indeed'~")
    assert not is_token("")
    assert not is_token("a b")
    assert not is_token("a,b")
    assert not is_token('"a"')


def test_quote_and_unquote() -> None:
    assert quote_string('J Rosenberg \\"') == '"J Rosenberg \\\\\\""'
    assert unquote_string('"J Rosenberg \\\\\\""') == 'J Rosenberg \\"'
    assert unquote_string("plain") == "plain"
    assert unquote_string('""') == ""
    # Control characters travel as quoted-pairs; CR/LF can never be carried.
    assert quote_string("a\x00b") == '"a\\\x00b"'
    assert quote_string("evil\r\nVia: x") == '"evil  Via: x"'


def test_split_top_level() -> None:
    assert split_top_level("a, b ,c") == ["a", "b", "c"]
    assert split_top_level('"Doe, John" <sip:a@b>, <sip:c,d@e>;x="1,2"') == [
        '"Doe, John" <sip:a@b>',
        '<sip:c,d@e>;x="1,2"',
    ]
    assert split_top_level('"a\\",b", c') == ['"a\\",b"', "c"]
    assert split_top_level("a;b", ";") == ["a", "b"]
    assert split_top_level(";;,;,,") == [";;", ";", "", ""]


@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[A-Za-z0-9\-.!%*_+`'~]+", fullmatch=True),
            st.none()
            | st.from_regex(r"[A-Za-z0-9\-.!%*_+`'~:]+", fullmatch=True)
            | st.text(max_size=10).map(quote_string),
        ),
        max_size=5,
    )
)
def test_render_then_parse_round_trip(items: list[tuple[str, str | None]]) -> None:
    params = Params(items)
    assert Params.parse(str(params)) == params


@given(st.text(max_size=20))
def test_quote_round_trip(text: str) -> None:
    if "\r" not in text and "\n" not in text:
        assert unquote_string(quote_string(text)) == text
        assert len(Params.parse(";x=" + quote_string(text))) == 1


@given(st.text(max_size=40))
def test_random_text_only_raises_parse_error(text: str) -> None:
    try:
        Params.parse(text)
    except SipParseError:
        pass
