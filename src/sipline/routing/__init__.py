"""The dialplan (which targets a call rings) and hang-up causes (Q.850 <-> SIP).

``parse_dialplan(config["dialplan"])`` checks and builds a ``Dialplan``;
``Dialplan.route(destination, caller, domain, is_local_user)`` gives the ``Route``
of one call.  ``HangupCause`` names Q.850 causes as FreeSWITCH does.
"""

from sipline.routing._causes import HangupCause, cause_for_status, cause_from_reason, parse_cause
from sipline.routing._dialplan import (
    DEFAULT_CALL_TIMEOUT,
    VARIABLES,
    Dialplan,
    DialplanError,
    MediaStep,
    Route,
    Rule,
    Target,
    parse_dialplan,
)

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "VARIABLES",
    "Dialplan",
    "DialplanError",
    "HangupCause",
    "MediaStep",
    "Route",
    "Rule",
    "Target",
    "cause_for_status",
    "cause_from_reason",
    "parse_cause",
    "parse_dialplan",
]
