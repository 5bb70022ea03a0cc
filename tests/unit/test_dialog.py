"""Dialogs (RFC 3261 §12): creation at each side, in-dialog requests, CSeq, routing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipline.dialog import (
    TRANSITIONS,
    Dialog,
    DialogConfirmed,
    DialogInput,
    DialogSet,
    DialogState,
    DialogTerminated,
    TargetRefreshed,
    request_dialog_id,
    response_dialog_id,
)
from sipline.sip import (
    LocalProtocolError,
    RemoteProtocolError,
    Request,
    Response,
    make_request,
    make_response,
)


def invite(*, record_route: tuple[str, ...] = (), uri: str = "sip:bob@b.example") -> Request:
    headers = [("Record-Route", rr) for rr in record_route]
    return make_request(
        "INVITE",
        uri,
        via="SIP/2.0/UDP a.example:5060;branch=z9hG4bKinv1",
        from_='"Alice" <sip:alice@a.example>;tag=atag',
        to="<sip:bob@b.example>",
        call_id="call-1",
        cseq=314,
        contact="<sip:alice@10.0.0.1:5060>",
        headers=headers,
    )


def answer(
    request: Request,
    status: int = 200,
    *,
    tag: str = "btag",
    contact: str | None = "<sip:bob@10.0.0.2:5062>",
    record_route: tuple[str, ...] = (),
) -> Response:
    headers = [("Record-Route", rr) for rr in record_route]
    if contact is not None:
        headers.append(("Contact", contact))
    return make_response(request, status, to_tag=tag, headers=headers)


def test_uac_dialog_from_a_2xx_takes_ids_target_and_reversed_route_set() -> None:
    request = invite()
    response = answer(request, record_route=("<sip:p2.example;lr>", "<sip:p1.example;lr>"))
    dialog = Dialog.as_uac(request, response)
    assert dialog.state is DialogState.CONFIRMED
    assert (dialog.call_id, dialog.local_tag, dialog.remote_tag) == ("call-1", "atag", "btag")
    assert dialog.local_seq == 314
    assert dialog.remote_seq is None
    assert dialog.remote_target == "sip:bob@10.0.0.2:5062"
    assert dialog.route_set == ("<sip:p1.example;lr>", "<sip:p2.example;lr>")
    assert dialog.local_uri == "sip:alice@a.example"
    assert dialog.remote_uri == "sip:bob@b.example"
    assert not dialog.secure


def test_uas_dialog_from_a_request_keeps_route_set_order_and_empty_local_seq() -> None:
    request = invite(record_route=("<sip:p1.example;lr>", "<sip:p2.example;lr>"))
    dialog = Dialog.as_uas(request, "mytag", local_contact="<sip:b2bua@10.0.0.9>")
    assert dialog.state is DialogState.EARLY
    assert dialog.local_tag == "mytag"
    assert dialog.remote_tag == "atag"
    assert dialog.local_seq is None
    assert dialog.remote_seq == 314
    assert dialog.remote_target == "sip:alice@10.0.0.1:5060"
    assert dialog.route_set == ("<sip:p1.example;lr>", "<sip:p2.example;lr>")
    bye = dialog.create_request("BYE")
    assert bye.to.tag == "atag"
    assert bye.from_.tag == "mytag"
    assert bye.from_.uri == request.to.uri
    assert bye.cseq.number == 1  # §12.2.1.1: any first value; ours is 1
    assert bye.uri == "sip:alice@10.0.0.1:5060"
    assert [str(r) for r in bye.routes] == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    assert "Contact" not in bye.headers  # BYE refreshes no target


def test_sips_request_uri_makes_a_secure_dialog() -> None:
    request = invite(uri="sips:bob@b.example")
    assert Dialog.as_uac(request, answer(request)).secure


def test_in_dialog_requests_take_increasing_cseq_and_refresh_requests_a_contact() -> None:
    request = invite()
    dialog = Dialog.as_uac(request, answer(request), local_contact="<sip:me@10.0.0.1>")
    reinvite = dialog.create_request(
        "INVITE", body=b"v=0\r\n", content_type="application/sdp", headers=[("X-A", "1")]
    )
    info = dialog.create_request("INFO")
    assert (reinvite.cseq.number, info.cseq.number) == (315, 316)
    assert reinvite.headers.get("Contact") == "<sip:me@10.0.0.1>"
    assert reinvite.content_type == "application/sdp"
    assert reinvite.headers.get("X-A") == "1"
    assert "Contact" not in info.headers
    assert "Via" not in reinvite.headers  # the endpoint adds this hop's Via
    assert reinvite.max_forwards == 70


def test_ack_for_2xx_reuses_the_invite_cseq_and_carries_a_late_answer() -> None:
    request = invite()
    ok = answer(request)
    dialog = Dialog.as_uac(request, ok)
    ack = dialog.create_ack(ok, body=b"v=0\r\n", content_type="application/sdp")
    assert ack.method == "ACK"
    assert ack.cseq.number == 314
    assert ack.cseq.method == "ACK"
    assert ack.body == b"v=0\r\n"
    assert ack.uri == "sip:bob@10.0.0.2:5062"
    assert dialog.local_seq == 314  # unchanged by the ACK
    with pytest.raises(LocalProtocolError):
        dialog.create_ack(answer(request, 486))
    with pytest.raises(LocalProtocolError):
        dialog.create_request("ACK")


def test_strict_route_puts_first_route_in_request_uri_and_target_last() -> None:
    request = invite()
    response = answer(request, record_route=("<sip:p2.example;lr>", "<sip:p1.example;maddr=x>"))
    dialog = Dialog.as_uac(request, response)
    bye = dialog.create_request("BYE")
    assert bye.uri == "sip:p1.example"
    assert [str(r) for r in bye.routes] == ["<sip:p2.example;lr>", "<sip:bob@10.0.0.2:5062>"]


def test_lower_cseq_is_rejected_with_500_and_equal_or_higher_accepted() -> None:
    request = invite()
    dialog = Dialog.as_uas(request, "mytag")
    in_dialog = Dialog.as_uac(request, answer(request, tag="mytag"))
    in_dialog.local_seq = 400
    info = in_dialog.create_request("INFO")
    assert dialog.receive_request(info) == []
    assert dialog.remote_seq == 401
    in_dialog.local_seq = 10
    old = in_dialog.create_request("INFO")
    with pytest.raises(RemoteProtocolError) as caught:
        dialog.receive_request(old)
    assert caught.value.status_hint == 500
    assert dialog.remote_seq == 401


def test_reinvite_with_new_contact_refreshes_the_target_and_bye_terminates() -> None:
    request = invite()
    dialog = Dialog.as_uas(request, "mytag", early=False)
    peer = Dialog.as_uac(request, answer(request, tag="mytag"))
    peer.local_header = request.headers.get("from") or ""
    reinvite = peer.create_request("INVITE")
    reinvite.headers.add("Contact", "<sip:alice@10.9.9.9:5070>")
    events = dialog.receive_request(reinvite)
    assert events == [TargetRefreshed(dialog.id, "sip:alice@10.9.9.9:5070")]
    assert dialog.remote_target == "sip:alice@10.9.9.9:5070"
    events = dialog.receive_request(peer.create_request("BYE"))
    assert events == [DialogTerminated(dialog.id, DialogInput.BYE)]
    assert dialog.state is DialogState.TERMINATED
    with pytest.raises(LocalProtocolError):
        dialog.create_request("INFO")


def test_early_uac_dialog_is_confirmed_by_2xx_and_route_set_recomputed() -> None:
    request = invite()
    ringing = answer(request, 180, record_route=("<sip:old.example;lr>",))
    dialog = Dialog.as_uac(request, ringing)
    assert dialog.state is DialogState.EARLY
    ok = answer(request, contact="<sip:bob@10.0.0.3>", record_route=("<sip:new.example;lr>",))
    events = dialog.receive_response(ok)
    assert DialogConfirmed(dialog.id) in events
    assert dialog.route_set == ("<sip:new.example;lr>",)
    assert dialog.remote_target == "sip:bob@10.0.0.3"


def test_481_to_an_in_dialog_request_ends_the_dialog() -> None:
    request = invite()
    dialog = Dialog.as_uac(request, answer(request))
    info = dialog.create_request("INFO")
    events = dialog.receive_response(make_response(info, 481))
    assert events == [DialogTerminated(dialog.id, DialogInput.DIALOG_GONE)]


def test_response_without_to_tag_or_contact_creates_no_dialog() -> None:
    request = invite()
    with pytest.raises(LocalProtocolError):
        Dialog.as_uac(request, make_response(request, 100))
    with pytest.raises(RemoteProtocolError):
        Dialog.as_uac(request, answer(request, contact=None))
    no_contact = make_request(
        "INVITE",
        "sip:b@b",
        via="SIP/2.0/UDP a;branch=z9hG4bKx",
        from_="<sip:a@a>;tag=1",
        to="<sip:b@b>",
        call_id="c",
        cseq=1,
    )
    with pytest.raises(RemoteProtocolError):
        Dialog.as_uas(no_contact, "t")


def test_dialog_set_keeps_one_dialog_per_fork_and_failure_ends_early_ones() -> None:
    request = invite()
    dialogs = DialogSet(request, local_contact="<sip:me@10.0.0.1>")
    assert dialogs.dialog_for_response(make_response(request, 100)) is None
    first = dialogs.dialog_for_response(answer(request, 180, tag="f1"))
    second = dialogs.dialog_for_response(answer(request, 183, tag="f2"))
    assert first is not None
    assert second is not None
    assert first is not second
    assert dialogs.dialog_for_response(answer(request, 180, tag="f1")) is first
    winner = dialogs.dialog_for_response(answer(request, 200, tag="f2"))
    assert winner is second
    assert dialogs.confirmed() == [second]
    assert first.state is DialogState.EARLY
    dialogs.dialog_for_response(answer(request, 487, tag="f3"))
    assert first.state is DialogState.TERMINATED
    assert second.state is DialogState.CONFIRMED
    assert dialogs.call_id == "call-1"


def test_dialog_ids_of_requests_and_responses_match_the_dialog() -> None:
    request = invite()
    ok = answer(request)
    uac = Dialog.as_uac(request, ok)
    assert response_dialog_id(ok) == uac.id
    assert response_dialog_id(make_response(request, 100)) is None
    uas = Dialog.as_uas(request, "btag")
    bye = uac.create_request("BYE")
    assert request_dialog_id(bye) == uas.id
    assert request_dialog_id(request) is None


@given(st.lists(st.sampled_from(list(DialogInput)), max_size=12))
def test_every_input_sequence_follows_the_table(inputs: list[DialogInput]) -> None:
    request = invite()
    dialog = Dialog.as_uac(request, answer(request, 180))
    for what in inputs:
        before = dialog.state
        expected = TRANSITIONS.get((before, what))
        if expected is None:
            with pytest.raises(LocalProtocolError):
                dialog.process_input(what)
            assert dialog.state is before
        else:
            dialog.process_input(what)
            assert dialog.state is expected
    assert dialog.state in DialogState


def test_terminated_is_absorbing() -> None:
    for (state, _), after in TRANSITIONS.items():
        if state is DialogState.TERMINATED:
            assert after is DialogState.TERMINATED
