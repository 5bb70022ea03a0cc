"""Client transactions (RFC 3261 §17.1, RFC 6026 §7.2) against a real server layer."""

from __future__ import annotations

import pytest
from transaction_pair import TransactionPair, make_test_request

from sipline.sip import make_response, parse_message
from sipline.transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    RequestReceived,
    ResponseReceived,
    StrayResponseReceived,
    TransactionConfig,
    TransactionInput,
    TransactionState,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)

S = TransactionState


def _retransmission_times(pair: TransactionPair, until: float) -> list[float]:
    """Step the clock, dropping everything; the times the client sent again."""
    times: list[float] = []
    while (deadline := pair.next_deadline()) is not None and deadline <= until:
        pair.step()
        times.extend(pair.now for _ in pair.drop(pair.client))
    return times


def _start(pair: TransactionPair, method: str = "INVITE") -> ClientInviteTransaction:
    request = make_test_request(method, transport=pair.client_address.transport)
    transaction = pair.client.send_request(request, pair.server_address, pair.now)
    assert isinstance(transaction, ClientInviteTransaction | ClientNonInviteTransaction)
    return transaction  # type: ignore[return-value]


def _answer(pair: TransactionPair, status: int) -> RequestReceived:
    """Deliver the request to the server and let its TU answer ``status``."""
    pair.transfer(pair.client)
    (received,) = [e for e in pair.events(pair.server) if isinstance(e, RequestReceived)]
    pair.server.send_response(make_response(received.request, status, to_tag="srv"), pair.now)
    return received


def test_invite_retransmits_at_doubling_a_and_times_out_at_b() -> None:
    pair = TransactionPair()
    transaction = _start(pair)
    assert [o.message for o in pair.drop()] == [transaction.request]
    # §17.1.1.2: A = T1, 2T1, 4T1... (no cap) until B = 64*T1.
    assert _retransmission_times(pair, until=100) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert pair.now == 32.0
    events = pair.events(pair.client)
    assert events == [TransactionTimedOut(transaction), TransactionTerminated(transaction)]
    assert transaction.state is S.TERMINATED
    assert pair.client.counters.retransmissions["client_invite"] == 6
    assert pair.client.counters.timeouts["client_invite"] == 1
    assert pair.client.next_deadline() is None
    assert pair.client.transaction_count == 0


def test_invite_on_a_reliable_transport_is_not_retransmitted() -> None:
    pair = TransactionPair("tcp")
    transaction = _start(pair)
    pair.drop()
    assert pair.client.next_deadline() == 32.0  # only B
    assert _retransmission_times(pair, until=100) == []
    assert pair.events(pair.client)[0] == TransactionTimedOut(transaction)


def test_timers_scale_with_t1() -> None:
    pair = TransactionPair(config=TransactionConfig(t1=0.1, t2=4.0))
    _start(pair)
    pair.drop()
    times = _retransmission_times(pair, until=100)
    assert times == pytest.approx([0.1, 0.3, 0.7, 1.5, 3.1, 6.3])
    assert pair.now == pytest.approx(6.4)


def test_provisional_response_stops_invite_retransmission() -> None:
    pair = TransactionPair()
    transaction = _start(pair)
    _answer(pair, 180)
    pair.transfer()
    assert transaction.state is S.PROCEEDING
    (event,) = pair.events(pair.client)
    assert isinstance(event, ResponseReceived)
    assert event.response.status_code == 180
    assert event.transaction is transaction
    assert pair.client.next_deadline() is None  # A and B stop in Proceeding


