"""Group parsed messages into flows: by Call-ID into legs, legs of one B2BUA call
linked into one call, and the parties of each flow ordered into ladder columns."""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ._model import Flow, Leg, Party
from ._parsed import TracedMessage

__all__ = ["group_messages"]

_index_of = operator.attrgetter("index")
_LINK_SLACK = 1.0  # seconds a b-leg may start after the a-leg's final response
_DIGITS = re.compile(r"\D")


@dataclass(slots=True)
class _InviteLeg:
    """What linking needs to know about a leg that starts with an INVITE."""

    leg: Leg
    invite: TracedMessage
    start: float
    window_end: float
    called: set[str]
    calling: str | None
    server_host: str
    source_host: str


def _host(key: str) -> str:
    return key.rsplit(":", 1)[0] if ":" in key else key


def _digits_tail(user: str | None) -> str | None:
    digits = _DIGITS.sub("", user or "")
    return digits[-7:] if len(digits) >= 7 else None


def _invite_leg(leg: Leg, position: int) -> _InviteLeg | None:
    invite = leg.first_request("INVITE")
    if invite is None:
        return None
    start = invite.time if invite.time is not None else float(position)
    finals = [
        m.record.time
        for m in leg.messages
        if m.status is not None
        and m.status >= 200
        and m.cseq_method == "INVITE"
        and m.status not in (401, 407)
        and m.record.time is not None
    ]
    if finals:
        end = min(finals)
    else:
        times = [m.record.time for m in leg.messages if m.record.time is not None]
        end = max(times) if times else start
    called = {u for u in (invite.request_user, invite.to_user) if u}
    return _InviteLeg(
        leg,
        invite,
        start,
        end,
        called,
        invite.from_user,
        _host(invite.destination),
        _host(invite.source),
    )


def _names_call_id(raw: bytes, call_id: str) -> bool:
    """Whether a message carries ``call_id`` as a whole token (a correlation header)."""
    if len(call_id) < 8:
        return False  # too short to tell from a tag or a number
    pattern = rb"(?<![\w.@~-])" + re.escape(call_id.encode()) + rb"(?![\w.@~-])"
    return re.search(pattern, raw) is not None


def _link_score(a_leg: _InviteLeg, b_leg: _InviteLeg) -> int:
    """How sure we are that ``b_leg`` is the server's onward leg of ``a_leg``."""
    a_invite, b_invite = a_leg.invite, b_leg.invite
    if not a_leg.start <= b_leg.start <= a_leg.window_end + _LINK_SLACK:
        return 0
    if b_invite.source == a_invite.source or a_leg.server_host != b_leg.source_host:
        return 0  # the b-leg starts where the a-leg ended: at the server
    score = 0
    if a_leg.leg.call_id.encode() in b_invite.record.raw and _names_call_id(
        b_invite.record.raw, a_leg.leg.call_id
    ):
        score += 10  # a correlation header (X-...-Call-ID, Session-ID...) names the a-leg
    if a_leg.called & b_leg.called:
        score += 3
    elif {_digits_tail(u) for u in a_leg.called} & {_digits_tail(u) for u in b_leg.called} - {None}:
        score += 2
    if a_leg.calling and a_leg.calling == b_leg.calling:
        score += 1
    return score


_TOKEN = re.compile(rb"[\w.@~-]{8,}")


def _keys(info: _InviteLeg) -> set[str]:
    """What an a-leg and its b-leg may share: called and calling numbers."""
    keys = {f"u:{user}" for user in info.called}
    keys |= {f"d:{tail}" for user in info.called if (tail := _digits_tail(user))}
    if info.calling:
        keys.add(f"c:{info.calling}")
    return keys


class _ActiveLegs:
    """A-legs that may still get a b-leg, indexed by number and by Call-ID so that
    each new INVITE leg is scored against a few candidates, not every open call."""

    def __init__(self) -> None:
        self._by_key: dict[str, list[tuple[int, _InviteLeg]]] = {}
        self._by_call_id: dict[bytes, tuple[int, _InviteLeg]] = {}

    def add(self, position: int, info: _InviteLeg) -> None:
        for key in _keys(info):
            self._by_key.setdefault(key, []).append((position, info))
        self._by_call_id[info.leg.call_id.encode()] = (position, info)

    def candidates(self, info: _InviteLeg) -> dict[int, _InviteLeg]:
        found: dict[int, _InviteLeg] = {}
        for key in _keys(info):
            entries = self._by_key.get(key)
            if entries:
                live = [e for e in entries if e[1].window_end + _LINK_SLACK >= info.start]
                self._by_key[key] = live  # b-legs come in time order: expired stays expired
                found.update(live)
        for token in _TOKEN.findall(info.invite.record.raw):
            entry = self._by_call_id.get(token)
            if entry is not None and entry[1] is not info:
                found[entry[0]] = entry[1]
        return found


def _link_legs(legs: Sequence[Leg]) -> dict[int, int]:
    """Map a b-leg's position to its a-leg's position (time order, active window)."""
    invite_legs = [(pos, info) for pos, leg in enumerate(legs) if (info := _invite_leg(leg, pos))]
    invite_legs.sort(key=lambda item: item[1].start)
    parent: dict[int, int] = {}
    active = _ActiveLegs()
    for position, info in invite_legs:
        best: tuple[int, float, int] | None = None
        for a_position, a_info in active.candidates(info).items():
            score = _link_score(a_info, info)
            if score and (best is None or (score, a_info.start) > best[:2]):
                best = (score, a_info.start, a_position)
        if best is not None:
            parent[position] = best[2]
        active.add(position, info)
    return parent


