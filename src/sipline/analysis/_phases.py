"""Name the phases of a flow: registration (challenge, authorised, result) and call
(challenge, setup, ringing / early media, answer, talk, hang-up or failure).

Phases follow each other without overlap; each names its first and last message.
"""

from __future__ import annotations

from collections.abc import Sequence

from sipline.sip import SipParseError

from ._model import Flow, Phase
from ._parsed import TracedMessage

__all__ = ["find_phases", "hangup_cause"]


def _is_final_invite_response(m: TracedMessage, statuses: range) -> bool:
    return m.cseq_method == "INVITE" and m.status is not None and m.status in statuses


def _has_sdp(m: TracedMessage) -> bool:
    """An SDP body, or one the capture left out but Content-Type announces."""
    if m.message is None:
        return False
    return b"v=0" in m.message.body[:64] or m.message.content_type == "application/sdp"


def hangup_cause(m: TracedMessage) -> str | None:
    """The Reason header (RFC 3326) of a BYE/CANCEL, as ``NORMAL_CLEARING (Q.850 16)``."""
    if m.message is None:
        return None
    reason = m.message.headers.get("reason")
    if not reason:
        return None
    protocol = reason.split(";", 1)[0].strip()
    params = {}
    for part in reason.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        params[name.lower()] = value
    text = params.get("text", "").strip('"')
    cause = params.get("cause", "")
    if text and cause:
        return f"{text} ({protocol} {cause})"
    return text or f"{protocol} cause {cause}".strip()


def _duration(start: TracedMessage, end: TracedMessage) -> str:
    if start.time is None or end.time is None:
        return ""
    return f"{end.time - start.time:.1f} s"


def _phase(name: str, items: Sequence[TracedMessage], detail: str = "") -> Phase:
    return Phase(name, items[0].index, items[-1].index, detail)


def _call_phases(flow: Flow, ms: list[TracedMessage]) -> list[Phase]:
    first_invite = next((i for i, m in enumerate(ms) if m.method == "INVITE"), None)
    if first_invite is None:
        return []
    phases: list[Phase] = []
    position = first_invite
    challenges = [
        i
        for i, m in enumerate(ms)
        if _is_final_invite_response(m, range(401, 408)) and m.status in (401, 407)
    ]
    if challenges:
        retry = next(
            (
                i
                for i, m in enumerate(ms)
                if i > challenges[0] and m.method == "INVITE" and m.has_credentials
            ),
            None,
        )
        end = retry if retry is not None else max(challenges) + 1
        end = max(end, position + 1)
        status = ms[challenges[0]].status
        phases.append(_phase("challenge", ms[position:end], f"auth challenge ({status})"))
        position = end
    ringing = next(
        (i for i, m in enumerate(ms) if _is_final_invite_response(m, range(180, 200))), None
    )
    answer = next(
        (i for i, m in enumerate(ms) if _is_final_invite_response(m, range(200, 300))), None
    )
    failure = next(
        (
            i
            for i, m in enumerate(ms)
            if _is_final_invite_response(m, range(300, 700))
            and m.status not in (401, 407)
            and i >= position
        ),
        None,
    )
    hangup = next(
        (i for i, m in enumerate(ms) if m.method in ("BYE", "CANCEL") and i >= position), None
    )
    stops = [i for i in (ringing, answer, failure, hangup) if i is not None and i >= position]
    setup_end = min(stops) if stops else len(ms)
    if setup_end > position:
        phases.append(
            _phase(
                "setup", ms[position:setup_end], f"{flow.name_of(ms[first_invite].source)} calls"
            )
        )
        position = setup_end
    if ringing is not None and ringing >= position:
        end = min(
            [i for i in (answer, failure, hangup) if i is not None and i > ringing] or [len(ms)]
        )
        phases.append(_ringing_phase(flow, ms[ringing:end]))
        position = end
    if answer is not None and answer >= position:
        phases.extend(_answered(flow, ms, answer, hangup))
    elif failure is not None and failure >= position:
        end = hangup if hangup is not None and hangup > failure else len(ms)
        failed = ms[failure]
        phases.append(
            _phase("failed", ms[failure:end], f"{failed.label} from {flow.name_of(failed.source)}")
        )
        position = end
    if answer is None and hangup is not None and hangup >= position:
        phases.append(_hangup_phase(flow, ms[hangup:]))
    return phases


