"""HTTP Digest authentication for SIP (RFC 3261 §22.4, RFC 2617, RFC 7616, RFC 8760).

Parses and renders challenges (``WWW-Authenticate`` / ``Proxy-Authenticate``) and
credentials (``Authorization`` / ``Proxy-Authorization``), computes and verifies
responses for MD5, SHA-256 and SHA-512-256 with their ``-sess`` variants, with qop
``auth``, ``auth-int`` or none (the RFC 2069 form older phones still send).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from sipline.sip._errors import SipParseError
from sipline.sip._params import QUOTED_STRING, TOKEN_CHARS, quote_string, unquote_string

__all__ = [
    "DigestChallenge",
    "DigestCredentials",
    "compute_ha1",
    "compute_response",
    "make_credentials",
    "parse_authorization",
    "verify_credentials",
]

_LWS = r"[ \t\r\n]*"
_SCHEME_RE = re.compile(f"{_LWS}([{TOKEN_CHARS}]+)(?:[ \t\r\n]+(.*))?", re.DOTALL)
# auth-param = token EQUAL ( token / quoted-string ), separated by COMMA (§25.1);
# unquoted values are taken up to the next comma, as some phones send nc/qop bare.
_AUTH_PARAM_RE = re.compile(
    f'{_LWS}([{TOKEN_CHARS}]+\\*?){_LWS}={_LWS}({QUOTED_STRING}|[^,\\s"]+){_LWS}(?:,|$)'
)
_SEPARATOR_RE = re.compile(f"{_LWS},")
# What phones send: name=value pairs, each but the last followed by a comma and
# spaces, no quoted-pairs.  Items cannot overlap (a name never starts with a space,
# a quoted value never holds a quote), so the match is linear; anything else takes
# the item-by-item path, which accepts the same pairs or names the defect.
_PLAIN_PAIR = rf'([{TOKEN_CHARS}]+)=("[^"\\\r\n]*"|[^,\s"]+)'
_PLAIN_PARAMS_RE = re.compile(f"(?:{_PLAIN_PAIR.replace('(', '(?:')}(?:,[ \t]*|$))+")
_PLAIN_PAIR_RE = re.compile(_PLAIN_PAIR)
_NC_RE = re.compile(r"[0-9A-Fa-f]{8}")

_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}
if "sha512_256" in hashlib.algorithms_available:  # RFC 7616 §3.2; OpenSSL dependent
    _HASHES["SHA-512-256"] = lambda data: hashlib.new("sha512_256", data).hexdigest()


def _hash_function(algorithm: str) -> tuple[Callable[[bytes], str], bool]:
    """The hash for ``algorithm`` (case-insensitive) and whether it is a -sess variant."""
    name = algorithm.upper()
    session = name.endswith("-SESS")
    if session:
        name = name[: -len("-SESS")]
    try:
        return _HASHES[name], session
    except KeyError:
        raise SipParseError(
            f"unsupported digest algorithm {algorithm[:30]!r}", header="Authorization"
        ) from None


def supported_algorithm(algorithm: str) -> bool:
    """True when :func:`compute_response` can handle ``algorithm``."""
    name = algorithm.upper().removesuffix("-SESS")
    return name in _HASHES


def _parse_auth_params(text: str, header: str) -> dict[str, str]:
    """``name=value`` pairs of a Digest header, names lower-cased, values raw."""
    if _PLAIN_PARAMS_RE.fullmatch(text) is not None:
        pairs = _PLAIN_PAIR_RE.findall(text)
        params = {name.lower(): value for name, value in pairs}
        if len(params) == len(pairs):
            return params
        # a duplicate: the general path names it
    return _parse_auth_params_one_by_one(text, header)


def _parse_auth_params_one_by_one(text: str, header: str) -> dict[str, str]:
    """:func:`_parse_auth_params` for any form: LWS around ``=`` and ``,``, empty list
    elements, quoted-pairs; names the first defect."""
    params: dict[str, str] = {}
    pos = 0
    end = len(text)
    while pos < end:
        sep = _SEPARATOR_RE.match(text, pos)  # tolerate empty list elements
        if sep is not None:
            pos = sep.end()
            continue
        if not text[pos:].strip(" \t\r\n"):
            break
        m = _AUTH_PARAM_RE.match(text, pos)
        if m is None:
            raise SipParseError(f"malformed {header}: {text[pos : pos + 40]!r}", header=header)
        name = m.group(1).lower()
        if name in params:
            raise SipParseError(f"duplicate {name} in {header}", header=header)
        params[name] = m.group(2)
        pos = m.end()
    return params


def _split_scheme(text: str, header: str) -> tuple[str, str]:
    m = _SCHEME_RE.fullmatch(text)
    if m is None:
        raise SipParseError(f"malformed {header}: {text.strip()[:40]!r}", header=header)
    return m.group(1), m.group(2) or ""


def _render(scheme: str, items: list[tuple[str, str | None, bool]]) -> str:
    """``Digest a="b", c=d``; each item is (name, value, quoted); None values are skipped."""
    parts = [
        f"{name}={quote_string(value) if quoted else value}"
        for name, value, quoted in items
        if value is not None
    ]
    return f"{scheme} " + ", ".join(parts)


# Parameters a challenge / credentials object holds in named fields.
_CHALLENGE_FIELDS = ("realm", "nonce", "algorithm", "qop", "opaque", "stale", "domain", "userhash")
_CREDENTIAL_FIELDS = (
    "username",
    "username*",
    "realm",
    "nonce",
    "uri",
    "response",
    "algorithm",
    "cnonce",
    "opaque",
    "qop",
    "nc",
    "userhash",
)


@dataclass(frozen=True, slots=True)
class DigestChallenge:
    """A Digest challenge (RFC 7616 §3.3): what a 401/407 asks the client to answer."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None
    userhash: bool = False
    other: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def parse(cls, text: str, *, header: str = "WWW-Authenticate") -> DigestChallenge:
        """Parse ``Digest realm="x", nonce="y", ...`` (folded or not)."""
        scheme, rest = _split_scheme(text, header)
        if scheme.lower() != "digest":
            raise SipParseError(f"unsupported {header} scheme {scheme[:20]!r}", header=header)
        params = _parse_auth_params(rest, header)
        realm = params.get("realm")
        nonce = params.get("nonce")
        if realm is None or nonce is None:
            raise SipParseError(f"{header} without realm or nonce", header=header)
        qop = params.get("qop")
        return cls(
            realm=unquote_string(realm),
            nonce=unquote_string(nonce),
            algorithm=unquote_string(params.get("algorithm", "MD5")),
            qop=tuple(q.strip() for q in unquote_string(qop).split(",") if q.strip())
            if qop
            else (),
            opaque=_unquoted_or_none(params.get("opaque")),
            stale=unquote_string(params.get("stale", "false")).lower() == "true",
            domain=_unquoted_or_none(params.get("domain")),
            userhash=unquote_string(params.get("userhash", "false")).lower() == "true",
            other=tuple((k, v) for k, v in params.items() if k not in _CHALLENGE_FIELDS),
        )

    def __str__(self) -> str:
        items: list[tuple[str, str | None, bool]] = [
            ("realm", self.realm, True),
            ("nonce", self.nonce, True),
            ("algorithm", self.algorithm, False),
            ("qop", ",".join(self.qop) if self.qop else None, True),
            ("opaque", self.opaque, True),
            ("domain", self.domain, True),
            ("stale", "TRUE" if self.stale else None, False),
            ("userhash", "true" if self.userhash else None, False),
        ]
        items += [(name, value, False) for name, value in self.other]
        return _render("Digest", items)