def _root(parent: dict[int, int], position: int) -> int:
    while position in parent:
        position = parent[position]
    return position


def _ordered_keys(messages: Sequence[TracedMessage], method: str | None) -> list[str]:
    """Requester first, then each hop the request takes, then everybody else."""
    keys: list[str] = []
    for traced in messages:
        if traced.retransmission_of is not None:
            continue
        if traced.method == method:
            hop = (traced.source, traced.destination)
        elif traced.is_response and traced.cseq_method == method:
            hop = (traced.destination, traced.source)
        else:
            continue
        for key in hop:
            if key not in keys:
                keys.append(key)
    for traced in messages:
        for key in (traced.source, traced.destination):
            if key not in keys:
                keys.append(key)
    return keys


_AGENTS = (
    re.compile(rb"\n(?:user-agent)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE),
    re.compile(rb"\n(?:server)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE),
)


def _agent(raw: bytes) -> str | None:
    """The first User-Agent or Server value, read from the header block (no full parse:
    naming a column must not parse every message a server sent)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    for pattern in _AGENTS:
        match = pattern.search(head)
        if match and match.group(1).strip():
            return match.group(1).decode("utf-8", "replace").strip()
    return None


def _product(messages: Sequence[TracedMessage], key: str) -> str | None:
    for traced in messages:
        if traced.source == key and (agent := _agent(traced.record.raw)):
            token = re.split(r"[/\s(]", agent, maxsplit=1)[0]
            return token.split("-", 1)[0] or None
    return None


def _name(messages: Sequence[TracedMessage], key: str, role: str) -> str:
    if role in ("caller", "client"):
        found = next(
            (
                m.from_user
                for m in messages
                if m.from_user
                and ((m.is_request and m.source == key) or (m.is_response and m.destination == key))
            ),
            None,
        )
    elif role == "callee":
        found = next(
            (
                m.request_user or m.to_user
                for m in messages
                if m.method == "INVITE" and m.destination == key
            ),
            None,
        )
    else:
        found = _product(messages, key)
        if found is None:
            found = (
                "local" if key == "local" else "server" if role in ("server", "registrar") else None
            )
    return found or key


def _parties(kind: str, messages: Sequence[TracedMessage]) -> list[Party]:
    method = {"call": "INVITE", "registration": "REGISTER"}.get(kind)
    if method is None:
        method = next((m.transaction_method for m in messages if m.transaction_method), None)
    keys = _ordered_keys(messages, method)
    senders = {m.source for m in messages if m.method == method}
    receivers = {m.destination for m in messages if m.method == method}
    for m in messages:  # a response travels back from the request's receiver
        if m.is_response and m.cseq_method == method:
            senders.add(m.destination)
            receivers.add(m.source)
    parties: list[Party] = []
    for position, key in enumerate(keys):
        if position == 0 and key in senders:
            role = "caller" if kind == "call" else "client"
        elif key in senders and key in receivers:
            role = "server"
        elif key in receivers:
            role = (
                "callee" if kind == "call" else "registrar" if kind == "registration" else "server"
            )
        else:
            role = "party"
        parties.append(Party(key, _name(messages, key, role), role))
    names = [p.name for p in parties]
    return [
        Party(
            p.key,
            f"{p.name} ({p.key})" if names.count(p.name) > 1 and p.name != p.key else p.name,
            p.role,
        )
        for p in parties
    ]


def _attach_orphans(flows: list[Flow], orphans: Sequence[TracedMessage]) -> list[TracedMessage]:
    """Unparsed messages without a readable Call-ID join a flow between the same ends."""
    left = []
    for orphan in orphans:
        ends = {orphan.source, orphan.destination}
        host = next(
            (f for f in flows if any({m.source, m.destination} == ends for m in f.messages)),
            None,
        )
        if host is None:
            left.append(orphan)
        else:
            host.messages.append(orphan)
            host.messages.sort(key=lambda m: m.index)
    return left


def group_messages(messages: Sequence[TracedMessage]) -> list[Flow]:
    """Flows in order of their first message, numbered from 1."""
    legs_by_id: dict[str, Leg] = {}
    orphans: list[TracedMessage] = []
    for traced in messages:
        if traced.call_id is None:
            orphans.append(traced)
            continue
        leg = legs_by_id.get(traced.call_id)
        if leg is None:
            leg = legs_by_id[traced.call_id] = Leg(traced.call_id)
        leg.messages.append(traced)
    legs = list(legs_by_id.values())
    parent = _link_legs(legs)
    groups: dict[int, list[Leg]] = {}
    for position, leg in enumerate(legs):
        groups.setdefault(_root(parent, position), []).append(leg)
    flows = []
    for members in groups.values():
        if len(members) == 1:
            flow_messages = list(members[0].messages)  # appended in index order
        else:
            flow_messages = sorted((m for leg in members for m in leg.messages), key=_index_of)
        flows.append(Flow(0, members[0].kind, members, flow_messages))
    left = _attach_orphans(flows, orphans)
    if left:
        flows.append(Flow(0, "unparsed", [], list(left)))
    flows.sort(key=lambda f: f.messages[0].index)
    for number, flow in enumerate(flows, 1):
        flow.number = number
        flow.parties = _parties(flow.kind, flow.messages)
    return flows
