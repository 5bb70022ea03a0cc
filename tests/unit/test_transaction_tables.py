"""The four transition tables: static checks, random input sequences, diagrams (convention 3)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transaction_pair import make_test_request

from sipline.sip import Address, LocalProtocolError, Message, make_response
from sipline.transaction import (
    MACHINES,
    Action,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteTransaction,
    Transaction,
    TransactionInput,
    TransactionLayer,
    TransactionState,
    TransactionTerminated,
    make_ack_for_non_2xx,
)

S = TransactionState
In = TransactionInput
CLIENTS = (ClientInviteTransaction, ClientNonInviteTransaction)
STATUS_FOR = {
    In.RESPONSE_1XX: 180,
    In.RESPONSE_2XX: 200,
    In.RESPONSE_300_699: 486,
    In.SEND_1XX: 180,
    In.SEND_2XX: 200,
    In.SEND_300_699: 486,
}
ZERO_ON_RELIABLE = {In.TIMER_D, In.TIMER_I, In.TIMER_J, In.TIMER_K}


def _started_timers(actions: tuple[Action, ...]) -> set[TransactionInput]:
    return {In["TIMER_" + a.name[-1]] for a in actions if a.name.startswith("START_TIMER_")}


def _reachable(machine: type[Transaction]) -> set[TransactionState]:
    seen = {machine.INITIAL[1]}
    frontier = [machine.INITIAL[1]]
    while frontier:
        state = frontier.pop()
        for (origin, _), (_, target) in machine.TABLE.items():
            if origin is state and target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


def _network_inputs(machine: type[Transaction]) -> set[TransactionInput]:
    if machine in CLIENTS:
        return {In.RESPONSE_1XX, In.RESPONSE_2XX, In.RESPONSE_300_699}
    if machine is ServerInviteTransaction:
        return {In.REQUEST_RETRANSMISSION, In.ACK}
    return {In.REQUEST_RETRANSMISSION}


# -- static checks -------------------------------------------------------------


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.__name__)
def test_timers_fire_only_in_states_that_keep_them(machine: type[Transaction]) -> None:
    for (state, event), (actions, target) in machine.TABLE.items():
        assert _started_timers(actions) <= machine.TIMERS.get(target, frozenset()), (state, event)
        if event.name.startswith("TIMER_"):
            assert event in machine.TIMERS.get(state, frozenset()), (state, event)
    initial_timers = machine.TIMERS.get(machine.INITIAL[1], frozenset())
    assert _started_timers(machine.INITIAL[0]) <= initial_timers


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.__name__)
def test_every_state_is_reachable_and_can_end(machine: type[Transaction]) -> None:
    states = _reachable(machine)
    assert S.TERMINATED in states
    for state in states - {S.TERMINATED}:
        assert any(  # a timer or an error always leads out of a live state
            origin is state and target is not state
            for (origin, _), (_, target) in machine.TABLE.items()
        ), state


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.__name__)
def test_network_input_and_transport_errors_never_raise(machine: type[Transaction]) -> None:
    # Whatever the peer sends, and any transport error, is in the table of every live
    # state: only TU misuse can hit a missing pair.
    for state in _reachable(machine) - {S.TERMINATED}:
        for event in _network_inputs(machine) | {In.TRANSPORT_ERROR}:
            assert (state, event) in machine.TABLE, (state, event)


def test_terminated_accepts_nothing() -> None:
    for machine in MACHINES:
        assert not [key for key in machine.TABLE if key[0] is S.TERMINATED]


# -- random sequences over each table ------------------------------------------


def _new(machine: type[Transaction], transport: str) -> tuple[TransactionLayer, Transaction]:
    layer = TransactionLayer()
    peer = Address(transport, "127.0.0.1", 5070)
    invite = machine in (ClientInviteTransaction, ServerInviteTransaction)
    request = make_test_request("INVITE" if invite else "OPTIONS", transport=transport)
    if machine in CLIENTS:
        transaction: Transaction = layer.send_request(request, peer, 0.0)
    else:
        layer.receive(request, peer, 0.0)
        event = layer.next_event()
        transaction = event.transaction  # type: ignore[union-attr,assignment]
    assert type(transaction) is machine
    return layer, transaction


def _message(transaction: Transaction, event: TransactionInput) -> Message | None:
    request = transaction.request
    if event in STATUS_FOR:
        return make_response(request, STATUS_FOR[event], to_tag="t")
    if event is In.REQUEST_RETRANSMISSION:
        return request
    if event is In.ACK and request.method == "INVITE":
        return make_ack_for_non_2xx(request, make_response(request, 486, to_tag="t"))
    return None


def _allowed_after(
    machine: type[Transaction],
    transition: tuple[tuple[Action, ...], TransactionState],
    reliable: bool,
) -> set[TransactionState]:
    actions, target = transition
    allowed = {target}
    if reliable and _started_timers(actions) & ZERO_ON_RELIABLE:
        allowed.add(S.TERMINATED)  # D/I/J/K are zero: fired at once
    return allowed


def _feed(transaction: Transaction, event: TransactionInput, now: float) -> None:
    """Feed one input; check it moved by the table, or raised and terminated."""
    machine = type(transaction)
    transition = machine.TABLE.get((transaction.state, event))
    message = _message(transaction, event)
    if transition is None:
        with pytest.raises(LocalProtocolError):
            transaction.process_input(event, now, message)
        assert transaction.state is S.TERMINATED
    else:
        transaction.process_input(event, now, message)
        assert transaction.state in _allowed_after(machine, transition, transaction.reliable)
    running = {t for t in TransactionInput if transaction.deadline(t) is not None}
    assert running <= machine.TIMERS.get(transaction.state, frozenset())


def _check_layer_forgot_or_kept(layer: TransactionLayer, transaction: Transaction) -> None:
    terminated = []
    while (reported := layer.next_event()) is not None:
        if isinstance(reported, TransactionTerminated):
            terminated.append(reported.transaction)
    if transaction.state is S.TERMINATED:
        assert terminated == [transaction]  # reported once, forgotten by the layer
        assert layer.transaction_count == 0
        assert layer.next_deadline() is None
    else:
        assert terminated == []
        assert layer.transaction_count == 1


@settings(max_examples=400, deadline=None)
@given(
    machine=st.sampled_from(MACHINES),
    transport=st.sampled_from(["udp", "tcp"]),
    data=st.data(),
)
def test_random_inputs_follow_the_table_or_raise_and_terminate(
    machine: type[Transaction], transport: str, data: st.DataObject
) -> None:
    layer, transaction = _new(machine, transport)
    for step in range(1, data.draw(st.integers(0, 12), label="steps") + 1):
        valid = [event for (state, event) in machine.TABLE if state is transaction.state]
        # Half the draws stay on the table, so the deep states are reached too.
        choices = st.sampled_from(list(TransactionInput))
        if valid:
            choices = st.one_of(st.sampled_from(valid), choices)
        _feed(transaction, data.draw(choices, label=f"input {step}"), float(step))
    _check_layer_forgot_or_kept(layer, transaction)


def _path_to(machine: type[Transaction], goal: TransactionState) -> list[TransactionInput]:
    """The shortest input sequence from the initial state to ``goal`` (UDP)."""
    paths = {machine.INITIAL[1]: list[TransactionInput]()}
    frontier = [machine.INITIAL[1]]
    while frontier and goal not in paths:
        state = frontier.pop(0)
        for (origin, event), (_, target) in machine.TABLE.items():
            if origin is state and target not in paths:
                paths[target] = [*paths[state], event]
                frontier.append(target)
    return paths[goal]


EVERY_PAIR = [
    (machine, state, event)
    for machine in MACHINES
    for state in sorted(_reachable(machine), key=lambda s: s.name)
    for event in TransactionInput
]


@pytest.mark.parametrize(
    ("machine", "state", "event"),
    EVERY_PAIR,
    ids=[f"{m.__name__}-{s.name}-{e.name}" for m, s, e in EVERY_PAIR],
)
def test_every_state_input_pair(
    machine: type[Transaction], state: TransactionState, event: TransactionInput
) -> None:
    layer, transaction = _new(machine, "udp")
    for step, move in enumerate(_path_to(machine, state), start=1):
        transaction.process_input(move, float(step), _message(transaction, move))
    assert transaction.state is state
    _feed(transaction, event, 100.0)
    _check_layer_forgot_or_kept(layer, transaction)


# -- diagrams ------------------------------------------------------------------


def _load_script() -> object:
    path = Path(__file__).resolve().parents[2] / "scripts" / "state_diagrams.py"
    spec = importlib.util.spec_from_file_location("state_diagrams", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.__name__)
def test_diagram_has_one_edge_per_table_entry(machine: type[Transaction]) -> None:
    dot = _load_script().to_dot(machine)  # type: ignore[attr-defined]
    assert dot.startswith(f"digraph {machine.__name__} {{")
    assert dot.count(" -> ") == len(machine.TABLE) + 1  # plus the start arrow
    for state in _reachable(machine):
        assert f"  {state.name} [label=" in dot


def test_diagram_script_writes_one_file_per_machine(tmp_path: Path) -> None:
    assert _load_script().main(["-o", str(tmp_path)]) == 0  # type: ignore[attr-defined]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{m.__name__}.dot" for m in MACHINES
    )