def _unquoted_or_none(value: str | None) -> str | None:
    return None if value is None else unquote_string(value)


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    """Digest credentials (RFC 7616 §3.4) from Authorization / Proxy-Authorization."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    cnonce: str | None = None
    opaque: str | None = None
    qop: str | None = None
    nc: str | None = None
    userhash: bool = False
    other: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str, *, header: str = "Authorization") -> DigestCredentials:
        """Parse a Digest Authorization value; other schemes raise :class:`SipParseError`."""
        scheme, rest = _split_scheme(text, header)
        if scheme.lower() != "digest":
            raise SipParseError(f"unsupported {header} scheme {scheme[:20]!r}", header=header)
        return cls._from_params(_parse_auth_params(rest, header), header)

    @classmethod
    def _from_params(cls, params: dict[str, str], header: str) -> DigestCredentials:
        username = _username(params, header)
        missing = [n for n in ("realm", "nonce", "uri", "response") if n not in params]
        if missing:
            raise SipParseError(f"{header} without {', '.join(missing)}", header=header)
        qop = _unquoted_or_none(params.get("qop"))
        nc = _unquoted_or_none(params.get("nc"))
        cnonce = _unquoted_or_none(params.get("cnonce"))
        # RFC 7616 §3.4: cnonce and nc MUST be present when qop is; nc is 8 hex digits.
        if qop is not None and (cnonce is None or nc is None):
            raise SipParseError(f"{header} with qop but no cnonce or nc", header=header)
        if nc is not None and _NC_RE.fullmatch(nc) is None:
            raise SipParseError(f"bad nonce count in {header}: {nc[:20]!r}", header=header)
        return cls(
            username=username,
            realm=unquote_string(params["realm"]),
            nonce=unquote_string(params["nonce"]),
            uri=unquote_string(params["uri"]),
            response=unquote_string(params["response"]).lower(),
            algorithm=unquote_string(params.get("algorithm", "MD5")),
            cnonce=cnonce,
            opaque=_unquoted_or_none(params.get("opaque")),
            qop=qop,
            nc=nc,
            userhash=unquote_string(params.get("userhash", "false")).lower() == "true",
            other=tuple((k, v) for k, v in params.items() if k not in _CREDENTIAL_FIELDS),
        )

    @property
    def nonce_count(self) -> int | None:
        return None if self.nc is None else int(self.nc, 16)

    def __str__(self) -> str:
        ascii_name = self.username.isascii()
        items: list[tuple[str, str | None, bool]] = [
            ("username", self.username, True)
            if ascii_name
            else ("username*", "UTF-8''" + _percent_encode(self.username), False),
            ("realm", self.realm, True),
            ("nonce", self.nonce, True),
            ("uri", self.uri, True),
            ("response", self.response, True),
            ("algorithm", self.algorithm, False),
            ("cnonce", self.cnonce, True),
            ("opaque", self.opaque, True),
            ("qop", self.qop, False),
            ("nc", self.nc, False),
            ("userhash", "true" if self.userhash else None, False),
        ]
        items += [(name, value, False) for name, value in self.other]
        return _render("Digest", items)


def _username(params: dict[str, str], header: str) -> str:
    if "username" in params:
        return unquote_string(params["username"])
    extended = params.get("username*")
    if extended is None:
        raise SipParseError(f"{header} without username", header=header)
    # RFC 7616 §3.4.4 / RFC 5987: username*=UTF-8''percent-encoded
    charset, _, rest = extended.partition("'")
    _, _, encoded = rest.partition("'")
    if charset.upper() != "UTF-8":
        raise SipParseError(f"unsupported username* charset in {header}", header=header)
    return unquote(encoded, encoding="utf-8", errors="replace")


def _percent_encode(text: str) -> str:
    safe = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~")
    return "".join(ch if ch in safe else "".join(f"%{b:02X}" for b in ch.encode()) for ch in text)


def parse_authorization(text: str, *, header: str = "Authorization") -> DigestCredentials | None:
    """Digest credentials, or ``None`` for another scheme (RFC 4475 §3.3.7: ignore it).

    A Digest value that is malformed still raises :class:`SipParseError`.
    """
    scheme, rest = _split_scheme(text, header)
    if scheme.lower() != "digest":
        return None
    return DigestCredentials._from_params(_parse_auth_params(rest, header), header)


def compute_ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """H(username:realm:password) in hex, the value a user store keeps (RFC 7616 §3.4.2).

    For ``-sess`` algorithms this is the stored part; the session step that mixes in
    nonce and cnonce happens in :func:`compute_response`.
    """
    hash_hex, _ = _hash_function(algorithm)
    return hash_hex(f"{username}:{realm}:{password}".encode())


def compute_response(
    *,
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    algorithm: str = "MD5",
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The request-digest (RFC 7616 §3.4.1, RFC 2617 §3.2.2.1, RFC 2069 without qop)."""
    hash_hex, session = _hash_function(algorithm)
    if session:
        # RFC 7616 §3.4.2: A1 = H(user:realm:password):nonce:cnonce for -sess.
        if cnonce is None:
            raise SipParseError(f"{algorithm} needs a cnonce", header="Authorization")
        ha1 = hash_hex(f"{ha1}:{nonce}:{cnonce}".encode())
    if qop is None:
        ha2 = hash_hex(f"{method}:{uri}".encode())
        return hash_hex(f"{ha1}:{nonce}:{ha2}".encode())
    qop_name = qop.lower()
    if qop_name == "auth-int":  # RFC 7616 §3.4.3: A2 = method:uri:H(entity-body)
        ha2 = hash_hex(f"{method}:{uri}:{hash_hex(body)}".encode())
    elif qop_name == "auth":
        ha2 = hash_hex(f"{method}:{uri}".encode())
    else:
        raise SipParseError(f"unsupported qop {qop[:20]!r}", header="Authorization")
    if nc is None or cnonce is None:
        raise SipParseError("qop without nc or cnonce", header="Authorization")
    return hash_hex(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop_name}:{ha2}".encode())


