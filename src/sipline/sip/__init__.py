"""The SIP message core: parse, inspect, build and serialize SIP messages (no I/O).

Everything here is sans-I/O: bytes in, objects out, and back.  ``parse_message``
raises ``SipParseError`` and nothing else on any input.
"""

from sipline.sip._address import DEFAULT_PORTS, RELIABLE_TRANSPORTS, TRANSPORTS, Address
from sipline.sip._build import (
    BRANCH_MAGIC_COOKIE,
    REASON_PHRASES,
    make_request,
    make_response,
    new_branch,
    new_call_id,
    new_tag,
    reason_phrase,
    safe_reason,
)
from sipline.sip._digest import (
    DigestChallenge,
    DigestCredentials,
    compute_ha1,
    compute_response,
    make_credentials,
    parse_authorization,
    verify_credentials,
)
from sipline.sip._errors import LocalProtocolError, RemoteProtocolError, SipError, SipParseError
from sipline.sip._framer import StreamFramer
from sipline.sip._headers import COMPACT_FORMS, Headers, header_key
from sipline.sip._message import SIP_VERSION, Message, Request, Response
from sipline.sip._params import Params, quote_string, split_top_level, unquote_string
from sipline.sip._parser import parse_message
from sipline.sip._uri import AbsoluteUri, SipUri, TelUri, Uri, parse_uri, uris_equivalent
from sipline.sip._validate import DEFAULT_SUPPORTED, RequestProblem, request_problem
from sipline.sip._views import (
    ContentType,
    CSeq,
    NameAddress,
    Reason,
    Via,
    parse_content_type,
    parse_cseq,
    parse_name_addr,
    parse_name_addr_list,
    parse_reason_list,
    parse_token_list,
    parse_uint,
    parse_via_list,
)

__all__ = [
    "BRANCH_MAGIC_COOKIE",
    "COMPACT_FORMS",
    "DEFAULT_PORTS",
    "DEFAULT_SUPPORTED",
    "REASON_PHRASES",
    "RELIABLE_TRANSPORTS",
    "SIP_VERSION",
    "TRANSPORTS",
    "AbsoluteUri",
    "Address",
    "CSeq",
    "ContentType",
    "DigestChallenge",
    "DigestCredentials",
    "Headers",
    "LocalProtocolError",
    "Message",
    "NameAddress",
    "Params",
    "Reason",
    "RemoteProtocolError",
    "Request",
    "RequestProblem",
    "Response",
    "SipError",
    "SipParseError",
    "SipUri",
    "StreamFramer",
    "TelUri",
    "Uri",
    "Via",
    "compute_ha1",
    "compute_response",
    "header_key",
    "make_credentials",
    "make_request",
    "make_response",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse_authorization",
    "parse_content_type",
    "parse_cseq",
    "parse_message",
    "parse_name_addr",
    "parse_name_addr_list",
    "parse_reason_list",
    "parse_token_list",
    "parse_uint",
    "parse_uri",
    "parse_via_list",
    "quote_string",
    "reason_phrase",
    "request_problem",
    "safe_reason",
    "split_top_level",
    "unquote_string",
    "uris_equivalent",
    "verify_credentials",
]
