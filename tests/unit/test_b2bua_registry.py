"""The B2BUA as the admin API's CallRegistry: live calls, hang-up, results."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from pathlib import Path

from b2bua_world import Phone, World, wait_for, world

from sipline.admin import CallInfo, CallRegistry
from sipline.b2bua import B2bua, Call
from sipline.sip import parse_reason_list


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())  # type: ignore[arg-type]


def b2bua_of(w: World) -> B2bua:
    assert w.b2bua is not None
    return w.b2bua


def cause_of(header: str | None) -> int | None:
    assert header is not None
    (reason,) = parse_reason_list(header)
    return reason.cause


async def answered(w: World, caller: Phone, callee: Phone) -> None:
    placed = await w.call(caller, callee.name)
    assert placed.final.status_code == 200
    w.ack(caller, placed)
    await wait_for(lambda: callee.acks)


def test_b2bua_is_a_call_registry(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            assert isinstance(w.b2bua, CallRegistry)
            assert b2bua_of(w).active_calls() == []
            assert b2bua_of(w).results() == {}
            assert not b2bua_of(w).hangup("no-such-call")

    run(scenario)


def test_active_call_shows_both_legs_then_admin_hangup_byes_both(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            callee = await w.phone("1001")
            placed = await w.call(caller, "1001")
            w.ack(caller, placed)
            await wait_for(lambda: callee.acks)
            b2bua = b2bua_of(w)
            (info,) = b2bua.active_calls()
            assert isinstance(info, CallInfo)
            assert info.id == placed.invite.call_id
            assert (info.caller, info.callee, info.state) == (
                "1000@127.0.0.1",
                "1001@127.0.0.1",
                "answered",
            )
            assert info.answered_at is not None
            assert info.answered_at >= info.started_at
            a_leg, b_leg = info.legs
            assert (a_leg.side, a_leg.state, a_leg.codec) == ("caller", "confirmed", "PCMA")
            assert a_leg.peer == f"udp:127.0.0.1:{caller.port}"
            assert a_leg.remote_tag == placed.invite.from_.tag
            (b_invite,) = callee.invites
            assert (b_leg.side, b_leg.state, b_leg.call_id) == (
                "callee",
                "confirmed",
                b_invite.request.call_id,
            )
            assert b_leg.peer == f"udp:127.0.0.1:{callee.port}"
            assert b_leg.local_tag == b_invite.request.from_.tag
            assert b_leg.remote_tag == b_invite.to_tag
            assert info.call_ids == (placed.invite.call_id, b_invite.request.call_id)
            assert b2bua.active_calls() == [info]  # (kept while the call is answered)

            assert b2bua.hangup(info.id)
            await wait_for(lambda: any(r.method == "BYE" for r in caller.requests))
            await wait_for(lambda: any(r.method == "BYE" for r in callee.requests))
            for phone in (caller, callee):
                bye = next(r for r in phone.requests if r.method == "BYE")
                assert cause_of(bye.headers.get("Reason")) == 16
            assert b2bua.active_calls() == []
            assert not b2bua.hangup(info.id)
            assert b2bua.results() == {"answered": 1}
            (cdr,) = w.store.list_cdrs()
            assert cdr.data["hangup_side"] == "system"

    run(scenario)


def test_admin_hangup_of_a_ringing_call_cancels_the_b_leg_with_a_reason(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            callee = await w.phone("1001", "ring")
            placed = await w.call(caller, "1001", until=180)
            b2bua = b2bua_of(w)
            (info,) = b2bua.active_calls()
            assert info.state == "ringing"
            assert info.answered_at is None
            assert [leg.state for leg in info.legs] == ["early", "early"]
            assert b2bua.hangup(placed.invite.call_id)
            await w.collect(placed, 200)
            assert placed.final.status_code == 480
            assert cause_of(placed.final.headers.get("Reason")) == 16
            await wait_for(lambda: callee.invites[0].cancelled)
            assert b2bua.active_calls() == []
            assert b2bua.results() == {"failed": 1}

    run(scenario)


def test_results_count_each_way_a_call_ends(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            await w.phone("1001", "busy")
            ringing = await w.phone("1002", "ring")
            answering = await w.phone("1003")
            assert (await w.call(caller, "1001")).final.status_code == 486
            assert (await w.call(caller, "1404")).final.status_code == 404
            placed = await w.call(caller, "1002", until=180)
            await wait_for(lambda: ringing.invites)
            placed.client.cancel()
            await w.collect(placed, 200)
            assert placed.final.status_code == 487
            await answered(w, caller, answering)
            results = b2bua_of(w).results()
            assert results == {"busy": 1, "failed": 1, "cancelled": 1}
            assert len(b2bua_of(w).active_calls()) == 1

    run(scenario)


def test_no_answer_is_counted(tmp_path: Path) -> None:
    async def scenario() -> None:
        plan = [{"match": "^1001$", "actions": ["set call_timeout=1", "bridge user/1001"]}]
        async with world(tmp_path, dialplan=plan) as w:
            caller = await w.phone("1000")
            await w.phone("1001", "ring")
            assert (await w.call(caller, "1001")).final.status_code == 480
            assert b2bua_of(w).results() == {"no_answer": 1}

    run(scenario)


def test_ended_calls_leave_nothing_behind(tmp_path: Path) -> None:
    """Calls, dialogs, tasks and the endpoint's transactions all go once calls end and
    the transaction timers (64*T1 at most, T1 = 50 ms here) have run out."""

    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            callee = await w.phone("1001")
            await w.phone("1002", "busy")
            for _ in range(10):
                placed = await w.call(caller, "1001")
                w.ack(caller, placed)
                assert placed.dialog is not None
                bye = await w.request(caller, placed.dialog, "BYE", w.address)
                assert bye.status_code == 200
                assert (await w.call(caller, "1002")).final.status_code == 486
            b2bua = b2bua_of(w)
            assert b2bua.results() == {"answered": 10, "busy": 10}
            assert not b2bua.calls
            assert not b2bua.dialogs
            assert b2bua.active_calls() == []
            server = w.server
            assert server is not None
            layer = server.transactions
            await wait_for(
                lambda: not layer._clients and not layer._servers and not b2bua._tasks,
                within=10.0,
            )
            await wait_for(lambda: not server._clients and not server._incoming, within=5.0)
            assert not server._unacked
            assert len(callee.invites) == 10

    run(scenario)


def test_an_ended_call_is_freed_while_its_transactions_linger(tmp_path: Path) -> None:
    """The endpoint keeps a call's transactions for 64*T1 after the 2xx (RFC 6026); the
    call itself must not ride along (at 300 calls/s that retention was 300 MB)."""

    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            callee = await w.phone("1001")
            placed = await w.call(caller, "1001")
            w.ack(caller, placed)
            await wait_for(lambda: callee.acks)
            assert len(b2bua_of(w).calls) == 1
            assert placed.dialog is not None
            bye = await w.request(caller, placed.dialog, "BYE", w.address)
            assert bye.status_code == 200
            await wait_for(lambda: not b2bua_of(w).calls)
            await wait_for(lambda: not b2bua_of(w)._tasks)
            assert w.server is not None
            assert w.server.transactions._clients  # the b-leg's INVITE, in Accepted
            gc.collect()
            assert not [o for o in gc.get_objects() if isinstance(o, Call)]

    run(scenario)
