"""Server transactions (RFC 3261 §17.2, RFC 6026 §7.1) fed by a real client layer."""

from __future__ import annotations

import pytest
from transaction_pair import TransactionPair, make_test_request

from sipline.sip import Address, LocalProtocolError, Request, make_response, new_branch
from sipline.transaction import (
    AckReceived,
    RequestReceived,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    TransactionState,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
    make_ack_for_non_2xx,
    make_trying,
)

S = TransactionState


def _receive(pair: TransactionPair, method: str = "INVITE") -> tuple[Request, RequestReceived]:
    """The server receives a new request straight from the client's address."""
    request = make_test_request(method, transport=pair.client_address.transport)
    pair.server.receive(request, pair.client_address, pair.now)
    (event,) = pair.events(pair.server)
    assert isinstance(event, RequestReceived)
    assert event.source == pair.client_address
    assert event.request is request
    return request, event


def _sent_times(pair: TransactionPair, until: float) -> list[float]:
    times: list[float] = []
    while (deadline := pair.next_deadline()) is not None and deadline <= until:
        pair.step()
        times.extend(pair.now for _ in pair.drop(pair.server))
    return times


def test_new_invite_creates_a_proceeding_transaction_and_sends_nothing() -> None:
    pair = TransactionPair()
    _, event = _receive(pair)
    assert isinstance(event.transaction, ServerInviteTransaction)
    assert event.transaction.state is S.PROCEEDING
    assert event.transaction.source == pair.client_address
    # 100 Trying is the TU's choice (§17.2.1): nothing goes out by itself.
    assert pair.server.messages_to_send() == []
    assert pair.server.counters.created["server_invite"] == 1


def test_make_trying_has_no_to_tag_and_echoes_timestamp() -> None:
    request = make_test_request()
    request.headers.add("Timestamp", "54")
    trying = make_trying(request)
    assert trying.status_code == 100
    assert trying.reason == "Trying"
    assert trying.to.tag is None
    assert trying.headers.get("Timestamp") == "54"
    assert trying.top_via.branch == request.top_via.branch


def test_invite_retransmission_resends_the_last_provisional() -> None:
    pair = TransactionPair()
    request, event = _receive(pair)
    pair.server.receive(request, pair.client_address, 0.1)
    assert pair.server.messages_to_send() == []  # nothing sent yet: nothing to repeat
    pair.server.send_response(make_trying(request), 0.2)
    ringing = make_response(request, 180, to_tag="s")
    pair.server.send_response(ringing, 0.3)
    pair.drop()
    pair.server.receive(request, pair.client_address, 0.5)
    (again,) = pair.server.messages_to_send()
    assert again.message is ringing
    assert again.destination == pair.client_address
    assert pair.events(pair.server) == []  # retransmissions are not passed up
    assert event.transaction.state is S.PROCEEDING
    assert pair.server.counters.retransmissions["server_invite"] == 1


def test_g_retransmits_the_final_capped_at_t2_and_h_times_out_without_ack() -> None:
    pair = TransactionPair()
    request, event = _receive(pair)
    pair.server.send_response(make_response(request, 486, to_tag="s"), 0.0)
    assert event.transaction.state is S.COMPLETED
    pair.drop()
    # §17.2.1: G = T1, 2T1, 4T1, then T2, until H = 64*T1.
    times = _sent_times(pair, until=100)
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert pair.events(pair.server) == [
        TransactionTimedOut(event.transaction),
        TransactionTerminated(event.transaction),
    ]
    assert pair.server.counters.timeouts["server_invite"] == 1


def test_ack_confirms_and_i_absorbs_ack_retransmissions() -> None:
    pair = TransactionPair()
    request, event = _receive(pair)
    final = make_response(request, 404, to_tag="s")
    pair.server.send_response(final, 0.0)
    pair.drop()
    ack = make_ack_for_non_2xx(request, final)
    pair.server.receive(ack, pair.client_address, 0.2)
    transaction = event.transaction
    assert transaction.state is S.CONFIRMED
    assert pair.server.next_deadline() == pytest.approx(5.2)  # I = T4; G and H stopped
    pair.server.receive(ack, pair.client_address, 1.0)
    pair.server.receive(request, pair.client_address, 1.1)
    assert pair.events(pair.server) == []
    assert pair.server.messages_to_send() == []
    pair.advance_to(5.2)
    assert transaction.state is S.TERMINATED
    assert pair.events(pair.server) == [TransactionTerminated(transaction)]


def test_completed_resends_the_final_to_a_retransmitted_invite() -> None:
    pair = TransactionPair()
    request, _ = _receive(pair)
    final = make_response(request, 480, to_tag="s")
    pair.server.send_response(final, 0.0)
    pair.drop()
    pair.server.receive(request, pair.client_address, 0.2)
    assert [o.message for o in pair.server.messages_to_send()] == [final]


def test_reliable_transport_has_no_g_and_ack_terminates_at_once() -> None:
    pair = TransactionPair("tcp")
    request, event = _receive(pair)
    final = make_response(request, 486, to_tag="s")
    pair.server.send_response(final, 0.0)
    assert pair.server.next_deadline() == 32.0  # only H
    pair.server.receive(make_ack_for_non_2xx(request, final), pair.client_address, 1.0)
    assert event.transaction.state is S.TERMINATED  # I = 0 on TCP


