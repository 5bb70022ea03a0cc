"""Call transfer through `sipline serve` (issue #6): blind and attended transfer among
three registered parties 1000 (A, the transferor), 1001 (B, the transferee) and 1002
(C, the target), and an INVITE with Replaces.

The parties are plain-socket phones (``transfer_peers.Phone``) driven step by step:
SIPp cannot hold two calls and REFER one with the other's dialog in a Replaces.
Media is bypassed so the test can check that each SDP reaches the right party
unchanged; auth is off (the 407 path has its own tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from harness import ServerFactory, ServerProcess
from media_peers import media_address
from media_support import rtp_port_range
from transfer_peers import Phone, request, sdp

from sipline.dialog import Dialog
from sipline.sip import Request

pytestmark = pytest.mark.integration

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

SDP_A, SDP_B, SDP_C = sdp("a", 40000), sdp("b", 42000), sdp("c", 44000)


@pytest.fixture
def server(sipline_server: ServerFactory, tmp_path: Path) -> ServerProcess:
    config = tmp_path / "sipline.toml"
    config.write_text(CONFIG)
    return sipline_server(
        *("--config", str(config), "--listen", "udp:{host}:{port}", "--data", "{data_dir}"),
        *("--domain", "127.0.0.1", "--admin", "off"),
    )


@pytest.fixture
def phones(server: ServerProcess) -> Iterator[tuple[Phone, Phone, Phone]]:
    parties = (Phone("1000", server.port), Phone("1001", server.port), Phone("1002", server.port))
    try:
        for phone in parties:
            phone.register()
        yield parties
    finally:
        for phone in parties:
            phone.close()


def call(
    caller: Phone, callee: Phone, caller_sdp: bytes, callee_sdp: bytes
) -> tuple[Dialog, Dialog]:
    """An answered call through sipline: (caller's dialog, callee's dialog)."""
    invite = caller.invite(callee.user, caller_sdp)
    incoming = callee.expect_request("INVITE")
    assert incoming.body == caller_sdp
    callee_dialog = callee.answer(incoming, callee_sdp)
    ok = caller.expect_final("INVITE")
    assert ok.status_code == 200
    assert ok.body == callee_sdp
    return caller.acknowledge(invite, ok), callee_dialog


def notify_status(phone: Phone) -> tuple[str, str]:
    """The next NOTIFY of the refer subscription, answered 200: (sipfrag, state)."""
    notify = phone.expect_request("NOTIFY")
    phone.respond(notify, 200)
    assert notify.headers.get("Event") == "refer"
    assert notify.headers.get("Content-Type") == "message/sipfrag;version=2.0"
    return notify.body.decode().strip(), notify.headers.get("Subscription-State") or ""


def final_notify(phone: Phone) -> tuple[str, str]:
    """Skip provisional NOTIFYs (180); the final one."""
    while True:
        frag, state = notify_status(phone)
        if not frag.startswith("SIP/2.0 1"):
            return frag, state


def expect_bye(phone: Phone, call_id: str) -> Request:
    bye = phone.expect(lambda m: request("BYE")(m) and m.call_id == call_id)
    assert isinstance(bye, Request)
    phone.respond(bye, 200)
    return bye


def bye_reaches(sender: Phone, dialog: Dialog, receiver: Phone, receiver_dialog: Dialog) -> None:
    """A BYE from ``sender`` in ``dialog`` arrives at ``receiver`` in ``receiver_dialog``."""
    assert sender.send_in_dialog(dialog, "BYE").status_code == 200
    expect_bye(receiver, receiver_dialog.call_id)


def test_blind_transfer(phones: tuple[Phone, Phone, Phone]) -> None:
    a, b, c = phones
    a_dialog, b_dialog = call(a, b, SDP_A, SDP_B)

    accepted = a.send_in_dialog(a_dialog, "REFER", [("Refer-To", "<sip:1002@127.0.0.1>")])
    assert accepted.status_code == 202
    assert notify_status(a) == ("SIP/2.0 100 Trying", "active;expires=60")

    # C is rung as a new call from B's number, without an offer (RFC 3725 flow I).
    invite = c.expect_request("INVITE")
    assert not invite.body
    assert invite.from_.uri.user == "1001"  # type: ignore[union-attr]
    assert "sip:1000@127.0.0.1" in (invite.headers.get("Referred-By") or "")
    c.respond(invite, 180, to_tag=(c_tag := "ctag1"))
    c.respond(
        invite,
        200,
        to_tag=c_tag,
        headers=[("Contact", c.contact), ("Content-Type", "application/sdp")],
        body=SDP_C,
    )
    # B is re-INVITEd with C's offer in its own dialog; its answer goes to C in the ACK.
    reinvite = b.expect_request("INVITE")
    assert reinvite.call_id == b_dialog.call_id
    assert reinvite.body == SDP_C
    b_answer = sdp("b", 42000, version=2)
    b.respond(
        reinvite,
        200,
        to_tag=b_dialog.local_tag,
        headers=[("Contact", b.contact), ("Content-Type", "application/sdp")],
        body=b_answer,
    )
    b.expect_request("ACK")
    ack = c.expect_request("ACK")
    assert ack.body == b_answer

    assert final_notify(a) == ("SIP/2.0 200 OK", "terminated;reason=noresource")
    expect_bye(a, a_dialog.call_id)

    # B and C are in one call: C's BYE reaches B.
    c_dialog = Dialog.as_uas(invite, c_tag, local_contact=c.contact, early=False)
    bye_reaches(c, c_dialog, b, b_dialog)


def test_blind_transfer_to_an_unregistered_user_keeps_the_call(
    phones: tuple[Phone, Phone, Phone],
) -> None:
    a, b, _ = phones
    a_dialog, b_dialog = call(a, b, SDP_A, SDP_B)
    refer_to = [("Refer-To", "<sip:1009@127.0.0.1>")]
    assert a.send_in_dialog(a_dialog, "REFER", refer_to).status_code == 202
    assert notify_status(a)[0] == "SIP/2.0 100 Trying"
    frag, state = final_notify(a)
    assert frag.startswith("SIP/2.0 4")
    assert state.startswith("terminated")
    bye_reaches(a, a_dialog, b, b_dialog)  # A and B still talk to each other


def test_attended_transfer_with_replaces(phones: tuple[Phone, Phone, Phone]) -> None:
    a, b, c = phones
    ab_a, ab_b = call(a, b, SDP_A, SDP_B)  # A <-> B (B to be transferred)
    ac_a, ac_c = call(a, c, sdp("a", 40002), SDP_C)  # A <-> C (the consultation call)

    # Replaces names the A<->C dialog as sipline sees it: to-tag ours, from-tag A's.
    replaces = f"{ac_a.call_id};to-tag={ac_a.remote_tag};from-tag={ac_a.local_tag}"
    refer_to = f"<sip:1002@127.0.0.1?Replaces={quote(replaces, safe='')}>"
    accepted = a.send_in_dialog(ab_a, "REFER", [("Refer-To", refer_to)])
    assert accepted.status_code == 202
    assert notify_status(a)[0] == "SIP/2.0 100 Trying"

    # C is asked for an offer in its existing dialog, B gets it, C gets B's answer.
    reinvite_c = c.expect_request("INVITE")
    assert reinvite_c.call_id == ac_c.call_id
    assert not reinvite_c.body
    c_offer = sdp("c", 44000, version=2)
    c.respond(
        reinvite_c,
        200,
        to_tag=ac_c.local_tag,
        headers=[("Contact", c.contact), ("Content-Type", "application/sdp")],
        body=c_offer,
    )
    reinvite_b = b.expect_request("INVITE")
    assert reinvite_b.call_id == ab_b.call_id
    assert reinvite_b.body == c_offer
    b_answer = sdp("b", 42000, version=2)
    b.respond(
        reinvite_b,
        200,
        to_tag=ab_b.local_tag,
        headers=[("Contact", b.contact), ("Content-Type", "application/sdp")],
        body=b_answer,
    )
    b.expect_request("ACK")
    assert c.expect_request("ACK").body == b_answer

    # A loses both calls: a BYE on each, the NOTIFY 200 on the REFER's dialog.
    expect_bye(a, ac_a.call_id)
    assert final_notify(a) == ("SIP/2.0 200 OK", "terminated;reason=noresource")
    expect_bye(a, ab_a.call_id)

    # B and C are bridged: C's BYE (in its old dialog) reaches B (in its own).
    bye_reaches(c, ac_c, b, ab_b)


def test_invite_with_replaces_takes_a_partys_place(phones: tuple[Phone, Phone, Phone]) -> None:
    a, b, d = phones
    ab_a, ab_b = call(a, b, SDP_A, SDP_B)
    # D (1002) replaces A: the dialog as sipline sees it (to-tag ours, from-tag A's).
    replaces = f"{ab_a.call_id};to-tag={ab_a.remote_tag};from-tag={ab_a.local_tag}"
    invite = d.invite("1001", SDP_C, extra=[("Replaces", replaces)])
    reinvite = b.expect_request("INVITE")
    assert reinvite.call_id == ab_b.call_id
    assert reinvite.body == SDP_C
    b_answer = sdp("b", 42000, version=2)
    b.respond(
        reinvite,
        200,
        to_tag=ab_b.local_tag,
        headers=[("Contact", b.contact), ("Content-Type", "application/sdp")],
        body=b_answer,
    )
    ok = d.expect_final("INVITE")
    assert ok.status_code == 200
    assert ok.body == b_answer
    d_dialog = d.acknowledge(invite, ok)
    bye = expect_bye(a, ab_a.call_id)
    assert "Call completed elsewhere" in (bye.headers.get("Reason") or "")
    bye_reaches(d, d_dialog, b, ab_b)


def test_invite_with_unknown_replaces_is_481(phones: tuple[Phone, Phone, Phone]) -> None:
    _, _, d = phones
    d.invite("1001", SDP_C, extra=[("Replaces", "nosuchcall;to-tag=1;from-tag=2")])
    assert d.expect_final("INVITE").status_code == 481


def test_blind_transfer_through_the_rtp_relay(
    sipline_server: ServerFactory, tmp_path: Path
) -> None:
    """With the relay, every SDP a party gets names the relay, and the transferee keeps
    its relay port: C's offer reaches B anchored on the port B already sends to."""
    low, high = rtp_port_range()
    config = tmp_path / "relay.toml"
    config.write_text(
        CONFIG.replace('mode = "bypass"', f'mode = "relay"\nrtp_ports = "{low}-{high}"')
    )
    server = sipline_server(
        *("--config", str(config), "--listen", "udp:{host}:{port}", "--data", "{data_dir}"),
        *("--domain", "127.0.0.1", "--admin", "off"),
    )
    a, b, c = (Phone(user, server.port) for user in ("1000", "1001", "1002"))
    try:
        for phone in (a, b, c):
            phone.register()
        invite = a.invite("1001", SDP_A)
        incoming = b.expect_request("INVITE")
        b_port = media_address(incoming.body)[1]
        assert low <= b_port <= high
        b_dialog = b.answer(incoming, SDP_B)
        a_dialog = a.acknowledge(invite, a.expect_final("INVITE"))

        assert (
            a.send_in_dialog(a_dialog, "REFER", [("Refer-To", "<sip:1002@127.0.0.1>")]).status_code
            == 202
        )
        c_invite = c.expect_request("INVITE")
        c.respond(
            c_invite,
            200,
            to_tag="c1",
            headers=[("Contact", c.contact), ("Content-Type", "application/sdp")],
            body=SDP_C,
        )
        reinvite = b.expect_request("INVITE")
        assert media_address(reinvite.body) == ("127.0.0.1", b_port)  # B's relay port kept
        b.respond(
            reinvite,
            200,
            to_tag=b_dialog.local_tag,
            headers=[("Contact", b.contact), ("Content-Type", "application/sdp")],
            body=sdp("b", 42000, version=2),
        )
        ack = c.expect_request("ACK")
        c_side = media_address(ack.body)
        assert c_side[0] == "127.0.0.1"
        assert low <= c_side[1] <= high
        assert c_side[1] != b_port
        assert final_notify(a)[0] == "SIP/2.0 200 OK"
        expect_bye(a, a_dialog.call_id)
        c_dialog = Dialog.as_uas(c_invite, "c1", local_contact=c.contact, early=False)
        bye_reaches(c, c_dialog, b, b_dialog)
    finally:
        for phone in (a, b, c):
            phone.close()
