"""sipline.auth: challenges, verification (seed 001's Zoiper/X-Lite digests), nonces, guards."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sipline.auth import (
    AuthConfig,
    Authenticator,
    Authorized,
    Blocked,
    BruteForceGuard,
    Challenge,
    Forbidden,
    NonceCounter,
    NonceFactory,
    NonceStatus,
)
from sipline.sip import (
    Address,
    DigestChallenge,
    Request,
    SipParseError,
    make_credentials,
    parse_message,
)
from sipline.store import SqliteStore, User, open_store

SECRET = b"0123456789abcdef0123456789abcdef"
ZOIPER = Address("udp", "192.168.4.4", 5090)
NOW = 1_700_000_000.0

# Seed 001: Zoiper's second REGISTER to FreeSWITCH (password 1234, realm 192.168.4.4).
SEED_REGISTER = (
    b"REGISTER sip:192.168.4.4;transport=UDP SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.4.4:5090;branch=z9hG4bK-d8754z-dae1693be9f8c10d-1---d8754z-;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:alice@192.168.4.4:5090;rinstance=d42207a765c0626b;transport=UDP>\r\n"
    b"To: <sip:alice@192.168.4.4;transport=UDP>\r\n"
    b"From: <sip:alice@192.168.4.4;transport=UDP>;tag=9c709222\r\n"
    b"Call-ID: NmFjNzA3MWY1MDI3NGViMjY1N2QwZDlmZWQ5ZGY2OGE.\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Expires: 3600\r\n"
    b"User-Agent: Zoiper rev.5415\r\n"
    b'Authorization: Digest username="alice",realm="192.168.4.4",\r\n'
    b'    nonce="62fb812c-71d2-4a36-93d6-e0008e6a63ee",\r\n'
    b'    uri="sip:192.168.4.4;transport=UDP",response="32b5ddaea8647a3becd25cb84346b1c3",\r\n'
    b'    cnonce="b4c6ac7e57fc76b85df9440994e2ede8",nc=00000001,qop=auth,algorithm=MD5\r\n'
    b"Content-Length: 0\r\n\r\n"
)

# Seed 001: X-Lite's INVITE answered 407 (bob, password 1234), body left out.
SEED_INVITE = (
    b"INVITE sip:alice@192.168.4.4 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.4.4:26000;branch=z9hG4bK-d8754z-87d60b47b6627c3a-1---d8754z-;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:bob@192.168.4.4:26000>\r\n"
    b'To: "alice"<sip:alice@192.168.4.4>\r\n'
    b'From: "Bob"<sip:bob@192.168.4.4>;tag=15c8325a\r\n'
    b"Call-ID: YWEwYjNlZTZjOWZjNDg3ZjU3MjQ3MTA1ZmQ1MDM5YmQ.\r\n"
    b"CSeq: 2 INVITE\r\n"
    b'Proxy-Authorization: Digest username="bob",realm="192.168.4.4",\r\n'
    b'    nonce="31c5c3e0-cc6e-46c8-a661-599b0c7f87d8",\r\n'
    b'    uri="sip:alice@192.168.4.4",response="327887635344405bcd545da06763c466",\r\n'
    b'    cnonce="c164b74f625ff2161bd8d47dba3a0ee2",nc=00000001,qop=auth,\r\n'
    b"    algorithm=MD5\r\n"
    b"Content-Length: 0\r\n\r\n"
)


class OneNonce:
    """A test nonce source that issued exactly one nonce (the seed's FreeSWITCH nonce)."""

    def __init__(self, nonce: str) -> None:
        self.nonce = nonce

    def issue(self, realm: str, now: float) -> str:
        return self.nonce

    def check(self, nonce: str, realm: str, now: float) -> NonceStatus:
        return NonceStatus.VALID if nonce == self.nonce else NonceStatus.INVALID

    def issued_at(self, nonce: str) -> float:
        return NOW - 1


def request(data: bytes) -> Request:
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    with open_store(tmp_path) as s:
        s.add_user(User.create("alice", "192.168.4.4", "1234"))
        s.add_user(User.create("bob", "192.168.4.4", "1234"))
        yield s


def seed_authenticator(store: SqliteStore, nonce: str, **kw: object) -> Authenticator:
    return Authenticator(store, OneNonce(nonce), AuthConfig(), **kw)  # type: ignore[arg-type]


def test_seed_zoiper_register_verifies(store: SqliteStore) -> None:
    auth = seed_authenticator(store, "62fb812c-71d2-4a36-93d6-e0008e6a63ee")
    result = auth.check(
        request(SEED_REGISTER), source=ZOIPER, realm="192.168.4.4", proxy=False, now=NOW
    )
    assert isinstance(result, Authorized)
    assert result.user is not None
    assert (result.user.aor, result.by) == ("alice@192.168.4.4", "digest")


def test_seed_xlite_invite_verifies_as_proxy(store: SqliteStore) -> None:
    auth = seed_authenticator(store, "31c5c3e0-cc6e-46c8-a661-599b0c7f87d8")
    xlite = Address("udp", "192.168.4.4", 26000)
    invite = request(SEED_INVITE)
    result = auth.check(invite, source=xlite, realm="192.168.4.4", proxy=True, now=NOW)
    assert isinstance(result, Authorized)
    # the same credentials in Authorization do not answer a 407
    assert isinstance(
        auth.check(invite, source=xlite, realm="192.168.4.4", proxy=False, now=NOW), Challenge
    )


def test_seed_register_with_wrong_password_is_forbidden(tmp_path: Path) -> None:
    with open_store(tmp_path) as s:
        s.add_user(User.create("alice", "192.168.4.4", "4321"))
        auth = seed_authenticator(s, "62fb812c-71d2-4a36-93d6-e0008e6a63ee")
        result = auth.check(
            request(SEED_REGISTER), source=ZOIPER, realm="192.168.4.4", proxy=False, now=NOW
        )
    assert isinstance(result, Forbidden)
    assert result.status_code == 403


def test_seed_nonce_is_not_accepted_by_a_real_factory(store: SqliteStore) -> None:
    auth = Authenticator(store, NonceFactory(SECRET))
    result = auth.check(
        request(SEED_REGISTER), source=ZOIPER, realm="192.168.4.4", proxy=False, now=NOW
    )
    assert isinstance(result, Challenge)
    assert not result.stale


def register(uri: str = "sip:example.com", extra: str = "") -> Request:
    return request(
        (
            f"REGISTER {uri} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bK1\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:1000@example.com>;tag=a\r\n"
            "To: <sip:1000@example.com>\r\n"
            "Call-ID: c1\r\nCSeq: 1 REGISTER\r\n"
            "Contact: <sip:1000@198.51.100.9:5060>\r\n"
            f"{extra}Content-Length: 0\r\n\r\n"
        ).encode()
    )


PHONE = Address("udp", "198.51.100.9", 5060)


@pytest.fixture
def users(tmp_path: Path):  # type: ignore[no-untyped-def]
    with open_store(tmp_path) as s:
        s.add_user(User.create("1000", "example.com", "pw1000"))
        yield s


def answer(
    challenge: Challenge,
    *,
    algorithm: str = "SHA-256",
    username: str = "1000",
    password: str = "pw1000",  # noqa: S107
    nc: int = 1,
    uri: str = "sip:example.com",
    header: str = "Authorization",
) -> Request:
    offered = {
        DigestChallenge.parse(v).algorithm: DigestChallenge.parse(v) for _, v in challenge.headers
    }
    creds = make_credentials(
        offered[algorithm], username=username, password=password, method="REGISTER", uri=uri, nc=nc
    )
    return register(uri, f"{header}: {creds}\r\n")


def test_challenge_offers_sha256_then_md5_with_qop_auth(users: SqliteStore) -> None:
    auth = Authenticator(users, NonceFactory(SECRET))
    result = auth.check(register(), source=PHONE, realm="example.com", proxy=False, now=NOW)
    assert isinstance(result, Challenge)
    assert (result.status_code, result.reason) == (401, "Unauthorized")
    assert [name for name, _ in result.headers] == ["WWW-Authenticate"] * 2
    parsed = [DigestChallenge.parse(value) for _, value in result.headers]
    assert [c.algorithm for c in parsed] == ["SHA-256", "MD5"]
    assert all(c.qop == ("auth",) and c.realm == "example.com" for c in parsed)
    proxy = auth.check(register(), source=PHONE, realm="example.com", proxy=True, now=NOW)
    assert isinstance(proxy, Challenge)
    assert proxy.status_code == 407
    assert {name for name, _ in proxy.headers} == {"Proxy-Authenticate"}


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_end_to_end_with_make_credentials(users: SqliteStore, algorithm: str) -> None:
    auth = Authenticator(users, NonceFactory(SECRET))
    challenge = auth.check(register(), source=PHONE, realm="example.com", proxy=False, now=NOW)
    assert isinstance(challenge, Challenge)
    result = auth.check(
        answer(challenge, algorithm=algorithm),
        source=PHONE,
        realm="example.com",
        proxy=False,
        now=NOW + 1,
    )
    assert isinstance(result, Authorized)
    assert result.user == users.get_user("1000", "example.com")


def test_stale_nonce_with_right_password_gets_stale_challenge(users: SqliteStore) -> None:
    auth = Authenticator(users, NonceFactory(SECRET, lifetime=300))
    challenge = auth.challenge("example.com", proxy=False, now=NOW)
    late = auth.check(
        answer(challenge), source=PHONE, realm="example.com", proxy=False, now=NOW + 301
    )
    assert isinstance(late, Challenge)
    assert late.stale
    assert all("stale=TRUE" in value for _, value in late.headers)
    wrong = auth.check(
        answer(challenge, password="nope"),
        source=PHONE,
        realm="example.com",
        proxy=False,
        now=NOW + 301,
    )
    assert isinstance(wrong, Forbidden)


def test_nonce_count_replay_refused(users: SqliteStore) -> None:
    auth = Authenticator(users, NonceFactory(SECRET))
    challenge = auth.challenge("example.com", proxy=False, now=NOW)
    first = answer(challenge, nc=1)
    check = {"source": PHONE, "realm": "example.com", "proxy": False}
    assert isinstance(auth.check(first, now=NOW + 1, **check), Authorized)  # type: ignore[arg-type]
    replay = auth.check(first, now=NOW + 2, **check)  # type: ignore[arg-type]
    assert isinstance(replay, Challenge)
    assert replay.stale
    assert isinstance(auth.check(answer(challenge, nc=2), now=NOW + 3, **check), Authorized)  # type: ignore[arg-type]
    assert isinstance(auth.check(answer(challenge, nc=2), now=NOW + 4, **check), Challenge)  # type: ignore[arg-type]


def test_nonces_from_before_a_restart_are_re_challenged(users: SqliteStore) -> None:
    factory = NonceFactory(SECRET)
    challenge = Authenticator(users, factory).challenge("example.com", proxy=False, now=NOW)
    restarted = Authenticator(users, factory, counter=NonceCounter(not_before=NOW + 10))
    result = restarted.check(
        answer(challenge), source=PHONE, realm="example.com", proxy=False, now=NOW + 11
    )
    assert isinstance(result, Challenge)
    assert result.stale


def test_unknown_user_answered_like_wrong_password(
    users: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    auth = Authenticator(users, NonceFactory(SECRET))
    challenge = auth.challenge("example.com", proxy=False, now=NOW)
    caplog.set_level(logging.INFO, logger="sipline.auth")
    wrong = auth.check(
        answer(challenge, password="bad"), source=PHONE, realm="example.com", proxy=False, now=NOW
    )
    unknown = auth.check(
        answer(challenge, username="1001"), source=PHONE, realm="example.com", proxy=False, now=NOW
    )
    assert isinstance(wrong, Forbidden)
    assert isinstance(unknown, Forbidden)
    assert (
        (wrong.status_code, wrong.reason)
        == (unknown.status_code, unknown.reason)
        == (403, "Forbidden")
    )
    assert [f for f in Forbidden.__slots__ if f != "why"] == [
        "status_code",
        "reason",
    ]  # nothing else on the wire
    assert "wrong password" in caplog.text
    assert "unknown user" in caplog.text


def test_unknown_user_does_the_digest_work(
    users: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sipline.auth._authenticator as module

    calls: list[str] = []
    real = module.verify_credentials

    def counting(credentials, **kw):  # type: ignore[no-untyped-def]
        calls.append(credentials.username)
        return real(credentials, **kw)

    monkeypatch.setattr(module, "verify_credentials", counting)
    auth = Authenticator(users, NonceFactory(SECRET))
    challenge = auth.challenge("example.com", proxy=False, now=NOW)
    auth.check(
        answer(challenge, username="ghost"), source=PHONE, realm="example.com", proxy=False, now=NOW
    )
    assert calls == ["ghost"]


def test_digest_uri_must_name_the_request_uri(users: SqliteStore) -> None:
    auth = Authenticator(users, NonceFactory(SECRET))
    challenge = auth.challenge("example.com", proxy=False, now=NOW)
    good = answer(challenge, uri="sip:example.com")
    moved = register(
        "sip:other.example.com", f"Authorization: {good.headers.get('authorization')}\r\n"
    )
    assert isinstance(
        auth.check(moved, source=PHONE, realm="example.com", proxy=False, now=NOW), Forbidden
    )


def test_brute_force_blocks_source_after_threshold(users: SqliteStore) -> None:
    guard = BruteForceGuard(threshold=3, window=60, block_time=600)
    auth = Authenticator(users, NonceFactory(SECRET), guard=guard)
    challenge = auth.challenge("example.com", proxy=False, now=NOW)
    for i in range(3):
        result = auth.check(
            answer(challenge, password=f"guess{i}"),
            source=PHONE,
            realm="example.com",
            proxy=False,
            now=NOW + i,
        )
        assert isinstance(result, Forbidden)
    # blocked now: even the right password gets nothing, cheaply
    blocked = auth.check(
        answer(challenge, nc=9), source=PHONE, realm="example.com", proxy=False, now=NOW + 5
    )
    assert blocked == Blocked(respond=False)
    other = Address("udp", "198.51.100.10", 5060)
    assert isinstance(
        auth.check(
            answer(challenge, nc=10), source=other, realm="example.com", proxy=False, now=NOW + 5
        ),
        Authorized,
    )
    # still blocked within block_time; after it the (now stale) nonce is re-challenged
    late = {"source": PHONE, "realm": "example.com", "proxy": False}
    assert isinstance(auth.check(answer(challenge, nc=11), now=NOW + 250, **late), Blocked)  # type: ignore[arg-type]
    assert isinstance(auth.check(answer(challenge, nc=12), now=NOW + 603, **late), Challenge)  # type: ignore[arg-type]


def test_guard_counts_per_user_across_sources(caplog: pytest.LogCaptureFixture) -> None:
    guard = BruteForceGuard(threshold=100, window=60, block_time=60, user_threshold=3)
    caplog.set_level(logging.WARNING, logger="sipline.auth")
    assert not guard.failed("10.0.0.1", "1000@x", NOW)
    assert not guard.failed("10.0.0.2", "1000@x", NOW)
    assert guard.failed("10.0.0.3", "1000@x", NOW)
    assert guard.blocked("10.0.0.3", NOW)
    assert not guard.blocked("10.0.0.1", NOW)
    assert "blocking 10.0.0.3" in caplog.text
    # the window resets counts
    assert not guard.failed("10.0.0.4", "1000@x", NOW + 61)


def test_guard_memory_is_bounded() -> None:
    guard = BruteForceGuard(threshold=5, window=60, max_entries=100)
    for i in range(1000):
        guard.failed(f"10.0.{i // 256}.{i % 256}", f"u{i}", NOW + i / 100)
    assert len(guard._by_source) <= 100
    assert len(guard._by_user) <= 100


def test_blocked_source_may_get_a_cheap_403(users: SqliteStore) -> None:
    guard = BruteForceGuard(threshold=1)
    auth = Authenticator(
        users, NonceFactory(SECRET), AuthConfig(respond_when_blocked=True), guard=guard
    )
    guard.failed(PHONE.host, "x", NOW)
    assert auth.check(
        register(), source=PHONE, realm="example.com", proxy=False, now=NOW
    ) == Blocked(respond=True)


def test_trusted_networks_bypass_and_open_domains(users: SqliteStore) -> None:
    config = AuthConfig(
        trusted_networks=("198.51.100.0/24", "2001:db8::/32"),
        open_domains=frozenset({"Open.Example"}),
    )
    auth = Authenticator(users, NonceFactory(SECRET), config)
    assert auth.check(
        register(), source=PHONE, realm="example.com", proxy=False, now=NOW
    ) == Authorized(None, "trusted")
    v6 = Address("udp", "2001:db8::5", 5060)
    assert isinstance(
        auth.check(register(), source=v6, realm="example.com", proxy=True, now=NOW), Authorized
    )
    outsider = Address("udp", "203.0.113.1", 5060)
    assert isinstance(
        auth.check(register(), source=outsider, realm="example.com", proxy=False, now=NOW),
        Challenge,
    )
    assert auth.check(
        register(), source=outsider, realm="open.example", proxy=False, now=NOW
    ) == Authorized(None, "open")


def test_config_errors_say_how_to_fix() -> None:
    with pytest.raises(ValueError, match="CIDR"):
        AuthConfig(trusted_networks=("10.0.0.0/33",))
    with pytest.raises(ValueError, match="SHA-256, MD5"):
        AuthConfig(algorithms=("SHA-1",))
    assert AuthConfig(algorithms=("md5",)).algorithms == ("MD5",)


def test_md5_only_config_refuses_sha256_answers(users: SqliteStore) -> None:
    auth = Authenticator(users, NonceFactory(SECRET), AuthConfig(algorithms=("MD5",)))
    challenge = auth.challenge("example.com", proxy=False, now=NOW)
    assert len(challenge.headers) == 1
    sha = Authenticator(users, NonceFactory(SECRET)).challenge("example.com", proxy=False, now=NOW)
    assert isinstance(
        auth.check(answer(sha), source=PHONE, realm="example.com", proxy=False, now=NOW), Challenge
    )


def test_malformed_digest_raises_parse_error(users: SqliteStore) -> None:
    auth = Authenticator(users, NonceFactory(SECRET))
    bad = register(extra='Authorization: Digest username="1000", realm=\r\n')
    with pytest.raises(SipParseError):
        auth.check(bad, source=PHONE, realm="example.com", proxy=False, now=NOW)


def test_other_schemes_and_other_realms_are_ignored(users: SqliteStore) -> None:
    auth = Authenticator(users, NonceFactory(SECRET))
    challenge = auth.challenge("elsewhere.example", proxy=False, now=NOW)
    creds = answer(challenge, username="1000").headers.get("authorization")
    req = register(extra=f"Authorization: Basic Zm9vOmJhcg==\r\nAuthorization: {creds}\r\n")
    assert isinstance(
        auth.check(req, source=PHONE, realm="example.com", proxy=False, now=NOW), Challenge
    )


# -- nonces ------------------------------------------------------------------------


def test_nonce_factory_valid_stale_invalid() -> None:
    factory = NonceFactory(SECRET, lifetime=300)
    nonce = factory.issue("example.com", NOW)
    assert len(nonce) == 43
    assert nonce != factory.issue("example.com", NOW)  # random part: no sharing of nc
    assert factory.check(nonce, "example.com", NOW + 299) is NonceStatus.VALID
    assert factory.check(nonce, "example.com", NOW + 301) is NonceStatus.STALE
    assert factory.check(nonce, "other.example", NOW) is NonceStatus.INVALID
    assert NonceFactory(b"x" * 32).check(nonce, "example.com", NOW) is NonceStatus.INVALID
    assert factory.check(nonce, "example.com", NOW - 60) is NonceStatus.INVALID  # from the future
    tampered = ("A" if nonce[0] != "A" else "B") + nonce[1:]
    assert factory.check(tampered, "example.com", NOW) is NonceStatus.INVALID
    for junk in ("", "62fb812c-71d2-4a36-93d6-e0008e6a63ee", "!" * 43, "é" * 43):
        assert factory.check(junk, "example.com", NOW) is NonceStatus.INVALID
    assert factory.issued_at(nonce) == pytest.approx(NOW, abs=0.001)
    with pytest.raises(ValueError, match="16 bytes"):
        NonceFactory(b"short")


def test_nonce_counter_is_bounded_and_forgets_safely() -> None:
    counter = NonceCounter(max_entries=8)
    for i in range(8):
        assert counter.accept(f"n{i}", 1, issued_at=float(i))
    assert counter.accept("n9", 1, issued_at=9.0)  # evicts the oldest (n0)
    assert len(counter) <= 8
    assert not counter.accept("n0", 2, issued_at=0.0)  # forgotten: cannot vouch for it
    assert counter.accept("n9", 2, issued_at=9.0)
    assert not counter.accept("n9", 2, issued_at=9.0)
