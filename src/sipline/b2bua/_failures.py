"""How a failed call is answered: the best failure of the b-legs (RFC 3261 §16.7),
the Q.850 cause of a response, reliable provisionals (RFC 3262)."""

from __future__ import annotations

from sipline.b2bua._call import Failure
from sipline.routing import HangupCause, cause_for_status, cause_from_reason, parse_cause
from sipline.sip import (
    RemoteProtocolError,
    Response,
    SipParseError,
    parse_token_list,
    reason_phrase,
    safe_reason,
)


def best_failure(failures: list[Failure]) -> Failure:
    """The response the caller gets when every b-leg failed (RFC 3261 §16.7 step 6).

    Any 6xx first; else the lowest class; within a class the specific answers
    (486, 404...) before the generic ones (408, 480, 487, 503).
    """
    if not failures:
        return Failure(480, reason_phrase(480), HangupCause.NO_USER_RESPONSE)

    def rank(failure: Failure) -> tuple[int, int, int, int]:
        status = failure.status
        generic = 1 if status in (408, 480, 487, 503) else 0
        return (0 if status >= 600 else 1, status // 100, generic, status)

    return min(failures, key=rank)


def is_reliable(response: Response) -> bool:
    require = response.headers.get("Require")
    if require is None or "RSeq" not in response.headers:
        return False
    try:
        return "100rel" in (token.lower() for token in parse_token_list(require, "Require"))
    except SipParseError:
        return False


def cause_of(status: int, reason_header: str | None) -> HangupCause:
    q850 = cause_from_reason(reason_header)
    if q850 is not None:
        cause = parse_cause(str(q850))
        if cause is not None:
            return cause
    return cause_for_status(status)


def short_reason(error: RemoteProtocolError) -> str:
    return safe_reason(str(error), fallback=reason_phrase(error.status_hint))
