"""SqliteStore: users, bindings (in-memory index written through), CDRs, secret."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sipline.sip import Address, compute_ha1
from sipline.store import (
    DATABASE_NAME,
    SCHEMA_VERSION,
    Binding,
    CdrRecord,
    SqliteStore,
    StoreError,
    User,
    UserExistsError,
    load_or_create_secret,
    open_store,
)

SOURCE = Address("udp", "203.0.113.7", 40312)
LOCAL = Address("udp", "192.0.2.1", 5060)


def binding(aor: str = "1000@example.com", key: str = "k1", **kw: object) -> Binding:
    fields: dict[str, object] = {
        "aor": aor,
        "key": key,
        "contact": f"<sip:{key}@203.0.113.7:40312>",
        "expires_at": 1000.0,
        "call_id": "c1",
        "cseq": 1,
        "source": SOURCE,
        "local": LOCAL,
    }
    fields.update(kw)
    return Binding(**fields)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    with open_store(tmp_path / "data") as s:
        yield s


def test_user_digests_and_crud(store: SqliteStore) -> None:
    user = User.create("1000", "Example.COM", "secret", display_name="Desk", created_at=5.0)
    assert user.domain == "example.com"
    assert user.ha1("MD5") == compute_ha1("1000", "example.com", "secret")
    assert user.ha1("sha-256") == compute_ha1("1000", "example.com", "secret", "SHA-256")
    assert user.ha1("SHA-512-256") is None
    store.add_user(user)
    with pytest.raises(UserExistsError):
        store.add_user(user)
    assert store.get_user("1000", "EXAMPLE.com") == user
    assert store.get_user("1001", "example.com") is None
    store.add_user(User.create("999", "b.example", "x"))
    assert [u.aor for u in store.list_users()] == ["999@b.example", "1000@example.com"]
    assert [u.aor for u in store.list_users("example.com")] == ["1000@example.com"]
    assert store.count_users() == 2
    changed = User.create("1000", "example.com", "other", created_at=5.0)
    assert store.update_user(changed)
    assert store.get_user("1000", "example.com") == changed
    assert not store.update_user(User.create("nobody", "example.com", "x"))
    assert store.remove_user("1000", "example.com")
    assert store.get_user("1000", "example.com") is None
    assert not store.remove_user("1000", "example.com")


def test_users_changed_by_another_process_are_seen_at_once(tmp_path: Path) -> None:
    # The server keeps the users it looked up; `sipline user ...` writes from its own
    # connection, and the server's next look-up sees it.
    with open_store(tmp_path) as server, open_store(tmp_path) as cli:
        assert server.get_user("1000", "example.com") is None
        cli.add_user(User.create("1000", "example.com", "first"))
        first = server.get_user("1000", "example.com")
        assert first is not None
        assert first.ha1("MD5") == compute_ha1("1000", "example.com", "first")
        cli.update_user(User.create("1000", "example.com", "second"))
        second = server.get_user("1000", "example.com")
        assert second is not None
        assert second.ha1("MD5") == compute_ha1("1000", "example.com", "second")
        cli.remove_user("1000", "example.com")
        assert server.get_user("1000", "example.com") is None


def test_data_dir_and_file_modes(tmp_path: Path) -> None:
    with open_store(tmp_path / "d") as s:
        assert s.path == tmp_path / "d" / DATABASE_NAME
    assert stat.S_IMODE(os.stat(tmp_path / "d").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "d" / DATABASE_NAME).st_mode) == 0o600


def test_schema_version_and_newer_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    with SqliteStore(path) as s:
        assert s._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        s._db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this sipline"):
        SqliteStore(path)


def test_lookup_orders_by_q_and_skips_expired(store: SqliteStore) -> None:
    store.update(
        "a@x",
        save=[
            binding("a@x", "low", q=0.1),
            binding("a@x", "none"),
            binding("a@x", "mid", q=0.5),
            binding("a@x", "old", expires_at=10.0),
        ],
    )
    assert [b.key for b in store.lookup("a@x", now=20.0)] == ["none", "mid", "low"]
    assert len(store.lookup("a@x", now=5.0)) == 4
    assert store.lookup("b@x", now=0.0) == []
    assert store.count() == 4


def test_update_replaces_by_key_and_removes(store: SqliteStore) -> None:
    store.update("a@x", save=[binding("a@x", "k1"), binding("a@x", "k2")])
    store.update("a@x", save=[binding("a@x", "k1", cseq=7)], remove=["k2"])
    [only] = store.lookup("a@x", 0.0)
    assert (only.key, only.cseq) == ("k1", 7)
    assert store.count() == 1
    with pytest.raises(ValueError, match="saved under"):
        store.update("a@x", save=[binding("b@x")])


def test_bindings_survive_reopen(tmp_path: Path) -> None:
    full = binding(
        "a@x",
        "inst",
        q=0.7,
        instance="<urn:uuid:1>",
        reg_id=2,
        path=("<sip:edge.example;lr>", "<sip:[2001:db8::1]:5070;lr>"),
        user_agent="Zoiper",
        registered_at=900.0,
        source=Address("tcp", "2001:db8::9", 50000),
    )
    with open_store(tmp_path) as s:
        s.update("a@x", save=[full])
        s.update("b@x", save=[binding("b@x")])
    with open_store(tmp_path) as s:
        assert s.lookup("a@x", 0.0) == [full]
        assert s.count() == 2
        assert [b.aor for b in s.all_bindings(0.0)] == ["a@x", "b@x"]


def test_expire_removes_from_memory_and_disk(tmp_path: Path) -> None:
    with open_store(tmp_path) as s:
        s.update("a@x", save=[binding("a@x", "k1", expires_at=100.0)])
        s.update("a@x", save=[binding("a@x", "k2", expires_at=300.0)])
        # a refresh moves k1's expiry: the old heap entry must not expire it
        s.update("a@x", save=[binding("a@x", "k1", expires_at=200.0)])
        assert s.expire(150.0) == []
        assert [b.key for b in s.expire(250.0)] == ["k1"]
        assert s.count() == 1
    with open_store(tmp_path) as s:
        assert [b.key for b in s.lookup("a@x", 0.0)] == ["k2"]
        assert [b.key for b in s.expire(1e9)] == ["k2"]
        assert s.count() == 0


def test_remove_aor(store: SqliteStore) -> None:
    store.update("a@x", save=[binding("a@x", "k1"), binding("a@x", "k2")])
    assert store.remove_aor("a@x") == 2
    assert store.remove_aor("a@x") == 0
    assert store.lookup("a@x", 0.0) == []


def test_cdrs_filters_and_paging(store: SqliteStore) -> None:
    for i in range(5):
        store.append_cdr(
            CdrRecord(
                start_time=float(i),
                caller="1000" if i % 2 else "1001",
                callee="2000",
                call_ids=(f"a{i}", f"b{i}"),
                cause="NORMAL_CLEARING" if i < 4 else "USER_BUSY",
                data={"duration": i, "codec": "PCMU"},
            )
        )
    newest = store.list_cdrs(limit=2)
    assert [r.start_time for r in newest] == [4.0, 3.0]
    assert newest[0].data == {"duration": 4, "codec": "PCMU"}
    assert newest[0].call_ids == ("a4", "b4")
    assert [r.start_time for r in store.list_cdrs(limit=2, offset=2)] == [2.0, 1.0]
    assert [r.start_time for r in store.list_cdrs(caller="1000")] == [3.0, 1.0]
    assert [r.start_time for r in store.list_cdrs(call_id="b2")] == [2.0]
    assert [r.start_time for r in store.list_cdrs(since=1.0, until=3.0)] == [2.0, 1.0]
    assert [r.cause for r in store.list_cdrs(cause="USER_BUSY")] == ["USER_BUSY"]


def test_secret_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    assert len(first) == 32
    assert load_or_create_secret(tmp_path) == first
    assert stat.S_IMODE(os.stat(tmp_path / "secret.key").st_mode) == 0o600
    (tmp_path / "secret.key").write_text("not hex")
    with pytest.raises(StoreError, match="delete it"):
        load_or_create_secret(tmp_path)
