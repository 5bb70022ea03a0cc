"""Trunks (issue #6): config checks, the registration state machine with a fake clock,
digest answers for a provider's challenges, caller ID presentation, inbound DIDs."""

from __future__ import annotations

import itertools

import pytest

from sipline.b2bua import CallerId
from sipline.config import ConfigError, config_from_dict
from sipline.dialog import Dialog
from sipline.sip import (
    Address,
    DigestChallenge,
    Request,
    Response,
    make_response,
    parse_authorization,
    verify_credentials,
)
from sipline.trunks import (
    REGISTRATION_TRANSITIONS,
    DigestCache,
    RegistrationInput,
    RegistrationState,
    RegistrationTimers,
    TrunkConfig,
    TrunkConfigError,
    TrunkDialog,
    TrunkRegistration,
    authorized_retry,
    normalise_did,
    parse_trunks,
    present_caller,
    refresh_delay,
)

PROVIDER = {
    "name": "provider",
    "host": "192.0.2.10",
    "username": "4420001",
    "password": "s3cret",
    "register": True,
    "register_expires": 600,
}
CHALLENGE = 'Digest realm="prov.example", nonce="abc123", algorithm=MD5, qop="auth"'


# -- config -----------------------------------------------------------------------------
def problems(raw: object) -> list[str]:
    with pytest.raises(TrunkConfigError) as info:
        parse_trunks(raw)
    return info.value.problems


def test_a_full_trunk_is_parsed() -> None:
    (trunk,) = parse_trunks(
        [
            {
                **PROVIDER,
                "port": 5070,
                "transport": "TCP",
                "realm": "prov.example",
                "from_user": "4420001",
                "from_domain": "prov.example",
                "caller_id": "+3312345",
                "inbound_addresses": ["198.51.100.0/24", "192.0.2.10:5070", "[::1]:5080"],
                "did_prefix_strip": "+33",
            }
        ]
    )
    assert trunk.transport == "tcp"
    assert trunk.request_uri("0612") == "sip:0612@192.0.2.10:5070;transport=tcp"
    assert trunk.domain == "prov.example"
    assert [str(a) for a in trunk.inbound_addresses] == [
        "198.51.100.0/24",
        "192.0.2.10:5070",
        "[::1]:5080",
    ]
    assert trunk.inbound_addresses[0].matches("198.51.100.7", 5060)
    assert trunk.inbound_addresses[1].matches("192.0.2.10", 5070)
    assert not trunk.inbound_addresses[1].matches("192.0.2.10", 5060)
    assert trunk.inbound_addresses[2].matches("::1", 5080)


def test_defaults() -> None:
    (trunk,) = parse_trunks([{"name": "t", "host": "sip.example.net"}])
    assert (trunk.port, trunk.transport, trunk.register, trunk.caller_id) == (
        None,
        "udp",
        False,
        "pass",
    )
    assert trunk.request_uri("1") == "sip:1@sip.example.net"
    assert not trunk.is_ip


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"transport": "tpc"}, "trunks[1].transport: 'tpc' is not one of udp, tcp, tls"),
        ({"port": 70000}, "trunks[1].port: must be a whole number 1..65535, not 70000"),
        ({"hots": "x"}, "trunks[1].hots: unknown key; did you mean 'host'?"),
        ({"register": "yes"}, "trunks[1].register: must be true or false, not 'yes'"),
        ({"caller_id": "bob"}, "trunks[1].caller_id: 'bob' is not pass, anonymous or a number"),
        ({"inbound_addresses": ["10.0.0.300"]}, "trunks[1].inbound_addresses[0]: '10.0.0.300'"),
        ({"register_expires": 5}, "trunks[1].register_expires: must be a whole number 10..86400"),
        ({"name": "a"}, "trunks[1].name: 'a' is already the name of another trunk"),
        ({"host": None}, "trunks[1].host: missing; give e.g. host = 'sip.example.net'"),
    ],
)
def test_one_line_errors_name_the_key(entry: dict[str, object], message: str) -> None:
    second = {"name": "b", "host": "sip.example.net", **entry}
    second = {k: v for k, v in second.items() if v is not None}
    found = problems([{"name": "a", "host": "192.0.2.1"}, second])
    assert len(found) == 1
    assert found[0].startswith(message), found


