"""Typed header views: Via, name-addr, CSeq, Content-Type, Reason, token lists."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipline.sip._errors import SipParseError
from sipline.sip._params import Params
from sipline.sip._uri import AbsoluteUri, SipUri, parse_uri
from sipline.sip._views import (
    CSeq,
    NameAddress,
    Reason,
    Via,
    parse_content_type,
    parse_cseq,
    parse_name_addr,
    parse_name_addr_list,
    parse_reason_list,
    parse_token_list,
    parse_uint,
    parse_via_list,
)

# ---------------------------------------------------------------------- Via


def test_seed_via_zoiper() -> None:
    text = "SIP/2.0/UDP 192.168.4.4:5090;branch=z9hG4bK-d8754z-d9ed3bbae47e568b-1---d8754z-;rport"
    (via,) = parse_via_list(text)
    assert via.protocol == "SIP/2.0"
    assert via.transport == "UDP"
    assert via.host == "192.168.4.4"
    assert via.port == 5090
    assert via.sent_by == "192.168.4.4:5090"
    assert via.branch == "z9hG4bK-d8754z-d9ed3bbae47e568b-1---d8754z-"
    assert via.has_rport
    assert via.rport is None
    assert via.received is None
    assert str(via) == text


def test_seed_via_freeswitch_response() -> None:
    (via,) = parse_via_list("SIP/2.0/UDP 192.168.4.4;rport=5060;branch=z9hG4bKey90QUyHZQXNN")
    assert via.port is None
    assert via.sent_by == "192.168.4.4"
    assert via.rport == 5060
    assert via.branch == "z9hG4bKey90QUyHZQXNN"


def test_via_with_param_adds_received_and_rport() -> None:
    (via,) = parse_via_list("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx;rport")
    answered = via.with_param("received", "192.0.2.7").with_param("rport", "40000")
    assert (
        str(answered) == "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx;rport=40000;received=192.0.2.7"
    )
    assert answered.received == "192.0.2.7"
    assert answered.rport == 40000
    assert via.rport is None  # the original is unchanged
    assert str(answered.without_param("rport")).endswith(";branch=z9hG4bKx;received=192.0.2.7")


def test_via_lws_everywhere() -> None:
    # RFC 4475 §3.1.1.1 (wsinv).
    (first,) = parse_via_list("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw")
    assert (first.protocol, first.transport, first.host, first.branch) == (
        "SIP/2.0",
        "UDP",
        "192.0.2.2",
        "390skdjuw",
    )
    vias = parse_via_list(
        "SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ,\r\n"
        " SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239"
    )
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]


def test_via_port_with_lws_around_colon() -> None:
    (via,) = parse_via_list("SIP/2.0/TCP host.example.com : 5070 ;branch=z9hG4bK1")
    assert via.port == 5070


@pytest.mark.parametrize("transport", ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP", "ws", "WSS"])
def test_via_transports(transport: str) -> None:
    # RFC 4475 §3.1.1.10 (transports); the transport is kept upper case.
    (via,) = parse_via_list(f"SIP/2.0/{transport} t1.example.com;branch=z9hG4bKkdjuw")
    assert via.transport == transport.upper()


def test_via_ipv6() -> None:
    (via,) = parse_via_list(
        "SIP/2.0/UDP [2001:db8::9:1]:5060;received=[2001:db8::9:255];branch=z9hG4bKas3"
    )
    assert via.host == "2001:db8::9:1"
    assert via.sent_by == "[2001:db8::9:1]:5060"
    assert via.received == "2001:db8::9:255"
    (bare,) = parse_via_list("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255")
    assert bare.received == "2001:db8::9:255"


def test_via_other_version_is_parsed_for_the_caller_to_reject() -> None:
    # RFC 4475 §3.1.2.16 (badvers): the message layer answers 505.
    (via,) = parse_via_list("SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw")
    assert via.protocol == "SIP/7.0"


def test_via_maddr_ttl() -> None:
    (via,) = parse_via_list("SIP/2.0/UDP a.example.com;maddr=224.2.0.1;ttl=16;branch=z9hG4bK1")
    assert via.maddr == "224.2.0.1"
    assert via.ttl == 16


@pytest.mark.parametrize(
    "text",
    [
        "SIP/2.0/UDP 192.0.2.15;;,;,,",  # RFC 4475 §3.1.2.1 (badinv01)
        "",
        "SIP/2.0/UDP",
        "SIP/2.0 192.0.2.1",
        "SIP/2.0/UDP 192.0.2.1:99999",
        "SIP/2.0/UDP 192.0.2.1:",
        "SIP/2.0/UDP 300.0.2.1",
        "SIP/2.0/UDP [2001:db8::1",
        "SIP/2.0/UDP [2001:db8:::1]",
        "SIP/2.0/UDP host;branch=a b",
        "SIP/2.0/UDP host, ",
        "SIP/2.0/UDP a.example.com,,SIP/2.0/UDP b.example.com",
    ],
)
def test_malformed_via_raises_with_header(text: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_via_list(text)
    assert info.value.header == "Via"


def test_bad_rport_value_raises_when_read() -> None:
    (via,) = parse_via_list("SIP/2.0/UDP host;rport=abc")
    with pytest.raises(SipParseError):
        via.rport  # noqa: B018


# ---------------------------------------------------------------- name-addr


def test_seed_from_without_space_before_angle() -> None:
    na = parse_name_addr('"Bob"<sip:bob@192.168.4.4>;tag=15c8325a', header="From")
    assert na.display_name == "Bob"
    assert isinstance(na.uri, SipUri)
    assert str(na.uri) == "sip:bob@192.168.4.4"
    assert na.tag == "15c8325a"
    assert str(na) == '"Bob" <sip:bob@192.168.4.4>;tag=15c8325a'


def test_uri_params_inside_brackets_are_not_header_params() -> None:
    na = parse_name_addr("<sip:alice@192.168.4.4;transport=UDP>;tag=9c709222")
    assert na.display_name is None
    assert isinstance(na.uri, SipUri)
    assert na.uri.params.get("transport") == "UDP"
    assert na.params.items() == (("tag", "9c709222"),)


def test_addr_spec_params_are_header_params() -> None:
    # RFC 3261 §20.10; RFC 4475 §3.3.12 (cparam01) vs §3.3.13 (cparam02).
    spec = parse_name_addr("sip:+19725552222@gw1.example.net;unknownparam", header="Contact")
    assert isinstance(spec.uri, SipUri)
    assert "unknownparam" in spec.params
    assert "unknownparam" not in spec.uri.params
    inside = parse_name_addr("<sip:+19725552222@gw1.example.net;unknownparam>", header="Contact")
    assert isinstance(inside.uri, SipUri)
    assert "unknownparam" in inside.uri.params
    assert "unknownparam" not in inside.params
    assert str(spec) == "<sip:+19725552222@gw1.example.net>;unknownparam"


def test_wsinv_name_addrs() -> None:
    to = parse_name_addr("\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
    assert str(to.uri) == "sip:vivekg@chair-dnrc.example.com"
    assert to.tag == "1918181833n"
    frm = parse_name_addr(
        '"J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8'
    )
    assert frm.display_name == 'J Rosenberg \\"'
    assert frm.tag == "98asjd8"
    (contact,) = parse_name_addr_list(
        '"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =\r\n      newvalue ;\r\n'
        "  secondparam ; q = 0.33"
    )
    assert contact.display_name == 'Quoted string ""'
    assert contact.params.get("newparam") == "newvalue"
    assert contact.q == 0.33


def test_token_display_names() -> None:
    # RFC 4475 §3.1.1.6 (lwsdisp) and §3.1.1.2 (intmeth).
    assert parse_name_addr("caller<sip:caller@example.com>;tag=323").display_name == "caller"
    na = parse_name_addr(
        "token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;"
        "fromParam''~+*_!.-%=\"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439\";"
        "tag=_token~1'+`*%!-."
    )
    assert na.display_name == "token1~` token2'+_ token3*%!.-"
    assert na.tag == "_token~1'+`*%!-."
    assert (
        na.params.get_unquoted("fromparam''~+*_!.-%")
        == "\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439"
    )


def test_quoted_display_name_with_control_characters() -> None:
    na = parse_name_addr('"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:x@example.com>')
    assert na.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert parse_name_addr(str(na)) == na


def test_non_sip_uris_in_name_addr() -> None:
    # RFC 4475 §3.3.4 (unksm2).
    to = parse_name_addr("isbn:2983792873")
    assert isinstance(to.uri, AbsoluteUri)
    frm = parse_name_addr("<http://www.example.com>;tag=3234233")
    assert isinstance(frm.uri, AbsoluteUri)
    assert frm.tag == "3234233"


def test_escaped_header_in_bracketed_contact_is_accepted() -> None:
    # RFC 4475 §3.3.14 (regescrt).
    (na,) = parse_name_addr_list("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>")
    assert isinstance(na.uri, SipUri)
    assert na.uri.headers == (("Route", "<sip:sip.example.com>"),)


@pytest.mark.parametrize(
    ("text", "case"),
    [
        ('"Mr. J. User <sip:j.user@example.com>', "quotbal"),
        ('"Watson, Thomas" < sip:t.watson@example.org >', "badaspec"),
        ("Bell, Alexander <sip:a.g.bell@example.com>;tag=43", "baddn"),
        ("sip:user@example.com?Route=%3Csip:sip.example.com%3E", "regbadct"),
        ('"Joe" <sip:joe@example.org>;;;;', "badinv01"),
        ("<sip:user@example.com", "no >"),
        ("<>", "empty uri"),
        ("", "empty"),
        ('"Joe" sip:joe@example.org', "quoted name without <>"),
        ("<sip:a@b> junk", "junk after >"),
        ("<sip:user@exa mple.com>", "space in uri"),
    ],
)
def test_malformed_name_addr_raises(text: str, case: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_name_addr(text, header="To")
    assert info.value.header == "To", case


def test_contact_list_and_star() -> None:
    contacts = parse_name_addr_list(
        '<sip:a@host1.example.com>;expires=3600;q=0.5, "Doe, J" <sip:b@host2.example.com>'
    )
    assert [c.display_name for c in contacts] == [None, "Doe, J"]
    assert contacts[0].expires == 3600
    assert contacts[0].q == 0.5
    assert contacts[1].expires is None
    assert contacts[1].q is None
    (star,) = parse_name_addr_list(" * ")
    assert star.is_star
    assert str(star) == "*"
    with pytest.raises(SipParseError):
        parse_name_addr_list("*, <sip:a@b.example.com>")
    with pytest.raises(SipParseError):
        parse_name_addr_list("<sip:a@b.example.com>,,<sip:c@d.example.com>")


def test_route_list() -> None:
    routes = parse_name_addr_list("<sip:p1.example.com;lr>,<sip:p2.example.com;lr>", header="Route")
    assert [str(r.uri) for r in routes] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert all(isinstance(r.uri, SipUri) and r.uri.lr for r in routes)


def test_huge_contact_expires_is_clamped() -> None:
    # RFC 4475 §3.1.2.4 (scalar02): a registrar treats it as "very long".
    (na,) = parse_name_addr_list("<sip:user@host129.example.com>\r\n  ;expires=280297596632815")
    assert na.expires == 2**32 - 1
    (bad,) = parse_name_addr_list("<sip:user@h.example.com>;expires=soon")
    with pytest.raises(SipParseError):
        bad.expires  # noqa: B018


@pytest.mark.parametrize("value", ["1.5", "2", "0.12345", "-1", "abc"])
def test_bad_q_values(value: str) -> None:
    (na,) = parse_name_addr_list(f"<sip:user@h.example.com>;q={value}")
    with pytest.raises(SipParseError):
        na.q  # noqa: B018


def test_with_param_sets_to_tag() -> None:
    to = parse_name_addr('"alice"<sip:alice@192.168.4.4>')
    tagged = to.with_param("tag", "B4pem31jHgtHS")
    assert str(tagged) == '"alice" <sip:alice@192.168.4.4>;tag=B4pem31jHgtHS'
    assert to.tag is None
    assert tagged.without_param("tag") == to


# ---------------------------------------------------------------- CSeq etc.


def test_cseq() -> None:
    assert parse_cseq("1 INVITE") == CSeq(1, "INVITE")
    assert parse_cseq("0009\r\n  INVITE") == CSeq(9, "INVITE")  # wsinv: leading zeros, folding
    assert parse_cseq(" 130069214  BYE ") == CSeq(130069214, "BYE")
    assert parse_cseq("4294967295 ACK").number == 2**32 - 1
    method = "!interesting-Method0123456789_*+`.%indeed'~"
    assert parse_cseq(f"139122385 {method}").method == method
    assert str(CSeq(2, "REGISTER")) == "2 REGISTER"


@pytest.mark.parametrize(
    "text",
    [
        "36893488147419103232 REGISTER",
        "4294967296 INVITE",
        "INVITE",
        "1",
        "-1 INVITE",
        "1 IN VITE",
        "1 INV,ITE",
        "",
    ],
)
def test_bad_cseq(text: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_cseq(text)
    assert info.value.header == "CSeq"


def test_parse_uint() -> None:
    assert parse_uint("0068", header="Max-Forwards") == 68
    assert parse_uint(" 0 ", header="Expires") == 0
    assert parse_uint("000000000000000000000070", header="Max-Forwards", maximum=255) == 70
    for bad in ("300", "-1", "", "1.0", "\u0661", "9" * 5000):
        with pytest.raises(SipParseError) as info:
            parse_uint(bad, header="Max-Forwards", maximum=255)
        assert info.value.header == "Max-Forwards"


def test_content_type() -> None:
    ct = parse_content_type('Multipart/Mixed ; boundary="7a9cbec02ceef655"')
    assert ct.media_type == "multipart/mixed"
    assert ct.boundary == "7a9cbec02ceef655"
    assert parse_content_type("application/sdp").params == Params()
    assert parse_content_type("text/plain;charset=UTF-8").charset == "UTF-8"
    for bad in ("application", "application/", "/sdp", "application/sdp;", "a b/c"):
        with pytest.raises(SipParseError) as info:
            parse_content_type(bad)
        assert info.value.header == "Content-Type"


def test_reason() -> None:
    (q850,) = parse_reason_list('Q.850;cause=16;text="NORMAL_CLEARING"')
    assert (q850.protocol, q850.cause, q850.text) == ("Q.850", 16, "NORMAL_CLEARING")
    assert str(q850) == 'Q.850;cause=16;text="NORMAL_CLEARING"'
    sip_reason, isdn = parse_reason_list(
        'SIP ;cause=200 ;text="Call completed, elsewhere", Q.850 ;cause=31'
    )
    assert (sip_reason.cause, sip_reason.text) == (200, "Call completed, elsewhere")
    assert (isdn.cause, isdn.text) == (31, None)
    built = Reason("SIP", 200, 'Call "completed" elsewhere')
    assert str(built) == 'SIP;cause=200;text="Call \\"completed\\" elsewhere"'
    (parsed,) = parse_reason_list(str(built))
    assert (parsed.protocol, parsed.cause, parsed.text) == (
        "SIP",
        200,
        'Call "completed" elsewhere',
    )
    assert str(Reason("Q.850", 16, params=Params([("x", "1")]))) == "Q.850;cause=16;x=1"
    for bad in ("", "SIP;cause=abc", "SIP cause=200", ";cause=1"):
        with pytest.raises(SipParseError):
            parse_reason_list(bad)


def test_token_lists() -> None:
    allow = "INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO"
    assert parse_token_list(allow, header="Allow")[0] == "INVITE"
    assert len(parse_token_list(allow, header="Allow")) == 10
    assert parse_token_list("") == []
    assert parse_token_list("100rel,\r\n timer , ") == ["100rel", "timer"]
    with pytest.raises(SipParseError) as info:
        parse_token_list("foo bar", header="Require")
    assert info.value.header == "Require"


# --------------------------------------------------------------- properties

_token = st.from_regex(r"[A-Za-z0-9\-.!%*_+`'~]+", fullmatch=True)
_hostname = st.from_regex(r"[a-z][a-z0-9\-]{0,8}(\.[a-z][a-z0-9]{0,5}){0,2}", fullmatch=True)
_params = st.lists(
    st.tuples(_token, st.none() | _token), max_size=4, unique_by=lambda item: item[0].lower()
).map(Params)


@given(
    transport=st.sampled_from(["UDP", "TCP", "TLS", "WS", "WSS", "SCTP"]),
    host=_hostname | st.ip_addresses().map(str),
    port=st.none() | st.integers(0, 65535),
    params=_params,
)
def test_via_render_then_parse(transport: str, host: str, port: int | None, params: Params) -> None:
    via = Via(transport, host, port, params)
    assert parse_via_list(str(via)) == [via]
    assert parse_via_list(f"{via}, {via}") == [via, via]


@given(
    display=st.none() | st.text(max_size=15).filter(lambda s: "\r" not in s and "\n" not in s),
    user=st.text(min_size=1, max_size=10),
    host=_hostname,
    params=_params,
)
def test_name_addr_render_then_parse(
    display: str | None, user: str, host: str, params: Params
) -> None:
    na = NameAddress(SipUri(user=user, host=host), display, params)
    parsed = parse_name_addr(str(na))
    assert parsed == na


_PARSERS: list[Callable[[str], object]] = [
    parse_via_list,
    parse_name_addr,
    parse_name_addr_list,
    parse_cseq,
    parse_content_type,
    parse_reason_list,
    parse_token_list,
    lambda text: parse_uint(text, header="Expires"),
    lambda text: [(v.rport, v.ttl) for v in parse_via_list(text)],
    lambda text: [(c.expires, c.q) for c in parse_name_addr_list(text)],
]


@pytest.mark.parametrize("parse", _PARSERS)
@given(text=st.text(max_size=60))
def test_random_text_only_raises_parse_error(parse: Callable[[str], object], text: str) -> None:
    try:
        parse(text)
    except SipParseError:
        pass


_SIPISH = st.lists(
    st.sampled_from(
        [
            "SIP",
            "/",
            "2.0",
            "UDP",
            " ",
            "host",
            ".example",
            ":",
            "5060",
            ";",
            "=",
            ",",
            '"',
            "<",
            ">",
            "sip:",
            "@",
            "\\",
            "\r\n ",
            "branch",
            "tag",
            "[",
            "]",
            "::1",
            "%",
            "*",
            "1",
        ]
    ),
    max_size=25,
).map("".join)


@pytest.mark.parametrize("parse", _PARSERS)
@given(text=_SIPISH)
def test_sip_like_text_only_raises_parse_error(parse: Callable[[str], object], text: str) -> None:
    try:
        parse(text)
    except SipParseError:
        pass


def test_parse_results_are_cached_values() -> None:
    one = parse_name_addr('"Bob"<sip:bob@192.168.4.4>;tag=1', header="From")
    two = parse_name_addr('"Bob"<sip:bob@192.168.4.4>;tag=1', header="From")
    assert one == two
    assert parse_uri("sip:bob@192.168.4.4") == parse_uri("sip:bob@192.168.4.4")


def test_with_received_stamps_received_and_fills_rport_once() -> None:
    from sipline.sip import parse_via_list

    (via,) = parse_via_list("SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKx;rport")
    stamped = via.with_received("203.0.113.7", 40000)
    assert stamped.received == "203.0.113.7"
    assert stamped.rport == 40000
    assert stamped.branch == "z9hG4bKx"
    assert (
        str(stamped) == "SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKx;rport=40000;received=203.0.113.7"
    )
    (again,) = parse_via_list(str(stamped.with_received("198.51.100.1", None)))
    assert again.received == "198.51.100.1"
    assert again.rport == 40000
