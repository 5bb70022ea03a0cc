"""Issue #4 "must show": the registrar of `sipline serve` against SIPp.

Each test starts `sipline serve` (UDP and TCP on one free port, its own data dir, users
imported with `sipline user import`) and runs a `reg_*.xml` scenario.  The scenarios
check the essentials themselves (`<ereg check_it>`: the call fails when the 200 lacks
the binding or the Date); the tests then read SIPp's message log and check the exact
Contact, expiry and status of every answer.
"""

from __future__ import annotations

import re
import sqlite3
import time
from contextlib import closing
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from harness import (
    ServerFactory,
    ServerProcess,
    SippFactory,
    auth_rows,
    import_users,
    write_injection_file,
)

from sipline.sip import Request, Response, parse_message
from sipline.store import DATABASE_NAME, SqliteStore

pytestmark = pytest.mark.integration

DOMAIN = "127.0.0.1"
USERS = {"1000": "secret-1000", "1001": "secret-1001", "1002": "secret-1002"}


# -- helpers -----------------------------------------------------------------------------


def start_server(
    sipline_server: ServerFactory,
    harness_dir: Path,
    *,
    config: str = "",
    users: dict[str, str] | None = None,
    port: int | None = None,
) -> ServerProcess:
    data_dir = harness_dir / "data"
    if users is not None:
        import_users(data_dir, users)
    args = ["--listen", "udp:{host}:{port}", "--listen", "tcp:{host}:{port}"]
    args += ["--data", "{data_dir}", "--domain", DOMAIN, "--admin", "off"]
    if config:
        config_path = harness_dir / "sipline.toml"
        config_path.write_text(config)
        args += ["--config", str(config_path)]
    return sipline_server(*args, data_dir=data_dir, port=port)


def credentials(tmp_path: Path, user: str, password: str, name: str = "users.csv") -> Path:
    return write_injection_file(tmp_path / name, auth_rows([(user, password)]))


def sipp_messages(log: Path) -> list[tuple[str, Request | Response]]:
    """("sent" | "received", message) for every message in a SIPp -trace_msg log."""
    out: list[tuple[str, Request | Response]] = []
    blocks = log.read_text("latin-1").split("-----------------------------------------------")
    for block in blocks:
        head, _, rest = block.partition("\n\n")
        if " message sent" in head:
            direction = "sent"
        elif " message received" in head:
            direction = "received"
        else:
            continue
        lines = rest.strip("\r\n").replace("\r\n", "\n").split("\n")
        text = "\r\n".join(line.rstrip("\r") for line in lines) + "\r\n\r\n"
        out.append((direction, parse_message(text.encode("latin-1"))))
    return out


def responses(log: Path) -> list[Response]:
    return [m for d, m in sipp_messages(log) if d == "received" and isinstance(m, Response)]


def requests_sent(log: Path) -> list[Request]:
    return [m for d, m in sipp_messages(log) if d == "sent" and isinstance(m, Request)]


def bindings(response: Response) -> dict[str, int]:
    """Contact URI -> expires, as listed in a 200 to a REGISTER."""
    listed: dict[str, int] = {}
    for contact in response.contacts:
        assert contact.expires is not None, f"no expires= in {contact}"
        listed[str(contact.uri)] = contact.expires
    return listed


def assert_date_is_now(response: Response) -> None:
    date = response.headers.get("Date")
    assert date is not None, f"no Date header in\n{bytes(response).decode()}"
    assert date.endswith(" GMT")
    assert abs(parsedate_to_datetime(date).timestamp() - time.time()) < 30


def stored(data_dir: Path, aor: str) -> list[str]:
    """The Contacts the store holds for `aor` (opened beside the server: WAL readers)."""
    with SqliteStore(data_dir / DATABASE_NAME) as store:
        return [b.contact for b in store.lookup(aor, time.time())]


