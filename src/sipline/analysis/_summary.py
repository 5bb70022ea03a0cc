"""One line per message on what it does in this call (the ladder's right-hand text)."""

from __future__ import annotations

from sipline.explain import METHODS, STATUS_MEANINGS
from sipline.sip import Message, SipParseError

from ._model import Flow
from ._parsed import TracedMessage
from ._phases import hangup_cause
from ._sdp import read_sdp

__all__ = ["summarise_flow"]


def _codecs(message: Message | None) -> str:
    if message is None:
        return ""
    if not message.body:
        sdp_type = message.content_type == "application/sdp"
        return (
            "SDP left out of the capture"
            if sdp_type and message.headers.get("content-length")
            else ""
        )
    sdp = read_sdp(message.body)
    if sdp is None:
        return ""
    codecs = sdp.audio_codecs
    if not codecs:
        return "SDP without audio codecs"
    return "SDP " + ", ".join(dict.fromkeys(codecs[:4]))


def _with(text: str, extra: str) -> str:
    return f"{text} ({extra})" if extra else text


def _realm(message: Message | None) -> str:
    if message is None:
        return ""
    value = (
        message.headers.get("www-authenticate") or message.headers.get("proxy-authenticate") or ""
    )
    start = value.find('realm="')
    return f'realm "{value[start + 7 : value.find(chr(34), start + 7)]}"' if start >= 0 else ""


def _expires(message: Message | None) -> int | None:
    if message is None:
        return None
    try:
        contact_expires = next((c.expires for c in message.contacts if c.expires is not None), None)
        return contact_expires if contact_expires is not None else message.expires
    except SipParseError:
        return None


class _Summariser:
    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.finals: dict[tuple[str | None, int | None], int] = {}
        for m in flow.messages:
            if m.status is not None and m.status >= 200 and m.cseq_method == "INVITE":
                self.finals.setdefault((m.call_id, m.cseq), m.status)

    def name(self, key: str) -> str:
        return self.flow.name_of(key)

    def role(self, key: str) -> str:
        party = self.flow.party(key)
        return party.role if party is not None else "party"

    def request(self, m: TracedMessage) -> str:
        src, dst = self.name(m.source), self.name(m.destination)
        method = m.method or "?"
        if method == "INVITE":
            return self.invite(m, src, dst)
        if method == "ACK":
            final = self.finals.get((m.call_id, m.cseq))
            if final is not None and final >= 300:
                return f"{src} acknowledges the {final}: that INVITE transaction is over"
            return f"{src} confirms the answer: the call is up"
        if method == "BYE":
            return _with(f"{src} hangs up", hangup_cause(m) or "")
        if method == "CANCEL":
            return f"{src} gives up on the unanswered call"
        if method == "REGISTER":
            return self.register(m, src)
        if method == "OPTIONS":
            return f"{src} pings {dst} (keep-alive / capability query)"
        return f"{src} -> {dst}: {method} {METHODS.get(method, 'request')}"

    def invite(self, m: TracedMessage, src: str, dst: str) -> str:
        codecs = _codecs(m.message)
        if m.to_tag:
            return _with(f"{src} re-INVITEs {dst}: hold, codec change or session refresh", codecs)
        target = m.request_user or m.to_user or dst
        if m.has_credentials:
            return _with(f"{src} calls {target} again, now with credentials", codecs)
        if self.role(m.source) == "server":
            where = f" at {dst}" if dst != target else ""
            return _with(f"{src} places the onward leg to {target}{where}", codecs)
        via = f" via {dst}" if dst != target else ""
        return _with(f"{src} calls {target}{via}", codecs)

    def register(self, m: TracedMessage, src: str) -> str:
        expires = _expires(m.message)
        if expires == 0:
            return f"{src} unregisters"
        extra = f"for {expires} s" if expires is not None else ""
        if m.has_credentials:
            return _with(f"{src} registers again, with credentials", extra)
        return _with(f"{src} registers its address", extra)

    def response(self, m: TracedMessage) -> str:
        src, dst = self.name(m.source), self.name(m.destination)
        status = m.status or 0
        method = m.cseq_method or "request"
        if status == 100:
            return f"{src} has the {method} and works on it (no more retransmissions)"
        if status in (401, 407):
            return _with(f"{src} challenges {dst}: credentials needed", _realm(m.message))
        if 180 <= status < 200:
            relayed = " (relayed)" if self.role(m.source) == "server" else ""
            codecs = _codecs(m.message)
            if codecs:
                return f"early media to {dst}{relayed}: ringback or announcement ({codecs})"
            return f"{src}: ringing{relayed}"
        if 200 <= status < 300:
            return self.success(m, src, dst, method)
        if status == 403:
            return f"{src} refuses the {method}: wrong password, or not allowed"
        if status in (404, 480):
            return f"{src}: {dst}'s target is unknown or not registered ({status})"
        meaning = STATUS_MEANINGS.get(status, m.reason or "")
        return f"{src} rejects the {method}: {meaning}"

    def success(self, m: TracedMessage, src: str, dst: str, method: str) -> str:
        if method == "INVITE":
            if m.to_tag and self.role(m.source) == "server":
                return _with(f"the answer is passed on to {dst}", _codecs(m.message))
            return _with(f"{src} answers", _codecs(m.message))
        if method == "BYE":
            return f"{src} confirms the hang-up"
        if method == "REGISTER":
            expires = _expires(m.message)
            return _with(f"{src} accepts the registration", f"for {expires} s" if expires else "")
        return f"{src} accepts the {method}"

    def summary(self, m: TracedMessage) -> str:
        if m.message is None:
            return f"does not parse: {m.error}"
        text = self.request(m) if m.is_request else self.response(m)
        if m.retransmission_of is not None:
            text = f"retransmission of #{m.retransmission_of}: {text}"
        return text


def summarise_flow(flow: Flow) -> dict[int, str]:
    """Message index -> one-line summary."""
    summariser = _Summariser(flow)
    return {m.index: summariser.summary(m) for m in flow.messages}