def test_register_needs_a_username() -> None:
    assert problems([{"name": "a", "host": "h", "register": True}]) == [
        "trunks[0].username: a trunk with register = true needs a username"
    ]


def test_config_check_reports_trunk_problems() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"trunks": [{"name": "a", "host": "h", "transport": "tpc"}]})
    assert "trunks[0].transport: 'tpc' is not one of udp, tcp, tls" in info.value.problems


# -- registration -----------------------------------------------------------------------
def trunk(**changes: object) -> TrunkConfig:
    return parse_trunks([{**PROVIDER, **changes}])[0]


def registration(**changes: object) -> TrunkRegistration:
    return TrunkRegistration(
        trunk(**changes),
        "<sip:4420001@198.51.100.1:5060>",
        timers=RegistrationTimers(backoff_initial=5.0, backoff_max=60.0),
    )


def answer(request: Request, status: int, *headers: tuple[str, str]) -> Response:
    response = make_response(request, status)
    for name, value in headers:
        response.headers.add(name, value)
    return response


def test_register_401_then_200_and_refresh_before_expiry() -> None:
    reg = registration()
    first = reg.start(1000.0)
    assert reg.state is RegistrationState.REGISTERING
    assert first.uri == "sip:192.0.2.10"
    assert first.headers.get("Expires") == "600"
    assert "Authorization" not in first.headers
    second = reg.receive_response(answer(first, 401, ("WWW-Authenticate", CHALLENGE)), 1000.1)
    assert second is not None
    assert second.call_id == first.call_id
    assert second.cseq.number == first.cseq.number + 1
    credentials = parse_authorization(second.headers.get("Authorization") or "")
    assert credentials is not None
    assert credentials.username == "4420001"
    assert credentials.uri == "sip:192.0.2.10"
    challenge = DigestChallenge.parse(CHALLENGE)
    assert challenge.realm == credentials.realm
    ok = answer(second, 200, ("Contact", "<sip:4420001@198.51.100.1:5060>;expires=300"))
    assert reg.receive_response(ok, 1000.2) is None
    assert reg.state is RegistrationState.REGISTERED
    assert reg.expires_at == pytest.approx(1300.2)
    assert reg.next_deadline() == pytest.approx(1000.2 + 270)  # expires - 30
    assert reg.handle_timer(1200.0) is None
    refresh = reg.handle_timer(1270.2)
    assert refresh is not None
    assert refresh.call_id == first.call_id
    assert refresh.cseq.number == second.cseq.number + 1
    assert reg.state is RegistrationState.REGISTERING
    cached = parse_authorization(refresh.headers.get("Authorization") or "")
    assert cached is not None
    assert (cached.nonce, cached.nc) == ("abc123", "00000002")  # pre-emptive, nc + 1
    renewed = CHALLENGE.replace("abc123", "n2")
    third = reg.receive_response(answer(refresh, 401, ("WWW-Authenticate", renewed)), 1271.0)
    assert third is not None
    assert 'nonce="n2"' in (third.headers.get("Authorization") or "")


def test_refresh_delay() -> None:
    assert refresh_delay(3600) == 3570
    assert refresh_delay(40) == 20


def test_second_challenge_fails_and_backs_off() -> None:
    reg = registration()
    first = reg.start(0.0)
    second = reg.receive_response(answer(first, 401, ("WWW-Authenticate", CHALLENGE)), 0.0)
    assert second is not None
    assert reg.receive_response(answer(second, 401, ("WWW-Authenticate", CHALLENGE)), 1.0) is None
    assert reg.state is RegistrationState.FAILED
    assert reg.last_error is not None
    assert "credentials refused" in reg.last_error
    assert reg.next_deadline() == 6.0
    delays = []
    now = 6.0
    for _ in range(5):
        retry = reg.handle_timer(now)
        assert retry is not None
        reg.receive_response(answer(retry, 503), now)
        deadline = reg.next_deadline()
        assert deadline is not None
        delays.append(deadline - now)
        now = deadline
    assert delays == [10.0, 20.0, 40.0, 60.0, 60.0]  # doubling, capped
    retry = reg.handle_timer(now)
    assert retry is not None
    assert reg.receive_response(answer(retry, 401, ("WWW-Authenticate", CHALLENGE)), now)
    reg.receive_response(answer(retry, 200, ("Expires", "120")), now)
    assert reg.state is RegistrationState.REGISTERED
    assert (reg.failures, reg.last_error) == (0, None)