# -- tests -------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_with_auth_lists_binding_with_expires_and_date(
    sipline_server: ServerFactory,
    sipp: SippFactory,
    harness_dir: Path,
    tmp_path: Path,
    transport: str,
) -> None:
    server = start_server(sipline_server, harness_dir, users=USERS)
    users = credentials(tmp_path, "1000", USERS["1000"])
    uac = sipp.uac("reg_check_200", server.hostport, injection=users, transport=transport)
    uac.wait_result().assert_ok(calls=1)

    challenge, ok = responses(uac.message_path)
    assert challenge.status_code == 401
    assert challenge.headers.get("WWW-Authenticate") or "".startswith("Digest ")
    assert ok.status_code == 200
    contact = f"sip:1000@127.0.0.1:{uac.port}"
    assert bindings(ok) == {contact: 3600}
    assert_date_is_now(ok)
    assert stored(server.data_dir, "1000@127.0.0.1") == [f"<{contact}>"]


def test_wrong_password_gets_403_and_binds_nothing(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path, tmp_path: Path
) -> None:
    server = start_server(sipline_server, harness_dir, users=USERS)
    users = credentials(tmp_path, "1000", "not-the-password")
    uac = sipp.uac("reg_wrong_password", server.hostport, injection=users)
    uac.wait_result().assert_ok(calls=1)

    statuses = [r.status_code for r in responses(uac.message_path)]
    assert statuses == [401, 403]
    assert stored(server.data_dir, "1000@127.0.0.1") == []
    assert server.wait_output("wrong password", timeout=5)


def test_expired_nonce_gets_stale_challenge_then_registers(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path, tmp_path: Path
) -> None:
    server = start_server(
        sipline_server, harness_dir, users=USERS, config="[auth]\nnonce_lifetime = 2\n"
    )
    users = credentials(tmp_path, "1001", USERS["1001"])
    uac = sipp.uac("reg_stale_nonce", server.hostport, injection=users, timeout=20)
    uac.wait_result().assert_ok(calls=1)

    sent = requests_sent(uac.message_path)
    answers = responses(uac.message_path)
    assert [r.status_code for r in answers] == [401, 200, 401, 200]
    stale = answers[2].headers.get("WWW-Authenticate") or ""
    assert "stale=true" in stale.lower()
    old_nonce = _nonce(sent[1].headers.get("Authorization"))
    assert _nonce(sent[2].headers.get("Authorization")) == old_nonce  # replayed after 3 s
    assert _nonce(sent[3].headers.get("Authorization")) != old_nonce  # the fresh one
    assert bindings(answers[3]) == {f"sip:1001@127.0.0.1:{uac.port}": 3600}


def _nonce(authorization: str | None) -> str:
    assert authorization is not None
    found = re.search(r'(?:^|[\s,])nonce="([^"]*)"', authorization)  # not cnonce=
    assert found is not None, authorization
    return found.group(1)


def test_unregister_one_of_two_contacts(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path, tmp_path: Path
) -> None:
    server = start_server(sipline_server, harness_dir, users=USERS)
    users = credentials(tmp_path, "1000", USERS["1000"])
    uac = sipp.uac("reg_unregister_one", server.hostport, injection=users)
    uac.wait_result().assert_ok(calls=1)

    a = f"sip:1000-a@127.0.0.1:{uac.port}"
    b = f"sip:1000-b@127.0.0.1:{uac.port}"
    _, both, after = responses(uac.message_path)
    assert bindings(both) == {a: 3600, b: 3600}
    assert bindings(after) == {b: 3600}
    assert_date_is_now(after)
    assert stored(server.data_dir, "1000@127.0.0.1") == [f"<{b}>"]


def test_star_with_expires_zero_removes_every_binding(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path, tmp_path: Path
) -> None:
    server = start_server(sipline_server, harness_dir, users=USERS)
    users = credentials(tmp_path, "1002", USERS["1002"])
    uac = sipp.uac("reg_star", server.hostport, injection=users)
    uac.wait_result().assert_ok(calls=1)

    _, both, star, fetch = responses(uac.message_path)
    assert len(bindings(both)) == 2
    assert star.status_code == 200
    assert star.contacts == []
    assert_date_is_now(star)
    assert fetch.status_code == 200
    assert fetch.contacts == []
    server.stop()  # SIGTERM: the removal is committed, not only in memory
    assert stored(server.data_dir, "1002@127.0.0.1") == []


