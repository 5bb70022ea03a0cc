"""Blind and attended transfer among three real peers through `sipline serve` (issue #6).

Parties: 1000 (A, the transferor), 1001 (B, the transferee), 1002 (C, the target).
Auth is off (the 407 path has its own tests); media is bypassed so each SDP reaches the
other party unchanged and the logs show whose offer went where.

SIPp (one process per dialog: a SIPp scenario holds one Call-ID per call):

* blind: A (`xfer_uac_refer`) calls B (`xfer_uas_transferee`) and REFERs it to
  ``<sip:1002@127.0.0.1>``; C (`xfer_uas_target`) is rung without an offer, B is
  re-INVITEd with C's offer, C gets B's answer in the ACK; A gets 202, NOTIFYs 100/180/200
  and a BYE; C hangs up and its BYE reaches B.
* attended: A's two dialogs are two SIPp processes.  A2 (`b2bua_uac_wait_bye`) calls C
  (`xfer_uas_consulted`); the test reads the A2-C dialog (Call-ID, A2's tag, the server's
  tag) from A2's message log and starts A1 (`xfer_uac_refer`), which calls B and REFERs
  it with ``Refer-To: <sip:1002@127.0.0.1?Replaces=...>`` naming that dialog as A sees it.
  C is re-INVITEd without an offer in its own dialog, B gets C's offer, A2 gets a BYE,
  A1 the final NOTIFY and a BYE; C's BYE in its old dialog reaches B.

baresip 1.0.0: its menu has ``transfer`` (a blind REFER, ``Refer-To: sip:C@HOST``, from
the current call) but no attended transfer: no ``atransferstart``/``atransferexec`` (later
releases), no command to hold two calls and REFER one with the other's Replaces, and no
way to learn a call's dialog tags over ctrl_tcp.  So three baresip phones show the blind
case (C rung offerless and answering with an offer, B re-INVITEd with it, A hung up, C's
hang-up ends B's call); the attended case is shown by SIPp here and by the Python peers
in test_transfer.py.

baresip's transferor sends its own BYE as soon as the NOTIFY reports 200 (as RFC 5589
section 6.1 shows), crossing sipline's: sipline keeps the transferor's dialog as a
leaving one for a while and answers that BYE 200 (the last test below).
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from harness import (
    Baresip,
    BaresipFactory,
    ServerFactory,
    ServerProcess,
    SippFactory,
    SippProcess,
    account_line,
)

from sipline.sip import Response, new_call_id, new_tag, parse_message

pytestmark = pytest.mark.integration

DOMAIN = "127.0.0.1"
CONFIG = """
[auth]
register = false
invite = false

[media]
mode = "bypass"

