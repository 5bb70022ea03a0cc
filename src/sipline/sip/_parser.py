"""The SIP message parser (RFC 3261 §7): bytes in, a validated Request or Response out.

``parse_message`` splits the header section once, keeps the original bytes and
validates the headers every element needs (Via, From, To, Call-ID, CSeq,
Max-Forwards, Content-Length); other headers are parsed only when asked for.

Two paths give the same results.  ``_parse`` handles the usual message (CRLF line
breaks, one "Name: value" line per header, known header spellings) with a few
C-level splits and look-ups in the list of keys; whenever it meets anything else it
hands the whole message to ``_parse_general``, the reference, which accepts the
odd forms and names the defect of a bad message.  The fast path never raises by
itself before the header views are parsed, so every verdict on a start line, a
header line or a Content-Length comes from the general path.
"""

from __future__ import annotations

import re
import sys
from itertools import repeat

from sipline.sip._errors import SipParseError
from sipline.sip._headers import _KEY_CACHE, Headers, parse_header_section
from sipline.sip._message import (
    _ENCODING,
    _ERRORS,
    SIP_VERSION,
    Request,
    Response,
    _checked_call_id,
)
from sipline.sip._params import is_token
from sipline.sip._views import parse_cseq, parse_name_addr, parse_uint, parse_via_list

__all__ = ["parse_message"]


def parse_message(data: bytes) -> Request | Response:
    """Parse one SIP message from ``data`` (one datagram, or one framed message).

    Raises ``SipParseError`` (with a reason and, where known, the header at
    fault) on any malformed input, and nothing else.  Octets after the body that
    Content-Length announces are ignored (RFC 3261 §18.3).
    """
    try:
        return _parse(bytes(data))
    except SipParseError:
        raise
    except (ValueError, IndexError, UnicodeError, OverflowError, TypeError) as exc:
        raise SipParseError(f"malformed message ({exc})") from None


_partition = str.partition
_new_object = object.__new__
_COLON = ": "
# The headers every message must have, in the order validate() checks them.  Keys
# are interned (see _headers._seed_key_cache): these are the very objects in a
# message's key list, found by identity.
_REQUIRED = tuple(map(sys.intern, ("via", "from", "to", "call-id", "cseq")))
_CONTENT_LENGTH = sys.intern("content-length")
_MAX_FORWARDS = sys.intern("max-forwards")


