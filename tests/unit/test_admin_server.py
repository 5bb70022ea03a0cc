"""AdminServer life cycle, the token and discovery files, and the blocking client."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from admin_helpers import FakeServer

from sipline.admin import (
    AdminClient,
    AdminClientError,
    AdminServer,
    load_or_create_token,
    parse_admin_listen,
    read_location,
)
from sipline.admin._token import remove_discovery, write_discovery
from sipline.config import config_from_dict
from sipline.store import open_store


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


def test_token_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    token, created = load_or_create_token(tmp_path / "data")
    assert created
    assert len(token) >= 40
    mode = stat.S_IMODE(os.stat(tmp_path / "data" / "admin-token").st_mode)
    assert mode == 0o600
    again, created_again = load_or_create_token(tmp_path / "data")
    assert (again, created_again) == (token, False)


def test_discovery_round_trip_and_removal(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="no running server"):
        read_location(tmp_path)
    write_discovery(tmp_path, "http://127.0.0.1:9999")
    with pytest.raises(LookupError, match="admin token"):
        read_location(tmp_path)
    token, _ = load_or_create_token(tmp_path)
    location = read_location(tmp_path)
    assert (location.url, location.token) == ("http://127.0.0.1:9999", token)
    (tmp_path / "admin.json").write_text(json.dumps({"url": "http://x", "pid": -1}))
    remove_discovery(tmp_path)  # not ours: kept
    assert (tmp_path / "admin.json").exists()
    write_discovery(tmp_path, "http://127.0.0.1:9999")
    remove_discovery(tmp_path)
    assert not (tmp_path / "admin.json").exists()
    (tmp_path / "admin.json").write_text("{}")
    with pytest.raises(LookupError, match="no admin URL"):
        read_location(tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:0", ("::1", 0)),
        ("localhost:1", ("localhost", 1)),
    ],
)
def test_parse_admin_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_admin_listen(text) == expected


@pytest.mark.parametrize("text", ["8080", ":8080", "host:", "host:99999", "host:http"])
def test_parse_admin_listen_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_admin_listen(text)


def test_admin_server_serves_the_client_and_cleans_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    store = open_store(data)
    server = FakeServer(config_from_dict({}), store, None, frozenset({"example.com"}))

    async def scenario() -> None:
        admin = AdminServer(server, "127.0.0.1:0", data)
        await admin.start()
        try:
            location = read_location(data)
            assert location.url == admin.url
            client = AdminClient(location.url, location.token)
            # The blocking client runs in a thread: the server shares this loop.
            status = await asyncio.to_thread(client.get_json, "/api/status")
            assert status["listeners"] == []
            assert status["counts"]["users"] == 0
            created = await asyncio.to_thread(
                client.post_json, "/api/users", {"aor": "1@example.com", "password": "p"}
            )
            assert created["aor"] == "1@example.com"
            with pytest.raises(AdminClientError, match=r"already exists.*HTTP 409") as error:
                await asyncio.to_thread(
                    client.post_json, "/api/users", {"aor": "1@example.com", "password": "p"}
                )
            assert error.value.status == 409
            wrong = AdminClient(location.url, "nope")
            with pytest.raises(AdminClientError, match="HTTP 401"):
                await asyncio.to_thread(wrong.get_json, "/api/status")
        finally:
            await admin.close()
        await admin.close()  # idempotent
        assert not (data / "admin.json").exists()
        with pytest.raises(AdminClientError, match="cannot reach"):
            await asyncio.to_thread(client.get_json, "/api/health")

    try:
        run(scenario)
    finally:
        store.close()
    out = capsys.readouterr().out
    assert "admin API and web console on http://127.0.0.1:" in out
    assert load_or_create_token(data)[0] in out  # printed at first start


def test_admin_server_reports_a_busy_port(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = FakeServer(config_from_dict({}), None, None, frozenset())

    async def scenario() -> None:
        first = AdminServer(server, "127.0.0.1:0", data)
        await first.start()
        try:
            port = int(first.url.rsplit(":", 1)[1])
            second = AdminServer(server, f"127.0.0.1:{port}", data)
            with pytest.raises(OSError, match=r"address already in use|Errno 98"):
                await second.start()
            await second.close()
        finally:
            await first.close()

    run(scenario)
