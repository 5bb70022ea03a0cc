"""SIP, SIPS and tel URIs and their comparison (RFC 3261 §19.1, RFC 3966).

``parse_uri`` returns a :class:`SipUri`, a :class:`TelUri` or, for any other
scheme (``isbn:``, ``http:``, ``soap.beep:`` ...), an :class:`AbsoluteUri`.
User, password, parameters and headers of a SIP URI are stored decoded (``%61``
becomes ``a``) and re-escaped when rendered; a parsed URI that is not modified
renders back to its original text.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
import string
from dataclasses import dataclass, field
from typing import TypeAlias
from urllib.parse import unquote

from sipline.sip._errors import SipParseError
from sipline.sip._frozen import twin
from sipline.sip._params import Params

__all__ = [
    "SIMPLE_HOSTS",
    "SIP_URI_FAST_PATTERN",
    "AbsoluteUri",
    "SipUri",
    "TelUri",
    "Uri",
    "parse_uri",
    "uris_equivalent",
]

# RFC 3261 §25.1 character classes (without the "%" HEX HEX escape).
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()"
_USER_CHARS = _UNRESERVED + r"&=+$,;?/"  # user-unreserved
_PASSWORD_CHARS = _UNRESERVED + r"&=+$,"
_PARAM_CHARS = _UNRESERVED + r"\[\]/:&+$"  # param-unreserved
_HEADER_CHARS = _UNRESERVED + r"\[\]/?:+$"  # hnv-unreserved

# host = hostname / IPv4address / IPv6reference (§25.1).  Labels may end with "-" and
# hold "_" (seen in the wild); the top label must start with a letter, which keeps
# "256.1.1.1" from passing as a host name.  No nested repetition: linear time.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"
IPV4_PATTERN = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
HOSTNAME_PATTERN = r"(?:[A-Za-z0-9_][A-Za-z0-9_\-]*\.)*[A-Za-z_][A-Za-z0-9_\-]*\.?"
IPV6_REFERENCE_PATTERN = r"\[[0-9A-Fa-f:.]+\]"
HOST_PATTERN = f"{IPV6_REFERENCE_PATTERN}|{IPV4_PATTERN}|{HOSTNAME_PATTERN}"

_SIP_URI_RE = re.compile(
    r"(?P<scheme>[sS][iI][pP][sS]?):"
    rf"(?:(?P<user>[{_USER_CHARS}%]+)(?::(?P<password>[{_PASSWORD_CHARS}%]*))?@)?"
    rf"(?P<host>{HOST_PATTERN})"
    r"(?::(?P<port>[0-9]{1,5}))?"
    rf"(?P<params>(?:;[{_PARAM_CHARS}%]+(?:=[{_PARAM_CHARS}%]+)?)*)"
    rf"(?:\?(?P<headers>[{_HEADER_CHARS}%]+=[{_HEADER_CHARS}%]*"
    rf"(?:&[{_HEADER_CHARS}%]+=[{_HEADER_CHARS}%]*)*))?"
)
# The usual SIP URI, matched without the backtracking of _SIP_URI_RE's host
# alternatives: lower-case scheme, a user of unreserved characters (no escape, no
# password), a run of host characters that ``is_simple_host`` then checks, parameters
# without escapes, no headers.  Whatever it matches (with a simple host), _SIP_URI_RE
# matches with the same groups, so ``fast_sip_uri`` gives what _parse_sip_uri would.
# Possessive quantifiers: see SIMPLE_PARAMS in _params.py.
SIP_URI_FAST_PATTERN = (
    r"(sips?):(?:([A-Za-z0-9\-_.!~*'()&=+$,]++)@)?([A-Za-z0-9_.\-]++)(?::([0-9]{1,5}+))?"
    r"((?:;[A-Za-z0-9\-_.!~*'()\[\]/:&+$]++(?:=[A-Za-z0-9\-_.!~*'()\[\]/:&+$]++)?)*+)"
)
_SIP_URI_FAST_RE = re.compile(SIP_URI_FAST_PATTERN)
_SIMPLE_HOST_RE = re.compile(f"{IPV4_PATTERN}|{HOSTNAME_PATTERN}")
SIMPLE_HOSTS: dict[str, bool] = {}  # host -> matches _SIMPLE_HOST_RE; bounded
SIMPLE_HOSTS_LIMIT = 4096


def is_simple_host(host: str) -> bool:
    """Whether ``host`` (host characters only) is an IPv4 address or a host name.

    The answers are kept (a server sees the same few hosts), so the fast paths check
    a host with a dictionary look-up instead of the alternatives of HOST_PATTERN.
    """
    known = SIMPLE_HOSTS.get(host)
    if known is not None:
        return known
    simple = _SIMPLE_HOST_RE.fullmatch(host) is not None
    if len(SIMPLE_HOSTS) < SIMPLE_HOSTS_LIMIT:
        SIMPLE_HOSTS[host] = simple
    return simple


_URI_PARAM_RE = re.compile(rf";([{_PARAM_CHARS}%]+)(?:=([{_PARAM_CHARS}%]+))?")
_BAD_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*):")
# RFC 3966 §3: global numbers start with "+", local ones may hold hex digits, "*" and "#".
_TEL_NUMBER_RE = re.compile(r"\+?[0-9A-Fa-f*#.()\-]+")
_TEL_RE = re.compile(rf"[tT][eE][lL]:([^;]+)((?:;[{_PARAM_CHARS}%]+(?:=[{_PARAM_CHARS}%]+)?)*)")
_ABSOLUTE_REST_RE = re.compile(r"[^\s<>\"]+")
_TEL_VISUAL_SEPARATORS = str.maketrans("", "", "-.()")

# RFC 3261 §19.1.4: these parameters must match when present in either URI.
_MUST_MATCH_PARAMS = ("user", "ttl", "method", "maddr", "transport")


def _escape(text: str, allowed: frozenset[str]) -> str:
    """Percent-encode every character of ``text`` outside ``allowed`` (UTF-8 octets)."""
    out: list[str] = []
    for ch in text:
        if ch in allowed:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogateescape"))
    return "".join(out)


_UNRESERVED_SET = string.ascii_letters + string.digits + "-_.!~*'()"
_USER_SET = frozenset(_UNRESERVED_SET + "&=+$,;?/")
_PASSWORD_SET = frozenset(_UNRESERVED_SET + "&=+$,")
_PARAM_SET = frozenset(_UNRESERVED_SET + "[]/:&+$")
_HEADER_SET = frozenset(_UNRESERVED_SET + "[]/?:+$")


def _decode(text: str, what: str) -> str:
    """Decode %HH escapes (RFC 3261 §19.1.2); a ``%`` not followed by two hex digits fails."""
    if "%" not in text:
        return text
    if _BAD_ESCAPE_RE.search(text):
        raise SipParseError(f"bad %-escape in URI {what}: {text[:60]!r}")
    return unquote(text, encoding="utf-8", errors="surrogateescape")


@dataclass(frozen=True, slots=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI (RFC 3261 §19.1.1).

    ``host`` holds an IPv6 address without brackets (see :attr:`host_ref`);
    ``user``, ``password``, parameter values and headers are decoded text.
    """

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: Params = field(default_factory=Params)
    headers: tuple[tuple[str, str], ...] = ()
    _text: str | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def host_ref(self) -> str:
        """The host as written in a URI: IPv6 addresses in brackets."""
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def hostport(self) -> str:
        return self.host_ref if self.port is None else f"{self.host_ref}:{self.port}"

    @property
    def aor(self) -> str:
        """``user@host`` (host lower-cased, no port or parameters): a registrar's key."""
        host = self.host_ref.lower()
        return host if self.user is None else f"{self.user}@{host}"

    @property
    def transport(self) -> str | None:
        value = self.params.get("transport")
        return None if value is None else value.lower()

    @property
    def lr(self) -> bool:
        return "lr" in self.params

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    def with_param(self, name: str, value: str | None) -> SipUri:
        return dataclasses.replace(self, params=self.params.with_(name, value))

    def without_param(self, name: str) -> SipUri:
        return dataclasses.replace(self, params=self.params.without(name))

    def __str__(self) -> str:
        if self._text is not None:
            return self._text
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(_escape(self.user, _USER_SET))
            if self.password is not None:
                parts += (":", _escape(self.password, _PASSWORD_SET))
            parts.append("@")
        parts.append(self.hostport)
        for name, value in self.params.items():
            parts += (";", _escape(name, _PARAM_SET))
            if value is not None:
                parts += ("=", _escape(value, _PARAM_SET))
        for i, (name, value) in enumerate(self.headers):
            parts += ("?" if i == 0 else "&", _escape(name, _HEADER_SET), "=")
            parts.append(_escape(value, _HEADER_SET))
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class TelUri:
    """A ``tel:`` URI (RFC 3966): the number as written and its parameters."""

    number: str
    params: Params = field(default_factory=Params)
    _text: str | None = field(default=None, init=False, compare=False, repr=False)

    scheme = "tel"

    @property
    def is_global(self) -> bool:
        return self.number.startswith("+")

    def __str__(self) -> str:
        if self._text is not None:
            return self._text
        return f"tel:{self.number}{self.params}"


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """Any other URI (``isbn:``, ``http:``, ``soap.beep:`` ...): scheme and the rest, opaque."""

    scheme: str
    rest: str
    _text: str | None = field(default=None, init=False, compare=False, repr=False)

    def __str__(self) -> str:
        if self._text is not None:
            return self._text
        return f"{self.scheme}:{self.rest}"