def test_non_2xx_final_is_acked_by_the_transaction_with_its_branch_and_to_tag() -> None:
    pair = TransactionPair()
    transaction = _start(pair)
    _answer(pair, 486)
    pair.transfer(pair.server)  # the 486 reaches the client
    assert transaction.state is S.COMPLETED
    (ack_out,) = pair.client.messages_to_send()
    ack = parse_message(ack_out.data)
    assert ack_out.destination == pair.server_address
    assert ack.method == "ACK"
    assert ack.uri == transaction.request.uri
    assert ack.top_via.branch == transaction.branch
    assert ack.cseq.number == transaction.request.cseq.number
    assert ack.cseq.method == "ACK"
    assert ack.to.tag == "srv"
    assert ack.from_.tag == transaction.request.from_.tag
    assert ack.call_id == transaction.request.call_id
    assert transaction.ack is ack_out.message
    (event,) = pair.events(pair.client)
    assert isinstance(event, ResponseReceived)
    assert event.response.status_code == 486


def test_completed_reacks_retransmitted_finals_without_passing_them_up_until_d() -> None:
    pair = TransactionPair()
    transaction = _start(pair)
    received = _answer(pair, 486)
    final = pair.server.messages_to_send()[0]
    pair.client.receive(parse_message(final.data), pair.server_address, 0.0)
    first_ack = pair.client.messages_to_send()
    pair.events(pair.client)
    for now in (1.0, 2.0):  # the ACK was lost; the 486 comes again
        pair.client.receive(parse_message(final.data), pair.server_address, now)
        assert [o.data for o in pair.client.messages_to_send()] == [first_ack[0].data]
    assert pair.events(pair.client) == []
    assert pair.client.counters.retransmissions["client_invite"] == 2
    assert transaction.deadline(TransactionInput.TIMER_D) == 32.0
    pair.advance_to(32.0)
    assert transaction.state is S.TERMINATED
    assert pair.events(pair.client) == [TransactionTerminated(transaction)]
    # The server never got an ACK: H fired at the same 64*T1.
    assert isinstance(pair.events(pair.server)[0], TransactionTimedOut)
    assert received.transaction.state is S.TERMINATED


def test_completed_ends_at_once_on_a_reliable_transport() -> None:
    pair = TransactionPair("tcp")
    transaction = _start(pair)
    _answer(pair, 603)
    pair.transfer(pair.server)
    assert transaction.state is S.TERMINATED  # D = 0 on TCP
    events = pair.events(pair.client)
    assert [type(e) for e in events] == [ResponseReceived, TransactionTerminated]
    assert len(pair.client.messages_to_send()) == 1  # the ACK


def test_2xx_moves_to_accepted_and_retransmitted_2xx_are_passed_up_until_m() -> None:
    pair = TransactionPair()
    transaction = _start(pair)
    _answer(pair, 200)
    ok = pair.server.messages_to_send()[0]
    pair.client.receive(parse_message(ok.data), pair.server_address, 0.0)
    assert transaction.state is S.ACCEPTED
    assert pair.client.messages_to_send() == []  # the ACK of a 2xx is the TU's
    # RFC 6026 §7.2: each retransmitted 2xx goes to the TU (it re-sends its ACK).
    pair.client.receive(parse_message(ok.data), pair.server_address, 1.0)
    events = pair.events(pair.client)
    assert [type(e) for e in events] == [ResponseReceived, ResponseReceived]
    assert all(e.transaction is transaction for e in events)  # type: ignore[union-attr]
    assert pair.client.next_deadline() == 32.0  # M = 64*T1
    pair.advance_to(32.0)
    assert pair.events(pair.client) == [TransactionTerminated(transaction)]
    # After M a 2xx matches nothing: a stray response for the TU to judge.
    pair.client.receive(parse_message(ok.data), pair.server_address, 33.0)
    (stray,) = pair.events(pair.client)
    assert isinstance(stray, StrayResponseReceived)
    assert stray.source == pair.server_address
    assert pair.client.counters.stray_responses == 1


def test_accepted_absorbs_late_provisional_and_non_2xx() -> None:
    pair = TransactionPair()
    transaction = _start(pair)
    request = transaction.request
    pair.drop()
    for status in (200, 180, 500):
        pair.client.receive(make_response(request, status, to_tag="x"), pair.server_address, 0.1)
    assert [e.response.status_code for e in pair.events(pair.client)] == [200]  # type: ignore[union-attr]
    assert pair.client.messages_to_send() == []
    assert transaction.state is S.ACCEPTED


