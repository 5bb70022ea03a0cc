"""SIP requests and responses: the message model and the serializer (RFC 3261 §7).

The parser (``_parser.parse_message``) keeps a message's original bytes; a message
that is not modified serializes back to the exact bytes it came from.  Typed views
of the headers (Via, From, To, ...) are parsed once and kept.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any, TypeAlias

from sipline.sip._errors import LocalProtocolError, SipParseError
from sipline.sip._headers import Headers, header_key
from sipline.sip._params import split_top_level
from sipline.sip._uri import Uri, parse_uri
from sipline.sip._views import (
    CSeq,
    NameAddress,
    Via,
    parse_content_type,
    parse_cseq,
    parse_name_addr,
    parse_name_addr_list,
    parse_uint,
    parse_via_list,
)

SIP_VERSION = "SIP/2.0"
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"  # any byte survives a decode/encode round trip
# Headers that may appear once only (RFC 3261 §7.3.1: not comma-separated lists).
_SINGLETONS = ("call-id", "cseq", "from", "to", "max-forwards", "content-length")


class _Message:
    """What requests and responses share: headers, body, views, serialization."""

    __slots__ = ("_orig", "_raw", "body", "headers", "version")

    headers: Headers
    body: bytes
    version: str

    def __init__(
        self, headers: Iterable[tuple[str, str]] | Headers, body: bytes, version: str
    ) -> None:
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = body
        self.version = version
        self._raw: bytes | None = None
        self._orig: tuple[Any, ...] = ()

    # -- serialization --------------------------------------------------------------
    def _start_line(self) -> str:
        raise NotImplementedError

    def _identity(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def _unmodified(self) -> bool:
        if self._raw is None or self.headers.version:
            return False
        orig = self._orig
        current = self._identity()
        return len(orig) == len(current) and all(map(operator.is_, orig, current))

    def __bytes__(self) -> bytes:
        if self._unmodified():
            assert self._raw is not None
            return self._raw
        body = self.body
        lines = [self._start_line()]
        length_written = False
        for name, value in self.headers:
            if header_key(name) == "content-length":
                if length_written:
                    continue
                value = str(len(body))
                length_written = True
            lines.append(f"{name}: {value}")
        if not length_written:
            lines.append(f"Content-Length: {len(body)}")
        lines.append("")
        lines.append("")
        return "\r\n".join(lines).encode(_ENCODING, _ERRORS) + body

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Message)
        return (
            self._start_line() == other._start_line()
            and self.headers == other.headers
            and self.body == other.body
        )

    __hash__ = None  # type: ignore[assignment]

    # -- typed views ------------------------------------------------------------------
    # Parsed values are kept in ``headers._parsed``, which every Headers mutation
    # replaces: no version check per access, and a message given new headers sees them.

    def _single(self, key: str) -> str:
        value = self.headers._sole(key)
        if value is not None:
            return value
        values = self.headers.get_all(key)
        if not values:
            raise SipParseError(f"missing {_DISPLAY_NAMES[key]} header", header=_DISPLAY_NAMES[key])
        if len(values) > 1:
            raise SipParseError(
                f"more than one {_DISPLAY_NAMES[key]} header", header=_DISPLAY_NAMES[key]
            )
        return values[0]

    @property
    def vias(self) -> list[Via]:
        cache = self.headers._parsed
        vias: list[Via] | None = cache.get("via")
        if vias is None:
            line = self.headers._sole("via")
            if line is not None:
                vias = parse_via_list(line)
            else:
                vias = []
                for value in self.headers.get_all("via"):
                    vias.extend(parse_via_list(value))
            cache["via"] = vias
        return vias

    def replace_top_via(self, via: Via) -> None:
        """Put ``via`` in place of the first Via, keeping every other parsed view."""
        vias = self.vias
        if not vias:
            raise LocalProtocolError("the message has no Via to replace")
        headers = self.headers
        position = headers.positions("via")[0]
        line = headers._value(position)
        rest = split_top_level(line)[1:] if "," in line else []
        text = ", ".join([str(via), *rest])
        headers._replace_value(position, text, "via", [via, *vias[1:]])

    @property
    def top_via(self) -> Via:
        vias: list[Via] | None = self.headers._parsed.get("via")
        if vias is None:
            vias = self.vias
        if not vias:
            raise SipParseError("missing Via header", header="Via")
        return vias[0]

    @property
    def from_(self) -> NameAddress:
        cache = self.headers._parsed
        value: NameAddress | None = cache.get("from")
        if value is None:
            value = cache["from"] = parse_name_addr(self._single("from"), header="From")
        return value

    @property
    def to(self) -> NameAddress:
        cache = self.headers._parsed
        value: NameAddress | None = cache.get("to")
        if value is None:
            value = cache["to"] = parse_name_addr(self._single("to"), header="To")
        return value

    @property
    def call_id(self) -> str:
        cache = self.headers._parsed
        value: str | None = cache.get("call-id")
        if value is None:
            value = cache["call-id"] = _checked_call_id(self._single("call-id"))
        return value

    @property
    def cseq(self) -> CSeq:
        cache = self.headers._parsed
        value: CSeq | None = cache.get("cseq")
        if value is None:
            value = cache["cseq"] = parse_cseq(self._single("cseq"))
        return value

    @property
    def max_forwards(self) -> int | None:
        cache = self.headers._parsed
        if "max-forwards" not in cache:
            value = self.headers._sole("max-forwards")
            values = [value] if value is not None else self.headers.get_all("max-forwards")
            if len(values) > 1:
                raise SipParseError("more than one Max-Forwards header", header="Max-Forwards")
            cache["max-forwards"] = (
                parse_uint(values[0], header="Max-Forwards", maximum=255) if values else None
            )
        result: int | None = cache["max-forwards"]
        return result

    @property
    def contacts(self) -> list[NameAddress]:
        return self._name_addr_list("contact", "Contact")

    @property
    def routes(self) -> list[NameAddress]:
        return self._name_addr_list("route", "Route")

    @property
    def record_routes(self) -> list[NameAddress]:
        return self._name_addr_list("record-route", "Record-Route")

    def _name_addr_list(self, key: str, header: str) -> list[NameAddress]:
        cache = self.headers._parsed
        value: list[NameAddress] | None = cache.get(key)
        if value is None:
            value = []
            for line in self.headers.get_all(key):
                value.extend(parse_name_addr_list(line, header=header))
            cache[key] = value
        return value

    @property
    def expires(self) -> int | None:
        value = self.headers.get("expires")
        return None if value is None else parse_uint(value, header="Expires")

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("content-type")
        return None if value is None else parse_content_type(value).media_type

    @property
    def is_request(self) -> bool:
        return isinstance(self, Request)

    def validate(self) -> None:
        """Parse the headers every SIP element relies on; raise ``SipParseError``."""
        headers = self.headers
        first = headers._first_positions()
        if headers._dups or headers._parsed:
            self._validate_views()
            return
        # One line per header and no view parsed yet (a message just parsed): the
        # checks of _validate_views in the same order, straight from the key table.
        value = headers._value
        cache = headers._parsed
        position = first.get("via")
        vias = cache["via"] = [] if position is None else parse_via_list(value(position))
        if not vias:
            raise SipParseError("missing Via header", header="Via")
        cache["from"] = parse_name_addr(value(_position(first, "from")), header="From")
        cache["to"] = parse_name_addr(value(_position(first, "to")), header="To")
        cache["call-id"] = _checked_call_id(value(_position(first, "call-id")))
        cache["cseq"] = parse_cseq(value(_position(first, "cseq")))
        position = first.get("max-forwards")
        cache["max-forwards"] = (
            None
            if position is None
            else parse_uint(value(position), header="Max-Forwards", maximum=255)
        )

    def _validate_views(self) -> None:
        headers = self.headers
        if headers._dups:  # some header has several lines: check the singletons
            for key in _SINGLETONS:
                values = headers.get_all(key)
                if len(values) > 1 and (len(set(values)) > 1 or key != "content-length"):
                    name = _DISPLAY_NAMES[key]
                    raise SipParseError(f"more than one {name} header", header=name)
        if not self.vias:
            raise SipParseError("missing Via header", header="Via")
        self.from_  # noqa: B018 - parsing is the point
        self.to  # noqa: B018
        self.call_id  # noqa: B018
        self.cseq  # noqa: B018
        self.max_forwards  # noqa: B018


def _position(first: dict[str, int], key: str) -> int:
    """The position of the line of a header that must be there."""
    position = first.get(key)
    if position is None:
        name = _DISPLAY_NAMES[key]
        raise SipParseError(f"missing {name} header", header=name)
    return position


def _checked_call_id(value: str) -> str:
    # RFC 3261 §25.1: callid = word [ "@" word ]; no LWS inside.
    if not value or " " in value or "\t" in value:
        raise SipParseError(f"invalid Call-ID {value!r}", header="Call-ID")
    return value


_DISPLAY_NAMES = {
    "via": "Via",
    "from": "From",
    "to": "To",
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "max-forwards": "Max-Forwards",
    "content-length": "Content-Length",
}


class Request(_Message):
    """A SIP request: method, Request-URI, headers and body."""

    __slots__ = ("_ruri", "method", "uri")

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Iterable[tuple[str, str]] | Headers = (),
        body: bytes = b"",
        *,
        version: str = SIP_VERSION,
    ) -> None:
        super().__init__(headers, body, version)
        self.method = method
        self.uri = uri
        self._ruri: tuple[str, Uri] | None = None

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def _identity(self) -> tuple[Any, ...]:
        return (self.method, self.uri, self.version, self.body, self.headers)

    def _unmodified(self) -> bool:  # _Message._unmodified without the tuple and the loop
        if self._raw is None or self.headers.version:
            return False
        method, uri, version, body, headers = self._orig
        return (
            self.headers is headers
            and self.body is body
            and self.uri is uri
            and self.method is method
            and self.version is version
        )

    @property
    def request_uri(self) -> Uri:
        """The Request-URI, parsed (raises ``SipParseError`` when malformed)."""
        cached = self._ruri
        if cached is None or cached[0] is not self.uri:
            cached = self._ruri = (self.uri, parse_uri(self.uri))
        return cached[1]

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(_Message):
    """A SIP response: status code, reason phrase, headers and body."""

    __slots__ = ("reason", "status_code")

    def __init__(
        self,
        status_code: int,
        reason: str,
        headers: Iterable[tuple[str, str]] | Headers = (),
        body: bytes = b"",
        *,
        version: str = SIP_VERSION,
    ) -> None:
        super().__init__(headers, body, version)
        self.status_code = status_code
        self.reason = reason

    def _start_line(self) -> str:
        return f"{self.version} {self.status_code} {self.reason}"

    def _identity(self) -> tuple[Any, ...]:
        return (self.status_code, self.reason, self.version, self.body, self.headers)

    def _unmodified(self) -> bool:  # _Message._unmodified without the tuple and the loop
        if self._raw is None or self.headers.version:
            return False
        status_code, reason, version, body, headers = self._orig
        return (
            self.headers is headers
            and self.body is body
            and self.reason is reason
            and self.status_code is status_code
            and self.version is version
        )

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {self.reason}>"


Message: TypeAlias = Request | Response
