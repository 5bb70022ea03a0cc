"""TransactionLayer: matching (§17.1.3, §17.2.3, §9.2), CANCEL, the timer heap, errors."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from transaction_pair import TransactionPair, make_test_request

from sipline.sip import (
    Address,
    LocalProtocolError,
    RemoteProtocolError,
    Request,
    make_response,
    new_branch,
    parse_message,
)
from sipline.transaction import (
    AckReceived,
    CancelReceived,
    ClientInviteTransaction,
    RequestReceived,
    ResponseReceived,
    ServerInviteTransaction,
    StrayResponseReceived,
    TransactionLayer,
    TransactionState,
    TransactionTerminated,
    make_ack_for_non_2xx,
    make_cancel,
)

S = TransactionState
SOURCE = Address("udp", "127.0.0.1", 5060)


def _invite_through(pair: TransactionPair) -> tuple[ClientInviteTransaction, RequestReceived]:
    client = pair.client.send_request(make_test_request(), pair.server_address, pair.now)
    assert isinstance(client, ClientInviteTransaction)
    pair.transfer(pair.client)
    (received,) = pair.events(pair.server)
    assert isinstance(received, RequestReceived)
    return client, received


# -- responses (§17.1.3) -------------------------------------------------------


def test_response_matches_by_branch_and_cseq_method() -> None:
    layer = TransactionLayer()
    invite = make_test_request()
    transaction = layer.send_request(invite, SOURCE, 0.0)
    same_branch_other_method = make_response(invite, 200, to_tag="t")
    same_branch_other_method.headers.set("CSeq", "1 CANCEL")
    layer.receive(same_branch_other_method, SOURCE, 0.1)
    other_branch = make_response(make_test_request(), 180)
    layer.receive(other_branch, SOURCE, 0.2)
    layer.receive(make_response(invite, 180, to_tag="t"), SOURCE, 0.3)
    events = TransactionPair.events(layer)
    assert events == [
        StrayResponseReceived(same_branch_other_method, SOURCE),
        StrayResponseReceived(other_branch, SOURCE),
        ResponseReceived(events[2].response, transaction),  # type: ignore[union-attr]
    ]
    assert transaction.state is S.PROCEEDING


def test_response_with_status_outside_100_699_is_the_peers_fault() -> None:
    layer = TransactionLayer()
    invite = make_test_request()
    layer.send_request(invite, SOURCE, 0.0)
    with pytest.raises(RemoteProtocolError):
        layer.receive(make_response(invite, 700), SOURCE, 0.1)


# -- requests (§17.2.3) --------------------------------------------------------


def test_same_branch_from_another_sent_by_is_another_transaction() -> None:
    layer = TransactionLayer()
    branch = new_branch()
    first = make_test_request(branch=branch)
    second = make_test_request(branch=branch)
    second.headers.set("Via", f"SIP/2.0/UDP 10.0.0.9:5060;branch={branch}")
    layer.receive(first, SOURCE, 0.0)
    layer.receive(second, SOURCE, 0.0)
    layer.receive(first, SOURCE, 0.1)  # a retransmission of the first
    events = TransactionPair.events(layer)
    assert [type(e) for e in events] == [RequestReceived, RequestReceived]
    assert layer.transaction_count == 2


def test_sent_by_is_compared_case_insensitively() -> None:
    layer = TransactionLayer()
    branch = new_branch()
    upper = make_test_request(branch=branch)
    upper.headers.set("Via", f"SIP/2.0/UDP EXAMPLE.com:5060;branch={branch}")
    lower = make_test_request(branch=branch)
    lower.headers.set("Via", f"SIP/2.0/UDP example.COM:5060;branch={branch}")
    layer.receive(upper, SOURCE, 0.0)
    layer.receive(lower, SOURCE, 0.1)
    assert len(TransactionPair.events(layer)) == 1


def test_cseq_method_differing_from_the_request_method_is_rejected() -> None:
    layer = TransactionLayer()
    request = make_test_request("OPTIONS")
    request.headers.set("CSeq", "1 INVITE")
    with pytest.raises(RemoteProtocolError) as caught:
        layer.receive(request, SOURCE, 0.0)
    assert caught.value.header == "CSeq"
    assert layer.transaction_count == 0


def test_request_without_via_is_the_peers_fault() -> None:
    layer = TransactionLayer()
    request = make_test_request("OPTIONS")
    request.headers.remove("Via")
    with pytest.raises(RemoteProtocolError):
        layer.receive(request, SOURCE, 0.0)


# -- CANCEL (§9) ---------------------------------------------------------------


def test_cancel_is_built_per_9_1() -> None:
    invite = make_test_request()
    invite.headers.add("Route", "<sip:proxy.example;lr>")
    cancel = make_cancel(invite, reason='SIP;cause=200;text="Call completed elsewhere"')
    assert cancel.method == "CANCEL"
    assert cancel.uri == invite.uri
    assert len(cancel.vias) == 1
    assert cancel.top_via.branch == invite.top_via.branch
    assert cancel.cseq.number == invite.cseq.number
    assert cancel.cseq.method == "CANCEL"
    assert cancel.headers.get("To") == invite.headers.get("To")
    assert cancel.headers.get("From") == invite.headers.get("From")
    assert cancel.call_id == invite.call_id
    assert cancel.headers.get_all("Route") == ["<sip:proxy.example;lr>"]
    assert cancel.headers.get("Reason") == 'SIP;cause=200;text="Call completed elsewhere"'
    with pytest.raises(LocalProtocolError):
        make_cancel(cancel)


def test_cancel_end_to_end_matches_the_invite_server_transaction() -> None:
    pair = TransactionPair()
    client, received = _invite_through(pair)
    pair.server.send_response(make_response(received.request, 180, to_tag="s"), 0.0)
    pair.transfer(pair.server)
    pair.events(pair.client)
    cancel_transaction = pair.client.cancel(client, 0.1)
    assert cancel_transaction is not None
    assert pair.client.cancel(client, 0.15) is cancel_transaction  # idempotent
    pair.transfer(pair.client)
    (cancelled,) = pair.events(pair.server)
    assert isinstance(cancelled, CancelReceived)
    assert cancelled.invite_transaction is received.transaction
    assert cancelled.transaction is not received.transaction
    # The UAS answers 200 to the CANCEL and 487 to the INVITE (§9.2).
    pair.server.send_response(make_response(cancelled.request, 200), 0.2)
    pair.server.send_response(make_response(received.request, 487, to_tag="s"), 0.2)
    pair.transfer()  # 200, 487, then the ACK of the 487 back to the server
    responses = [e for e in pair.events(pair.client) if isinstance(e, ResponseReceived)]
    assert [(r.response.status_code, r.transaction) for r in responses] == [
        (200, cancel_transaction),
        (487, client),
    ]
    assert received.transaction.state is S.CONFIRMED


def test_cancel_before_a_provisional_waits_for_it() -> None:
    pair = TransactionPair()
    client, received = _invite_through(pair)
    assert pair.client.cancel(client, 0.05, reason="SIP;cause=487") is None  # §9.1
    assert pair.client.messages_to_send() == []
    pair.server.send_response(make_response(received.request, 100), 0.1)
    pair.transfer(pair.server)
    (sent,) = pair.client.messages_to_send()
    assert isinstance(sent.message, Request)
    assert sent.message.method == "CANCEL"
    assert sent.message.headers.get("Reason") == "SIP;cause=487"
    assert pair.client.cancel(client, 0.2) is not None


def test_cancel_after_a_final_response_sends_nothing() -> None:
    pair = TransactionPair()
    client, received = _invite_through(pair)
    pair.client.cancel(client, 0.05)
    pair.server.send_response(make_response(received.request, 486, to_tag="s"), 0.1)
    pair.transfer(pair.server)
    sent = pair.client.messages_to_send()
    assert [o.message.method for o in sent] == ["ACK"]  # type: ignore[union-attr]
    assert pair.client.cancel(client, 0.2) is None


def test_only_invite_transactions_are_cancelled() -> None:
    layer = TransactionLayer()
    options = layer.send_request(make_test_request("OPTIONS"), SOURCE, 0.0)
    with pytest.raises(LocalProtocolError):
        layer.cancel(options, 0.1)


def test_cancel_matching_no_invite_says_so() -> None:
    layer = TransactionLayer()
    cancel = make_cancel(make_test_request())
    layer.receive(cancel, SOURCE, 0.0)
    (event,) = TransactionPair.events(layer)
    assert isinstance(event, CancelReceived)
    assert event.invite_transaction is None


# -- RFC 2543 peers (§17.2.3 fallback) -----------------------------------------


def _legacy_invite(via: str = "SIP/2.0/UDP 10.1.1.1:5060") -> Request:
    request = make_test_request(call_id="legacy-call")
    request.headers.set("Via", via)
    return request


def test_rfc2543_invite_retransmission_is_matched_without_a_cookie_branch() -> None:
    layer = TransactionLayer()
    invite = _legacy_invite("SIP/2.0/UDP 10.1.1.1:5060;branch=1234")
    layer.receive(invite, SOURCE, 0.0)
    layer.receive(invite, SOURCE, 0.5)
    assert len(TransactionPair.events(layer)) == 1
    other_uri = Request("INVITE", "sip:carol@127.0.0.1", invite.headers)
    layer.receive(other_uri, SOURCE, 0.6)  # Request-URI differs: not a retransmission
    assert [type(e) for e in TransactionPair.events(layer)] == [RequestReceived]


def test_rfc2543_ack_matches_by_the_to_tag_of_the_response() -> None:
    layer = TransactionLayer()
    invite = _legacy_invite()
    layer.receive(invite, SOURCE, 0.0)
    (received,) = TransactionPair.events(layer)
    final = make_response(invite, 486, to_tag="resp")
    layer.send_response(final, 0.1)  # found by Via, From tag, Call-ID and CSeq
    wrong = make_ack_for_non_2xx(invite, make_response(invite, 486, to_tag="other"))
    layer.receive(wrong, SOURCE, 0.2)
    assert TransactionPair.events(layer) == [AckReceived(wrong, SOURCE)]
    layer.receive(make_ack_for_non_2xx(invite, final), SOURCE, 0.3)
    assert received.transaction.state is S.CONFIRMED  # type: ignore[union-attr]
    assert TransactionPair.events(layer) == []


def test_rfc2543_cancel_matches_its_invite() -> None:
    layer = TransactionLayer()
    invite = _legacy_invite()
    layer.receive(invite, SOURCE, 0.0)
    (received,) = TransactionPair.events(layer)
    layer.receive(make_cancel(invite), SOURCE, 0.1)
    (cancelled,) = TransactionPair.events(layer)
    assert isinstance(cancelled, CancelReceived)
    assert cancelled.invite_transaction is received.transaction  # type: ignore[union-attr]


# -- TU misuse -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.headers.set("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=old"), "z9hG4bK"),
        (lambda r: r.headers.remove("Via"), "cannot send"),
        (lambda r: r.headers.set("CSeq", "1 BYE"), "CSeq method"),
    ],
)
def test_send_request_rejects_requests_it_cannot_track(change: object, message: str) -> None:
    request = make_test_request()
    change(request)  # type: ignore[operator]
    with pytest.raises(LocalProtocolError, match=message):
        TransactionLayer().send_request(request, SOURCE, 0.0)


def test_send_request_rejects_ack_and_duplicates() -> None:
    layer = TransactionLayer()
    invite = make_test_request()
    layer.send_request(invite, SOURCE, 0.0)
    with pytest.raises(LocalProtocolError, match="exists"):
        layer.send_request(invite, SOURCE, 0.0)
    ack = make_ack_for_non_2xx(invite, make_response(invite, 404))
    with pytest.raises(LocalProtocolError, match="send_stateless"):
        layer.send_request(ack, SOURCE, 0.0)


def test_send_stateless_queues_without_a_transaction() -> None:
    layer = TransactionLayer()
    invite = make_test_request()
    ack = make_ack_for_non_2xx(invite, make_response(invite, 404))
    layer.send_stateless(ack, SOURCE)
    (out,) = layer.messages_to_send()
    assert out.message is ack
    assert out.data == bytes(ack)
    assert out.destination == SOURCE
    assert layer.transaction_count == 0
    assert layer.counters.stateless_sent == 1


# -- the timer heap ------------------------------------------------------------


def test_one_heap_serves_thousands_of_transactions() -> None:
    layer = TransactionLayer()
    transactions = [
        layer.send_request(make_test_request("OPTIONS"), SOURCE, now=0.0) for _ in range(2000)
    ]
    layer.messages_to_send()
    assert layer.next_deadline() == 0.5  # E
    # Half of them get their final response: their E and F are cancelled lazily.
    for transaction in transactions[::2]:
        layer.receive(make_response(transaction.request, 200, to_tag="t"), SOURCE, 0.4)
    TransactionPair.events(layer)
    layer.handle_timer(0.5)
    layer.handle_timer(1.5)  # intervals run from when the timer was handled
    sent = layer.messages_to_send()
    live = {id(t.request) for t in transactions[1::2]}
    assert len(sent) == 2 * 1000  # E at 0.5 and 1.5, only for the unanswered half
    assert {id(o.message) for o in sent} == live
    assert layer.next_deadline() == 3.5
    layer.handle_timer(40.0)
    events = TransactionPair.events(layer)
    assert sum(isinstance(e, TransactionTerminated) for e in events) == 2000
    assert layer.transaction_count == 0
    assert layer.next_deadline() is None
    assert layer.counters.created["client_non_invite"] == 2000
    assert layer.counters.timeouts["client_non_invite"] == 1000


def test_handle_timer_before_any_deadline_does_nothing() -> None:
    layer = TransactionLayer()
    transaction = layer.send_request(make_test_request(), SOURCE, 0.0)
    layer.messages_to_send()
    layer.handle_timer(0.49)
    assert layer.messages_to_send() == []
    assert transaction.state is S.CALLING


def test_server_invite_transaction_type_is_exported() -> None:
    layer = TransactionLayer()
    layer.receive(make_test_request(), SOURCE, 0.0)
    (event,) = TransactionPair.events(layer)
    assert isinstance(event.transaction, ServerInviteTransaction)  # type: ignore[union-attr]


def test_cancelled_timers_do_not_pile_up_in_the_heap() -> None:
    layer = TransactionLayer()
    for _ in range(10_000):  # each answered at once: E and F cancelled, K left
        request = make_test_request("OPTIONS")
        layer.send_request(request, SOURCE, 0.0)
        layer.receive(make_response(request, 200, to_tag="t"), SOURCE, 0.0)
    assert len(layer._timers) <= 2 * 10_000 + 4096  # K per transaction, plus slack
    layer.handle_timer(5.0)
    assert layer.transaction_count == 0


# -- bad input from the network ------------------------------------------------

TORTURE = sorted((Path(__file__).resolve().parents[1] / "data" / "torture").glob("*.dat"))


@pytest.mark.parametrize("path", TORTURE, ids=[p.name for p in TORTURE])
def test_torture_messages_raise_only_remote_protocol_errors(path: Path) -> None:
    layer = TransactionLayer()
    try:
        message = parse_message(path.read_bytes())
    except RemoteProtocolError:
        return  # the parser's verdict; tested with the parser
    for now in (0.0, 0.1):  # new, then a retransmission
        with contextlib.suppress(RemoteProtocolError):
            layer.receive(message, SOURCE, now)
    layer.handle_timer(100.0)