def verify_credentials(
    credentials: DigestCredentials, *, method: str, ha1: str, body: bytes = b""
) -> bool:
    """True when ``credentials.response`` matches (compared in constant time).

    ``ha1`` is the stored :func:`compute_ha1` digest for the credentials' algorithm
    family.  Checking realm, nonce freshness and that ``uri`` names the request is
    the caller's job.  Unsupported algorithms or qop values give False.
    """
    try:
        expected = compute_response(
            ha1=ha1,
            nonce=credentials.nonce,
            method=method,
            uri=credentials.uri,
            algorithm=credentials.algorithm,
            qop=credentials.qop,
            nc=credentials.nc,
            cnonce=credentials.cnonce,
            body=body,
        )
    except SipParseError:
        return False
    return hmac.compare_digest(expected.encode(), credentials.response.lower().encode())


def make_credentials(
    challenge: DigestChallenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    body: bytes = b"",
    cnonce: str | None = None,
    nc: int = 1,
) -> DigestCredentials:
    """Answer ``challenge`` (client side): qop=auth when offered, then auth-int, else none."""
    if "auth" in challenge.qop:
        qop: str | None = "auth"
    elif "auth-int" in challenge.qop:
        qop = "auth-int"
    else:
        qop = None
    _, session = _hash_function(challenge.algorithm)
    if qop is not None or session:
        cnonce = cnonce if cnonce is not None else secrets.token_hex(16)
    else:
        cnonce = None
    nc_text = f"{nc:08x}" if qop is not None else None
    response = compute_response(
        ha1=compute_ha1(username, challenge.realm, password, challenge.algorithm),
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        algorithm=challenge.algorithm,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
        body=body,
    )
    return DigestCredentials(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=challenge.algorithm,
        cnonce=cnonce,
        opaque=challenge.opaque,
        qop=qop,
        nc=nc_text,
    )
