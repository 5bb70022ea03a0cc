"""The call detail record of a finished call (written through ``sipline.store.CdrStore``)."""

from __future__ import annotations

import re
from typing import Any

from sipline.b2bua._call import Call
from sipline.store import CdrRecord

__all__ = ["call_record", "codec_of"]

_STATIC_PAYLOADS = {"0": "PCMU", "3": "GSM", "4": "G723", "8": "PCMA", "9": "G722", "18": "G729"}
_MEDIA_LINE = re.compile(rb"^m=audio \d+ [^ ]+ ([^ \r\n]+)", re.M)


def codec_of(sdp: bytes) -> str | None:
    """The first audio codec of an SDP answer (``PCMU``...), when it names one."""
    found = _MEDIA_LINE.search(sdp)
    if found is None:
        return None
    payload = found.group(1).decode("ascii", "replace")
    rtpmap = re.search(rb"^a=rtpmap:" + re.escape(found.group(1)) + rb" ([^/\r\n]+)", sdp, re.M)
    if rtpmap is not None:
        return rtpmap.group(1).decode("ascii", "replace")
    return _STATIC_PAYLOADS.get(payload)


def call_record(
    call: Call, *, codec: str | None = None, media: dict[str, object] | None = None
) -> CdrRecord:
    """One record per call: parties, legs, times, billable seconds, cause, who hung up,
    and ``media``: the relay's per-stream, per-leg RTP statistics when it kept any."""
    ended = call.ended_at if call.ended_at is not None else call.started_at
    answered = call.answered_at
    cause = call.cause
    legs: list[dict[str, Any]] = [
        {
            "call_id": leg.call_id,
            "target": str(leg.target),
            "uri": leg.request.uri,
            "status": None if leg.failure is None else leg.failure.status,
            "answered": leg is call.winner,
        }
        for leg in call.legs
    ]
    data: dict[str, Any] = {
        "a_leg_call_id": call.call_id,
        "answer_time": answered,
        "end_time": ended,
        "duration": round(ended - call.started_at, 3),
        # Billing starts at the 200 OK.
        "billsec": round(ended - answered, 3) if answered is not None else 0.0,
        "q850_cause": None if cause is None else cause.q850,
        "sip_code": call.sip_code,
        "hangup_side": call.hangup_side,
        "legs": legs,
        "codec": codec,
    }
    if media is not None:
        data["media"] = media
    if call.transfers:
        data["transfers"] = call.transfers
    return CdrRecord(
        start_time=call.started_at,
        caller=call.caller,
        callee=call.callee,
        call_ids=(call.call_id, *(leg.call_id for leg in call.legs)),
        cause="" if cause is None else cause.name,
        data=data,
    )
