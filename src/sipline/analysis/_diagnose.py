"""Diagnosis lines: what went wrong in a flow, each naming the messages that show it."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator

from sipline.sip import Address

from ._model import Diagnosis, Flow
from ._parsed import TracedMessage
from ._sdp import read_sdp

__all__ = ["diagnose_flow"]

Check = Callable[[Flow, list[TracedMessage]], Iterator[Diagnosis]]
_Key = tuple[str | None, int | None, str | None]


def _key(m: TracedMessage) -> _Key:
    return (m.call_id, m.cseq, m.cseq_method if m.is_response else m.method)


def _requests_by_key(ms: list[TracedMessage]) -> dict[_Key, TracedMessage]:
    requests: dict[_Key, TracedMessage] = {}
    for m in ms:
        if m.is_request:
            requests.setdefault(_key(m), m)
    return requests


def _refs(*messages: TracedMessage) -> tuple[int, ...]:
    return tuple(sorted({m.index for m in messages}))


def _wrong_password(flow: Flow, ms: list[TracedMessage]) -> Iterator[Diagnosis]:
    requests = _requests_by_key(ms)
    for m in ms:
        if m.status != 403:
            continue
        request = requests.get(_key(m))
        if request is not None and request.has_credentials:
            yield Diagnosis(
                f"wrong password: {m.label} (#{m.index}) answers the credentials sent in "
                f"#{request.index} by {flow.name_of(request.source)}",
                _refs(request, m),
                "error",
            )
        elif request is None and (m.cseq or 0) > 1:
            yield Diagnosis(
                f"credentials refused: {m.label} (#{m.index}) to {m.cseq_method} CSeq {m.cseq}, "
                "a retry after a challenge: most likely a wrong password",
                _refs(m),
                "error",
            )


def _not_registered(flow: Flow, ms: list[TracedMessage]) -> Iterator[Diagnosis]:
    requests = _requests_by_key(ms)
    for m in ms:
        if m.status in (404, 480) and m.cseq_method in ("INVITE", "MESSAGE"):
            request = requests.get(_key(m))
            user = (request.request_user or request.to_user) if request else m.to_user
            refs = _refs(m, request) if request else _refs(m)
            yield Diagnosis(
                f"user not registered or unknown: {user or 'the callee'} -> {m.label} (#{m.index})",
                refs,
                "error",
            )


def _retransmissions(flow: Flow, ms: list[TracedMessage]) -> Iterator[Diagnosis]:
    copies: dict[int, list[TracedMessage]] = {}
    for m in flow.messages:
        if m.retransmission_of is not None:
            copies.setdefault(m.retransmission_of, []).append(m)
    by_index = {m.index: m for m in flow.messages}
    for original_index, repeats in copies.items():
        original = by_index.get(original_index)
        if original is None:
            continue
        yield Diagnosis(
            f"retransmissions: {original.label} #{original.index} from "
            f"{flow.name_of(original.source)} sent {len(repeats) + 1} times "
            f"({', '.join(f'#{r.index}' for r in repeats)}): lost packets or a slow/absent answer",
            _refs(original, *repeats),
        )


def _missing_ack(flow: Flow, ms: list[TracedMessage]) -> Iterator[Diagnosis]:
    acks = {(m.call_id, m.cseq) for m in ms if m.method == "ACK"}
    seen: set[tuple[str | None, int | None, str]] = set()
    for m in ms:
        if m.cseq_method != "INVITE" or m.status is None or m.status < 200:
            continue
        receiver = (m.call_id, m.cseq, m.destination)
        if receiver in seen:
            continue
        seen.add(receiver)
        if (m.call_id, m.cseq) not in acks:
            yield Diagnosis(
                f"missing ACK: {m.label} (#{m.index}) to {flow.name_of(m.destination)} was never "
                "acknowledged (RFC 3261 section 13.2.2.4 / 17.1.1.3)",
                _refs(m),
                "error",
            )


def _missing_final(flow: Flow, ms: list[TracedMessage]) -> Iterator[Diagnosis]:
    finals = {_key(m) for m in ms if m.status is not None and m.status >= 200}
    for request in _requests_by_key(ms).values():
        if request.method == "ACK" or _key(request) in finals:
            continue
        target = flow.name_of(request.destination)
        if request.method == "BYE":
            text = f"unanswered BYE: {target} never confirmed the BYE #{request.index}"
        else:
            text = f"missing final response: {request.method} #{request.index} to {target} got none"
        yield Diagnosis(text, _refs(request), "error")


def _challenge_loops(flow: Flow, ms: list[TracedMessage]) -> Iterator[Diagnosis]:
    requests = _requests_by_key(ms)
    for leg in flow.legs:
        challenges = [
            m for m in leg.messages if m.status in (401, 407) and m.retransmission_of is None
        ]
        answered = [c for c in challenges if (r := requests.get(_key(c))) and r.has_credentials]
        if len(challenges) > 2 or answered:
            yield Diagnosis(
                f"challenge loop: {len(challenges)} challenges in {leg.call_id}, "
                f"{len(answered)} of them to requests that already carried credentials "
                "(wrong password, realm or stale nonce)",
                _refs(*challenges, *(requests[_key(c)] for c in answered)),
                "error",
            )


def _codec_mismatch(flow: Flow, ms: list[TracedMessage]) -> Iterator[Diagnosis]:
    requests = _requests_by_key(ms)
    for m in ms:
        if m.status in (415, 488, 606):
            request = requests.get(_key(m))
            offer = ""
            if request is not None and request.message is not None:
                sdp = read_sdp(request.message.body)
                if sdp is not None:
                    offer = f": the offer in #{request.index} had {', '.join(sdp.audio_codecs) or 'no audio codec'}"
            yield Diagnosis(
                f"codec mismatch: {m.label} (#{m.index}) from {flow.name_of(m.source)}{offer}",
                _refs(m, request) if request else _refs(m),
                "error",
            )


def _is_public(host: str) -> bool | None:
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return None


def _is_private(host: str) -> bool:
    """Not routable on the Internet; 0.0.0.0 (RFC 3264 hold) does not count."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global and not address.is_unspecified