def _parse(data: bytes) -> Request | Response:
    """The usual message, or ``_parse_general(data)`` for anything else."""
    head_end = data.find(b"\r\n\r\n")
    if head_end <= 0 or data[0] == 13:  # no header section end, or CRLFs before the start
        return _parse_general(data)
    head = data[:head_end].decode(_ENCODING, _ERRORS)
    lines = head.split("\r\n")
    if len(lines) < 2 or "\r" in "".join(lines):  # no header line, or a stray CR
        return _parse_general(data)
    first = lines[0]
    del lines[0]
    # "Name: value" lines with known spellings (which hold no colon): the values are
    # stripped of LWS when looked up, as Headers does.  partition returns the very
    # separator object it was given for a line it splits.
    # (zip without strict=: the keyword costs more than the rest of the call here.)
    names, colons, values = zip(*map(_partition, lines, repeat(_COLON)))  # noqa: B905
    try:
        keys = list(map(_KEY_CACHE.__getitem__, names))
    except KeyError:  # a spelling not seen before, or a line not split at ": "
        return _parse_general(data)
    if colons.count(_COLON) != len(colons):  # a line without ": " (named like a header)
        return _parse_general(data)

    message: Request | Response
    if first.startswith("SIP/2.0 "):  # a status line; a method holds no "/"
        m = _STATUS_LINE_RE.fullmatch(first)
        if m is None:
            return _parse_general(data)
        message = _new_response(int(m[1]), m[2] or "", SIP_VERSION)
    else:
        m = _REQUEST_LINE_RE.fullmatch(first)
        if m is None:
            return _parse_general(data)
        request = message = _new_object(Request)
        request.method, request.uri = m.groups()
        request.version = SIP_VERSION
        request._ruri = None

    dups = len(set(keys)) != len(keys)
    headers = message.headers = Headers._from_split(names, values, keys, dups)
    body_start = head_end + 4
    available = len(data) - body_start
    if dups:
        length = _content_length(message, available)
    elif _CONTENT_LENGTH in keys:
        text = values[keys.index(_CONTENT_LENGTH)].strip(" \t")
        if not text.isdigit() or not text.isascii() or int(text) > available:
            return _parse_general(data)  # which names the defect
        length = int(text)
    else:
        length = available  # RFC 3261 §18.3: over UDP the body runs to the datagram's end.
    end = body_start + length
    body = message.body = data[body_start:end]
    message._raw = None

    try:
        positions = None if dups else list(map(keys.index, _REQUIRED))
    except ValueError:  # a required header is missing: validate() says which, in order
        positions = None
    if positions is None:
        message.validate()
    else:
        # validate() for one line per header, with the positions from the key list.
        via, from_, to, call_id, cseq = positions
        cache = headers._parsed
        cache["via"] = parse_via_list(values[via].strip(" \t"))
        cache["from"] = parse_name_addr(values[from_].strip(" \t"), header="From")
        cache["to"] = parse_name_addr(values[to].strip(" \t"), header="To")
        call_id_text = values[call_id].strip(" \t")
        if not call_id_text or " " in call_id_text or "\t" in call_id_text:
            call_id_text = _checked_call_id(call_id_text)  # raises
        cache["call-id"] = call_id_text
        cache["cseq"] = parse_cseq(values[cseq].strip(" \t"))
        if _MAX_FORWARDS in keys:
            text = values[keys.index(_MAX_FORWARDS)].strip(" \t")
            cache["max-forwards"] = (
                int(text)
                if len(text) < 4 and text.isdigit() and text.isascii() and int(text) <= 255
                else parse_uint(text, header="Max-Forwards", maximum=255)  # or raises
            )
        else:
            cache["max-forwards"] = None

    message._raw = data if end == len(data) else data[:end]
    if isinstance(message, Request):
        message._orig = (message.method, message.uri, SIP_VERSION, body, headers)
    else:
        message._orig = (message.status_code, message.reason, SIP_VERSION, body, headers)
    return message


def _split_head(data: bytes) -> tuple[int, int, int, bool]:
    """Locate the header section: (start, end of headers, start of body, LF-only)."""
    start = 0
    # RFC 3261 §7.5: CRLFs before the start line are ignored.
    while data.startswith(b"\r\n", start):
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end >= 0:
        return start, end, end + 4, False
    # Bare-LF messages (hand-made dumps, some logs): accepted when no CRLF is used.
    end = data.find(b"\n\n", start)
    if end >= 0 and b"\r\n" not in data[start:end]:
        return start, end, end + 2, True
    if data.endswith(b"\r\n") and len(data) > start + 2:
        # The RFC 4475 archive copies of some torture messages lack the empty line
        # that ends the header section: a datagram that ends right after a header
        # line is taken as a message without a body.
        return start, len(data) - 2, len(data), False
    if not data[start:].strip():
        raise SipParseError("empty message")
    raise SipParseError("the header section does not end with an empty line (CRLF CRLF)")


# The usual start lines; anything else takes the general path below, which gives
# the same result or names the defect.
# (Possessive quantifiers: each run ends at a space, which its class excludes.)
_REQUEST_LINE_RE = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]++) ([^ <][^ ]*+) SIP/2\.0")
_STATUS_LINE_RE = re.compile(r"SIP/2\.0 ([1-9][0-9][0-9])(?: (.*))?", re.DOTALL)


