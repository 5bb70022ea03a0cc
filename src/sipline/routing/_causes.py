"""Hang-up causes: ITU-T Q.850 cause values, their SIP status codes and Reason headers.

The names are FreeSWITCH's (``USER_BUSY``, ``NO_ANSWER``...), so dialplans and
CDRs read the same.  SIP <-> Q.850 mapping follows RFC 3398 §7.2.4.1 / §8.2.6.1
with FreeSWITCH's choices where they differ (488 -> 88, not-registered -> 20).

``ORIGINATOR_CANCEL``: FreeSWITCH reports the non-Q.850 value 487.  Q.850 causes
run 1..127, so sipline sends cause 31 (normal, unspecified: a caller giving up is
normal call clearing, not an interworking failure as 127 would say) with the text
``ORIGINATOR_CANCEL``; the SIP code stays 487.
"""

from __future__ import annotations

import enum

from sipline.sip import Reason, SipParseError, parse_reason_list

__all__ = ["HangupCause", "cause_for_status", "cause_from_reason", "parse_cause"]


class HangupCause(enum.Enum):
    """A hang-up cause: (Q.850 cause value, SIP status to answer a caller with)."""

    UNALLOCATED_NUMBER = (1, 404)
    NO_ROUTE_DESTINATION = (3, 404)
    NORMAL_CLEARING = (16, 200)
    USER_BUSY = (17, 486)
    NO_USER_RESPONSE = (18, 408)
    NO_ANSWER = (19, 480)
    #: Not registered (FreeSWITCH: USER_NOT_REGISTERED); the Reason text says so.
    SUBSCRIBER_ABSENT = (20, 480)
    CALL_REJECTED = (21, 603)
    NUMBER_CHANGED = (22, 410)
    DESTINATION_OUT_OF_ORDER = (27, 502)
    INVALID_NUMBER_FORMAT = (28, 484)
    ORIGINATOR_CANCEL = (31, 487)
    NORMAL_UNSPECIFIED = (31, 480)
    NORMAL_CIRCUIT_CONGESTION = (34, 503)
    NETWORK_OUT_OF_ORDER = (38, 502)
    NORMAL_TEMPORARY_FAILURE = (41, 503)
    SWITCH_CONGESTION = (42, 503)
    BEARERCAPABILITY_NOTAVAIL = (58, 488)
    SERVICE_NOT_IMPLEMENTED = (79, 501)
    INCOMPATIBLE_DESTINATION = (88, 488)
    RECOVERY_ON_TIMER_EXPIRE = (102, 504)
    #: No RTP from a leg for ``media.media_timeout`` s (FreeSWITCH's MEDIA_TIMEOUT): a
    #: timer expired, so Q.850 102 with this text in the BYEs' Reason (RFC 3326).
    MEDIA_TIMEOUT = (102, 408)
    INTERWORKING = (127, 500)

    @property
    def q850(self) -> int:
        return self.value[0]

    @property
    def sip_status(self) -> int:
        return self.value[1]

    @property
    def text(self) -> str:
        return "USER_NOT_REGISTERED" if self is HangupCause.SUBSCRIBER_ABSENT else self.name

    @property
    def reason(self) -> str:
        """The RFC 3326 Reason header value: ``Q.850;cause=17;text="USER_BUSY"``."""
        return str(Reason("Q.850", self.q850, self.text))


#: RFC 3398 §8.2.6.1 (SIP status -> cause), FreeSWITCH's variants in comments.
_BY_STATUS: dict[int, HangupCause] = {
    400: HangupCause.NORMAL_TEMPORARY_FAILURE,
    401: HangupCause.CALL_REJECTED,
    402: HangupCause.CALL_REJECTED,
    403: HangupCause.CALL_REJECTED,
    404: HangupCause.UNALLOCATED_NUMBER,
    405: HangupCause.SERVICE_NOT_IMPLEMENTED,
    407: HangupCause.CALL_REJECTED,
    408: HangupCause.RECOVERY_ON_TIMER_EXPIRE,
    410: HangupCause.NUMBER_CHANGED,
    480: HangupCause.NO_USER_RESPONSE,
    484: HangupCause.INVALID_NUMBER_FORMAT,
    485: HangupCause.UNALLOCATED_NUMBER,
    486: HangupCause.USER_BUSY,
    487: HangupCause.ORIGINATOR_CANCEL,
    488: HangupCause.INCOMPATIBLE_DESTINATION,  # RFC 3398 says 127; FreeSWITCH 88
    500: HangupCause.NORMAL_TEMPORARY_FAILURE,
    501: HangupCause.SERVICE_NOT_IMPLEMENTED,
    502: HangupCause.NETWORK_OUT_OF_ORDER,
    503: HangupCause.NORMAL_TEMPORARY_FAILURE,
    504: HangupCause.RECOVERY_ON_TIMER_EXPIRE,
    600: HangupCause.USER_BUSY,
    603: HangupCause.CALL_REJECTED,
    604: HangupCause.UNALLOCATED_NUMBER,
    606: HangupCause.BEARERCAPABILITY_NOTAVAIL,
}

_BY_NAME: dict[str, HangupCause] = {cause.name: cause for cause in HangupCause}
_BY_NAME["USER_NOT_REGISTERED"] = HangupCause.SUBSCRIBER_ABSENT
_BY_Q850: dict[int, HangupCause] = {}
for _cause in HangupCause:
    _BY_Q850.setdefault(_cause.q850, _cause)


def cause_for_status(status: int) -> HangupCause:
    """The cause of a SIP failure status (RFC 3398 §8.2.6.1); class defaults otherwise."""
    cause = _BY_STATUS.get(status)
    if cause is not None:
        return cause
    if status >= 600:
        return HangupCause.CALL_REJECTED
    if status >= 500:
        return HangupCause.NORMAL_TEMPORARY_FAILURE
    return HangupCause.INTERWORKING


def cause_from_reason(header: str | None) -> int | None:
    """The Q.850 cause value of a Reason header, when it has one (RFC 3326)."""
    if not header:
        return None
    try:
        reasons = parse_reason_list(header)
    except SipParseError:
        return None
    for reason in reasons:
        if reason.protocol.upper() == "Q.850" and reason.cause is not None:
            return reason.cause
    return None


def parse_cause(text: str) -> HangupCause | None:
    """A cause by name (``USER_BUSY``) or Q.850 value (``17``); None when unknown."""
    name = text.strip().upper()
    if name.isdigit():
        return _BY_Q850.get(int(name))
    return _BY_NAME.get(name)
