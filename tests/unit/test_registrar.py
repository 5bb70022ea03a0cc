"""Registrar (RFC 3261 §10.3, RFC 5626 §6, RFC 3327), one behaviour per test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from sipline.auth import AuthConfig, Authenticator, BruteForceGuard, NonceFactory
from sipline.registrar import Registrar, RegistrarConfig
from sipline.sip import Address, DigestChallenge, Request, Response, make_credentials, parse_message
from sipline.store import SqliteStore, User, open_store

NOW = 1_700_000_000.0
PHONE = Address("udp", "203.0.113.7", 40312)  # the NATed source the REGISTER came from
LOCAL = Address("udp", "192.0.2.1", 5060)
CONFIG = RegistrarConfig(domains=frozenset({"example.com"}))


def register(
    *contacts: str,
    expires: int | None = None,
    call_id: str = "call-1",
    cseq: int = 1,
    to: str = "sip:1000@example.com",
    uri: str = "sip:example.com",
    extra: Iterable[str] = (),
) -> Request:
    lines = [
        f"REGISTER {uri} SIP/2.0",
        "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-x;rport",
        "Max-Forwards: 70",
        f"From: <{to}>;tag=f1",
        f"To: <{to}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        "User-Agent: TestPhone/1.0",
    ]
    lines += [f"Contact: {c}" for c in contacts]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    lines += list(extra)
    message = parse_message(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())
    assert isinstance(message, Request)
    return message


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    with open_store(tmp_path) as s:
        yield s


@pytest.fixture
def registrar(store: SqliteStore) -> Registrar:
    return Registrar(CONFIG, store, None)


def send(
    registrar: Registrar, request: Request, now: float = NOW, source: Address = PHONE
) -> Response:
    response = registrar.process(request, source, LOCAL, now)
    assert response is not None
    return response


def contact_expires(response: Response) -> dict[str, int]:
    """Contact URI -> expires of a 200 OK."""
    return {str(c.uri): int(c.params.get("expires") or -1) for c in response.contacts}


def test_expires_precedence_param_then_header_then_default(registrar: Registrar) -> None:
    r = send(registrar, register("<sip:a@10.0.0.5>;expires=120", "<sip:b@10.0.0.5>", expires=300))
    assert r.status_code == 200
    assert contact_expires(r) == {"sip:a@10.0.0.5": 120, "sip:b@10.0.0.5": 300}
    r = send(registrar, register("<sip:c@10.0.0.5>", call_id="other"))
    assert contact_expires(r)["sip:c@10.0.0.5"] == 3600


def test_expires_clamped_to_max(registrar: Registrar) -> None:
    r = send(registrar, register("<sip:a@10.0.0.5>", expires=86400))
    assert contact_expires(r) == {"sip:a@10.0.0.5": 7200}


def test_too_brief_gets_423_with_min_expires_and_stores_nothing(
    registrar: Registrar, store: SqliteStore
) -> None:
    r = send(registrar, register("<sip:a@10.0.0.5>", "<sip:b@10.0.0.5>;expires=30", expires=600))
    assert (r.status_code, r.reason) == (423, "Interval Too Brief")
    assert r.headers.get("min-expires") == "60"
    assert store.lookup("1000@example.com", NOW) == []


def test_star_with_expires_zero_removes_all(registrar: Registrar, store: SqliteStore) -> None:
    send(registrar, register("<sip:a@10.0.0.5>", "<sip:b@10.0.0.5>"))
    send(registrar, register("<sip:c@10.0.0.6>", call_id="desk"))
    r = send(registrar, register("*", expires=0, cseq=2))
    assert r.status_code == 200
    assert r.contacts == []
    assert store.lookup("1000@example.com", NOW) == []


@pytest.mark.parametrize(
    ("contacts", "expires"),
    [(("*",), 60), (("*",), None), (("*", "<sip:a@10.0.0.5>"), 0)],
)
def test_star_misused_is_400(
    registrar: Registrar, contacts: tuple[str, ...], expires: int | None
) -> None:
    assert send(registrar, register(*contacts, expires=expires)).status_code == 400


def test_several_contacts_and_query(registrar: Registrar) -> None:
    send(registrar, register("<sip:a@10.0.0.5>", "<sip:b@10.0.0.5>"))
    send(registrar, register("<sip:c@10.0.0.7>", call_id="second-phone"))
    query = send(registrar, register(cseq=5))
    assert query.status_code == 200
    assert set(contact_expires(query)) == {"sip:a@10.0.0.5", "sip:b@10.0.0.5", "sip:c@10.0.0.7"}


def test_q_values_kept_and_ordered(registrar: Registrar, store: SqliteStore) -> None:
    send(registrar, register("<sip:low@10.0.0.5>;q=0.2", "<sip:high@10.0.0.5>;q=0.9"))
    bindings = store.lookup("1000@example.com", NOW)
    assert [(b.contact, b.q) for b in bindings] == [
        ("<sip:high@10.0.0.5>;q=0.9", 0.9),
        ("<sip:low@10.0.0.5>;q=0.2", 0.2),
    ]
    assert send(registrar, register("<sip:x@10.0.0.5>;q=7", call_id="z")).status_code == 400


def test_stale_cseq_refused_with_500(registrar: Registrar, store: SqliteStore) -> None:
    send(registrar, register("<sip:a@10.0.0.5>", cseq=5))
    for cseq in (5, 4):
        r = send(registrar, register("<sip:a@10.0.0.5>;expires=0", cseq=cseq))
        assert r.status_code == 500  # §10.3 step 7 ("the request fails"), code as §12.2.2
    assert len(store.lookup("1000@example.com", NOW)) == 1
    assert send(registrar, register("*", expires=0, cseq=5)).status_code == 500


def test_same_call_id_higher_cseq_updates(registrar: Registrar, store: SqliteStore) -> None:
    send(registrar, register("<sip:a@phone.example.net>", cseq=1, expires=100))
    # the same URI by §19.1.4 (host case differs): the binding is updated, not added
    r = send(
        registrar, register("<sip:a@PHONE.example.net>;q=0.5", cseq=2, expires=900), now=NOW + 10
    )
    [binding] = store.lookup("1000@example.com", NOW + 10)
    assert (binding.cseq, binding.expires_at) == (2, NOW + 10 + 900)
    assert list(contact_expires(r).values()) == [900]


def test_other_call_id_updates_even_with_lower_cseq(
    registrar: Registrar, store: SqliteStore
) -> None:
    send(registrar, register("<sip:a@10.0.0.5>", cseq=50))
    assert (
        send(registrar, register("<sip:a@10.0.0.5>", call_id="rebooted", cseq=1)).status_code == 200
    )
    [binding] = store.lookup("1000@example.com", NOW)
    assert (binding.call_id, binding.cseq) == ("rebooted", 1)


def test_contact_expires_zero_removes_one(registrar: Registrar, store: SqliteStore) -> None:
    send(registrar, register("<sip:a@10.0.0.5>", "<sip:b@10.0.0.5>"))
    r = send(registrar, register("<sip:a@10.0.0.5>;expires=0", cseq=2))
    assert list(contact_expires(r)) == ["sip:b@10.0.0.5"]


def test_instance_and_reg_id_replace_the_flow(registrar: Registrar, store: SqliteStore) -> None:
    inst = '+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"'
    extra = ["Supported: path, outbound"]
    send(registrar, register(f"<sip:a@10.0.0.5:5060>;{inst};reg-id=1", extra=extra))
    # the phone moved (new IP and Call-ID after a reboot): same instance and reg-id
    r = send(
        registrar, register(f"<sip:a@10.9.9.9:6000>;{inst};reg-id=1", call_id="new", extra=extra)
    )
    [binding] = store.lookup("1000@example.com", NOW)
    assert binding.contact.startswith("<sip:a@10.9.9.9:6000>")
    assert (binding.instance, binding.reg_id) == (
        "<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>",
        1,
    )
    assert r.headers.get("require") == "outbound"
    # a second flow of the same instance is another binding
    send(registrar, register(f"<sip:a@10.9.9.9:6001>;{inst};reg-id=2", call_id="new", cseq=2))
    assert len(store.lookup("1000@example.com", NOW)) == 2


def test_two_reg_id_contacts_in_one_register_is_400(registrar: Registrar) -> None:
    inst = '+sip.instance="<urn:uuid:1>"'
    r = send(registrar, register(f"<sip:a@h1>;{inst};reg-id=1", f"<sip:a@h2>;{inst};reg-id=2"))
    assert r.status_code == 400


def test_path_kept_and_returned(registrar: Registrar, store: SqliteStore) -> None:
    path = ["Path: <sip:edge1.example.net;lr>", "Path: <sip:edge2.example.net;lr>"]
    r = send(registrar, register("<sip:a@10.0.0.5>", extra=[*path, "Supported: path"]))
    [binding] = store.lookup("1000@example.com", NOW)
    assert binding.path == ("<sip:edge1.example.net;lr>", "<sip:edge2.example.net;lr>")
    assert r.headers.get_all("path") == ["<sip:edge1.example.net;lr>", "<sip:edge2.example.net;lr>"]


def test_200_lists_all_bindings_with_expires_and_date(registrar: Registrar) -> None:
    send(registrar, register("<sip:a@10.0.0.5>", expires=600))
    r = send(registrar, register("<sip:b@10.0.0.5>", expires=1200, call_id="2"), now=NOW + 100)
    assert contact_expires(r) == {"sip:a@10.0.0.5": 500, "sip:b@10.0.0.5": 1200}
    date = r.headers.get("date")
    assert date is not None
    assert date.endswith(" GMT")
    assert parsedate_to_datetime(date).timestamp() == NOW + 100
    assert r.to.tag is not None
    assert r.headers.get("call-id") == "2"


def test_source_and_local_addresses_stored(registrar: Registrar, store: SqliteStore) -> None:
    tcp_source = Address("tcp", "198.51.100.20", 51234)
    send(registrar, register("<sip:a@192.168.1.20:5060;transport=tcp>"), source=tcp_source)
    [binding] = store.lookup("1000@example.com", NOW)
    assert (binding.source, binding.local) == (tcp_source, LOCAL)
    assert binding.user_agent == "TestPhone/1.0"
    assert binding.registered_at == NOW


@pytest.mark.parametrize(
    ("uri", "to"),
    [
        ("sip:other.example", "sip:1000@example.com"),
        ("sip:example.com", "sip:1000@other.example"),
        ("sip:example.com", "sip:example.com"),
    ],
)
def test_foreign_domain_or_bad_aor_is_404(
    registrar: Registrar, store: SqliteStore, uri: str, to: str
) -> None:
    r = send(registrar, register("<sip:a@10.0.0.5>", uri=uri, to=to))
    assert r.status_code == 404
    assert store.count() == 0


def test_empty_domains_serve_the_local_addresses(store: SqliteStore) -> None:
    registrar = Registrar(RegistrarConfig(local_addresses=frozenset({"192.168.4.4"})), store, None)
    ok = register("<sip:a@10.0.0.5>", uri="sip:192.168.4.4", to="sip:alice@192.168.4.4")
    assert send(registrar, ok).status_code == 200
    on_listener = register("<sip:a@10.0.0.5>", uri="sip:192.0.2.1", to="sip:alice@192.0.2.1")
    assert send(registrar, on_listener).status_code == 200
    elsewhere = register("<sip:a@10.0.0.5>", uri="sip:198.51.100.1", to="sip:alice@198.51.100.1")
    assert send(registrar, elsewhere).status_code == 404


def test_bindings_persist_across_a_new_store(tmp_path: Path) -> None:
    with open_store(tmp_path) as first:
        send(Registrar(CONFIG, first, None), register("<sip:a@10.0.0.5>;q=0.5", expires=600))
    with open_store(tmp_path) as second:
        [binding] = second.lookup("1000@example.com", NOW + 1)
        assert (binding.contact, binding.source) == ("<sip:a@10.0.0.5>;q=0.5", PHONE)
        # and the restarted registrar still refuses a stale CSeq for it
        assert (
            send(Registrar(CONFIG, second, None), register("<sip:a@10.0.0.5>")).status_code == 500
        )


def test_bindings_expire_on_time(registrar: Registrar, store: SqliteStore) -> None:
    send(registrar, register("<sip:a@10.0.0.5>", expires=120))
    assert len(store.lookup("1000@example.com", NOW + 119)) == 1
    assert store.lookup("1000@example.com", NOW + 120) == []
    assert registrar.expire(NOW + 119) == []
    assert [b.contact for b in registrar.expire(NOW + 120)] == ["<sip:a@10.0.0.5>"]
    assert store.count() == 0


def test_max_bindings_per_aor(store: SqliteStore) -> None:
    registrar = Registrar(
        RegistrarConfig(domains=frozenset({"example.com"}), max_bindings=2), store, None
    )
    assert send(registrar, register("<sip:a@h>", "<sip:b@h>")).status_code == 200
    assert send(registrar, register("<sip:c@h>", call_id="x")).status_code == 403
    assert send(registrar, register("<sip:a@h>;expires=0", "<sip:c@h>", cseq=2)).status_code == 200


def test_not_register_and_bad_requests(registrar: Registrar) -> None:
    options = parse_message(
        b"OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:example.com>\r\nCall-ID: x\r\n"
        b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    assert isinstance(options, Request)
    assert send(registrar, options).status_code == 405
    r = send(registrar, register("<sip:a@10.0.0.5>", extra=["Require: gruu-unknown"]))
    assert (r.status_code, r.headers.get("unsupported")) == (420, "gruu-unknown")
    r = send(registrar, register("<sip:a@10.0.0.5>;expires=soon"))
    assert r.status_code == 400
    assert "\r" not in r.reason
    assert "\n" not in r.reason


# -- with authentication ------------------------------------------------------------


def authed(store: SqliteStore, **guard: float) -> Registrar:
    store.add_user(User.create("1000", "example.com", "pw"))
    store.add_user(User.create("1001", "example.com", "pw2"))
    auth = Authenticator(
        store,
        NonceFactory(b"k" * 32),
        AuthConfig(),
        guard=BruteForceGuard(**guard),  # type: ignore[arg-type]
    )
    return Registrar(CONFIG, store, auth)


def with_credentials(challenge: Response, request: Request, user: str, password: str) -> Request:
    offer = DigestChallenge.parse(challenge.headers.get_all("www-authenticate")[0])
    creds = make_credentials(
        offer, username=user, password=password, method="REGISTER", uri=request.uri
    )
    request.headers.add("Authorization", str(creds))
    return request


def test_register_401_then_200(store: SqliteStore) -> None:
    registrar = authed(store)
    first = send(registrar, register("<sip:a@10.0.0.5>"))
    assert first.status_code == 401
    assert len(first.headers.get_all("www-authenticate")) == 2
    assert store.count() == 0
    ok = send(
        registrar, with_credentials(first, register("<sip:a@10.0.0.5>", cseq=2), "1000", "pw")
    )
    assert ok.status_code == 200
    assert store.count() == 1


def test_challenge_without_credentials_is_stateless_and_stores_nothing(
    store: SqliteStore,
) -> None:
    registrar = authed(store)
    request = register("<sip:a@10.0.0.5>")
    reply = registrar.answer_statelessly(request, PHONE, LOCAL, NOW)
    assert reply is not None
    assert reply.status_code == 401
    assert [name for name, _ in reply.headers] == ["WWW-Authenticate", "WWW-Authenticate"]
    # refusals that need no state are stateless too
    foreign = register("<sip:a@h>", to="sip:1000@elsewhere.org")
    assert (registrar.answer_statelessly(foreign, PHONE, LOCAL, NOW) or reply).status_code == 404
    assert store.count() == 0
    # with credentials (or no authenticator at all) the request needs a transaction
    with_creds = with_credentials(
        send(registrar, register("<sip:a@10.0.0.5>")),
        register("<sip:a@10.0.0.5>", cseq=2),
        "1000",
        "pw",
    )
    assert registrar.answer_statelessly(with_creds, PHONE, LOCAL, NOW) is None
    assert Registrar(CONFIG, store, None).answer_statelessly(request, PHONE, LOCAL, NOW) is None
    assert send(registrar, with_creds).status_code == 200
    assert store.count() == 1


def test_wrong_password_403_and_other_users_aor_403(store: SqliteStore) -> None:
    registrar = authed(store)
    challenge = send(registrar, register("<sip:a@10.0.0.5>"))
    bad = send(
        registrar, with_credentials(challenge, register("<sip:a@h>", cseq=2), "1000", "nope")
    )
    assert (bad.status_code, bad.reason) == (403, "Forbidden")
    hijack = send(
        registrar, with_credentials(challenge, register("<sip:a@h>", cseq=3), "1001", "pw2")
    )
    assert (hijack.status_code, hijack.reason) == (403, "Forbidden")
    assert store.count() == 0


def test_blocked_source_gets_no_answer(store: SqliteStore) -> None:
    registrar = authed(store, threshold=2)
    challenge = send(registrar, register("<sip:a@h>"))
    for cseq in (2, 3):
        assert (
            send(
                registrar,
                with_credentials(challenge, register("<sip:a@h>", cseq=cseq), "1000", "x"),
            ).status_code
            == 403
        )
    assert registrar.process(register("<sip:a@h>", cseq=4), PHONE, LOCAL, NOW) is None


@dataclass
class FakeIncoming:
    """Answers like ``sipline.endpoint.IncomingRequest`` (sync) or an async variant."""

    request: Request
    source: Address = PHONE
    local: Address = LOCAL
    answers: list[tuple[int, str | None, list[tuple[str, str]]]] = field(default_factory=list)

    def respond(
        self,
        status_code: int,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> None:
        self.answers.append((status_code, reason, list(headers)))


class AsyncFakeIncoming(FakeIncoming):
    async def respond(  # type: ignore[override]
        self,
        status_code: int,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> None:
        await asyncio.sleep(0)
        self.answers.append((status_code, reason, list(headers)))


@pytest.mark.parametrize("kind", [FakeIncoming, AsyncFakeIncoming])
def test_async_adapter_answers_through_incoming(
    registrar: Registrar, store: SqliteStore, kind: type[FakeIncoming]
) -> None:
    incoming = kind(register("<sip:a@10.0.0.5>", expires=600))
    asyncio.run(registrar.handle(incoming))
    [(status, reason, headers)] = incoming.answers
    assert (status, reason) == (200, "OK")
    assert ("Contact", "<sip:a@10.0.0.5>;expires=600") in headers
    assert store.count() == 1