def test_2xx_from_another_fork_after_a_failure_is_passed_up() -> None:
    pair = TransactionPair()
    transaction = _start(pair)
    pair.drop()
    pair.client.receive(make_response(transaction.request, 486, to_tag="a"), pair.server_address, 0)
    pair.client.receive(make_response(transaction.request, 200, to_tag="b"), pair.server_address, 0)
    codes = [e.response.status_code for e in pair.events(pair.client)]  # type: ignore[union-attr]
    assert codes == [486, 200]
    assert transaction.state is S.COMPLETED


def test_transport_error_while_calling_is_reported() -> None:
    pair = TransactionPair("tcp")
    transaction = _start(pair)
    other = pair.client.send_request(
        make_test_request("OPTIONS", transport="tcp"), pair.client_address, 0.0
    )
    pair.client.transport_error(pair.server_address, 0.1)
    events = pair.events(pair.client)
    assert events == [
        TransportFailed(transaction, pair.server_address),
        TransactionTerminated(transaction),
    ]
    assert other.state is S.TRYING  # another destination: untouched
    assert pair.client.counters.transport_errors["client_invite"] == 1


def test_transport_error_in_proceeding_is_absorbed() -> None:
    pair = TransactionPair("tcp")
    transaction = _start(pair)
    _answer(pair, 100)
    pair.transfer()
    pair.events(pair.client)
    pair.client.transport_error(pair.server_address, 1.0)
    assert transaction.state is S.PROCEEDING
    assert pair.events(pair.client) == []


def test_non_invite_e_doubles_up_to_t2_and_f_times_out() -> None:
    pair = TransactionPair()
    transaction = _start(pair, "REGISTER")
    pair.drop()
    # §17.1.2.2: E = T1, 2T1, 4T1, then T2 (4 s) until F = 64*T1.
    times = _retransmission_times(pair, until=100)
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert pair.events(pair.client) == [
        TransactionTimedOut(transaction),
        TransactionTerminated(transaction),
    ]
    assert pair.client.counters.retransmissions["client_non_invite"] == 10


def test_non_invite_in_proceeding_retransmits_every_t2() -> None:
    pair = TransactionPair()
    transaction = _start(pair, "BYE")
    _answer(pair, 100)
    pair.transfer()  # the 100 arrives at t=0: Proceeding
    assert transaction.state is S.PROCEEDING
    pair.events(pair.client)
    times = _retransmission_times(pair, until=20)
    # E was armed for T1 in Trying; once it fires in Proceeding it is reset to T2.
    assert times == [0.5, 4.5, 8.5, 12.5, 16.5]


def test_non_invite_final_completes_and_absorbs_retransmissions_until_k() -> None:
    pair = TransactionPair()
    transaction = _start(pair, "OPTIONS")
    _answer(pair, 200)
    final = pair.server.messages_to_send()[0]
    pair.client.receive(parse_message(final.data), pair.server_address, 0.0)
    assert transaction.state is S.COMPLETED
    pair.client.receive(parse_message(final.data), pair.server_address, 1.0)
    events = pair.events(pair.client)
    assert [type(e) for e in events] == [ResponseReceived]
    assert pair.client.next_deadline() == 5.0  # K = T4
    pair.advance_to(5.0)
    assert transaction.state is S.TERMINATED
    assert pair.client.messages_to_send() == []


def test_non_invite_final_on_tcp_terminates_at_once() -> None:
    pair = TransactionPair("tcp")
    transaction = _start(pair, "OPTIONS")
    _answer(pair, 404)
    pair.transfer()
    assert transaction.state is S.TERMINATED  # K = 0 on reliable transports
    assert [type(e) for e in pair.events(pair.client)] == [ResponseReceived, TransactionTerminated]