def _ringing_phase(flow: Flow, items: list[TracedMessage]) -> Phase:
    provisional = [m for m in items if m.status is not None and m.status < 200]
    early = any(_has_sdp(m) for m in provisional)
    rings = any(m.status in (180, 181, 182) and not _has_sdp(m) for m in provisional)
    name = "ringing / early media" if early and rings else "early media" if early else "ringing"
    ringer = next((m for m in provisional if m.status == 180), items[0])
    detail = f"{flow.name_of(ringer.source)} rings" if rings or not early else ""
    if early:
        detail = f"{detail}; ringback or announcement in the 18x SDP".lstrip("; ")
    return _phase(name, items, detail)


def _answered(flow: Flow, ms: list[TracedMessage], answer: int, hangup: int | None) -> list[Phase]:
    stop = hangup if hangup is not None and hangup > answer else len(ms)
    acks = [i for i in range(answer, stop) if ms[i].method == "ACK"]
    answer_end = (acks[-1] if acks else answer) + 1
    # the answer goes on while 2xx/ACK pairs of the other legs are still coming
    while answer_end < stop and (
        ms[answer_end].method == "ACK" or _is_final_invite_response(ms[answer_end], range(200, 300))
    ):
        answer_end += 1
    phases = [
        _phase("answer", ms[answer:answer_end], f"answered by {flow.name_of(ms[answer].source)}")
    ]
    talk_items = ms[answer_end:stop]
    end_message = ms[stop] if stop < len(ms) else ms[-1]
    detail = _duration(ms[answer], end_message)
    if stop >= len(ms):
        detail = f"{detail} until the end of the capture".strip()
    if talk_items:
        phases.append(_phase("talk", talk_items, detail))
    elif stop < len(ms):
        phases.append(Phase("talk", ms[answer_end - 1].index, ms[stop].index, detail, between=True))
    if stop < len(ms):
        phases.append(_hangup_phase(flow, ms[stop:]))
    return phases


def _hangup_phase(flow: Flow, items: list[TracedMessage]) -> Phase:
    first = items[0]
    who = flow.party(first.source)
    side = f"{who.name} ({who.role})" if who is not None else first.source
    causes = [c for c in (hangup_cause(m) for m in items if m.method in ("BYE", "CANCEL")) if c]
    verb = "cancelled" if first.method == "CANCEL" else "hung up"
    detail = f"{verb} by {side}" + (f", cause {causes[0]}" if causes else "")
    return _phase("hang-up", items, detail)


def _registered_for(m: TracedMessage) -> str:
    if m.message is None:
        return ""
    try:
        contacts = m.message.contacts
        expires = next((c.expires for c in contacts if c.expires is not None), None)
        if expires is None:
            expires = m.message.expires
    except SipParseError:
        return ""
    if expires == 0 or not contacts:
        return "unregistered" if expires == 0 else "bindings listed"
    return f"registered for {expires} s" if expires is not None else "registered"


def _registration_phases(ms: list[TracedMessage]) -> list[Phase]:
    phases: list[Phase] = []
    transactions: dict[int | None, list[TracedMessage]] = {}
    for m in ms:
        if m.cseq_method in (None, "REGISTER"):
            transactions.setdefault(m.cseq, []).append(m)
    for items in transactions.values():
        finals = [m for m in items if m.status is not None and m.status >= 200]
        request = next((m for m in items if m.method == "REGISTER"), None)
        final = finals[0] if finals else None
        if final is not None and final.status in (401, 407):
            phases.append(_phase("challenge", items, f"{final.label}"))
            continue
        before = [m for m in items if final is None or m.index < final.index]
        if request is not None and before:
            phases.append(_phase("authorised" if request.has_credentials else "request", before))
        if final is not None:
            assert final.status is not None
            detail = _registered_for(final) if final.status < 300 else f"refused: {final.label}"
            phases.append(_phase("result", [m for m in items if m.index >= final.index], detail))
    return phases


def find_phases(flow: Flow) -> list[Phase]:
    """The phases of a flow (empty for kinds that have none)."""
    ms = [m for m in flow.messages if m.retransmission_of is None]
    if not ms:
        return []
    if flow.kind == "call":
        return _call_phases(flow, ms)
    if flow.kind == "registration":
        return _registration_phases(ms)
    return []
