"""The B2BUA: calls between phones through the server (issue #5).

Wiring (the server does this)::

    endpoint = Endpoint(EndpointConfig(..., allowed_methods=B2BUA_METHODS + ("REGISTER",)), app)
    b2bua = B2bua(endpoint, store, parse_dialplan(config["dialplan"]), store,
                  B2buaConfig(call_timeout=30), users=store, media=PassThroughMedia)
    # INVITEs (after digest auth) and every in-dialog request:
    await b2bua.handle_request(incoming, authenticated="1000@example.com")
    b2bua.handle_ack(request, source); b2bua.handle_stray_response(response, source)
    b2bua.reload(new_dialplan)            # sipline reload / SIGHUP

Each call is a ``Call`` (state table ``CALL_TRANSITIONS``) with its a-leg and one
``Leg`` per rung contact; SDP passes a ``MediaSession`` (``PassThroughMedia``
until the RTP relay plugs in); one CDR per call goes to the ``CdrStore``.
"""

from sipline.b2bua._b2bua import B2bua
from sipline.b2bua._build import CallerId, b_leg_invite, binding_destination, contact_for
from sipline.b2bua._call import CALL_TRANSITIONS, Call, CallInput, CallState, Failure, Leg
from sipline.b2bua._cdr import call_record, codec_of
from sipline.b2bua._config import B2BUA_METHODS, B2buaConfig
from sipline.b2bua._failures import best_failure
from sipline.b2bua._media import (
    MediaFactory,
    MediaRefusal,
    MediaRejected,
    MediaReport,
    MediaSession,
    MediaSilence,
    PassThroughMedia,
    media_report,
)
from sipline.b2bua._ringing import COMPLETED_ELSEWHERE
from sipline.b2bua._trunk_hook import TrunkDialer

__all__ = [
    "B2BUA_METHODS",
    "CALL_TRANSITIONS",
    "COMPLETED_ELSEWHERE",
    "B2bua",
    "B2buaConfig",
    "Call",
    "CallInput",
    "CallState",
    "CallerId",
    "Failure",
    "Leg",
    "MediaFactory",
    "MediaRefusal",
    "MediaRejected",
    "MediaReport",
    "MediaSession",
    "MediaSilence",
    "PassThroughMedia",
    "TrunkDialer",
    "b_leg_invite",
    "best_failure",
    "binding_destination",
    "call_record",
    "codec_of",
    "contact_for",
    "media_report",
]
