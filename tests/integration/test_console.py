"""Issue #9 "must show": the CLI console (`sipline status`, `registrations`, `calls`,
`hangup`, `trace`, `reload`, `cdr`) against a running `sipline serve`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from admin_support import DOMAIN, add_user, needs_admin_wiring, register, start_with_admin
from harness import ServerFactory, SippFactory

pytestmark = [pytest.mark.integration, needs_admin_wiring]


def sipline(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sipline.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def test_console_commands_against_a_running_server(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path
) -> None:
    server, client = start_with_admin(sipline_server, harness_dir)
    data = str(server.data_dir)
    add_user(client, "1000", "pw")
    sipp_port = register(sipp, server, harness_dir, "1000", "pw")

    status = sipline("status", "--data", data)
    assert status.returncode == 0, status.stderr
    assert f"udp:127.0.0.1:{server.port}" in status.stdout
    assert "1 contacts of 1 AORs" in status.stdout
    as_json = json.loads(sipline("status", "--data", data, "--json").stdout)
    assert as_json["counts"]["users"] == 1

    registrations = sipline("registrations", "--data", data)
    assert registrations.returncode == 0, registrations.stderr
    header, row, total = registrations.stdout.splitlines()
    assert header.split() == ["AOR", "CONTACT", "FROM", "EXPIRES", "USER", "AGENT"]
    assert row.startswith(f"1000@{DOMAIN}")
    assert f"udp:127.0.0.1:{sipp_port}" in row
    assert row.endswith("sipline-tests")
    assert total == "1 registration"
    listed = json.loads(sipline("registrations", "--data", data, "--json").stdout)
    assert listed["registrations"][0]["aor"] == f"1000@{DOMAIN}"

    calls = sipline("calls", "--data", data)
    assert calls.returncode == 0, calls.stderr
    assert calls.stdout.splitlines()[-1] == "0 calls"

    hangup = sipline("hangup", "no-such-call", "--data", data)
    assert hangup.returncode == 1
    assert "no call 'no-such-call' in progress (HTTP 404)" in hangup.stderr

    on = sipline("trace", "on", "--data", data)
    assert (on.returncode, on.stdout) == (0, "trace on\n"), on.stderr
    assert sipline("trace", "status", "--data", data).stdout == "on\n"
    register(sipp, server, harness_dir, "1000", "pw", port=sipp_port)
    assert sipline("trace", "off", "--data", data).stdout == "trace off\n"
    out = harness_dir / "trace.txt"
    download = sipline("trace", "download", "-o", str(out), "--data", data)
    assert download.returncode == 0, download.stderr
    assert b"REGISTER sip:" in out.read_bytes()

    cdr = sipline("cdr", "--data", data, "--limit", "5")
    assert cdr.returncode == 0, cdr.stderr
    assert cdr.stdout.split() == ["ID", "START", "CALLER", "CALLEE", "RESULT", "CALL-IDS"]
    assert sipline("cdr", "--since", "not-a-time", "--data", data).returncode == 1
    exported = sipline("cdr", "--csv", "--data", data)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.splitlines()[0] == "id,start_time,caller,callee,cause,call_ids,data"

    reload = sipline("reload", "--data", data)
    # Answered by the server either way: reloaded, or why it cannot be.
    assert reload.returncode in (0, 1)
    assert "reloaded" in reload.stdout or "HTTP" in reload.stderr


def test_console_with_api_and_token_and_errors(
    sipline_server: ServerFactory, harness_dir: Path, tmp_path: Path
) -> None:
    _server, client = start_with_admin(sipline_server, harness_dir)
    direct = sipline("status", "--api", client.url, "--token", client.token, cwd=tmp_path)
    assert direct.returncode == 0, direct.stderr
    wrong = sipline("status", "--api", client.url, "--token", "nope", cwd=tmp_path)
    assert wrong.returncode == 1
    assert "token" in wrong.stderr
    assert "HTTP 401" in wrong.stderr
    nowhere = sipline("status", cwd=tmp_path)  # ./sipline-data does not exist
    assert nowhere.returncode == 1
    assert "no running server found" in nowhere.stderr