Uri: TypeAlias = SipUri | TelUri | AbsoluteUri


def parse_uri(text: str) -> Uri:
    """Parse a URI; SIP/SIPS and tel URIs are checked, other schemes kept opaque.

    Raises :class:`SipParseError` for a malformed URI (LWS inside, bad port, bad
    IPv6 reference, bad %-escape, ...).  URIs are immutable values and the same
    ones come back in every message of a dialog or registration, so results are
    kept in a bounded cache (failures are not cached).
    """
    return _parse_uri_cached(text)


@functools.lru_cache(maxsize=4096)
def _parse_uri_cached(text: str) -> Uri:
    scheme_match = _SCHEME_RE.match(text)
    if scheme_match is None:
        raise SipParseError(f"not a URI (no scheme): {text[:60]!r}")
    scheme = scheme_match.group(1).lower()
    if scheme in ("sip", "sips"):
        return _parse_sip_uri(text)
    if scheme == "tel":
        return _parse_tel_uri(text)
    rest = text[scheme_match.end() :]
    if _ABSOLUTE_REST_RE.fullmatch(rest) is None:
        raise SipParseError(f"malformed {scheme}: URI: {text[:60]!r}")
    absolute = AbsoluteUri(scheme, rest)
    object.__setattr__(absolute, "_text", text)
    return absolute