def test_accepted_absorbs_invite_retransmissions_and_sends_tu_2xx_until_l() -> None:
    pair = TransactionPair()
    request, event = _receive(pair)
    ok = make_response(request, 200, to_tag="s")
    pair.server.send_response(ok, 0.0)
    transaction = event.transaction
    assert transaction.state is S.ACCEPTED
    pair.drop()
    pair.server.receive(request, pair.client_address, 0.1)
    assert pair.server.messages_to_send() == []  # RFC 6026 §7.1: absorbed
    pair.server.send_response(ok, 0.5)  # the TU retransmits its 2xx (§13.3.1.4)
    assert [o.message for o in pair.server.messages_to_send()] == [ok]
    assert pair.events(pair.server) == []
    assert pair.server.next_deadline() == 32.0  # L = 64*T1
    pair.advance_to(32.0)
    assert pair.events(pair.server) == [TransactionTerminated(transaction)]
    with pytest.raises(LocalProtocolError, match="send_stateless"):
        pair.server.send_response(ok, 33.0)


def test_ack_for_2xx_is_passed_up_without_a_transaction() -> None:
    pair = TransactionPair()
    request, _ = _receive(pair)
    ok = make_response(request, 200, to_tag="s")
    pair.server.send_response(ok, 0.0)
    ack = make_ack_for_non_2xx(request, make_response(request, 486, to_tag="s"))
    ack.headers.set("Via", f"SIP/2.0/UDP 127.0.0.1:5060;branch={new_branch()}")
    pair.server.receive(ack, pair.client_address, 0.1)
    assert pair.events(pair.server) == [AckReceived(ack, pair.client_address)]
    assert pair.server.counters.unmatched_acks == 1


def test_ack_reusing_the_invite_branch_in_accepted_is_passed_up_with_it() -> None:
    pair = TransactionPair()
    request, event = _receive(pair)
    pair.server.send_response(make_response(request, 200, to_tag="s"), 0.0)
    ack = make_ack_for_non_2xx(request, make_response(request, 486, to_tag="s"))
    pair.server.receive(ack, pair.client_address, 0.1)
    (received,) = pair.events(pair.server)
    assert received == AckReceived(ack, pair.client_address, event.transaction)


def test_response_destination_can_be_chosen_and_is_kept_for_retransmissions() -> None:
    pair = TransactionPair()
    request, event = _receive(pair)
    elsewhere = Address("udp", "127.0.0.1", 5999)  # e.g. Via received/rport (§18.2.2)
    pair.server.send_response(make_response(request, 503, to_tag="s"), 0.0, destination=elsewhere)
    pair.step()
    assert {o.destination for o in pair.drop(pair.server)} == {elsewhere}
    assert event.transaction.response_destination == elsewhere


def test_transport_error_while_proceeding_is_reported() -> None:
    pair = TransactionPair("tcp")
    request, event = _receive(pair)
    pair.server.send_response(make_response(request, 180, to_tag="s"), 0.0)
    pair.server.transport_error(pair.client_address, 0.1)
    assert pair.events(pair.server) == [
        TransportFailed(event.transaction, pair.client_address),
        TransactionTerminated(event.transaction),
    ]


def test_second_final_on_invite_is_our_misuse() -> None:
    pair = TransactionPair()
    request, event = _receive(pair)
    pair.server.send_response(make_response(request, 486, to_tag="s"), 0.0)
    with pytest.raises(LocalProtocolError, match="SEND_2XX is not allowed in state COMPLETED"):
        pair.server.send_response(make_response(request, 200, to_tag="s"), 0.1)
    assert event.transaction.state is S.TERMINATED
    assert pair.server.transaction_count == 0


def test_non_invite_trying_absorbs_then_proceeding_and_completed_resend() -> None:
    pair = TransactionPair()
    request, event = _receive(pair, "REGISTER")
    transaction = event.transaction
    assert isinstance(transaction, ServerNonInviteTransaction)
    assert transaction.state is S.TRYING
    pair.server.receive(request, pair.client_address, 0.1)
    assert pair.server.messages_to_send() == []  # §17.2.2: discarded in Trying
    trying = make_response(request, 100)
    pair.server.send_response(trying, 0.2)
    assert transaction.state is S.PROCEEDING
    pair.drop()
    pair.server.receive(request, pair.client_address, 0.3)
    assert [o.message for o in pair.server.messages_to_send()] == [trying]
    ok = make_response(request, 200, to_tag="s")
    pair.server.send_response(ok, 0.4)
    assert transaction.state is S.COMPLETED
    pair.drop()
    pair.server.receive(request, pair.client_address, 1.0)
    assert [o.message for o in pair.server.messages_to_send()] == [ok]
    # "Any other final responses passed by the TU ... MUST be discarded" (§17.2.2).
    pair.server.send_response(make_response(request, 500, to_tag="s"), 1.1)
    assert pair.server.messages_to_send() == []
    assert pair.events(pair.server) == []
    assert pair.server.next_deadline() == pytest.approx(32.4)  # J = 64*T1
    pair.advance_to(32.4)
    assert pair.events(pair.server) == [TransactionTerminated(transaction)]


def test_non_invite_on_tcp_terminates_when_the_final_is_sent() -> None:
    pair = TransactionPair("tcp")
    request, event = _receive(pair, "OPTIONS")
    pair.server.send_response(make_response(request, 200, to_tag="s"), 0.0)
    assert event.transaction.state is S.TERMINATED  # J = 0 on reliable transports
    assert len(pair.server.messages_to_send()) == 1


def test_provisional_after_final_on_non_invite_is_our_misuse() -> None:
    pair = TransactionPair()
    request, event = _receive(pair, "OPTIONS")
    pair.server.send_response(make_response(request, 200, to_tag="s"), 0.0)
    with pytest.raises(LocalProtocolError):
        pair.server.send_response(make_response(request, 180, to_tag="s"), 0.1)
    assert event.transaction.state is S.TERMINATED
