"""Issue #9 "must show": the admin API and /metrics of a real `sipline serve`, with SIPp
registering through it, and graceful shutdown and restart seen through the API."""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from admin_support import DOMAIN, add_user, needs_admin_wiring, register, start_with_admin
from harness import ServerFactory, SippFactory
from prometheus_client.parser import text_string_to_metric_families

from sipline.admin import AdminClient, AdminClientError

pytestmark = [pytest.mark.integration, needs_admin_wiring]


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - 127.0.0.1 test server
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def test_auth_is_required_except_health(sipline_server: ServerFactory, harness_dir: Path) -> None:
    server, client = start_with_admin(sipline_server, harness_dir)
    mode = (server.data_dir / "admin-token").stat().st_mode & 0o777
    assert mode == 0o600
    assert client.token in server.output()  # printed at first start
    status, body = _get(client.url + "/api/health")
    assert status == 200
    assert json.loads(body)["status"] == "ok"
    spec = json.loads(_get(client.url + "/api/openapi.json")[1])
    for path, item in spec["paths"].items():
        if "{" in path:
            continue
        for method, operation in item.items():
            if method != "get" or operation.get("security") == []:
                continue
            assert _get(client.url + path)[0] == 401, path
            assert _get(client.url + path, "wrong-token")[0] == 401, path
    assert _get(client.url + "/api/status", client.token)[0] == 200


def test_registrations_users_trace_ladder_and_cdrs(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path
) -> None:
    server, client = start_with_admin(sipline_server, harness_dir)
    status = client.get_json("/api/status")
    assert f"udp:127.0.0.1:{server.port}" in status["listeners"]
    assert DOMAIN in status["domains"]

    # A user made through the API registers with SIPp: the HA1 the API stored works.
    add_user(client, "1000", "pw-1000")
    with pytest.raises(AdminClientError, match="409"):
        add_user(client, "1000", "again")
    client.post_json("/api/trace", {"enabled": True})
    sipp_port = register(sipp, server, harness_dir, "1000", "pw-1000")

    (binding,) = client.get_json("/api/registrations")["registrations"]
    assert binding["aor"] == f"1000@{DOMAIN}"
    assert binding["source"] == f"udp:127.0.0.1:{sipp_port}"
    assert binding["user_agent"] == "sipline-tests"
    assert 250 < binding["expires_in"] <= 300
    assert client.get_json("/api/status")["counts"]["registrations"] == 1

    # The live trace has the REGISTER exchange; its ladder comes from the trace.
    call_id = binding["call_id"]
    ladder = client.get_json(f"/api/calls/{call_id}/ladder", format="json")
    (flow,) = ladder["calls"]
    lines = [m["first_line"] for m in flow["messages"]]
    assert lines[0].startswith("REGISTER ")
    assert any(line.startswith("SIP/2.0 401") for line in lines)
    assert lines[-1].startswith("SIP/2.0 200")
    client.post_json("/api/trace", {"enabled": False})
    _, trace_text, _ = client.request("GET", "/api/trace")
    assert call_id.encode() in trace_text

    # A password changed through the API is the one the registrar checks.
    client.request("PUT", f"/api/users/1000@{DOMAIN}", body={"password": "pw-new"})
    register(sipp, server, harness_dir, "1000", "pw-new", port=sipp_port)
    users = client.get_json("/api/users")["users"]
    assert [u["aor"] for u in users] == [f"1000@{DOMAIN}"]
    deleted = client.delete_json(f"/api/users/1000@{DOMAIN}")
    assert deleted["bindings_removed"] == 1
    assert client.get_json("/api/registrations")["registrations"] == []

    assert client.get_json("/api/cdrs", limit=10)["cdrs"] == []
    assert isinstance(client.get_json("/api/calls")["calls"], list)
    assert isinstance(client.get_json("/api/trunks")["trunks"], list)
    with pytest.raises(AdminClientError, match="404"):
        client.delete_json("/api/calls/no-such-call")


def test_metrics_endpoint(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path
) -> None:
    server, client = start_with_admin(sipline_server, harness_dir)
    add_user(client, "1000", "pw")
    register(sipp, server, harness_dir, "1000", "pw")
    status, body = _get(client.url + "/metrics")
    assert status == 401
    status, body = _get(client.url + "/metrics", client.token)
    assert status == 200
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    assert all(name.startswith("sipline_") for name, _ in found)
    assert found["sipline_registrations", ()] == 1
    assert found["sipline_users", ()] == 1
    assert found["sipline_sip_requests_total", (("direction", "recv"), ("method", "REGISTER"))] == 2
    assert found["sipline_sip_responses_total", (("code", "401"), ("direction", "send"))] == 1
    # the harness's readiness OPTIONS pings get 200 too
    pings = found["sipline_sip_requests_total", (("direction", "recv"), ("method", "OPTIONS"))]
    ok = found["sipline_sip_responses_total", (("code", "200"), ("direction", "send"))]
    assert ok == 1 + pings
    assert found["sipline_auth_challenges_total", ()] == 1
    # the 401 is stateless (RFC 3261 8.2.7); the REGISTER with credentials has a transaction
    assert found["sipline_stateless_answers_total", ()] == 1
    assert found["sipline_transactions_total", (("kind", "server_non_invite"),)] >= 1
    assert found["sipline_active_calls", ()] == 0
    assert "sipline_parse_errors_total" in {name for name, _ in found}


def test_sigterm_then_restart_keeps_users_registrations_and_token(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path
) -> None:
    server, client = start_with_admin(sipline_server, harness_dir)
    add_user(client, "1000", "pw")
    register(sipp, server, harness_dir, "1000", "pw")
    token = client.token
    os.kill(server.pid, signal.SIGTERM)
    assert server.wait(timeout=20) == 0
    assert not (server.data_dir / "admin.json").exists()  # the CLI no longer finds it
    with pytest.raises(AdminClientError, match="cannot reach"):
        AdminClient(client.url, token, timeout=2).get_json("/api/health")

    again, client2 = start_with_admin(
        sipline_server, harness_dir, data_dir=server.data_dir, port=server.port
    )
    assert client2.token == token
    assert [u["aor"] for u in client2.get_json("/api/users")["users"]] == [f"1000@{DOMAIN}"]
    (binding,) = client2.get_json("/api/registrations")["registrations"]
    assert binding["aor"] == f"1000@{DOMAIN}"
    assert again.running