def _parse_sip_uri(text: str) -> SipUri:
    m = _SIP_URI_FAST_RE.fullmatch(text)
    if m is not None:
        scheme, user, host, port, params = m.groups()
        uri = fast_sip_uri(text, scheme, user, host, port, params)
        if uri is not None:
            return uri
    return _parse_sip_uri_general(text)


_MUTABLE_SIP_URI = twin(SipUri)  # see _frozen.py


def fast_sip_uri(
    text: str, scheme: str, user: str | None, host: str, port: str | None, params: str
) -> SipUri | None:
    """The SipUri of ``text`` from the groups of SIP_URI_FAST_PATTERN; ``None`` when
    the host or the port needs the general parser (which gives the verdict)."""
    if not (SIMPLE_HOSTS.get(host) or is_simple_host(host)):  # the cache, then the check
        return None
    port_number: int | None = None
    if port is not None:
        port_number = int(port)
        if port_number > 65535:
            return None
    uri = _MUTABLE_SIP_URI()
    uri.scheme = scheme
    uri.user = user
    uri.password = None
    uri.host = host
    uri.port = port_number
    uri.params = Params._from_simple(params) if params else _NO_PARAMS
    uri.headers = ()
    uri._text = text
    uri.__class__ = SipUri
    result: SipUri = uri
    return result


def _parse_sip_uri_general(text: str) -> SipUri:
    m = _SIP_URI_RE.fullmatch(text)
    if m is None:
        raise SipParseError(f"malformed SIP URI: {text[:80]!r}")
    scheme, user, password, host, port, params, headers = m.groups()
    if host[0] == "[":
        host = _check_host(host, text)
    port_number: int | None = None
    if port is not None:
        port_number = int(port)
        if port_number > 65535:
            raise SipParseError(f"port out of range in SIP URI: {text[:80]!r}")
    uri = SipUri(
        scheme.lower(),
        None if user is None else _decode(user, "user"),
        None if password is None else _decode(password, "password"),
        host,
        port_number,
        _parse_uri_params(params) if params else _NO_PARAMS,
        _parse_uri_headers(headers) if headers else (),
    )
    object.__setattr__(uri, "_text", text)
    return uri


