"""The admin API through aiohttp's test client, on a real store and endpoint."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from admin_helpers import (
    AUTH,
    TOKEN,
    FixedTrunks,
    MemoryTrace,
    RecordingCalls,
    admin_client,
    call,
)

from sipline import __version__
from sipline.admin import TrunkInfo
from sipline.admin._openapi import openapi_document
from sipline.analysis import read_trace
from sipline.config import ConfigError
from sipline.sip import Address, compute_ha1
from sipline.store import Binding, CdrRecord, User

DATA = Path(__file__).resolve().parent.parent / "data" / "traces"
B2BUA_TRACE = DATA / "fs_b2bua_call.txt"
A_LEG = "YWEwYjNlZTZjOWZjNDg3ZjU3MjQ3MTA1ZmQ1MDM5YmQ."
B_LEG = "0d74ac35-cca4-122d-81a2-2990e5b2bd3e"


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


def binding(aor: str, port: int, expires_in: float = 300.0) -> Binding:
    now = time.time()
    return Binding(
        aor=aor,
        key=f"sip:{aor.split('@')[0]}@127.0.0.1:{port}",
        contact=f"<sip:{aor.split('@')[0]}@127.0.0.1:{port}>",
        expires_at=now + expires_in,
        call_id=f"reg-{port}",
        cseq=1,
        source=Address("udp", "127.0.0.1", port),
        local=Address("udp", "127.0.0.1", 5060),
        user_agent="SIPp",
        registered_at=now,
    )


# -- authentication -----------------------------------------------------------------------
PROTECTED: list[tuple[str, str]] = [
    ("GET", "/metrics"),
    ("GET", "/api/status"),
    ("GET", "/api/registrations"),
    ("GET", "/api/calls"),
    ("DELETE", "/api/calls/x"),
    ("GET", "/api/calls/x/ladder"),
    ("GET", "/api/cdrs"),
    ("GET", "/api/users"),
    ("POST", "/api/users"),
    ("GET", "/api/users/1000@example.com"),
    ("PUT", "/api/users/1000@example.com"),
    ("DELETE", "/api/users/1000@example.com"),
    ("GET", "/api/trunks"),
    ("GET", "/api/trace"),
    ("POST", "/api/trace"),
    ("POST", "/api/reload"),
    ("GET", "/api/events"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_route_but_health_needs_the_token(tmp_path: Path, method: str, path: str) -> None:
    async def scenario() -> None:
        async with admin_client(tmp_path) as (client, _):
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                response = await client.request(method, path, headers=headers)
                assert response.status == 401, (headers, await response.text())
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                assert "token" in (await response.json())["error"]

    run(scenario)


def test_protected_list_covers_every_route_of_the_app(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_client(tmp_path) as (client, _):
            routes = {
                (r.method, r.resource.canonical)
                for r in client.app.router.routes()
                if r.method != "HEAD" and r.resource is not None
            }
        public = {("GET", "/"), ("GET", "/api/health"), ("GET", "/api/openapi.json")}
        templated = {
            (m, p.replace("/x", "/{id}").replace("1000@example.com", "{aor}")) for m, p in PROTECTED
        }
        assert routes == public | templated

    run(scenario)


def test_health_page_and_openapi_are_public(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_client(tmp_path) as (client, _):
            health = await client.get("/api/health")
            assert health.status == 200
            assert await health.json() == {"status": "ok", "version": __version__}
            page = await client.get("/")
            assert page.status == 200
            assert page.content_type == "text/html"
            spec = await client.get("/api/openapi.json")
            assert (await spec.json())["openapi"].startswith("3.")

    run(scenario)


def test_openapi_describes_exactly_the_routes_of_the_app(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_client(tmp_path) as (client, _):
            routes = {
                (r.method.lower(), r.resource.canonical)
                for r in client.app.router.routes()
                if r.method != "HEAD" and r.resource is not None
            }
        paths = openapi_document()["paths"]
        described = {(method, path) for path, item in paths.items() for method in item}
        assert described == routes
        for path, item in paths.items():
            for operation in item.values():
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "path":
                        assert "{" + parameter["name"] + "}" in path

    run(scenario)


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_client(tmp_path) as (client, _):
            text = await (await client.get("/")).text()
        assert "<script src" not in text
        assert "http://" not in text
        assert "https://" not in text
        assert "/api/events?token=" in text

    run(scenario)


# -- status and registrations -----------------------------------------------------------------
def test_status_reports_version_listeners_domains_and_counts(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_client(tmp_path) as (client, context):
            store = context.server.store
            assert store is not None
            assert context.server.endpoint is not None
            store.add_user(User.create("1000", "example.com", "secret"))
            store.update("1000@example.com", save=[binding("1000@example.com", 5070)])
            data = await (await client.get("/api/status", headers=AUTH)).json()
            port = context.server.endpoint.listeners[0].port
        assert data["version"] == __version__
        assert data["listeners"] == [f"udp:127.0.0.1:{port}"]
        assert data["domains"] == ["example.com"]
        assert data["mode"] == "b2bua"
        assert data["counts"] == {
            "users": 1,
            "registrations": 1,
            "registered_aors": 1,
            "active_calls": 0,
        }
        assert data["wired"] == {"calls": False, "trace": False, "trunks": False, "reload": False}
        assert data["uptime"] >= 0

    run(scenario)


def test_registrations_list_bindings_from_the_store(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_client(tmp_path) as (client, context):
            store = context.server.store
            assert store is not None
            store.update("1000@example.com", save=[binding("1000@example.com", 5070)])
            store.update("1001@example.com", save=[binding("1001@example.com", 5071, 60)])
            every = await (await client.get("/api/registrations", headers=AUTH)).json()
            one = await (
                await client.get("/api/registrations?aor=1001@example.com", headers=AUTH)
            ).json()
        assert [r["aor"] for r in every["registrations"]] == [
            "1000@example.com",
            "1001@example.com",
        ]
        (only,) = one["registrations"]
        assert only["source"] == "udp:127.0.0.1:5071"
        assert only["user_agent"] == "SIPp"
        assert 58 <= only["expires_in"] <= 60

    run(scenario)


# -- users ------------------------------------------------------------------------------------
def test_users_crud_keeps_only_digests(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_client(tmp_path) as (client, context):
            store = context.server.store
            assert store is not None
            created = await client.post(
                "/api/users",
                headers=AUTH,
                json={"aor": "1000@Example.com", "password": "pw1", "display_name": "Ann"},
            )
            assert created.status == 201, await created.text()
            assert created.headers["Location"] == "/api/users/1000@example.com"
            body = await created.json()
            assert body["aor"] == "1000@example.com"
            assert "pw1" not in json.dumps(body)
            assert "ha1" not in json.dumps(body)
            stored = store.get_user("1000", "example.com")
            assert stored is not None
            assert stored.ha1_md5 == compute_ha1("1000", "example.com", "pw1", "MD5")

            again = await client.post(
                "/api/users", headers=AUTH, json={"aor": "1000@example.com", "password": "x"}
            )
            assert again.status == 409

            got = await (await client.get("/api/users/1000@example.com", headers=AUTH)).json()
            assert got["display_name"] == "Ann"

            renamed = await client.put(
                "/api/users/1000@example.com", headers=AUTH, json={"display_name": "Anna"}
            )
            assert (await renamed.json())["display_name"] == "Anna"
            stored = store.get_user("1000", "example.com")
            assert stored is not None
            assert stored.ha1_md5 == compute_ha1("1000", "example.com", "pw1", "MD5")

            await client.put("/api/users/1000@example.com", headers=AUTH, json={"password": "pw2"})
            stored = store.get_user("1000", "example.com")
            assert stored is not None
            assert stored.ha1_sha256 == compute_ha1("1000", "example.com", "pw2", "SHA-256")
            assert stored.display_name == "Anna"

            listed = await (await client.get("/api/users", headers=AUTH)).json()
            assert [u["aor"] for u in listed["users"]] == ["1000@example.com"]

            store.update("1000@example.com", save=[binding("1000@example.com", 5070)])
            deleted = await client.delete("/api/users/1000@example.com", headers=AUTH)
            assert await deleted.json() == {"deleted": "1000@example.com", "bindings_removed": 1}
            assert store.get_user("1000", "example.com") is None
            assert store.lookup("1000@example.com", time.time()) == []
            missing = await client.get("/api/users/1000@example.com", headers=AUTH)
            assert missing.status == 404

    run(scenario)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"aor": "no-at-sign", "password": "x"}, "address-of-record"),
        ({"aor": "a b@example.com", "password": "x"}, "address-of-record"),
        ({"aor": "1000@other.org", "password": "x"}, "not served"),
        ({"aor": "1000@example.com"}, "password"),
        ({"aor": "1000@example.com", "password": ""}, "password"),
        ({"aor": "1000@example.com", "password": "x", "display_name": 5}, "display_name"),
        ({"password": "x"}, "aor"),
    ],
)
def test_bad_user_input_is_a_400_saying_why(
    tmp_path: Path, body: Mapping[str, Any], fragment: str
) -> None:
    async def scenario() -> None:
        async with admin_client(tmp_path) as (client, _):
            response = await client.post("/api/users", headers=AUTH, json=body)
            assert response.status == 400
            assert fragment in (await response.json())["error"]
            not_json = await client.post("/api/users", headers=AUTH, data=b"{nope")
            assert not_json.status == 400

    run(scenario)


# -- CDRs -------------------------------------------------------------------------------------
def test_cdrs_filter_and_page(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_client(tmp_path) as (client, context):
            store = context.server.store
            assert store is not None
            for n in range(5):
                store.append_cdr(
                    CdrRecord(
                        start_time=1_700_000_000.0 + n * 60,
                        caller="1000@example.com" if n % 2 == 0 else "1001@example.com",
                        callee="1002@example.com",
                        call_ids=(f"cid-{n}",),
                        cause="answered",
                        data={"duration": n},
                    )
                )

            async def get(query: str) -> Any:
                response = await client.get("/api/cdrs" + query, headers=AUTH)
                assert response.status == 200, await response.text()
                return await response.json()

            page1 = await get("?limit=2")
            assert [c["call_ids"] for c in page1["cdrs"]] == [["cid-4"], ["cid-3"]]
            assert page1["next_offset"] == 2
            page3 = await get("?limit=2&offset=4")
            assert [c["call_ids"] for c in page3["cdrs"]] == [["cid-0"]]
            assert page3["next_offset"] is None
            by_caller = await get("?caller=1000@example.com")
            assert [c["data"]["duration"] for c in by_caller["cdrs"]] == [4, 2, 0]
            window = await get("?since=1700000060&until=2023-11-14T22:16:20Z")
            assert [c["call_ids"] for c in window["cdrs"]] == [["cid-2"], ["cid-1"]]
            by_call_id = await get("?call_id=cid-3")
            assert [c["id"] for c in by_call_id["cdrs"]] == [4]
            for bad in ("?limit=x", "?limit=5000", "?offset=-1", "?since=yesterday"):
                response = await client.get("/api/cdrs" + bad, headers=AUTH)
                assert response.status == 400, bad

    run(scenario)


# -- calls ------------------------------------------------------------------------------------
def test_calls_are_empty_without_a_call_engine(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_client(tmp_path) as (client, _):
            assert await (await client.get("/api/calls", headers=AUTH)).json() == {"calls": []}
            response = await client.delete("/api/calls/abc", headers=AUTH)
            assert response.status == 404

    run(scenario)


def test_calls_show_legs_and_hang_up(tmp_path: Path) -> None:
    calls = RecordingCalls([call("c1", "leg-a", "leg-b")])

    async def scenario() -> None:
        async with admin_client(tmp_path, calls=calls) as (client, _):
            data = await (await client.get("/api/calls", headers=AUTH)).json()
            (only,) = data["calls"]
            assert only["id"] == "c1"
            assert [leg["call_id"] for leg in only["legs"]] == ["leg-a", "leg-b"]
            assert only["legs"][0]["codec"] == "PCMU/8000"
            assert 4.5 <= only["duration"] <= 6
            assert 2.5 <= only["talk_time"] <= 4
            hung = await client.delete("/api/calls/c1", headers=AUTH)
            assert hung.status == 202
            assert calls.hung_up == ["c1"]
            again = await client.delete("/api/calls/c1", headers=AUTH)
            assert again.status == 404

    run(scenario)


# -- trunks -----------------------------------------------------------------------------------
def test_configured_trunks_show_unknown_state_without_secrets(tmp_path: Path) -> None:
    config = {"trunks": [{"name": "up", "host": "sip.example.net", "password": "hunter2"}]}

    async def scenario() -> None:
        async with admin_client(tmp_path, config=config) as (client, _):
            data = await (await client.get("/api/trunks", headers=AUTH)).json()
        (trunk,) = data["trunks"]
        assert trunk["name"] == "up"
        assert trunk["target"] == "sip.example.net"
        assert trunk["state"] == "unknown"
        assert "hunter2" not in json.dumps(data)

    run(scenario)


def test_trunks_from_the_trunk_layer(tmp_path: Path) -> None:
    trunks = FixedTrunks([TrunkInfo("up", "sip:sip.example.net", "registered", expires_at=5.0)])

    async def scenario() -> None:
        async with admin_client(tmp_path, trunks=trunks) as (client, _):
            data = await (await client.get("/api/trunks", headers=AUTH)).json()
        assert data["trunks"][0]["state"] == "registered"
        assert data["trunks"][0]["expires_at"] == 5.0

    run(scenario)


# -- trace and ladders --------------------------------------------------------------------------
def test_trace_is_unavailable_when_not_wired(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_client(tmp_path) as (client, _):
            for method, path in (("GET", "/api/trace"), ("GET", "/api/calls/x/ladder")):
                assert (await client.request(method, path, headers=AUTH)).status == 503
            response = await client.post("/api/trace", headers=AUTH, json={"enabled": True})
            assert response.status == 503

    run(scenario)


def test_trace_switch_and_download(tmp_path: Path) -> None:
    trace = MemoryTrace(path=tmp_path / "siptrace.log")

    async def scenario() -> None:
        async with admin_client(tmp_path, trace=trace) as (client, _):
            on = await client.post("/api/trace", headers=AUTH, json={"enabled": True})
            assert await on.json() == {"enabled": True}
            assert trace.on
            bad = await client.post("/api/trace", headers=AUTH, json={"enabled": "yes"})
            assert bad.status == 400
            assert (await client.get("/api/trace", headers=AUTH)).status == 404
            trace_text = "recv 10 bytes from udp/[127.0.0.1]:5070\n"
            (tmp_path / "siptrace.log").write_text(trace_text)
            download = await client.get("/api/trace", headers=AUTH)
            assert download.status == 200
            assert await download.text() == trace_text
            assert "attachment" in download.headers["Content-Disposition"]
            assert trace.flushes == 2
            off = await client.post("/api/trace", headers=AUTH, json={"enabled": False})
            assert await off.json() == {"enabled": False}

    run(scenario)


def test_ladder_of_a_live_call_spans_its_legs(tmp_path: Path) -> None:
    trace = MemoryTrace(held=read_trace(B2BUA_TRACE), on=True)
    calls = RecordingCalls([call("live-1", A_LEG, B_LEG)])

    async def scenario() -> None:
        async with admin_client(tmp_path, trace=trace, calls=calls) as (client, _):
            html = await client.get("/api/calls/live-1/ladder", headers=AUTH)
            assert html.status == 200, await html.text()
            assert html.content_type == "text/html"
            page = await html.text()
            assert "<svg" in page
            assert "INVITE" in page
            as_json = await client.get("/api/calls/live-1/ladder?format=json", headers=AUTH)
            flows = (await as_json.json())["calls"]
            assert len(flows) == 1
            assert set(flows[0]["call_ids"]) == {A_LEG, B_LEG}
            text = await client.get(f"/api/calls/{B_LEG}/ladder?format=text", headers=AUTH)
            assert "INVITE" in await text.text()
            assert (await client.get("/api/calls/nope/ladder", headers=AUTH)).status == 404
            bad = await client.get("/api/calls/live-1/ladder?format=pdf", headers=AUTH)
            assert bad.status == 400

    run(scenario)


def test_ladder_of_an_ended_call_found_through_its_cdr(tmp_path: Path) -> None:
    trace = MemoryTrace(held=read_trace(B2BUA_TRACE), on=True)

    async def scenario() -> None:
        async with admin_client(tmp_path, trace=trace) as (client, context):
            store = context.server.store
            assert store is not None
            store.append_cdr(
                CdrRecord(start_time=1.0, caller="b", callee="a", call_ids=(A_LEG, B_LEG))
            )
            response = await client.get(f"/api/calls/{A_LEG}/ladder?format=json", headers=AUTH)
            flows = (await response.json())["calls"]
            assert set(flows[0]["call_ids"]) == {A_LEG, B_LEG}

    run(scenario)


# -- reload -------------------------------------------------------------------------------------
def test_reload(tmp_path: Path) -> None:
    outcomes: list[Exception | None] = [
        None,
        ConfigError(["server.mode: 'x' is not one of b2bua, proxy"]),
    ]

    async def reload() -> Mapping[str, Any]:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return {"dialplan": "3 rules"}

    async def scenario() -> None:
        async with admin_client(tmp_path) as (client, context):
            assert (await client.post("/api/reload", headers=AUTH)).status == 503
            context.reload = reload
            ok = await client.post("/api/reload", headers=AUTH)
            assert await ok.json() == {"reloaded": True, "changes": {"dialplan": "3 rules"}}
            bad = await client.post("/api/reload", headers=AUTH)
            assert bad.status == 400
            assert (await bad.json())["problems"] == ["server.mode: 'x' is not one of b2bua, proxy"]

    run(scenario)


# -- live events ----------------------------------------------------------------------------------
def test_events_stream_snapshots_with_the_query_token(tmp_path: Path) -> None:
    calls = RecordingCalls([call("c1", "leg-a")])

    async def scenario() -> None:
        async with admin_client(tmp_path, calls=calls) as (client, context):
            store = context.server.store
            assert store is not None
            store.update("1000@example.com", save=[binding("1000@example.com", 5070)])
            response = await client.get(f"/api/events?token={TOKEN}")
            assert response.status == 200
            assert response.content_type == "text/event-stream"
            snapshots: list[Any] = []
            while len(snapshots) < 2:
                line = await asyncio.wait_for(response.content.readline(), 5)
                if line.startswith(b"data: "):
                    snapshots.append(json.loads(line[6:]))
                if len(snapshots) == 1 and calls.calls:
                    calls.hangup("c1")
            response.close()
        assert [c["id"] for c in snapshots[0]["calls"]] == ["c1"]
        assert snapshots[0]["registrations"][0]["aor"] == "1000@example.com"
        assert snapshots[1]["calls"] == []
        assert snapshots[1]["counts"]["registrations"] == 1

    run(scenario)


def test_the_live_trace_of_sipline_trace_fits_the_protocol(tmp_path: Path) -> None:
    from sipline.admin import TraceControl
    from sipline.config import TraceSection
    from sipline.trace import make_trace

    live = make_trace(TraceSection(), tmp_path)
    wired: TraceControl = live  # mypy checks the shape; isinstance the members at run time
    assert isinstance(wired, TraceControl)
    live.close()