def test_stale_nonce_is_answered_again() -> None:
    reg = registration()
    first = reg.start(0.0)
    second = reg.receive_response(answer(first, 401, ("WWW-Authenticate", CHALLENGE)), 0.0)
    assert second is not None
    stale = CHALLENGE.replace("abc123", "def456") + ", stale=true"
    third = reg.receive_response(answer(second, 401, ("WWW-Authenticate", stale)), 0.0)
    assert third is not None
    assert 'nonce="def456"' in (third.headers.get("Authorization") or "")


def test_timeout_503_retry_after_and_423() -> None:
    reg = registration()
    first = reg.start(0.0)
    reg.receive_response(answer(first, 503, ("Retry-After", "120")), 0.0)
    assert reg.state is RegistrationState.FAILED
    assert reg.next_deadline() == 120.0
    assert reg.last_error == "503 Service Unavailable"
    retry = reg.handle_timer(120.0)
    assert retry is not None
    again = reg.receive_response(answer(retry, 423, ("Min-Expires", "1800")), 121.0)
    assert again is not None
    assert again.headers.get("Expires") == "1800"
    reg.receive_response(answer(again, 408), 121.0)
    assert reg.state is RegistrationState.FAILED
    assert reg.failures == 2


def test_other_realm_is_not_answered() -> None:
    reg = registration(realm="other.example")
    first = reg.start(0.0)
    assert reg.receive_response(answer(first, 401, ("WWW-Authenticate", CHALLENGE)), 0) is None
    assert reg.state is RegistrationState.FAILED


def test_stop_unregisters_only_when_registered() -> None:
    reg = registration()
    first = reg.start(0.0)
    reg.receive_response(answer(first, 200, ("Expires", "600")), 0.0)
    bye = reg.stop(1.0)
    assert bye is not None
    assert bye.headers.get("Expires") == "0"
    assert reg.state is RegistrationState.UNREGISTERED
    assert reg.next_deadline() is None
    assert reg.stop(2.0) is None
    late = answer(first, 200)
    assert reg.receive_response(late, 3.0) is None
    assert reg.state is RegistrationState.UNREGISTERED


def test_transition_table_is_closed() -> None:
    """Every (state, input) pair either moves to a state or is refused."""
    for state, what in itertools.product(RegistrationState, RegistrationInput):
        after = REGISTRATION_TRANSITIONS.get((state, what))
        assert after is None or isinstance(after, RegistrationState)
    assert all(
        (state, RegistrationInput.STOPPED) in REGISTRATION_TRANSITIONS
        for state in RegistrationState
    )


# -- digest for calls -------------------------------------------------------------------
def invite() -> Request:
    return Request(
        "INVITE",
        "sip:0612@192.0.2.10",
        [
            ("Via", "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKx"),
            ("From", "<sip:1000@prov.example>;tag=a"),
            ("To", "<sip:0612@prov.example>"),
            ("Call-ID", "c1"),
            ("CSeq", "7 INVITE"),
            ("Contact", "<sip:1000@198.51.100.1>"),
        ],
        b"v=0\r\n",
    )


