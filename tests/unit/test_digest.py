"""Digest authentication: parsing, rendering, RFC examples and real phone traces."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipline.sip._digest import (
    _PLAIN_PARAMS_RE,
    DigestChallenge,
    DigestCredentials,
    _parse_auth_params,
    _parse_auth_params_one_by_one,
    compute_ha1,
    compute_response,
    make_credentials,
    parse_authorization,
    verify_credentials,
)
from sipline.sip._errors import SipParseError

# Values as they appear in /work/shared/seeds/001_1fa7d37dd51fe629.txt (line folds kept).
ZOIPER_REGISTER = (
    'Digest username="alice",realm="192.168.4.4",\r\n'
    '    nonce="62fb812c-71d2-4a36-93d6-e0008e6a63ee",\r\n'
    '    uri="sip:192.168.4.4;transport=UDP",response="32b5ddaea8647a3becd25cb84346b1c3",\r\n'
    '    cnonce="b4c6ac7e57fc76b85df9440994e2ede8",nc=00000001,qop=auth,algorithm=MD5'
)
XLITE_INVITE = (
    'Digest username="bob",realm="192.168.4.4",\r\n'
    '    nonce="31c5c3e0-cc6e-46c8-a661-599b0c7f87d8",\r\n'
    '    uri="sip:alice@192.168.4.4",response="327887635344405bcd545da06763c466",\r\n'
    '    cnonce="c164b74f625ff2161bd8d47dba3a0ee2",nc=00000001,qop=auth,\r\n'
    "    algorithm=MD5"
)
FREESWITCH_407 = (
    'Digest realm="192.168.4.4",\r\n'
    '    nonce="31c5c3e0-cc6e-46c8-a661-599b0c7f87d8", algorithm=MD5, qop="auth"'
)


def test_zoiper_register_trace_verifies_with_password_1234() -> None:
    creds = DigestCredentials.parse(ZOIPER_REGISTER)
    assert creds.username == "alice"
    assert creds.uri == "sip:192.168.4.4;transport=UDP"
    assert (creds.qop, creds.nc, creds.nonce_count) == ("auth", "00000001", 1)
    ha1 = compute_ha1("alice", "192.168.4.4", "1234")
    assert verify_credentials(creds, method="REGISTER", ha1=ha1)
    assert not verify_credentials(
        creds, method="REGISTER", ha1=compute_ha1("alice", "192.168.4.4", "1235")
    )
    assert not verify_credentials(creds, method="INVITE", ha1=ha1)


def test_xlite_invite_trace_verifies_with_password_1234() -> None:
    creds = parse_authorization(XLITE_INVITE, header="Proxy-Authorization")
    assert creds is not None
    assert creds.username == "bob"
    ha1 = compute_ha1("bob", "192.168.4.4", "1234")
    assert verify_credentials(creds, method="INVITE", ha1=ha1)
    assert not verify_credentials(
        creds, method="INVITE", ha1=compute_ha1("bob", "192.168.4.4", "4321")
    )
    tampered = dataclasses.replace(creds, uri="sip:mallory@192.168.4.4")
    assert not verify_credentials(tampered, method="INVITE", ha1=ha1)


def test_freeswitch_challenge_parses_and_answers_like_xlite() -> None:
    challenge = DigestChallenge.parse(FREESWITCH_407, header="Proxy-Authenticate")
    assert challenge.realm == "192.168.4.4"
    assert challenge.nonce == "31c5c3e0-cc6e-46c8-a661-599b0c7f87d8"
    assert challenge.algorithm == "MD5"
    assert challenge.qop == ("auth",)
    creds = make_credentials(
        challenge,
        username="bob",
        password="1234",
        method="INVITE",
        uri="sip:alice@192.168.4.4",
        cnonce="c164b74f625ff2161bd8d47dba3a0ee2",
    )
    assert creds.response == "327887635344405bcd545da06763c466"
    assert creds.nc == "00000001"


def test_rfc7616_sha256_example() -> None:
    # RFC 7616 §3.9.1 (password "Circle of Life", erratum 4495).
    challenge = DigestChallenge.parse(
        'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    assert challenge.qop == ("auth", "auth-int")
    assert challenge.opaque == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
    creds = make_credentials(
        challenge,
        username="Mufasa",
        password="Circle of Life",
        method="GET",
        uri="/dir/index.html",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    assert creds.response == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    assert creds.opaque == challenge.opaque
    ha1 = compute_ha1("Mufasa", "http-auth@example.org", "Circle of Life", "SHA-256")
    assert verify_credentials(DigestCredentials.parse(str(creds)), method="GET", ha1=ha1)
    md5 = compute_response(
        ha1=compute_ha1("Mufasa", "http-auth@example.org", "Circle of Life"),
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        method="GET",
        uri="/dir/index.html",
        qop="auth",
        nc="00000001",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    assert md5 == "8ca523f5e9506fed4657c9700eebdbec"


def test_rfc2617_md5_example() -> None:
    # RFC 2617 §3.5.
    ha1 = compute_ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    response = compute_response(
        ha1=ha1,
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        method="GET",
        uri="/dir/index.html",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


def test_rfc2069_no_qop_response() -> None:
    # No qop: response = H(HA1:nonce:H(method:uri)), as old phones send it.
    challenge = DigestChallenge.parse('Digest realm="example.com", nonce="abc123"')
    assert challenge.qop == ()
    creds = make_credentials(
        challenge, username="carol", password="pw", method="REGISTER", uri="sip:example.com"
    )
    assert (creds.qop, creds.nc, creds.cnonce) == (None, None, None)

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    expected = md5(f"{md5('carol:example.com:pw')}:abc123:{md5('REGISTER:sip:example.com')}")
    assert creds.response == expected
    rendered = str(creds)
    assert "qop" not in rendered
    assert "nc=" not in rendered
    ha1 = compute_ha1("carol", "example.com", "pw")
    assert verify_credentials(DigestCredentials.parse(rendered), method="REGISTER", ha1=ha1)
    assert not verify_credentials(
        DigestCredentials.parse(rendered),
        method="REGISTER",
        ha1=compute_ha1("carol", "example.com", "px"),
    )


def test_auth_int_covers_the_body() -> None:
    challenge = DigestChallenge(realm="r", nonce="n", qop=("auth-int",))
    body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
    creds = make_credentials(
        challenge, username="u", password="p", method="INVITE", uri="sip:b@r", body=body
    )
    assert creds.qop == "auth-int"
    ha1 = compute_ha1("u", "r", "p")
    assert verify_credentials(creds, method="INVITE", ha1=ha1, body=body)
    assert not verify_credentials(creds, method="INVITE", ha1=ha1, body=body + b"x")


@pytest.mark.parametrize("algorithm", ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "sha-256"])
@pytest.mark.parametrize("qop", [(), ("auth",), ("auth-int",), ("auth", "auth-int")])
def test_round_trip_make_then_verify(algorithm: str, qop: tuple[str, ...]) -> None:
    challenge = DigestChallenge(
        realm="sip.example.com", nonce="n0nce", algorithm=algorithm, qop=qop
    )
    wire_challenge = DigestChallenge.parse(str(challenge))
    assert wire_challenge == challenge
    creds = make_credentials(
        wire_challenge,
        username="alice",
        password="s3cret",
        method="REGISTER",
        uri="sip:sip.example.com",
        body=b"body",
        nc=7,
    )
    if qop:
        assert creds.nc == "00000007"
        assert creds.qop == ("auth" if "auth" in qop else "auth-int")
    parsed = DigestCredentials.parse(str(creds))
    assert parsed == creds
    ha1 = compute_ha1("alice", "sip.example.com", "s3cret", algorithm)
    assert verify_credentials(parsed, method="REGISTER", ha1=ha1, body=b"body")
    wrong = compute_ha1("alice", "sip.example.com", "S3cret", algorithm)
    assert not verify_credentials(parsed, method="REGISTER", ha1=wrong, body=b"body")


def test_sess_differs_from_plain() -> None:
    args = {
        "ha1": "0" * 32,
        "nonce": "n",
        "method": "M",
        "uri": "u",
        "qop": "auth",
        "nc": "00000001",
        "cnonce": "c",
    }
    assert compute_response(algorithm="MD5", **args) != compute_response(
        algorithm="MD5-sess", **args
    )


def test_challenge_rendering() -> None:
    challenge = DigestChallenge(
        realm="sip.example.com", nonce="abc", qop=("auth",), opaque="xyz", stale=True
    )
    text = str(challenge)
    assert text.startswith('Digest realm="sip.example.com", nonce="abc", algorithm=MD5, qop="auth"')
    assert "stale=TRUE" in text
    again = DigestChallenge.parse(text)
    assert again.stale
    assert again == challenge


def test_challenge_keeps_unknown_params_and_domain() -> None:
    challenge = DigestChallenge.parse(
        'Digest realm="a", domain="sip:a sip:b", nonce="n", stale=false, charset=UTF-8'
    )
    assert challenge.domain == "sip:a sip:b"
    assert not challenge.stale
    assert challenge.other == (("charset", "UTF-8"),)
    assert DigestChallenge.parse(str(challenge)) == challenge


def test_unknown_scheme() -> None:
    # RFC 4475 §3.3.7 (regaut01): a registrar ignores an unknown scheme.
    assert parse_authorization("NoOneKnowsThisScheme opaque-data=here") is None
    with pytest.raises(SipParseError):
        DigestCredentials.parse("NoOneKnowsThisScheme opaque-data=here")
    with pytest.raises(SipParseError):
        DigestChallenge.parse('Basic realm="x"')


def test_extended_username() -> None:
    creds = DigestCredentials(
        username="J\u00e4s\u00f8n Doe", realm="r", nonce="n", uri="sip:r", response="0" * 32
    )
    text = str(creds)
    assert "username*=UTF-8''J%C3%A4s%C3%B8n%20Doe" in text
    assert DigestCredentials.parse(text).username == "J\u00e4s\u00f8n Doe"


def test_unsupported_algorithm_does_not_verify() -> None:
    creds = DigestCredentials.parse(
        'Digest username="a", realm="r", nonce="n", uri="sip:r", response="00", algorithm=AKAv1-MD5'
    )
    assert not verify_credentials(creds, method="REGISTER", ha1="0" * 32)
    with pytest.raises(SipParseError):
        compute_ha1("a", "r", "p", "AKAv1-MD5")


@pytest.mark.parametrize(
    "text",
    [
        "Digest",
        'Digest realm="r", nonce="n", uri="u", response="x"',  # no username
        'Digest username="a", nonce="n", uri="u", response="x"',  # no realm
        'Digest username="a", realm="r", nonce="n", response="x"',  # no uri
        'Digest username="a", realm="r", nonce="n", uri="u"',  # no response
        'Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth',  # no nc
        'Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth, nc=1, cnonce="c"',
        'Digest username="a", username="b", realm="r", nonce="n", uri="u", response="x"',
        'Digest username="a, realm="r"',
        "Digest username",
        '"Digest" username="a"',
        "",
    ],
)
def test_malformed_credentials(text: str) -> None:
    with pytest.raises(SipParseError) as info:
        DigestCredentials.parse(text)
    assert info.value.header == "Authorization"


def test_tolerated_forms() -> None:
    # Empty list elements and LWS around "=" and "," are accepted.
    creds = DigestCredentials.parse(
        'digest  username = "a" ,, realm="r",nonce="n" , uri="sip:r",\r\n response="AB"  ,'
    )
    assert (creds.username, creds.response) == ("a", "ab")
    with pytest.raises(SipParseError):
        DigestChallenge.parse('Digest realm="r"')


_token = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~",
    min_size=1,
    max_size=8,
)
_raw_value = st.one_of(
    _token,
    st.text(
        alphabet=st.characters(blacklist_characters='"\\\r\n', blacklist_categories=("Cs",)),
        max_size=10,
    ).map(lambda v: f'"{v}"'),
)


@given(
    st.lists(st.tuples(_token, _raw_value), min_size=1, max_size=8),
    st.lists(st.sampled_from([",", ", ", ",  ", ",\t"]), min_size=8, max_size=8),
    st.booleans(),
)
def test_plain_credential_lists_take_the_fast_path_with_the_same_result(
    pairs: list[tuple[str, str]], separators: list[str], trailing_comma: bool
) -> None:
    text = "".join(f"{n}={v}{separators[i]}" for i, (n, v) in enumerate(pairs))
    text = text if trailing_comma else text.rstrip(", \t")
    assert _PLAIN_PARAMS_RE.fullmatch(text) is not None
    try:
        slow = _parse_auth_params_one_by_one(text, "Authorization")
    except SipParseError:
        with pytest.raises(SipParseError):  # a duplicate name: both refuse it
            _parse_auth_params(text, "Authorization")
        return
    assert _parse_auth_params(text, "Authorization") == slow


_value = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)


@given(
    username=_value.filter(str.isascii),
    realm=_value,
    nonce=_value,
    uri=_value,
    qop=st.sampled_from([None, "auth", "auth-int"]),
    opaque=st.none() | _value,
)
def test_credentials_render_then_parse(
    username: str, realm: str, nonce: str, uri: str, qop: str | None, opaque: str | None
) -> None:
    creds = DigestCredentials(
        username=username,
        realm=realm,
        nonce=nonce,
        uri=uri,
        response="0123456789abcdef0123456789abcdef",
        cnonce=None if qop is None else "c",
        nc=None if qop is None else "0000000a",
        qop=qop,
        opaque=opaque,
    )
    assert DigestCredentials.parse(str(creds)) == creds


@given(st.text(max_size=80))
def test_random_text_only_raises_parse_error(text: str) -> None:
    for parse in (DigestCredentials.parse, DigestChallenge.parse, parse_authorization):
        try:
            parse(text)
        except SipParseError:
            pass


@given(
    st.lists(
        st.sampled_from(
            [
                "Digest",
                " ",
                "username",
                "realm",
                "nonce",
                "uri",
                "response",
                "qop",
                "nc",
                "=",
                '"',
                ",",
                "auth",
                "00000001",
                "\\",
                "x",
                "\r\n ",
            ]
        ),
        max_size=30,
    ).map("".join)
)
def test_digest_like_text_only_raises_parse_error(text: str) -> None:
    for parse in (DigestCredentials.parse, DigestChallenge.parse, parse_authorization):
        try:
            parse(text)
        except SipParseError:
            pass
