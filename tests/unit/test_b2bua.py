"""The B2BUA on real UDP sockets on 127.0.0.1: calls between endpoint phones."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from b2bua_world import SDP_A, SDP_B, Phone, World, wait_for, world

from sipline.b2bua import B2buaConfig, CallState
from sipline.sip import Reason, parse_reason_list


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())  # type: ignore[arg-type]


def reason_of(message_reason: str | None) -> Reason:
    assert message_reason is not None
    (reason,) = parse_reason_list(message_reason)
    return reason


async def answered_call(w: World, caller: Phone, callee: Phone) -> tuple[object, object]:
    placed = await w.call(caller, callee.name)
    assert placed.final.status_code == 200
    w.ack(caller, placed)
    await wait_for(lambda: callee.acks)
    return placed, callee


def test_answered_call_then_bye_from_the_caller(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            callee = await w.phone("1001")
            placed = await w.call(caller, "1001")
            codes = [r.status_code for r in placed.responses]
            assert codes[-2:] == [180, 200]
            ok = placed.final
            assert ok.body == SDP_B
            assert ok.headers.get("Contact", "").startswith("<sip:1001@127.0.0.1:")
            # The b-leg: own Call-ID, tags and CSeq; caller id; Max-Forwards - 1.
            (b_invite,) = callee.invites
            b = b_invite.request
            assert b.call_id != placed.invite.call_id
            assert b.from_.tag != placed.invite.from_.tag
            assert b.from_.display_name == "Alice Caller"
            assert b.headers.get("P-Asserted-Identity") == '"Alice Caller" <sip:1000@127.0.0.1>'
            assert "party=calling" in (b.headers.get("Remote-Party-ID") or "")
            assert b.max_forwards == 69
            assert b.body == SDP_A
            assert str(b.to.uri) == "sip:1001@127.0.0.1"
            assert w.server is not None
            assert f":{w.address.port}" in (b.headers.get("Contact") or "")
            w.ack(caller, placed)
            await wait_for(lambda: callee.acks)
            assert w.b2bua is not None
            (call,) = w.b2bua.calls
            assert call.state is CallState.ANSWERED
            assert placed.dialog is not None
            bye = await w.request(caller, placed.dialog, "BYE", w.address)
            assert bye.status_code == 200
            await wait_for(lambda: any(r.method == "BYE" for r in callee.requests))
            callee_bye = next(r for r in callee.requests if r.method == "BYE")
            reason = reason_of(callee_bye.headers.get("Reason"))
            assert (reason.protocol, reason.cause, reason.text) == ("Q.850", 16, "NORMAL_CLEARING")
            assert callee_bye.call_id == b.call_id
            assert not w.b2bua.calls
            (cdr,) = w.store.list_cdrs()
            assert cdr.cause == "NORMAL_CLEARING"
            assert cdr.data["hangup_side"] == "caller"
            assert cdr.data["sip_code"] == 200
            assert cdr.data["codec"] == "PCMA"
            assert cdr.data["answer_time"] is not None
            assert cdr.data["billsec"] >= 0
            assert set(cdr.call_ids) == {placed.invite.call_id, b.call_id}
            assert cdr.caller == "1000@127.0.0.1"
            assert cdr.callee == "1001@127.0.0.1"

    run(scenario)


def test_bye_from_the_callee_reaches_the_caller_with_a_reason(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            callee = await w.phone("1001")
            placed = await w.call(caller, "1001")
            w.ack(caller, placed)
            await wait_for(lambda: callee.acks)
            (dialog,) = callee.dialogs
            response = await w.request(callee, dialog, "BYE", w.address)
            assert response.status_code == 200
            await wait_for(lambda: any(r.method == "BYE" for r in caller.requests))
            bye = next(r for r in caller.requests if r.method == "BYE")
            assert bye.call_id == placed.invite.call_id
            assert bye.to.tag == placed.invite.from_.tag
            assert reason_of(bye.headers.get("Reason")).cause == 16
            (cdr,) = w.store.list_cdrs()
            assert cdr.data["hangup_side"] == "callee"

    run(scenario)


def test_busy_callee_gives_486_with_user_busy(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            await w.phone("1001", "busy")
            placed = await w.call(caller, "1001")
            assert placed.final.status_code == 486
            reason = reason_of(placed.final.headers.get("Reason"))
            assert (reason.cause, reason.text) == (17, "USER_BUSY")
            (cdr,) = w.store.list_cdrs()
            assert (cdr.cause, cdr.data["sip_code"]) == ("USER_BUSY", 486)
            assert cdr.data["billsec"] == 0

    run(scenario)


def test_no_answer_within_call_timeout_cancels_the_b_leg_and_gives_480(tmp_path: Path) -> None:
    async def scenario() -> None:
        plan = [{"match": "^1001$", "actions": ["set call_timeout=1", "bridge user/1001"]}]
        async with world(tmp_path, dialplan=plan) as w:
            caller = await w.phone("1000")
            callee = await w.phone("1001", "ring")
            placed = await w.call(caller, "1001")
            assert placed.final.status_code == 480
            reason = reason_of(placed.final.headers.get("Reason"))
            assert (reason.cause, reason.text) == (19, "NO_ANSWER")
            await wait_for(lambda: callee.invites[0].cancelled)
            (cdr,) = w.store.list_cdrs()
            assert cdr.cause == "NO_ANSWER"

    run(scenario)


def test_caller_cancel_gets_487_and_cancels_every_b_leg(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            first = await w.phone("1001", "ring")
            second = await w.phone("1001", "ring", register=False)
            w.register(second)
            placed = await w.call(caller, "1001", until=180)
            await wait_for(lambda: len(first.invites) == len(second.invites) == 1)
            placed.client.cancel()
            await w.collect(placed, 200)
            assert placed.final.status_code == 487
            assert reason_of(placed.final.headers.get("Reason")).text == "ORIGINATOR_CANCEL"
            await wait_for(lambda: first.invites[0].cancelled and second.invites[0].cancelled)
            (cdr,) = w.store.list_cdrs()
            assert (cdr.cause, cdr.data["hangup_side"]) == ("ORIGINATOR_CANCEL", "caller")

    run(scenario)


def test_local_user_not_registered_gets_480_user_not_registered(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path, users=True) as w:
            w.add_user("1002")
            caller = await w.phone("1000")
            placed = await w.call(caller, "1002")
            assert placed.final.status_code == 480
            reason = reason_of(placed.final.headers.get("Reason"))
            assert (reason.cause, reason.text) == (20, "USER_NOT_REGISTERED")

    run(scenario)


def test_unknown_number_gets_404_unallocated(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path, users=True) as w:
            caller = await w.phone("1000")
            placed = await w.call(caller, "5555")
            assert placed.final.status_code == 404
            assert reason_of(placed.final.headers.get("Reason")).cause == 1
            (cdr,) = w.store.list_cdrs()
            assert cdr.cause == "UNALLOCATED_NUMBER"

    run(scenario)


def test_parallel_ringing_first_answer_wins_and_the_other_is_cancelled(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            ringing = await w.phone("1001", "ring")
            answering = await w.phone("1001", "answer", register=False)
            w.register(answering)
            placed = await w.call(caller, "1001")
            assert placed.final.status_code == 200
            await wait_for(lambda: ringing.invites and ringing.invites[0].cancelled)
            assert ringing.invites[0].request.call_id != answering.invites[0].request.call_id
            w.ack(caller, placed)
            await wait_for(lambda: answering.acks)
            assert w.b2bua is not None
            (call,) = w.b2bua.calls
            assert call.winner is not None
            assert call.winner.call_id == answering.invites[0].request.call_id

    run(scenario)


def test_two_answers_the_second_gets_ack_and_bye(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            first = await w.phone("1001", "answer")
            second = await w.phone("1001", "answer", register=False)
            w.register(second)
            placed = await w.call(caller, "1001")
            assert placed.final.status_code == 200
            await wait_for(lambda: first.acks and second.acks)
            # One of them lost: it got ACK then BYE (answered elsewhere).
            await wait_for(lambda: any(r.method == "BYE" for r in first.requests + second.requests))
            losers = [p for p in (first, second) if any(r.method == "BYE" for r in p.requests)]
            assert len(losers) == 1
            bye = next(r for r in losers[0].requests if r.method == "BYE")
            assert reason_of(bye.headers.get("Reason")).protocol == "SIP"

    run(scenario)


def test_early_media_183_relayed_with_sdp(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            await w.phone("1001", "early")
            placed = await w.call(caller, "1001")
            early = [r for r in placed.responses if r.status_code == 183]
            assert early
            assert early[0].body == SDP_B
            assert early[0].content_type == "application/sdp"
            assert placed.final.status_code == 200

    run(scenario)


def test_hold_and_resume_reinvite_relayed_with_own_cseq_per_leg(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            callee = await w.phone("1001")
            placed = await w.call(caller, "1001")
            w.ack(caller, placed)
            await wait_for(lambda: callee.acks)
            assert placed.dialog is not None
            hold_sdp = SDP_A + b"a=sendonly\r\n"
            callee.answer_sdp = SDP_B + b"a=recvonly\r\n"
            placed.dialog.local_seq = 40  # the caller's CSeq jumps; the b-leg keeps its own
            held = await w.request(
                caller,
                placed.dialog,
                "INVITE",
                w.address,
                body=hold_sdp,
                content_type="application/sdp",
            )
            assert held.status_code == 200
            assert held.body.endswith(b"a=recvonly\r\n")
            w.ack(caller, type(placed)(placed.invite, placed.client, [held], placed.dialog))
            reinvites = [r for r in callee.requests if r.method == "INVITE" and r.to.tag]
            assert len(reinvites) == 1
            assert reinvites[0].body == hold_sdp
            first_cseq = callee.invites[0].request.cseq.number
            assert reinvites[0].cseq.number == first_cseq + 1
            callee.answer_sdp = SDP_B
            resumed = await w.request(
                caller,
                placed.dialog,
                "INVITE",
                w.address,
                body=SDP_A,
                content_type="application/sdp",
            )
            assert resumed.status_code == 200
            reinvites = [r for r in callee.requests if r.method == "INVITE" and r.to.tag]
            assert reinvites[-1].cseq.number == first_cseq + 2
            await wait_for(lambda: len(callee.acks) >= 3)

    run(scenario)


def test_info_and_message_relayed_and_lower_cseq_gets_500(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            callee = await w.phone("1001")
            placed = await w.call(caller, "1001")
            w.ack(caller, placed)
            await wait_for(lambda: callee.acks)
            dialog = placed.dialog
            assert dialog is not None
            info = await w.request(
                caller,
                dialog,
                "INFO",
                w.address,
                body=b"Signal=5\r\n",
                content_type="application/dtmf-relay",
            )
            assert info.status_code == 200
            relayed = next(r for r in callee.requests if r.method == "INFO")
            assert relayed.body == b"Signal=5\r\n"
            assert relayed.content_type == "application/dtmf-relay"
            (b_dialog,) = callee.dialogs
            message = await w.request(
                callee, b_dialog, "MESSAGE", w.address, body=b"hi", content_type="text/plain"
            )
            assert message.status_code == 200
            assert any(r.method == "MESSAGE" and r.body == b"hi" for r in caller.requests)
            dialog.local_seq = 0
            stale = await w.request(caller, dialog, "OPTIONS", w.address)
            assert stale.status_code == 500

    run(scenario)


def test_session_timer_without_refresh_tears_the_call_down(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = B2buaConfig(min_session_expires=2)
        async with world(tmp_path, config=config) as w:
            caller = await w.phone("1000")
            callee = await w.phone("1001")
            headers = (("Session-Expires", "3;refresher=uac"), ("Supported", "timer"))
            placed = await w.call(caller, "1001", headers=headers)
            assert placed.final.headers.get("Session-Expires") == "3;refresher=uac"
            assert placed.final.headers.get("Require") == "timer"
            assert callee.invites[0].request.headers.get("Session-Expires") == "3;refresher=uac"
            w.ack(caller, placed)
            await wait_for(lambda: callee.acks)
            # A refresh (re-INVITE) within the interval keeps the call.
            await asyncio.sleep(1.0)
            assert placed.dialog is not None
            refreshed = await w.request(
                caller,
                placed.dialog,
                "INVITE",
                w.address,
                body=SDP_A,
                content_type="application/sdp",
                headers=[("Session-Expires", "3;refresher=uac")],
            )
            assert refreshed.status_code == 200
            await asyncio.sleep(1.5)
            assert w.b2bua is not None
            assert w.b2bua.calls
            # Then no refresh: both sides get a BYE before the 3 s run out.
            await wait_for(lambda: any(r.method == "BYE" for r in caller.requests), 4)
            await wait_for(lambda: any(r.method == "BYE" for r in callee.requests), 2)
            bye = next(r for r in caller.requests if r.method == "BYE")
            assert reason_of(bye.headers.get("Reason")).cause == 102
            (cdr,) = w.store.list_cdrs()
            assert (cdr.cause, cdr.data["hangup_side"]) == ("RECOVERY_ON_TIMER_EXPIRE", "system")

    run(scenario)


def test_too_small_session_expires_gets_422_with_min_se(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            await w.phone("1001")
            placed = await w.call(caller, "1001", headers=(("Session-Expires", "30"),))
            assert placed.final.status_code == 422
            assert placed.final.headers.get("Min-SE") == "90"

    run(scenario)


def test_late_offer_answer_goes_from_the_callers_ack_to_the_callees(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            callee = await w.phone("1001", "late")
            placed = await w.call(caller, "1001", body=b"")
            assert placed.final.status_code == 200
            assert placed.final.body == SDP_B  # the callee's offer
            assert callee.invites[0].request.body == b""
            await asyncio.sleep(0.2)
            assert callee.acks == []  # waits for the caller's answer
            w.ack(caller, placed, body=SDP_A)
            await wait_for(lambda: callee.acks)
            assert callee.acks[0].body == SDP_A

    run(scenario)


def test_callee_488_is_relayed_with_incompatible_destination(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            caller = await w.phone("1000")
            await w.phone("1001", "reject488")
            placed = await w.call(caller, "1001")
            assert placed.final.status_code == 488
            assert reason_of(placed.final.headers.get("Reason")).cause == 88

    run(scenario)


def test_dialplan_hangup_and_sequential_groups(tmp_path: Path) -> None:
    async def scenario() -> None:
        plan = [
            {"match": "^666$", "actions": ["hangup CALL_REJECTED"]},
            {"match": "^2000$", "actions": ["bridge [leg_timeout=1]user/1001|user/1002"]},
        ]
        async with world(tmp_path, dialplan=plan) as w:
            caller = await w.phone("1000")
            first = await w.phone("1001", "ring")
            second = await w.phone("1002", "answer")
            rejected = await w.call(caller, "666")
            assert rejected.final.status_code == 603
            placed = await w.call(caller, "2000")
            assert placed.final.status_code == 200
            assert first.invites[0].cancelled
            assert len(second.invites) == 1

    run(scenario)