_NO_PARAMS = Params()


def _check_host(host: str, text: str) -> str:
    """IPv6 references are checked and lose their brackets; the regex did the rest."""
    if host[0] == "[":
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise SipParseError(f"bad IPv6 reference in SIP URI: {text[:80]!r}") from None
        return host[1:-1]
    return host


def _parse_uri_params(text: str) -> Params:
    return Params(
        (_decode(name, "parameter"), None if not value else _decode(value, "parameter"))
        for name, value in _URI_PARAM_RE.findall(text)
    )


def _parse_uri_headers(text: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for item in text.split("&"):
        name, _, value = item.partition("=")
        pairs.append((_decode(name, "header"), _decode(value, "header")))
    return tuple(pairs)


def _parse_tel_uri(text: str) -> TelUri:
    m = _TEL_RE.fullmatch(text)
    if m is None or _TEL_NUMBER_RE.fullmatch(m.group(1)) is None:
        raise SipParseError(f"malformed tel URI: {text[:60]!r}")
    uri = TelUri(m.group(1), _parse_uri_params(m.group(2)) if m.group(2) else _NO_PARAMS)
    object.__setattr__(uri, "_text", text)
    return uri


def uris_equivalent(a: Uri, b: Uri) -> bool:
    """URI equality per RFC 3261 §19.1.4 (SIP/SIPS) and RFC 3966 §4 (tel)."""
    if isinstance(a, SipUri) and isinstance(b, SipUri):
        return _sip_equivalent(a, b)
    if isinstance(a, TelUri) and isinstance(b, TelUri):
        return _tel_equivalent(a, b)
    if isinstance(a, AbsoluteUri) and isinstance(b, AbsoluteUri):
        return a.scheme.lower() == b.scheme.lower() and unquote(a.rest) == unquote(b.rest)
    return False


def _normal_host(host: str) -> str:
    if ":" in host:
        return ipaddress.IPv6Address(host).compressed
    return host.lower().rstrip(".")


def _sip_equivalent(a: SipUri, b: SipUri) -> bool:
    # §19.1.4: a SIP and a SIPS URI are never equivalent; user and password are
    # case-sensitive; host case-insensitive; an explicit port never equals a default one.
    if a.scheme != b.scheme or a.user != b.user or a.password != b.password:
        return False
    if a.port != b.port or _normal_host(a.host) != _normal_host(b.host):
        return False
    params_a = {
        k: (v or "").lower() for k, v in zip(a.params.names(), _values(a.params), strict=True)
    }
    params_b = {
        k: (v or "").lower() for k, v in zip(b.params.names(), _values(b.params), strict=True)
    }
    for name in _MUST_MATCH_PARAMS:
        if params_a.get(name) != params_b.get(name):
            return False
    for name, value in params_a.items():
        if name in params_b and params_b[name] != value:
            return False
    # Header components are never ignored: all must be present in both and match.
    headers_a = sorted((name.lower(), value) for name, value in a.headers)
    headers_b = sorted((name.lower(), value) for name, value in b.headers)
    return headers_a == headers_b


def _values(params: Params) -> list[str | None]:
    return [value for _, value in params.items()]


def _tel_equivalent(a: TelUri, b: TelUri) -> bool:
    # RFC 3966 §4: visual separators are ignored, hex digits and parameters compare
    # case-insensitively, parameter order does not matter.
    number_a = a.number.translate(_TEL_VISUAL_SEPARATORS).lower()
    number_b = b.number.translate(_TEL_VISUAL_SEPARATORS).lower()
    if number_a != number_b:
        return False
    params_a = sorted(
        (k, (v or "").lower()) for k, v in zip(a.params.names(), _values(a.params), strict=True)
    )
    params_b = sorted(
        (k, (v or "").lower()) for k, v in zip(b.params.names(), _values(b.params), strict=True)
    )
    return params_a == params_b