[[dialplan]]
match = "^(1\\\\d{3})$"
actions = ["bridge user/$1"]
"""


@pytest.fixture
def server(sipline_server: ServerFactory, tmp_path: Path) -> ServerProcess:
    config = tmp_path / "sipline.toml"
    config.write_text(CONFIG)
    return sipline_server(
        *("--config", str(config), "--listen", "udp:{host}:{port}", "--data", "{data_dir}"),
        *("--domain", DOMAIN, "--admin", "off"),
    )


def register(server: ServerProcess, user: str, contact_port: int) -> None:
    """REGISTER ``user`` with a Contact at ``contact_port`` (a SIPp callee's port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        request = (
            f"REGISTER sip:127.0.0.1:{server.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{new_tag()};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:{user}@{DOMAIN}>;tag={new_tag()}\r\n"
            f"To: <sip:{user}@{DOMAIN}>\r\n"
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
    process = sipp.uas(scenario, calls=1, keys={"callee": user}, timeout=30)
    register(server, user, process.port)
    return process


def log_messages(process: SippProcess, direction: str) -> list[str]:
    """The SIP messages SIPp logged as ``direction`` ("sent" or "received"), in order."""
    try:
        text = process.message_path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    blocks = re.split(r"^-{20,}.*$", text, flags=re.MULTILINE)
    found = []
    for block in blocks:
        head, _, message = block.strip().partition("\n")
        if f"message {direction}" in head:
            found.append(message.strip().replace("\r\n", "\n"))
    return found


def header(message: str, name: str) -> str:
    match = re.search(rf"^{name}:\s*(.*)$", message, flags=re.MULTILINE | re.IGNORECASE)
    assert match, f"no {name} in {message!r}"
    return match.group(1).strip()


def tag_of(value: str) -> str:
    match = re.search(r";\s*tag=([^;>\s]+)", value)
    assert match, value
    return match.group(1)


def answered_dialog(process: SippProcess, timeout: float = 10.0) -> tuple[str, str, str]:
    """(Call-ID, local tag, remote tag) of the INVITE a SIPp caller got a 200 for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in log_messages(process, "received"):
            if message.startswith("SIP/2.0 200") and header(message, "CSeq").endswith("INVITE"):
                call_id = header(message, "Call-ID")
                return call_id, tag_of(header(message, "From")), tag_of(header(message, "To"))
        time.sleep(0.1)
    raise AssertionError(f"{process.name} got no 200 to its INVITE:\n{process.output()}")


def body_of(message: str) -> str:
    return message.partition("\n\n")[2]


def received(process: SippProcess, start: str) -> list[str]:
    return [m for m in log_messages(process, "received") if m.startswith(start)]


# -- SIPp -----------------------------------------------------------------------------------
def test_blind_transfer_among_three_sipp(sipp: SippFactory, server: ServerProcess) -> None:
    b = callee(sipp, server, "xfer_uas_transferee", "1001")
    c = callee(sipp, server, "xfer_uas_target", "1002")
    a = sipp.uac(
        "xfer_uac_refer",
        server.hostport,
        service="1001",
        keys={"caller": "1000", "refer_to": f"<sip:1002@{DOMAIN}>"},
        timeout=30,
    )
    a.wait_result().assert_ok(calls=1)
    c.wait_result(timeout=15).assert_ok(calls=1)
    b.wait_result(timeout=15).assert_ok(calls=1)

    # A: NOTIFYs 100, 180 (C rang), 200, the last one ending the subscription.
    notifies = received(a, "NOTIFY ")
    assert [body_of(n).strip() for n in notifies] == [
        "SIP/2.0 100 Trying",
        "SIP/2.0 180 Ringing",
        "SIP/2.0 200 OK",
    ]
    assert header(notifies[-1], "Subscription-State").startswith("terminated")
    # C was called as from B, referred by A, without an offer; its ACK has B's answer.
    invite_c = received(c, "INVITE ")[0]
    assert "sip:1001@" in header(invite_c, "From")
    assert "sip:1000@" in header(invite_c, "Referred-By")
    assert "o=1001 1 2 " in body_of(received(c, "ACK ")[0])
    # B's re-INVITE carries C's offer; B's dialog is the one C's BYE ended.
    invites_b = received(b, "INVITE ")
    assert len(invites_b) == 2
    assert header(invites_b[1], "Call-ID") == header(invites_b[0], "Call-ID")
    assert "o=1002 1 1 " in body_of(invites_b[1])
    assert header(received(b, "BYE ")[0], "Call-ID") == header(invites_b[0], "Call-ID")


def test_attended_transfer_among_sipp(sipp: SippFactory, server: ServerProcess) -> None:
    b = callee(sipp, server, "xfer_uas_transferee", "1001")
    c = callee(sipp, server, "xfer_uas_consulted", "1002")
    # A's consultation call to C (A2), held up until the transfer hangs it up.
    a2 = sipp.uac(
        "b2bua_uac_wait_bye", server.hostport, service="1002", keys={"caller": "1000"}, timeout=30
    )
    call_id, a_tag, server_tag = answered_dialog(a2)
    # RFC 3891 section 6.1 as A sees the dialog: to-tag the server's, from-tag A's own.
    replaces = f"{call_id};to-tag={server_tag};from-tag={a_tag}"
    refer_to = f"<sip:1002@{DOMAIN}?Replaces={quote(replaces, safe='')}>"
    a1 = sipp.uac(
        "xfer_uac_refer",
        server.hostport,
        service="1001",
        keys={"caller": "1000", "refer_to": refer_to},
        timeout=30,
    )
    a1.wait_result().assert_ok(calls=1)
    a2.wait_result(timeout=15).assert_ok(calls=1)
    c.wait_result(timeout=15).assert_ok(calls=1)
    b.wait_result(timeout=15).assert_ok(calls=1)

    notifies = received(a1, "NOTIFY ")
    assert [body_of(n).strip() for n in notifies] == ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]
    # C: asked for an offer in the consultation dialog; B's answer in the ACK.
    invites_c = received(c, "INVITE ")
    assert len(invites_c) == 2
    assert header(invites_c[1], "Call-ID") == header(invites_c[0], "Call-ID")
    assert header(invites_c[1], "Content-Length") == "0"
    assert "o=1001 1 2 " in body_of(received(c, "ACK ")[-1])
    # B: C's offer (its second SDP version) in a re-INVITE of B's own dialog.
    invites_b = received(b, "INVITE ")
    assert "o=1002 1 2 " in body_of(invites_b[1])
    assert header(received(b, "BYE ")[0], "Call-ID") == header(invites_b[0], "Call-ID")


# -- baresip --------------------------------------------------------------------------------
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TRACE = re.compile(r"^UDP (\S+) -> (\S+)\n(.*?)(?=^#$|\Z)", re.MULTILINE | re.DOTALL)


def phone(baresip: BaresipFactory, server: ServerProcess, user: str) -> Baresip:
    created = baresip(f"phone-{user}")
    started = created.start(account_line(user, DOMAIN, outbound=server.hostport))
    assert started.wait_registered(), started.output()
    return started


def sip_trace(phone: Baresip, direction: str) -> list[str]:
    """The SIP messages a phone printed (``baresip -s``) as ``direction`` ("sent" or
    "received"), in order."""
    own = phone.hostport
    found = []
    for source, destination, message in TRACE.findall(ANSI.sub("", phone.output())):
        if (source if direction == "sent" else destination) == own:
            found.append(message.strip())
    return found


def origin(message: str) -> str:
    """The SDP o= line of a message (which party's session description it is)."""
    match = re.search(r"^o=.*$", message, flags=re.MULTILINE)
    assert match, f"no SDP in {message!r}"
    return match.group(0)


def starting(messages: list[str], start: str) -> list[str]:
    return [m for m in messages if m.startswith(start)]


def transfer_between_phones(
    baresip: BaresipFactory, server: ServerProcess
) -> tuple[Baresip, Baresip, Baresip]:
    """A (1000) calls B (1001), then transfers it with baresip's ``transfer`` (a REFER
    in the call) to C (1002), which answers; returns the three phones, B and C talking."""
    a, b, c = (phone(baresip, server, user) for user in ("1000", "1001", "1002"))
    a.dial(f"sip:1001@{DOMAIN}")
    b.wait_event("CALL_INCOMING")
    b.accept()
    a.wait_event("CALL_ESTABLISHED")
    b.wait_event("CALL_ESTABLISHED")

    assert a.command("transfer", f"sip:1002@{DOMAIN}").get("ok"), a.output()
    incoming = c.wait_event("CALL_INCOMING")
    assert "1001" in str(incoming.get("peeruri")), incoming  # rung as from B
    c.accept()
    c.wait_event("CALL_ESTABLISHED")
    a.wait_event("CALL_CLOSED")  # the transferor left
    return a, b, c


def test_blind_transfer_among_three_baresip_phones(
    baresip: BaresipFactory, server: ServerProcess
) -> None:
    a, b, c = transfer_between_phones(baresip, server)
    time.sleep(0.5)
    assert "CALL_CLOSED" not in [e.get("type") for e in b.events]  # B's call goes on

    # A: 202, then NOTIFYs 100, 180, 200 (RFC 3515).
    frags = [m.partition("\n\n")[2].strip() for m in starting(sip_trace(a, "received"), "NOTIFY ")]
    assert frags == ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing", "SIP/2.0 200 OK"]
    # C was rung without an offer and answered with one; B got it in a re-INVITE of its
    # call and its answer reached C in the ACK.
    invite_c = starting(sip_trace(c, "received"), "INVITE ")[0]
    assert header(invite_c, "Content-Length") == "0"
    c_offer = origin(starting(sip_trace(c, "sent"), "SIP/2.0 200 ")[-1])
    invites_b = starting(sip_trace(b, "received"), "INVITE ")
    assert len(invites_b) == 2
    assert header(invites_b[1], "Call-ID") == header(invites_b[0], "Call-ID")
    assert origin(invites_b[1]) == c_offer
    b_answer = origin(starting(sip_trace(b, "sent"), "SIP/2.0 200 ")[-1])
    assert origin(starting(sip_trace(c, "received"), "ACK ")[-1]) == b_answer

    # C hangs up: B's call (its original dialog) ends.
    c.hangup()
    c.wait_event("CALL_CLOSED")
    b.wait_event("CALL_CLOSED")


def test_the_transferors_own_bye_after_the_final_notify_gets_200(
    baresip: BaresipFactory, server: ServerProcess
) -> None:
    a, _, _ = transfer_between_phones(baresip, server)
    time.sleep(0.5)
    byes = starting(sip_trace(a, "sent"), "BYE ")
    if not byes:
        pytest.fail("baresip did not hang up by itself after the NOTIFY 200")
    cseq = header(byes[0], "CSeq")
    answers = [
        m.partition("\n")[0]
        for m in sip_trace(a, "received")
        if m.startswith("SIP/2.0 ") and header(m, "CSeq") == cseq
    ]
    assert answers == ["SIP/2.0 200 OK"]
