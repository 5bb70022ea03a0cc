"""SIP, SIPS, tel and other URIs: parsing, rendering and RFC 3261 §19.1.4 comparison."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipline.sip._errors import SipParseError
from sipline.sip._params import Params
from sipline.sip._uri import AbsoluteUri, SipUri, TelUri, parse_uri, uris_equivalent


def sip(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    return uri


# ------------------------------------------------------------------ parsing


def test_full_sip_uri_fields() -> None:
    uri = sip("sips:alice:secret@Atlanta.example.com:5061;transport=TCP;lr?subject=hi%20there&x=1")
    assert uri.scheme == "sips"
    assert uri.user == "alice"
    assert uri.password == "secret"
    assert uri.host == "Atlanta.example.com"
    assert uri.port == 5061
    assert uri.params.get("transport") == "TCP"
    assert uri.transport == "tcp"
    assert uri.lr
    assert "lr" in uri.params
    assert uri.params.get("lr") is None
    assert uri.headers == (("subject", "hi there"), ("x", "1"))
    assert uri.aor == "alice@atlanta.example.com"
    assert uri.hostport == "Atlanta.example.com:5061"


def test_scheme_is_case_insensitive() -> None:
    assert sip("SIP:bob@example.com").scheme == "sip"
    assert sip("SiPs:bob@example.com").scheme == "sips"


def test_uri_without_user() -> None:
    uri = sip("sip:192.168.4.4;transport=UDP")
    assert uri.user is None
    assert uri.host == "192.168.4.4"
    assert uri.aor == "192.168.4.4"


def test_unmodified_uri_renders_its_original_text() -> None:
    for text in (
        "sip:%61lice@atlanta.com;transport=TCP",
        "SIP:Bob@Example.COM:5060;Transport=udp",
        "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31",
        "sips:[2001:db8::1]:5061",
        "tel:+1-201-555-0123;phone-context=example.com",
        "isbn:2983792873",
    ):
        assert str(parse_uri(text)) == text


def test_escapes_are_decoded_and_reescaped_when_modified() -> None:
    uri = sip("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert uri.user == "caller"
    assert "lr" in uri.params
    assert uri.params.get("name") == "value%41"
    changed = uri.with_param("transport", "tcp")
    assert str(changed) == "sip:caller@host5.example.net;lr;name=value%2541;transport=tcp"
    assert uris_equivalent(parse_uri(str(changed)), changed)


def test_user_with_characters_that_need_escaping() -> None:
    uri = SipUri(user="I have spaces", host="example.net")
    assert str(uri) == "sip:I%20have%20spaces@example.net"
    assert sip(str(uri)).user == "I have spaces"


def test_escaped_nul_does_not_truncate_the_user() -> None:
    # RFC 4475 §3.1.1.4 (escnull): %00 in the user part.
    one = sip("sip:null-%00-null@example.com")
    assert one.user == "null-\x00-null"
    assert one.aor == "null-\x00-null@example.com"
    assert sip("sip:%00@h.example.com").user != sip("sip:%00%00@h.example.com").user


def test_semicolon_in_user_part() -> None:
    # RFC 4475 §3.1.1.9 (semiuri): ";par=" before "@" belongs to the user part.
    uri = sip("sip:user;par=u%40example.net@example.com")
    assert uri.user == "user;par=u@example.net"
    assert uri.host == "example.com"
    assert len(uri.params) == 0


def test_embedded_sips_uri_in_user_part() -> None:
    # RFC 4475 §3.1.1.3 (esc01).
    uri = sip("sip:sips%3Auser%40example.com@example.net")
    assert uri.user == "sips:user@example.com"
    assert uri.host == "example.net"


def test_unusual_characters_in_user_and_password() -> None:
    # RFC 4475 §3.1.1.2 (intmeth) Request-URI.
    text = (
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
        "(doesn't-it)@example.com"
    )
    uri = sip(text)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert str(dataclasses.replace(uri)) == text


def test_escaped_route_header_in_uri() -> None:
    # RFC 4475 §3.3.14 (regescrt): the header is kept escaped when rendered.
    uri = sip("sip:user@example.com?Route=%3Csip:sip.example.com%3E")
    assert uri.headers == (("Route", "<sip:sip.example.com>"),)
    assert str(dataclasses.replace(uri)) == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("sip:[2001:db8::10]", "2001:db8::10", None),
        ("sip:alice@[2001:db8::10]:5070", "2001:db8::10", 5070),
        ("sip:[::ffff:192.0.2.1]", "::ffff:192.0.2.1", None),
        ("sip:user@[2001:db8::9:1];maddr=[2001:db8::9:255]", "2001:db8::9:1", None),
    ],
)
def test_ipv6_references(text: str, host: str, port: int | None) -> None:
    uri = sip(text)
    assert uri.host == host
    assert uri.port == port
    assert uri.host_ref == f"[{host}]"
    assert str(dataclasses.replace(uri)) == text


def test_ipv6_equivalence_ignores_spelling() -> None:
    assert uris_equivalent(parse_uri("sip:[2001:db8::10]"), parse_uri("sip:[2001:DB8:0::10]"))


@pytest.mark.parametrize(
    "text",
    [
        "sip:user@example.com; lr",  # LWS inside (RFC 4475 lwsruri)
        "sip:user@example.com ",
        "<sip:user@example.com>",  # brackets are not part of a URI (ltgtruri)
        "sip:user@example.com:65536",
        "sip:user@example.com:5o60",
        "sip:user@example.com:",
        "sip:[2001:db8::10",  # unterminated IPv6 reference
        "sip:[2001:db8:::192.0.2.1]",  # RFC 5118 §4.8: three colons
        "sip:[2001:db8::10:5070]:bad",
        "sip:2001:db8::10",  # IPv6 without brackets
        "sip:%zzlice@example.com",  # bad escape
        "sip:al%4@example.com",
        "sip:alice@256.1.1.1",
        "sip:alice@",
        "sip:",
        "sip:alice@exa mple.com",
        "sip:alice@example.com;transport=tcp;",
        "sip:alice@example.com?",
        "tel:",
        "tel:+1 555",
        "nocolon",
        ":nothing",
        "http:",
    ],
)
def test_malformed_uris_raise_parse_error(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_uri(text)


def test_tel_uri() -> None:
    uri = parse_uri("tel:+1-201-555-0123;Phone-Context=example.com")
    assert isinstance(uri, TelUri)
    assert uri.number == "+1-201-555-0123"
    assert uri.is_global
    assert uri.params.get("phone-context") == "example.com"
    assert uri.scheme == "tel"


def test_tel_uri_equivalence_ignores_visual_separators() -> None:
    assert uris_equivalent(parse_uri("tel:+1-201-555-0123"), parse_uri("tel:+1.201.5550123"))
    assert not uris_equivalent(parse_uri("tel:+12015550123"), parse_uri("tel:+12015550124"))
    assert uris_equivalent(
        parse_uri("tel:7042;phone-context=A.b"), parse_uri("TEL:7042;Phone-Context=a.B")
    )


@pytest.mark.parametrize(
    ("text", "scheme", "rest"),
    [
        ("isbn:2983792873", "isbn", "2983792873"),
        ("http://www.example.com", "http", "//www.example.com"),
        ("soap.beep://192.0.2.103:3002", "soap.beep", "//192.0.2.103:3002"),
        ("name:John_Smith", "name", "John_Smith"),
        ("IM:user@example.com", "im", "user@example.com"),
    ],
)
def test_other_schemes_are_opaque(text: str, scheme: str, rest: str) -> None:
    # RFC 4475 §3.3.2 (unkscm), §3.3.3 (novelsc), §3.3.4 (unksm2).
    uri = parse_uri(text)
    assert isinstance(uri, AbsoluteUri)
    assert (uri.scheme, uri.rest) == (scheme, rest)
    assert str(uri) == text


# --------------------------------------------------------- RFC 3261 §19.1.4


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
        ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
        (
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
        ),
        (
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
        ),
        ("sip:alice@atlanta.com;lr", "sip:alice@atlanta.com;LR"),
        ("sip:user@example.com;%6C%72", "sip:user@example.com;lr"),
    ],
)
def test_rfc3261_equivalent_uris(a: str, b: str) -> None:
    assert uris_equivalent(parse_uri(a), parse_uri(b))
    assert uris_equivalent(parse_uri(b), parse_uri(a))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
        ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
        ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;newparam=6"),
        ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
        ("sip:alice:pw@atlanta.com", "sip:alice:PW@atlanta.com"),
        ("sip:alice@atlanta.com;maddr=239.255.255.1", "sip:alice@atlanta.com"),
        ("sip:alice@atlanta.com;user=phone", "sip:alice@atlanta.com"),
        ("sip:alice@atlanta.com;ttl=15", "sip:alice@atlanta.com"),
        ("sip:alice@atlanta.com;method=INVITE", "sip:alice@atlanta.com;method=BYE"),
        ("sip:alice@atlanta.com?a=b", "sip:alice@atlanta.com?a=b&c=d"),
        ("sip:alice@atlanta.com", "tel:+12015550123"),
        ("sip:alice@atlanta.com", "http://atlanta.com"),
    ],
)
def test_rfc3261_non_equivalent_uris(a: str, b: str) -> None:
    assert not uris_equivalent(parse_uri(a), parse_uri(b))
    assert not uris_equivalent(parse_uri(b), parse_uri(a))


def test_user_part_is_case_sensitive_but_escapes_compare_decoded() -> None:
    assert not uris_equivalent(parse_uri("sip:alice@a.com"), parse_uri("sip:ALICE@a.com"))
    assert uris_equivalent(parse_uri("sip:%75se%72@example.com"), parse_uri("sip:user@example.com"))


def test_absolute_uri_equivalence() -> None:
    assert uris_equivalent(parse_uri("HTTP://x.example"), parse_uri("http://x.example"))
    assert not uris_equivalent(parse_uri("http://x.example"), parse_uri("http://y.example"))


def test_built_uri_renders() -> None:
    uri = SipUri(
        scheme="sips",
        user="bob",
        host="2001:db8::1",
        port=5061,
        params=Params([("transport", "tls"), ("lr", None)]),
        headers=(("Subject", "a b"),),
    )
    assert str(uri) == "sips:bob@[2001:db8::1]:5061;transport=tls;lr?Subject=a%20b"
    assert sip(str(uri)) == uri


# --------------------------------------------------------------- properties

_user = st.text(min_size=1, max_size=12)
_host = st.from_regex(r"[a-z][a-z0-9\-]{0,8}(\.[a-z][a-z0-9]{0,5}){0,2}", fullmatch=True)
_pname = st.from_regex(r"[a-zA-Z][a-zA-Z0-9\-]{0,6}", fullmatch=True)


@given(
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.none() | _user,
    password=st.none() | _user,
    host=_host | st.ip_addresses().map(str),
    port=st.none() | st.integers(0, 65535),
    params=st.lists(st.tuples(_pname, st.none() | st.text(min_size=1, max_size=8)), max_size=3),
    headers=st.lists(st.tuples(_pname, st.text(max_size=8)), max_size=2),
)
def test_render_then_parse_gives_the_same_uri(
    scheme: str,
    user: str | None,
    password: str | None,
    host: str,
    port: int | None,
    params: list[tuple[str, str | None]],
    headers: list[tuple[str, str]],
) -> None:
    uri = SipUri(
        scheme=scheme,
        user=user,
        password=password if user is not None else None,
        host=host,
        port=port,
        params=Params(params),
        headers=tuple(headers),
    )
    parsed = sip(str(uri))
    assert parsed == uri
    assert uris_equivalent(parsed, uri)


@given(st.text(max_size=60))
def test_random_text_only_raises_parse_error(text: str) -> None:
    try:
        uri = parse_uri(text)
    except SipParseError:
        return
    assert str(uri) == text


@given(st.from_regex(r"sips?:[a-z%0-9@:;=?&\[\].]{0,30}", fullmatch=True))
def test_random_sip_like_text_only_raises_parse_error(text: str) -> None:
    try:
        parse_uri(text)
    except SipParseError:
        pass
