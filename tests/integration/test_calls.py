"""Calls through `sipline serve` (B2BUA mode) between SIPp callers and callees.

The callees are SIPp UAS processes registered by a third-party REGISTER whose Contact
names their port (same host, so the B2BUA rings the Contact).  Authentication is off
in these tests (the 407 flow has its own tests); the dialplan sends 1xxx to the user,
9 + 1xxx to the user with a 2 s call_timeout.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from harness import ServerFactory, ServerProcess, SippFactory, SippProcess

from sipline.sip import Response, new_call_id, new_tag, parse_message

pytestmark = pytest.mark.integration

CONFIG = """
[auth]
register = false
invite = false

[[dialplan]]
match = "^9(1\\\\d{3})$"
actions = ["set call_timeout=2", "bridge user/$1"]

[[dialplan]]
match = "^(1\\\\d{3})$"
actions = ["bridge user/$1"]
"""


@pytest.fixture
def server(sipline_server: ServerFactory, tmp_path: Path) -> ServerProcess:
    config = tmp_path / "sipline.toml"
    config.write_text(CONFIG)
    return sipline_server(
        "--config",
        str(config),
        "--listen",
        "udp:{host}:{port}",
        "--data",
        "{data_dir}",
        "--domain",
        "127.0.0.1",
        "--admin",
        "off",
    )


def register(server: ServerProcess, user: str, contact_port: int) -> None:
    """REGISTER ``user`` with a Contact at ``contact_port`` (a SIPp callee)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        request = (
            f"REGISTER sip:127.0.0.1:{server.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{new_tag()};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:{user}@127.0.0.1>;tag={new_tag()}\r\n"
            f"To: <sip:{user}@127.0.0.1>\r\n"
            f"Call-ID: {new_call_id()}\r\nCSeq: 1 REGISTER\r\n"
            f"Contact: <sip:{user}@127.0.0.1:{contact_port}>\r\n"
            "Expires: 600\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        sock.sendto(request, ("127.0.0.1", server.port))
        while True:
            response = parse_message(sock.recv(65535))
            assert isinstance(response, Response)
            if response.status_code >= 200:
                assert response.status_code == 200, response.reason
                return


def callee(sipp: SippFactory, server: ServerProcess, scenario: str, user: str) -> SippProcess:
    process = sipp.uas(scenario, calls=1, keys={"callee": user}, timeout=20)
    register(server, user, process.port)
    return process


def messages(process: SippProcess) -> str:
    return process.message_path.read_text(errors="replace")


def test_answered_call_bye_from_the_caller(sipp: SippFactory, server: ServerProcess) -> None:
    uas = callee(sipp, server, "uas_call", "1001")
    sipp.run("uac_call", server.hostport, service="1001", timeout=15).assert_ok(calls=1)
    uas.wait_result(timeout=10).assert_ok(calls=1)
    log = messages(uas)
    assert "Remote-Party-ID:" in log
    assert "P-Asserted-Identity: <sip:caller@127.0.0.1>" in log
    assert 'Reason: Q.850;cause=16;text="NORMAL_CLEARING"' in log


def test_answered_call_bye_from_the_callee(sipp: SippFactory, server: ServerProcess) -> None:
    uas = callee(sipp, server, "b2bua_uas_bye", "1001")
    sipp.run("b2bua_uac_wait_bye", server.hostport, service="1001", timeout=15).assert_ok(1)
    uas.wait_result(timeout=10).assert_ok(calls=1)


def test_busy_callee(sipp: SippFactory, server: ServerProcess) -> None:
    uas = callee(sipp, server, "b2bua_uas_busy", "1001")
    caller = sipp.uac("b2bua_uac_fail", server.hostport, service="1001", calls=1, timeout=15)
    caller.wait_result(timeout=20).assert_ok(calls=1)
    uas.wait_result(timeout=10).assert_ok(calls=1)
    log = messages(caller)
    assert "SIP/2.0 486 Busy Here" in log
    assert 'Reason: Q.850;cause=17;text="USER_BUSY"' in log


def test_no_answer_cancels_the_callee_and_gives_480(
    sipp: SippFactory, server: ServerProcess
) -> None:
    uas = callee(sipp, server, "b2bua_uas_ring", "1001")
    caller = sipp.uac("b2bua_uac_fail", server.hostport, service="91001", calls=1, timeout=15)
    caller.wait_result(timeout=20).assert_ok(calls=1)
    uas.wait_result(timeout=10).assert_ok(calls=1)
    log = messages(caller)
    assert "SIP/2.0 480 " in log
    assert 'cause=19;text="NO_ANSWER"' in log


def test_caller_cancel(sipp: SippFactory, server: ServerProcess) -> None:
    uas = callee(sipp, server, "b2bua_uas_ring", "1001")
    caller = sipp.uac("b2bua_uac_cancel", server.hostport, service="1001", calls=1, timeout=15)
    caller.wait_result(timeout=20).assert_ok(calls=1)
    uas.wait_result(timeout=10).assert_ok(calls=1)
    assert "ORIGINATOR_CANCEL" in messages(caller)
    assert "ORIGINATOR_CANCEL" in messages(uas)


def test_callee_not_registered(sipp: SippFactory, server: ServerProcess) -> None:
    caller = sipp.uac("b2bua_uac_fail", server.hostport, service="1002", calls=1, timeout=15)
    caller.wait_result(timeout=20).assert_ok(calls=1)
    log = messages(caller)
    assert "SIP/2.0 480 " in log
    assert 'cause=20;text="USER_NOT_REGISTERED"' in log


def test_unknown_number(sipp: SippFactory, server: ServerProcess) -> None:
    caller = sipp.uac("b2bua_uac_fail", server.hostport, service="5555", calls=1, timeout=15)
    caller.wait_result(timeout=20).assert_ok(calls=1)
    log = messages(caller)
    assert "SIP/2.0 404 " in log
    assert "cause=1;" in log


def test_hold_and_resume(sipp: SippFactory, server: ServerProcess) -> None:
    uas = callee(sipp, server, "b2bua_uas_reinvites", "1001")
    sipp.run("b2bua_uac_hold", server.hostport, service="1001", timeout=15).assert_ok(1)
    uas.wait_result(timeout=10).assert_ok(calls=1)
    assert "a=sendonly" in messages(uas)


def test_parallel_ringing_of_two_contacts(sipp: SippFactory, server: ServerProcess) -> None:
    loser = callee(sipp, server, "b2bua_uas_ring", "1001")
    winner = sipp.uas("uas_call", calls=1, keys={"callee": "1001"}, timeout=20)
    register(server, "1001", winner.port)
    sipp.run("uac_call", server.hostport, service="1001", timeout=15).assert_ok(calls=1)
    winner.wait_result(timeout=10).assert_ok(calls=1)
    loser.wait_result(timeout=10).assert_ok(calls=1)
    assert 'Reason: SIP;cause=200;text="Call completed elsewhere"' in messages(loser)


def test_session_timer_refresh(sipp: SippFactory, server: ServerProcess) -> None:
    uas = callee(sipp, server, "b2bua_uas_reinvites", "1001")
    sipp.run("b2bua_uac_timer", server.hostport, service="1001", timeout=15).assert_ok(1)
    uas.wait_result(timeout=10).assert_ok(calls=1)
    assert "Session-Expires: 90;refresher=uac" in messages(uas)
