"""``sipline user``: add, list, passwd, remove, import (Flexisip, CSV); HA1 only on disk."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from sipline.cli import main
from sipline.sip import compute_ha1
from sipline.store import DATABASE_NAME, open_store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def db_bytes(data: Path) -> bytes:
    """Every byte sipline keeps for the users (database and WAL)."""
    return b"".join(
        p.read_bytes() for p in sorted(data.iterdir()) if p.name.startswith(DATABASE_NAME)
    )


def test_add_list_passwd_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "d")
    assert (
        run(
            capsys,
            "user",
            "add",
            "1000@Example.com",
            "--password",
            "Tr0ub4dor&3",
            "--name",
            "Desk",
            "--data",
            data,
        )[0]
        == 0
    )
    code, out, _ = run(capsys, "user", "list", "--data", data)
    assert code == 0
    assert "1000@example.com" in out
    assert "Desk" in out
    assert out.splitlines()[0].split() == ["USER@DOMAIN", "NAME", "CREATED"]
    with open_store(data) as store:
        user = store.get_user("1000", "example.com")
        assert user is not None
        assert user.ha1_md5 == compute_ha1("1000", "example.com", "Tr0ub4dor&3")
        assert user.ha1_sha256 == compute_ha1("1000", "example.com", "Tr0ub4dor&3", "SHA-256")
    assert (
        run(
            capsys, "user", "passwd", "1000@example.com", "--password", "n3w-Secret", "--data", data
        )[0]
        == 0
    )
    with open_store(data) as store:
        changed = store.get_user("1000", "example.com")
        assert changed is not None
        assert changed.ha1_md5 == compute_ha1("1000", "example.com", "n3w-Secret")
        assert changed.display_name == "Desk"
    blob = db_bytes(tmp_path / "d")
    assert b"Tr0ub4dor&3" not in blob
    assert b"n3w-Secret" not in blob
    assert run(capsys, "user", "remove", "1000@example.com", "--data", data)[0] == 0
    code, _, err = run(capsys, "user", "remove", "1000@example.com", "--data", data)
    assert code == 1
    assert err == "sipline: no user 1000@example.com\n"


def test_list_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path)
    run(capsys, "user", "add", "1000@a.example", "--password", "x1", "--data", data)
    run(capsys, "user", "add", "2000@b.example", "--password", "x2", "--data", data)
    code, out, _ = run(capsys, "user", "list", "--json", "--data", data)
    rows = json.loads(out)
    assert code == 0
    assert [r["aor"] for r in rows] == ["1000@a.example", "2000@b.example"]
    assert "ha1_md5" not in rows[0]
    code, out, _ = run(capsys, "user", "list", "--json", "--domain", "b.example", "--data", data)
    assert [r["aor"] for r in json.loads(out)] == ["2000@b.example"]


def test_bad_aor_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "user", "add", "1000", "--password", "x", "--data", str(tmp_path))
    assert code == 2
    assert err == "sipline: '1000' is not USER@DOMAIN; give e.g. 1000@example.com\n"
    for bad in ("@example.com", "1000@", "10 00@example.com", "1000@exa mple.com", "1000@[zz]"):
        assert run(capsys, "user", "add", bad, "--password", "x", "--data", str(tmp_path))[0] == 2


def test_duplicate_add_fails_with_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "user", "add", "1000@example.com", "--password", "x", "--data", str(tmp_path))
    code, _, err = run(
        capsys, "user", "add", "1000@example.com", "--password", "y", "--data", str(tmp_path)
    )
    assert code == 1
    assert "already exists" in err
    assert "sipline user passwd" in err


def test_password_from_stdin_when_not_a_tty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin\n"))
    assert run(capsys, "user", "add", "1000@example.com", "--data", str(tmp_path))[0] == 0
    with open_store(tmp_path) as store:
        user = store.get_user("1000", "example.com")
        assert user is not None
        assert user.ha1_md5 == compute_ha1("1000", "example.com", "from-stdin")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = run(capsys, "user", "add", "1001@example.com", "--data", str(tmp_path))
    assert code == 2
    assert "password is empty" in err


def test_password_prompted_on_a_tty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter(["typed-pw", "typed-pw", "one", "two"])
    monkeypatch.setattr("sys.stdin", Tty())
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert run(capsys, "user", "add", "1000@example.com", "--data", str(tmp_path))[0] == 0
    code, _, err = run(capsys, "user", "add", "1001@example.com", "--data", str(tmp_path))
    assert code == 2
    assert "differ" in err


FLEXISIP = """version:1

