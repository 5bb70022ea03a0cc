"""SDP (RFC 8866) and offer/answer (RFC 3264), sans-I/O.

``SessionDescription.parse(body)`` / ``bytes(sdp)`` round-trip any well-formed body
exactly; ``negotiate`` answers an offer for a local media endpoint; ``anchor`` rewrites
a description so its media goes through the RTP relay.  Errors are
``SdpParseError`` (400) and ``SdpNotAcceptable`` (488), both ``RemoteProtocolError``.
"""

from sipline.sdp._anchor import ICE_ATTRIBUTES, add_format, anchor, keep_formats, strip_ice
from sipline.sdp._codecs import (
    STATIC_PAYLOAD_TYPES,
    Codec,
    Direction,
    RtpMap,
    connection_address,
    direction_of,
    fmtp_of,
    payload_types,
    ptime_of,
    rtcp_address,
)
from sipline.sdp._errors import SdpNotAcceptable, SdpParseError
from sipline.sdp._model import (
    Attribute,
    Connection,
    MediaDescription,
    Origin,
    SdpLine,
    SessionDescription,
)
from sipline.sdp._offer_answer import (
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    Capabilities,
    NegotiatedStream,
    Negotiation,
    negotiate,
)

__all__ = [
    "ICE_ATTRIBUTES",
    "PCMA",
    "PCMU",
    "STATIC_PAYLOAD_TYPES",
    "TELEPHONE_EVENT",
    "Attribute",
    "Capabilities",
    "Codec",
    "Connection",
    "Direction",
    "MediaDescription",
    "NegotiatedStream",
    "Negotiation",
    "Origin",
    "RtpMap",
    "SdpLine",
    "SdpNotAcceptable",
    "SdpParseError",
    "SessionDescription",
    "add_format",
    "anchor",
    "connection_address",
    "direction_of",
    "fmtp_of",
    "keep_formats",
    "negotiate",
    "payload_types",
    "ptime_of",
    "rtcp_address",
    "strip_ice",
]