def test_407_retry_and_credentials_cached_for_the_bye() -> None:
    cache = DigestCache("4420001", "s3cret")
    first = invite()
    challenge = answer(first, 407, ("Proxy-Authenticate", CHALLENGE))
    retry = authorized_retry(first, challenge, cache)
    assert retry is not None
    assert (retry.call_id, retry.from_.tag, retry.cseq.number) == ("c1", "a", 8)
    assert "Via" not in retry.headers
    assert retry.body == first.body
    credentials = parse_authorization(
        retry.headers.get("Proxy-Authorization") or "", header="Proxy-Authorization"
    )
    assert credentials is not None
    assert credentials.nc == "00000001"
    from sipline.sip import compute_ha1

    ha1 = compute_ha1("4420001", "prov.example", "s3cret")
    assert verify_credentials(credentials, method="INVITE", ha1=ha1)
    ok = answer(retry, 200, ("Contact", "<sip:0612@192.0.2.10:5070>"))
    ok.headers.set("To", "<sip:0612@prov.example>;tag=b")
    dialog = TrunkDialog.upgrade(Dialog.as_uac(retry, ok), cache)
    bye = dialog.create_request("BYE")
    assert bye.cseq.number == 9
    bye_credentials = parse_authorization(
        bye.headers.get("Proxy-Authorization") or "", header="Proxy-Authorization"
    )
    assert bye_credentials is not None
    assert bye_credentials.uri == "sip:0612@192.0.2.10:5070"
    assert bye_credentials.nc == "00000002"
    assert verify_credentials(bye_credentials, method="BYE", ha1=ha1)


def test_no_account_or_other_scheme_no_retry() -> None:
    first = invite()
    assert (
        authorized_retry(
            first, answer(first, 407, ("Proxy-Authenticate", CHALLENGE)), DigestCache("", "")
        )
        is None
    )
    basic = answer(first, 407, ("Proxy-Authenticate", 'Basic realm="x"'))
    assert authorized_retry(first, basic, DigestCache("u", "p")) is None


# -- presentation and inbound -----------------------------------------------------------
def test_caller_id_presentation() -> None:
    caller = CallerId(number="1000", name="Alice", domain="pbx.example")
    request = invite()
    request.headers.add("P-Asserted-Identity", "<sip:1000@prov.example>")
    request.headers.add("Remote-Party-ID", "<sip:1000@prov.example>;party=calling")
    present_caller(request, trunk(caller_id="anonymous"), caller)
    assert request.headers.get("From") == '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=a'
    assert request.headers.get("Privacy") == "id"
    assert request.headers.get("P-Asserted-Identity") == "<sip:1000@192.0.2.10>"
    request = invite()
    present_caller(request, trunk(from_user="4420001", caller_id="+3399"), caller)
    assert request.headers.get("From") == '"Alice" <sip:4420001@192.0.2.10>;tag=a'


def test_inbound_did_prefix_and_registration_contact() -> None:
    request = invite()
    request.uri = "sip:+33123456@198.51.100.1:5060"
    assert normalise_did(request, trunk(did_prefix_strip="+33")) == "123456"
    assert request.uri == "sip:123456@198.51.100.1:5060"
    request = invite()
    request.uri = "sip:4420001@198.51.100.1:5060"
    request.headers.set("To", "<sip:+3398765@prov.example>")
    assert normalise_did(request, trunk(did_prefix_strip="+33")) == "98765"


def test_trunk_for_source() -> None:
    from sipline.trunks import Trunks

    trunks = Trunks(
        parse_trunks([{**PROVIDER, "register": False, "inbound_addresses": ["192.0.2.10:5060"]}])
    )
    assert trunks.trunk_for_source(Address("udp", "192.0.2.10", 5060)) is not None
    assert trunks.trunk_for_source(Address("udp", "192.0.2.10", 5061)) is None
    (status,) = trunks.trunk_status()
    assert status.state == "not_registering"
    assert status.target == "udp:192.0.2.10"
    assert "password" not in status.extra


def test_dialplan_trunk_targets_must_name_a_trunk() -> None:
    dialplan = [{"match": "^(0\\d+)$", "actions": ["bridge trunk/provdier/$1|trunk/b/$1"]}]
    with pytest.raises(ConfigError) as info:
        config_from_dict({"dialplan": dialplan, "trunks": [{"name": "b", "host": "h"}]})
    assert info.value.problems == [
        "dialplan[0].actions[0]: no trunk named 'provdier'; configured: b"
    ]
    with pytest.raises(ConfigError) as info:
        config_from_dict({"dialplan": dialplan})
    assert len(info.value.problems) == 2
    config_from_dict({"dialplan": dialplan[:0], "trunks": [{"name": "b", "host": "h"}]})
