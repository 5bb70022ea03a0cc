"""The harness itself, without sipline: real peers talking to each other on 127.0.0.1."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from harness import (
    BaresipFactory,
    CaptureFactory,
    ServerFactory,
    SippFactory,
    account_line,
    auth_rows,
    free_port,
    free_ports,
    options_ping,
    pcap_packet_count,
    port_is_bound,
    read_stat_file,
    write_injection_file,
)

pytestmark = pytest.mark.integration


def test_sipp_uac_calls_sipp_uas_directly(sipp: SippFactory, tshark: CaptureFactory) -> None:
    callee = sipp.uas("uas_call", calls=1, keys={"callee": "bob"})
    capture = tshark(callee.port)
    caller = sipp.run("uac_call", f"127.0.0.1:{callee.port}", service="bob", timeout=15)
    caller.assert_ok(calls=1)
    assert caller.retransmissions == 0
    callee_result = callee.wait_result(timeout=10)
    callee_result.assert_ok(calls=1)
    capture.stop()
    # INVITE 100 180 200 ACK BYE 200: seven UDP datagrams on the loopback
    assert pcap_packet_count(capture.pcap_path) >= 7


def test_sipp_result_counts_a_call_that_gets_no_answer(sipp: SippFactory) -> None:
    silent = free_port()  # nothing listens there
    result = sipp.run("options_uac", f"127.0.0.1:{silent}", timeout=2)
    assert result.returncode != 0
    assert result.successful == 0
    with pytest.raises(AssertionError, match="successful 0"):
        result.assert_ok(calls=1)


def test_options_scenario_is_answered_by_a_sipp_uas(sipp: SippFactory, tmp_path: Path) -> None:
    responder = tmp_path / "options_uas.xml"
    responder.write_text(_OPTIONS_UAS)
    uas = sipp.uas(responder, calls=3)
    assert options_ping("127.0.0.1", uas.port, timeout=5) == 200
    sipp.run("options_uac", f"127.0.0.1:{uas.port}", calls=2, rate=50).assert_ok(calls=2)


def test_registration_scenario_sends_digest_credentials(sipp: SippFactory, tmp_path: Path) -> None:
    # A SIPp registrar that challenges, then checks the credentials itself (verifyauth).
    registrar_xml = tmp_path / "registrar.xml"
    registrar_xml.write_text(_CHALLENGING_REGISTRAR)
    registrar = sipp.uas(registrar_xml, calls=2)
    users = write_injection_file(
        tmp_path / "users.csv", auth_rows([("1000", "secret1000"), ("1001", "secret1001")])
    )
    result = sipp.run(
        "reg_uac_auth", f"127.0.0.1:{registrar.port}", calls=2, injection=users, timeout=10
    )
    result.assert_ok(calls=2)
    registrar.wait_result(timeout=10).assert_ok(calls=2)


def test_injection_file_rejects_separators(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        write_injection_file(tmp_path / "bad.csv", [("a;b", "c")])


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", port))
            assert port_is_bound(port, "udp")
        assert not port_is_bound(port, "udp")


def test_stat_file_reader_takes_the_last_row(tmp_path: Path) -> None:
    stat = tmp_path / "s.csv"
    stat.write_text("A;SuccessfulCall(C)\n1;2\n3;4\n")
    assert read_stat_file(stat) == {"A": "3", "SuccessfulCall(C)": "4"}
    assert read_stat_file(tmp_path / "missing.csv") == {}


def test_baresip_starts_answers_ctrl_tcp_and_quits(baresip: BaresipFactory) -> None:
    phone = baresip("alice").start(account_line("alice", regint=0))
    reply = phone.command("reginfo")
    assert reply["ok"] is True
    assert "sip:alice@127.0.0.1" in reply["data"]
    assert phone.quit(timeout=5) == 0


def test_two_baresip_phones_call_each_other_directly(baresip: BaresipFactory) -> None:
    alice = baresip("alice").start(account_line("alice", regint=0))
    bob = baresip("bob").start(account_line("bob", regint=0))
    alice.dial(f"sip:bob@{bob.hostport}")
    bob.wait_event("CALL_INCOMING")
    alice.wait_event("CALL_RINGING")
    bob.accept()
    alice.wait_event("CALL_ESTABLISHED")
    bob.wait_event("CALL_ESTABLISHED")
    alice.hangup()
    bob.wait_event("CALL_CLOSED")
    alice.wait_event("CALL_CLOSED")
    assert alice.quit() == 0
    assert bob.quit() == 0


_OPTIONS_UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="options-uas">
  <recv request="OPTIONS"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]S[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Allow: INVITE, ACK, BYE, CANCEL, OPTIONS
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""

# A registrar in SIPp: it derives each user's password from the user name ("secret" +
# user) and checks the digest with verifyauth; a wrong digest gets 403 and the caller,
# which expects 200, fails the call.
_CHALLENGING_REGISTRAR = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="challenging-registrar">
  <recv request="REGISTER"/>
  <send>
    <![CDATA[

      SIP/2.0 401 Unauthorized
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]G[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      WWW-Authenticate: Digest realm="sipline.test", nonce="[pid]n[call_number]", algorithm=MD5, qop="auth"
      Content-Length: 0

    ]]>
  </send>
  <recv request="REGISTER" check_it="true">
    <action>
      <ereg regexp="username=&quot;([0-9]+)&quot;" search_in="hdr" header="Authorization:"
            check_it="true" assign_to="whole,user"/>
      <log message="digest answer from [$whole]"/>
      <assignstr assign_to="password" value="secret[$user]"/>
      <verifyauth assign_to="authvalid" username="[$user]" password="[$password]"/>
    </action>
  </recv>
  <nop test="authvalid" next="good"/>
  <send next="end">
    <![CDATA[

      SIP/2.0 403 Forbidden
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]G[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="good"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]G[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Contact:];expires=3600
      Content-Length: 0

    ]]>
  </send>
  <label id="end"/>
</scenario>
"""


def test_sipline_server_process_starts_answers_and_stops(
    sipline_server: ServerFactory, sipp: SippFactory
) -> None:
    server = sipline_server(
        *("--listen", "udp:{host}:{port}", "--listen", "tcp:{host}:{port}"),
        *("--data", "{data_dir}", "--admin", "off"),
    )
    assert server.ping() == 200
    assert options_ping(server.host, server.port, "tcp", timeout=5) == 200
    sipp.run("options_uac", server.hostport, calls=3, rate=100).assert_ok(calls=3)
    assert server.stop() == 0
    assert not port_is_bound(server.port, "udp")