def _new_request(method: str, uri: str, version: str) -> Request:
    request = Request.__new__(Request)
    request.method = method
    request.uri = uri
    request.version = version
    request._ruri = None
    return request


def _new_response(status: int, reason: str, version: str) -> Response:
    response = Response.__new__(Response)
    response.status_code = status
    response.reason = reason
    response.version = version
    return response


def _start_line(first: str) -> Request | Response:
    m = _REQUEST_LINE_RE.fullmatch(first)
    if m is not None:
        method, uri = m.groups()
        return _new_request(method, uri, SIP_VERSION)
    m = _STATUS_LINE_RE.fullmatch(first)
    if m is not None:
        code, reason = m.groups()
        return _new_response(int(code), reason or "", SIP_VERSION)
    return _start_line_general(first)


def _start_line_general(first: str) -> Request | Response:
    if first.startswith("SIP/"):
        parts = first.split(" ", 2)
        if len(parts) < 2:
            raise SipParseError(f"invalid status line {first[:80]!r}")
        version, code = parts[0], parts[1]
        reason = parts[2] if len(parts) == 3 else ""
        if len(code) != 3 or not code.isdigit() or not code.isascii():
            raise SipParseError(f"invalid status code {code[:20]!r}: must be 3 digits")
        status = int(code)
        if status < 100:
            raise SipParseError(f"invalid status code {status}: must be 100 to 699")
        _check_version(version)
        return _new_response(status, reason, version)
    parts = first.split(" ")
    if len(parts) != 3:
        if len(parts) > 3 and "" in parts:
            raise SipParseError("extra white space in the request line")
        raise SipParseError(
            f"invalid request line {first[:80]!r}: expected 'METHOD Request-URI SIP/2.0'"
        )
    method, uri, version = parts
    if not is_token(method):
        raise SipParseError(f"invalid method {method[:40]!r}")
    if not uri or uri.startswith("<"):
        raise SipParseError(f"invalid Request-URI {uri[:80]!r}")
    _check_version(version)
    return _new_request(method, uri, version)


def _check_version(version: str) -> None:
    if version == SIP_VERSION:
        return
    # Any SIP/x.y parses; the element answers 505 to a version it does not speak.
    name, slash, number = version.partition("/")
    major, dot, minor = number.partition(".")
    if name.upper() != "SIP" or not slash or not dot or not major.isdigit() or not minor.isdigit():
        raise SipParseError(f"invalid SIP version {version[:20]!r}")


def _content_length(message: Request | Response, available: int) -> int:
    text = message.headers._sole("content-length")
    if text is None:
        values = message.headers.get_all("content-length")
        if not values:
            return available  # RFC 3261 §18.3: over UDP the body runs to the datagram's end.
        if len(set(values)) > 1:
            raise SipParseError("conflicting Content-Length headers", header="Content-Length")
        text = values[0]
    if not text.isdigit() or not text.isascii():
        raise SipParseError(f"invalid Content-Length {text[:20]!r}", header="Content-Length")
    length = int(text)
    if length > available:
        raise SipParseError(
            f"Content-Length {length} is larger than the {available} bytes of body received",
            header="Content-Length",
        )
    return length


def _parse_general(data: bytes) -> Request | Response:
    """Any message: leading CRLFs, bare-LF line breaks, folded lines, new header
    spellings, repeated headers; the reference the fast path must agree with."""
    start, head_end, body_start, lf_only = _split_head(data)
    head = data[start:head_end].decode(_ENCODING, _ERRORS)
    lines = head.split("\n" if lf_only else "\r\n")
    message = _start_line(lines[0])
    message.headers = parse_header_section(head, lines, lf_only)
    length = _content_length(message, len(data) - body_start)
    end = body_start + length
    message.body = data[body_start:end]
    message._raw = None
    message.validate()
    message._raw = data if start == 0 and end == len(data) else data[start:end]
    message._orig = message._identity()
    return message
