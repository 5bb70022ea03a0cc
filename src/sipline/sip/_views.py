"""Typed views of header values: Via, name-addr (From/To/Contact/Route), CSeq, ...

Each ``parse_*`` function takes one header value (already unfolded, or with folds
still in it) and returns immutable objects; on bad input it raises only
:class:`SipParseError` with ``header`` set.  The common simple forms go through
one precompiled regular expression; odd ones fall back to a stricter, slower path.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass, field

from sipline.sip._address import DEFAULT_PORTS, Address
from sipline.sip._errors import SipParseError
from sipline.sip._frozen import twin
from sipline.sip._params import (
    QUOTED_STRING,
    SIMPLE_PARAMS,
    TOKEN_CHARS,
    Params,
    is_token,
    quote_string,
    split_top_level,
    unquote_string,
)
from sipline.sip._uri import (
    HOST_PATTERN,
    SIMPLE_HOSTS,
    SIP_URI_FAST_PATTERN,
    AbsoluteUri,
    Uri,
    fast_sip_uri,
    is_simple_host,
    parse_uri,
)

__all__ = [
    "CSeq",
    "ContentType",
    "NameAddress",
    "Reason",
    "Via",
    "parse_content_type",
    "parse_cseq",
    "parse_name_addr",
    "parse_name_addr_list",
    "parse_reason_list",
    "parse_token_list",
    "parse_uint",
    "parse_via_list",
]

_T = f"[{TOKEN_CHARS}]+"
_T_POSSESSIVE = f"[{TOKEN_CHARS}]++"  # for the fast patterns (see SIMPLE_PARAMS)
_LWS = r"[ \t\r\n]*"
_LWS1 = r"[ \t\r\n]+"
_SIMPLE_PARAMS = SIMPLE_PARAMS


def _simple_params(text: str) -> Params:
    """Params of a string already matched by ``_SIMPLE_PARAMS`` (no LWS, no quotes)."""
    return Params._from_simple(text) if text else _NO_PARAMS


_NO_PARAMS = Params()


def parse_uint(text: str, *, header: str, maximum: int = 2**32 - 1) -> int:
    """A decimal integer (leading zeros allowed, LWS around stripped) not above ``maximum``."""
    if len(text) < 10 and text.isdigit() and text.isascii():  # the usual form: plain digits
        value = int(text)
        if value <= maximum:
            return value
    digits = text.strip(" \t\r\n")
    if not digits.isascii() or not digits.isdigit():
        raise SipParseError(f"{header} is not a number: {text.strip()[:40]!r}", header=header)
    significant = digits.lstrip("0")
    if len(significant) > len(str(maximum)) or int(significant or "0") > maximum:
        raise SipParseError(f"{header} value out of range: {digits[:40]}", header=header)
    return int(significant or "0")


# --------------------------------------------------------------------------- Via


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value (RFC 3261 §20.42); ``host`` holds IPv6 addresses without brackets."""

    transport: str
    host: str
    port: int | None = None
    params: Params = field(default_factory=Params)
    protocol: str = "SIP/2.0"

    @property
    def host_ref(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def sent_by(self) -> str:
        return self.host_ref if self.port is None else f"{self.host_ref}:{self.port}"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        value = self.params.get("received")
        if value is not None and value.startswith("[") and value.endswith("]"):
            return value[1:-1]
        return value

    @property
    def has_rport(self) -> bool:
        return "rport" in self.params

    @property
    def rport(self) -> int | None:
        """The rport value (RFC 3581); ``None`` when absent or a bare ``;rport`` flag."""
        value = self.params.get("rport")
        return None if value is None else parse_uint(value, header="Via", maximum=65535)

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def ttl(self) -> int | None:
        value = self.params.get("ttl")
        return None if value is None else parse_uint(value, header="Via", maximum=255)

    def with_param(self, name: str, value: str | None) -> Via:
        return dataclasses.replace(self, params=self.params.with_(name, value))

    def without_param(self, name: str) -> Via:
        return dataclasses.replace(self, params=self.params.without(name))

    def response_address(self, transport: str | None = None) -> Address:
        """Where responses go by this Via over ``transport`` (default: the Via's own):
        ``received`` or the sent-by host, at ``rport`` or the sent-by port (RFC 3261
        §18.2.2, RFC 3581 §4)."""
        transport = transport or self.transport.lower()
        host = self.received or self.host.strip("[]")
        port = self.rport or self.port or DEFAULT_PORTS.get(transport, 5060)
        return Address(transport, host, port)

    def with_received(self, host: str, rport: int | None) -> Via:
        """This Via as a server stamps it on receipt (RFC 3261 §18.2.1, RFC 3581 §4):
        ``received=host``, and ``rport`` filled in when given; one copy, not two."""
        items = [item for item in self.params.items() if item[0].lower() != "received"]
        if rport is not None:
            items = [
                (name, str(rport)) if name.lower() == "rport" else (name, value)
                for name, value in items
            ]
        items.append(("received", host))
        params = Params._from_tuples(tuple(items))
        if self.protocol != "SIP/2.0":
            return dataclasses.replace(self, params=params)
        return _fast_via(self.transport, self.host, self.port, params)

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{self.params}"


_MUTABLE_VIA = twin(Via)  # see _frozen.py


def _fast_via(transport: str, host: str, port: int | None, params: Params) -> Via:
    """``Via(transport, host, port, params)`` built as _frozen.py explains."""
    via = _MUTABLE_VIA()
    via.transport = transport
    via.host = host
    via.port = port
    via.params = params
    via.protocol = "SIP/2.0"
    via.__class__ = Via
    result: Via = via
    return result


# The usual Via: the host is the run of host characters after the space (':', ';' and
# the end cannot be part of it), checked against IPv4address / hostname by
# ``is_simple_host``.
_VIA_FAST_RE = re.compile(
    f"SIP/2\\.0/([A-Za-z]++) ([A-Za-z0-9_.\\-]++)(?::([0-9]{{1,5}}+))?({_SIMPLE_PARAMS})"
)


# via-parm = sent-protocol LWS sent-by *( SEMI via-params ), with SLASH, COLON and
# SEMI allowing LWS on both sides (§25.1).
_VIA_RE = re.compile(
    f"{_LWS}({_T}){_LWS}/{_LWS}({_T}){_LWS}/{_LWS}({_T}){_LWS1}({HOST_PATTERN})"
    f"(?:{_LWS}:{_LWS}([0-9]+))?(.*)",
    re.DOTALL,
)


def parse_via_list(text: str) -> list[Via]:
    """All Via values of one header line (comma-separated, RFC 3261 §7.3.1)."""
    if "," not in text:
        return [_parse_via(text)]
    parts = split_top_level(text)
    return [_parse_via(part) for part in parts]


def _parse_via(text: str) -> Via:
    m = _VIA_FAST_RE.fullmatch(text)
    if m is None:
        return _parse_via_slow(text)
    transport, host, port, params = m.groups()
    if not (SIMPLE_HOSTS.get(host) or is_simple_host(host)):  # the cache, then the check
        return _parse_via_slow(text)
    port_number = None if port is None else int(port)
    if port_number is not None and port_number > 65535:
        raise SipParseError(f"Via port out of range: {port}", header="Via")
    return _fast_via(transport.upper(), host, port_number, _simple_params(params))


def _parse_via_slow(text: str) -> Via:
    m = _VIA_RE.fullmatch(text)
    if m is None:
        raise SipParseError(f"malformed Via: {text.strip()[:60]!r}", header="Via")
    name, version, transport, host, port, params = m.groups()
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise SipParseError(f"bad IPv6 reference in Via: {host}", header="Via") from None
        host = host[1:-1]
    return Via(
        transport.upper(),
        host,
        None if port is None else parse_uint(port, header="Via", maximum=65535),
        Params.parse(params, header="Via"),
        f"{name.upper()}/{version}",
    )


# --------------------------------------------------------------------- name-addr

_STAR_URI = AbsoluteUri("*", "")


@dataclass(frozen=True, slots=True)
class NameAddress:
    """A name-addr or addr-spec with its header parameters (RFC 3261 §20.10, §20.20).

    ``display_name`` is the unquoted text; ``is_star`` marks the ``Contact: *`` of a
    REGISTER that removes every binding.
    """

    uri: Uri
    display_name: str | None = None
    params: Params = field(default_factory=Params)
    is_star: bool = False

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def expires(self) -> int | None:
        """The ``expires`` contact parameter; values above 2**32-1 are clamped to it."""
        value = self.params.get("expires")
        if value is None:
            return None
        try:
            return parse_uint(value, header="Contact")
        except SipParseError:
            # RFC 4475 §3.1.2.4: a huge value means "as long as allowed"; the
            # registrar applies its own maximum.
            if value.isascii() and value.isdigit():
                return 2**32 - 1
            raise

    @property
    def q(self) -> float | None:
        """The ``q`` contact parameter (qvalue, 0 to 1, RFC 3261 §20.10)."""
        value = self.params.get("q")
        if value is None:
            return None
        if re.fullmatch(r"[01](?:\.[0-9]{0,3})?", value) is None or float(value) > 1.0:
            raise SipParseError(f"bad q value in Contact: {value[:20]!r}", header="Contact")
        return float(value)

    def with_param(self, name: str, value: str | None) -> NameAddress:
        return dataclasses.replace(self, params=self.params.with_(name, value))

    def without_param(self, name: str) -> NameAddress:
        return dataclasses.replace(self, params=self.params.without(name))

    def __str__(self) -> str:
        if self.is_star:
            return "*"
        if self.display_name is not None:
            return f"{quote_string(self.display_name)} <{self.uri}>{self.params}"
        return f"<{self.uri}>{self.params}"


# The usual name-addr, its SIP URI included (one match instead of two): the groups
# are the display name (quoted, or a token), the URI with the groups of
# SIP_URI_FAST_PATTERN, and the header parameters.
_SIP_NAME_ADDR_FAST_RE = re.compile(
    f'(?:"([^"\\\\\\r\\n]*+)" ?|({_T_POSSESSIVE}) ?)?<({SIP_URI_FAST_PATTERN})>({_SIMPLE_PARAMS})'
)
_NAME_ADDR_FAST_RE = re.compile(
    f'(?:"([^"\\\\\\r\\n]*)" ?|({_T}) ?)?<([^<>\\s"]+)>({_SIMPLE_PARAMS})'
)
_ADDR_SPEC_FAST_RE = re.compile(f'([^<>\\s";?,]+)({_SIMPLE_PARAMS})')
_QUOTED_RE = re.compile(QUOTED_STRING)
_DISPLAY_TOKENS_RE = re.compile(f"{_T}(?:{_LWS1}{_T})*")


def parse_name_addr(text: str, header: str = "To") -> NameAddress:
    """Parse ``"Name" <uri>;params``, ``Name <uri>;params`` or ``uri;params``.

    In the addr-spec form (no ``<>``) everything after the first ``;`` is a header
    parameter, not a URI parameter (RFC 3261 §20.10).
    """
    m = _SIP_NAME_ADDR_FAST_RE.fullmatch(text)
    if m is not None:
        quoted, token, uri_text, scheme, user, host, port, uri_params, params = m.groups()
        uri = fast_sip_uri(uri_text, scheme, user, host, port, uri_params)
        if uri is not None:  # else the host or port needs the general parser
            display_name = token if quoted is None else quoted
            return _fast_name_addr(uri, display_name, _simple_params(params))
    return _parse_name_addr_general(text, header)


def _parse_name_addr_general(text: str, header: str) -> NameAddress:
    m = _NAME_ADDR_FAST_RE.fullmatch(text)
    if m is not None:
        quoted, token, uri, params = m.groups()
        return _fast_name_addr(
            _uri(uri, header), token if quoted is None else quoted, _simple_params(params)
        )
    m = _ADDR_SPEC_FAST_RE.fullmatch(text)
    if m is not None:
        uri, params = m.groups()
        return _fast_name_addr(_uri(uri, header), None, _simple_params(params))
    return _parse_name_addr_slow(text, header)


_MUTABLE_NAME_ADDRESS = twin(NameAddress)  # see _frozen.py


def _fast_name_addr(uri: Uri, display_name: str | None, params: Params) -> NameAddress:
    """``NameAddress(uri, display_name, params)`` built as _frozen.py explains."""
    name_addr = _MUTABLE_NAME_ADDRESS()
    name_addr.uri = uri
    name_addr.display_name = display_name
    name_addr.params = params
    name_addr.is_star = False
    name_addr.__class__ = NameAddress
    result: NameAddress = name_addr
    return result


def _uri(text: str, header: str) -> Uri:
    try:
        return parse_uri(text)
    except SipParseError as exc:
        raise SipParseError(f"{exc.reason} in {header}", header=header) from None


def _parse_name_addr_slow(text: str, header: str) -> NameAddress:
    stripped = text.strip(" \t\r\n")
    display: str | None = None
    if stripped.startswith('"'):
        m = _QUOTED_RE.match(stripped)
        if m is None:
            raise SipParseError(f"unterminated quoted display name in {header}", header=header)
        display = unquote_string(m.group(0))
        rest = stripped[m.end() :].lstrip(" \t\r\n")
        if not rest.startswith("<"):
            raise SipParseError(f"expected <URI> after display name in {header}", header=header)
    else:
        lt = stripped.find("<")
        if lt < 0:
            return _parse_addr_spec(stripped, header)
        name = stripped[:lt].rstrip(" \t\r\n")
        if name:
            if _DISPLAY_TOKENS_RE.fullmatch(name) is None:
                raise SipParseError(f"bad unquoted display name in {header}", header=header)
            display = " ".join(name.split())
        rest = stripped[lt:]
    gt = rest.find(">")
    if gt < 0:
        raise SipParseError(f"missing '>' in {header}", header=header)
    uri_text = rest[1:gt]
    if uri_text != uri_text.strip(" \t\r\n"):
        raise SipParseError(f"LWS inside <URI> in {header}", header=header)
    return NameAddress(_uri(uri_text, header), display, Params.parse(rest[gt + 1 :], header=header))


def _parse_addr_spec(text: str, header: str) -> NameAddress:
    semi = text.find(";")
    uri_text = text if semi < 0 else text[:semi]
    uri_text = uri_text.rstrip(" \t\r\n")
    # §20.10: a URI holding ",", "?" or ";" must be in <> (so ";" starts header params).
    if not uri_text or "?" in uri_text or "," in uri_text:
        raise SipParseError(f"malformed address in {header}: {text[:60]!r}", header=header)
    params = "" if semi < 0 else text[semi:]
    return NameAddress(_uri(uri_text, header), None, Params.parse(params, header=header))


def parse_name_addr_list(text: str, header: str = "Contact") -> list[NameAddress]:
    """Contact / Route / Record-Route values; ``*`` gives one star NameAddress."""
    parts = [text] if "," not in text else split_top_level(text)
    if len(parts) == 1 and parts[0].strip(" \t\r\n") == "*":
        return [NameAddress(_STAR_URI, is_star=True)]
    result: list[NameAddress] = []
    for part in parts:
        if not part.strip(" \t\r\n"):
            raise SipParseError(f"empty element in {header} list", header=header)
        result.append(parse_name_addr(part, header))
    return result


# -------------------------------------------------------------------------- CSeq


@dataclass(frozen=True, slots=True)
class CSeq:
    """CSeq (RFC 3261 §20.16): sequence number and method."""

    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


_MUTABLE_CSEQ = twin(CSeq)  # see _frozen.py
_CSEQ_FAST_RE = re.compile(f"([0-9]{{1,10}}+) ({_T_POSSESSIVE})")
_CSEQ_RE = re.compile(f"{_LWS}([0-9]+){_LWS1}({_T}){_LWS}")
_CSEQ_MAX = 2**32 - 1


def parse_cseq(text: str) -> CSeq:
    """Parse ``1 INVITE``; the number must fit 32 bits unsigned (RFC 3261 §20.16)."""
    m = _CSEQ_FAST_RE.fullmatch(text)
    if m is not None:
        number_text, method = m.groups()
        number = int(number_text)
        if number <= _CSEQ_MAX:
            cseq = _MUTABLE_CSEQ()
            cseq.number = number
            cseq.method = method
            cseq.__class__ = CSeq
            result: CSeq = cseq
            return result
    m = _CSEQ_RE.fullmatch(text)
    if m is None:
        raise SipParseError(f"malformed CSeq: {text.strip()[:40]!r}", header="CSeq")
    return CSeq(parse_uint(m.group(1), header="CSeq", maximum=_CSEQ_MAX), m.group(2))


# ----------------------------------------------------------------- Content-Type


@dataclass(frozen=True, slots=True)
class ContentType:
    """A media type (RFC 3261 §20.15): lower-case ``type/subtype`` and parameters."""

    media_type: str
    params: Params = field(default_factory=Params)

    @property
    def charset(self) -> str | None:
        return self.params.get_unquoted("charset")

    @property
    def boundary(self) -> str | None:
        return self.params.get_unquoted("boundary")

    def __str__(self) -> str:
        return f"{self.media_type}{self.params}"


_MEDIA_TYPE_RE = re.compile(f"{_LWS}({_T}){_LWS}/{_LWS}({_T})(.*)", re.DOTALL)


def parse_content_type(text: str) -> ContentType:
    m = _MEDIA_TYPE_RE.fullmatch(text)
    if m is None:
        raise SipParseError(f"malformed Content-Type: {text.strip()[:60]!r}", header="Content-Type")
    media_type = f"{m.group(1)}/{m.group(2)}".lower()
    return ContentType(media_type, Params.parse(m.group(3), header="Content-Type"))


# ----------------------------------------------------------------------- Reason


@dataclass(frozen=True, slots=True)
class Reason:
    """One Reason value (RFC 3326): ``Q.850;cause=16;text="NORMAL_CLEARING"``."""

    protocol: str
    cause: int | None = None
    text: str | None = None
    params: Params = field(default_factory=Params)

    def __str__(self) -> str:
        params = self.params.without("cause").without("text")
        if self.text is not None:
            params = Params([("text", quote_string(self.text)), *params.items()])
        if self.cause is not None:
            params = Params([("cause", str(self.cause)), *params.items()])
        return f"{self.protocol}{params}"


_REASON_RE = re.compile(f"{_LWS}({_T})(.*)", re.DOTALL)


def parse_reason_list(text: str) -> list[Reason]:
    reasons: list[Reason] = []
    for part in split_top_level(text):
        m = _REASON_RE.fullmatch(part)
        if m is None:
            raise SipParseError(f"malformed Reason: {part[:60]!r}", header="Reason")
        params = Params.parse(m.group(2), header="Reason")
        cause_text = params.get("cause")
        cause = None if cause_text is None else parse_uint(cause_text, header="Reason")
        reasons.append(Reason(m.group(1), cause, params.get_unquoted("text"), params))
    return reasons


# ------------------------------------------------------------------ token lists


def parse_token_list(text: str, header: str = "Supported") -> list[str]:
    """Allow / Supported / Require / Proxy-Require values; empty elements are skipped."""
    tokens: list[str] = []
    for part in text.split(","):
        item = part.strip(" \t\r\n")
        if not item:
            continue
        if not is_token(item):
            raise SipParseError(f"bad token {item[:40]!r} in {header}", header=header)
        tokens.append(item)
    return tokens