# users of the Flexisip seed (003)
test@sip.name1e5s.fun clrtxt:test ;
test2@sip.name1e5s.fun clrtxt:test ;
hashed@sip.name1e5s.fun md5:{md5} ; +33612345678
"""


def test_import_flexisip_users_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    users = tmp_path / "users.db.txt"
    md5 = compute_ha1("hashed", "sip.name1e5s.fun", "s3cret-h")
    users.write_text(FLEXISIP.format(md5=md5))
    data = tmp_path / "data"
    code, out, _ = run(capsys, "user", "import", str(users), "--data", str(data))
    assert code == 0
    assert out.startswith("imported 3 users")
    with open_store(data) as store:
        test = store.get_user("test", "sip.name1e5s.fun")
        assert test is not None
        assert test.ha1_sha256 == compute_ha1("test", "sip.name1e5s.fun", "test", "SHA-256")
        hashed = store.get_user("hashed", "sip.name1e5s.fun")
        assert hashed is not None
        assert (hashed.ha1("MD5"), hashed.ha1("SHA-256")) == (md5, None)
    assert b"clrtxt" not in db_bytes(data)
    # again: existing users are skipped unless --replace
    code, out, _ = run(capsys, "user", "import", str(users), "--data", str(data))
    assert "skipped 3" in out
    assert "--replace" in out
    code, out, _ = run(capsys, "user", "import", str(users), "--replace", "--data", str(data))
    assert "replaced 3" in out


def test_import_bad_line_names_it_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users.db.txt"
    users.write_text("version:1\ngood@example.com clrtxt:pw ;\nbad@example.com plain:pw ;\n")
    code, _, err = run(capsys, "user", "import", str(users), "--data", str(tmp_path / "d"))
    assert code == 1
    assert err.startswith(f"sipline: {users}:3: expected clrtxt:")
    with open_store(tmp_path / "d") as store:
        assert store.list_users() == []


def test_import_csv_with_and_without_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text('1000@example.com,pw one,"Front Desk"\n1001@example.com,pw2\n')
    headed = tmp_path / "headed.csv"
    headed.write_text("user,domain,password,display_name\n2000,Example.org,pw3,Lab\n")
    data = str(tmp_path / "d")
    assert run(capsys, "user", "import", str(plain), "--data", data)[0] == 0
    assert run(capsys, "user", "import", str(headed), "--data", data)[0] == 0
    with open_store(data) as store:
        assert [u.aor for u in store.list_users()] == [
            "1000@example.com",
            "1001@example.com",
            "2000@example.org",
        ]
        desk = store.get_user("1000", "example.com")
        assert desk is not None
        assert desk.display_name == "Front Desk"
        assert desk.ha1_md5 == compute_ha1("1000", "example.com", "pw one")
    assert b"pw one" not in db_bytes(tmp_path / "d")
    bad = tmp_path / "bad.csv"
    bad.write_text("aor,secret\n1@x.example,y\n")
    code, _, err = run(capsys, "user", "import", str(bad), "--data", data)
    assert code == 1
    assert "unknown columns secret" in err


def test_import_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "user", "import", str(tmp_path / "nope.txt"), "--data", str(tmp_path)
    )
    assert code == 1
    assert err.startswith("sipline: cannot read")


def test_passwd_of_unknown_user(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "user", "passwd", "9@example.com", "--password", "x", "--data", str(tmp_path)
    )
    assert code == 1
    assert "sipline user add" in err