def test_expires_below_minimum_gets_423_with_min_expires(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path, tmp_path: Path
) -> None:
    server = start_server(
        sipline_server, harness_dir, users=USERS, config="[registrar]\nmin_expires = 120\n"
    )
    users = credentials(tmp_path, "1000", USERS["1000"])
    uac = sipp.uac("reg_too_brief", server.hostport, injection=users, keys={"expires": "30"})
    uac.wait_result().assert_ok(calls=1)

    _, too_brief, ok = responses(uac.message_path)
    assert too_brief.status_code == 423
    assert too_brief.headers.get("Min-Expires") == "120"
    assert too_brief.contacts == []
    assert bindings(ok) == {f"sip:1000@127.0.0.1:{uac.port}": 120}


def test_several_contacts_for_one_aor_listed_by_q(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path, tmp_path: Path
) -> None:
    server = start_server(sipline_server, harness_dir, users=USERS)
    users = credentials(tmp_path, "1000", USERS["1000"])
    uac = sipp.uac("reg_multi_contact", server.hostport, injection=users)
    uac.wait_result().assert_ok(calls=1)

    _, first, second = responses(uac.message_path)
    a, b, c = (f"sip:1000-{x}@127.0.0.1:{uac.port}" for x in "abc")
    assert bindings(first) == {a: 3600, b: 3600}
    assert bindings(second) == {a: 3600, b: 3600, c: 3600}
    # highest q first (RFC 3261 §16.6: absent q ranks as 1.0): b and c before a
    assert str(second.contacts[-1].uri) == a
    assert second.contacts[-1].q == 0.5
    assert len(stored(server.data_dir, "1000@127.0.0.1")) == 3


def test_bindings_survive_a_restart(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path, tmp_path: Path
) -> None:
    server = start_server(sipline_server, harness_dir, users=USERS)
    users = credentials(tmp_path, "1001", USERS["1001"])
    first = sipp.uac("reg_check_200", server.hostport, injection=users)
    first.wait_result().assert_ok(calls=1)
    contact = f"sip:1001@127.0.0.1:{first.port}"

    assert server.stop() == 0  # SIGTERM: a clean stop
    again = start_server(sipline_server, harness_dir, port=server.port)
    assert again.data_dir == server.data_dir
    fetch = sipp.uac("reg_fetch", again.hostport, injection=users)
    fetch.wait_result().assert_ok(calls=1)

    sent = requests_sent(fetch.message_path)
    assert all("Contact" not in r.headers for r in sent)  # a query, not a registration
    challenge, ok = responses(fetch.message_path)
    assert challenge.status_code == 401
    listed = bindings(ok)
    assert list(listed) == [contact]
    assert 3500 < listed[contact] <= 3600
    assert_date_is_now(ok)


def test_expired_binding_is_removed(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path, tmp_path: Path
) -> None:
    server = start_server(
        sipline_server,
        harness_dir,
        users=USERS,
        config="[registrar]\nmin_expires = 1\ndefault_expires = 60\n",
    )
    users = credentials(tmp_path, "1002", USERS["1002"])
    first = sipp.uac("reg_check_200", server.hostport, injection=users, keys={"expires": "2"})
    first.wait_result().assert_ok(calls=1)
    contact = f"sip:1002@127.0.0.1:{first.port}"
    assert bindings(responses(first.message_path)[-1]) == {contact: 2}

    assert server.wait_output(f"registration of 1002@127.0.0.1 at <{contact}> expired", 10)
    fetch = sipp.uac("reg_fetch_empty", server.hostport, injection=users)
    fetch.wait_result().assert_ok(calls=1)
    assert responses(fetch.message_path)[-1].contacts == []
    server.stop()
    # deleted from the database too (lookup() alone would hide an expired row)
    with closing(sqlite3.connect(server.data_dir / DATABASE_NAME)) as db:
        assert db.execute("SELECT count(*) FROM bindings").fetchone() == (0,)
