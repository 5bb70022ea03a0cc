"""Trunks through `sipline serve` (issue #6), with SIPp processes as the providers.

1. A phone calls an outside number; the dialplan sends it to trunk/provider/NUMBER; the
   provider (trunk_uas_407.xml) challenges the INVITE with 407, answers the authorized
   one, and checks that the BYE carries credentials at once (nonce count 2).
2. A trunk with register = true registers to a SIPp registrar (401, then 200 after
   verifyauth); the admin API shows it registered; stopping sipline unregisters it.
3. Failover: the first trunk answers 503, the call completes over the second.
4. A provider's INVITE from the trunk's inbound address to a DID is not challenged (auth
   on) and reaches the local user the dialplan routes the DID to.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from admin_support import start_with_admin
from harness import ServerFactory, ServerProcess, SippFactory, free_port
from test_calls import register

pytestmark = pytest.mark.integration

OUTSIDE = "0612345678"


def serve(sipline_server: ServerFactory, tmp_path: Path, config: str) -> ServerProcess:
    path = tmp_path / "sipline.toml"
    path.write_text(config)
    return sipline_server(
        "--config",
        str(path),
        "--listen",
        "udp:{host}:{port}",
        "--data",
        "{data_dir}",
        "--domain",
        "127.0.0.1",
        "--admin",
        "off",
    )


def trunk(name: str, port: int, **extra: str) -> str:
    lines = [
        "[[trunks]]",
        f'name = "{name}"',
        'host = "127.0.0.1"',
        f"port = {port}",
        'username = "4420001"',
        'password = "s3cret"',
    ]
    lines += [f"{key} = {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


PHONES_UNCHALLENGED = """
[auth]
register = false
invite = false
"""


def messages(path: Path) -> str:
    return path.read_text(errors="replace")


def test_call_out_through_a_trunk_that_challenges_with_407(
    sipp: SippFactory, sipline_server: ServerFactory, tmp_path: Path
) -> None:
    provider = sipp.uas("trunk_uas_407", calls=1, keys={"callee": OUTSIDE}, timeout=20)
    config = PHONES_UNCHALLENGED + trunk("provider", provider.port, caller_id='"+3311122"')
    config += '[[dialplan]]\nmatch = "^(0\\\\d{9})$"\nactions = ["bridge trunk/provider/$1"]\n'
    server = serve(sipline_server, tmp_path, config)
    sipp.run("uac_call", server.hostport, service=OUTSIDE, timeout=15).assert_ok(calls=1)
    provider.wait_result(timeout=10).assert_ok(calls=1)
    log = messages(provider.message_path)
    assert f"INVITE sip:{OUTSIDE}@127.0.0.1:{provider.port} SIP/2.0" in log
    assert "P-Asserted-Identity: <sip:+3311122@127.0.0.1>" in log  # fixed caller ID
    assert log.count("Proxy-Authorization: Digest") == 2  # the authorized INVITE and the BYE


def test_trunk_registers_and_shows_registered(
    sipp: SippFactory, sipline_server: ServerFactory, harness_dir: Path
) -> None:
    registrar = sipp.uas("trunk_registrar", calls=1, timeout=30)
    config = trunk("provider", registrar.port, register="true", register_expires="600")
    server, client = start_with_admin(sipline_server, harness_dir, config=config)
    deadline = time.monotonic() + 10
    while True:
        (status,) = client.get_json("/api/trunks")["trunks"]
        if status["state"] == "registered" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status["state"] == "registered", status
    assert status["name"] == "provider"
    assert status["registrar"] == f"udp:127.0.0.1:{registrar.port}"
    assert 590 < status["expires_at"] - time.time() <= 600
    assert "password" not in status
    console = subprocess.run(
        [sys.executable, "-m", "sipline.cli", "status", "--data", str(harness_dir / "data")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert console.returncode == 0, console.stderr
    assert any(
        line.split()[:3] == ["trunk", "provider", "registered"]
        for line in console.stdout.splitlines()
    ), console.stdout
    server.stop()  # SIGTERM: the trunk unregisters (Expires: 0, cached credentials)
    registrar.wait_result(timeout=10).assert_ok(calls=1)


def test_failover_to_the_next_trunk_after_503(
    sipp: SippFactory, sipline_server: ServerFactory, tmp_path: Path
) -> None:
    down = sipp.uas("trunk_uas_503", calls=1, timeout=20)
    up = sipp.uas("uas_call", calls=1, keys={"callee": OUTSIDE}, timeout=20)
    config = PHONES_UNCHALLENGED + trunk("a", down.port) + trunk("b", up.port)
    config += '[[dialplan]]\nmatch = "^(0\\\\d{9})$"\n'
    config += 'actions = ["bridge trunk/a/$1|trunk/b/$1"]\n'
    server = serve(sipline_server, tmp_path, config)
    sipp.run("uac_call", server.hostport, service=OUTSIDE, timeout=15).assert_ok(calls=1)
    down.wait_result(timeout=10).assert_ok(calls=1)
    up.wait_result(timeout=10).assert_ok(calls=1)


def test_inbound_call_from_the_trunk_reaches_the_did_user(
    sipp: SippFactory, sipline_server: ServerFactory, tmp_path: Path
) -> None:
    provider_port = free_port()
    config = "[auth]\nregister = false\ninvite = true\n"  # phones' INVITEs are challenged
    config += trunk(
        "provider",
        5060,
        inbound_addresses=f'["127.0.0.1:{provider_port}"]',
        did_prefix_strip='"+33"',
    )
    config += '[[dialplan]]\nmatch = "^(5551234)$"\nactions = ["bridge user/1001"]\n'
    server = serve(sipline_server, tmp_path, config)
    callee = sipp.uas("uas_call", calls=1, keys={"callee": "1001"}, timeout=20)
    register(server, "1001", callee.port)
    caller = sipp.uac(
        "uac_call", server.hostport, port=provider_port, service="+335551234", timeout=15
    )
    caller.wait_result(timeout=20).assert_ok(calls=1)
    callee.wait_result(timeout=10).assert_ok(calls=1)
    assert "INVITE sip:1001@127.0.0.1:" in messages(callee.message_path)
    assert "407 Proxy Authentication Required" not in messages(caller.message_path)