def _private_sdp(flow: Flow, ms: list[TracedMessage]) -> Iterator[Diagnosis]:
    for m in ms:
        if m.message is None or not m.message.body:
            continue
        sdp = read_sdp(m.message.body)
        ends = [e.host for e in (m.record.source, m.record.destination) if isinstance(e, Address)]
        public = [h for h in ends if _is_public(h)]
        if sdp is None or not public:
            continue
        private = [a for a in sdp.addresses if _is_private(a)]
        if private:
            yield Diagnosis(
                f"one-way audio risk: #{m.index} offers private media address {private[0]} in its "
                f"SDP across the public hop {' -> '.join(ends)} (NAT: RTP cannot reach it)",
                _refs(m),
            )


def _transport_mismatch(flow: Flow, ms: list[TracedMessage]) -> Iterator[Diagnosis]:
    if flow.kind != "call":
        return
    used: dict[str, str] = {}
    for m in ms:
        party = flow.party(m.source)
        if party is not None and party.role in ("caller", "callee") and m.transport != "?":
            used.setdefault(party.key, m.transport)
    if len(set(used.values())) > 1:
        text = ", ".join(f"{flow.name_of(k)} uses {t.upper()}" for k, t in used.items())
        firsts = [next(m for m in ms if m.source == k) for k in used]
        yield Diagnosis(f"transport mismatch between the parties: {text}", _refs(*firsts), "info")


_CHECKS: tuple[Check, ...] = (
    _wrong_password,
    _not_registered,
    _challenge_loops,
    _codec_mismatch,
    _missing_ack,
    _missing_final,
    _retransmissions,
    _private_sdp,
    _transport_mismatch,
)


def diagnose_flow(flow: Flow) -> list[Diagnosis]:
    """Every diagnosis of a flow, most serious checks first."""
    ms = [m for m in flow.messages if m.retransmission_of is None and m.message is not None]
    found = [d for check in _CHECKS for d in check(flow, ms)]
    unparsed = [m for m in flow.messages if m.message is None]
    if unparsed:
        found.append(
            Diagnosis(
                f"{len(unparsed)} message(s) do not parse: "
                + "; ".join(f"#{m.index} {m.error}" for m in unparsed[:3]),
                _refs(*unparsed),
                "error",
            )
        )
    return found
