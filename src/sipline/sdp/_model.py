"""SDP session descriptions (RFC 8866): parse, inspect, rewrite, serialize.

A description is kept as its lines, in order, so that lines this module does not
understand (``a=rtcp-xr``, ``a=rtcp-fb``, vendor ``a=X-...``, ``k=``, ``z=``...) come back
byte for byte: ``bytes(SessionDescription.parse(data)) == data`` for any well-formed
``data``.  Only the ``m=`` line is held as fields; ``o=``, ``c=`` and ``a=`` lines are
read on demand through properties and replaced through the ``with_*`` methods, which
return new objects (descriptions are immutable).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from sipline.sdp._errors import SdpParseError

__all__ = [
    "Attribute",
    "Connection",
    "MediaDescription",
    "Origin",
    "SdpLine",
    "SessionDescription",
]

#: One ``<type>=<value>`` line (RFC 8866 section 5), type and value as on the wire.
SdpLine = tuple[str, str]

_EOL = re.compile(r"\r\n|\n")
_TRAILING_EOL = re.compile(r"(?:\r\n|\n)*\Z")
_TYPE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+\Z")  # RFC 8866 section 9 token


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=<nettype> <addrtype> <connection-address>`` (RFC 8866 section 5.7).

    ``suffix`` keeps a multicast ``/ttl/count`` part as written.
    """

    address: str
    address_type: str = "IP4"
    network_type: str = "IN"
    suffix: str = ""

    @classmethod
    def parse(cls, value: str) -> Connection:
        fields = value.split()
        if len(fields) != 3:
            raise SdpParseError(f"malformed c= line {value!r}")
        address, slash, rest = fields[2].partition("/")
        if not address:
            raise SdpParseError(f"malformed c= line {value!r}")
        return cls(address, fields[1], fields[0], slash + rest)

    @classmethod
    def for_address(cls, address: str) -> Connection:
        """An ``IN IP4``/``IN IP6`` connection for a literal address."""
        return cls(address, "IP6" if ":" in address else "IP4")

    @property
    def is_hold(self) -> bool:
        """``c=IN IP4 0.0.0.0``: RFC 2543 hold, still sent by old phones (RFC 3264 §8.4)."""
        return self.address in ("0.0.0.0", "::")  # noqa: S104 - a value, no bind

    def __str__(self) -> str:
        return f"{self.network_type} {self.address_type} {self.address}{self.suffix}"


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>``
    (RFC 8866 section 5.2)."""

    username: str
    session_id: str
    session_version: int
    address: str
    address_type: str = "IP4"
    network_type: str = "IN"

    @classmethod
    def parse(cls, value: str) -> Origin:
        fields = value.split()
        if len(fields) != 6 or not fields[2].isdigit():
            raise SdpParseError(f"malformed o= line {value!r}")
        user, session_id, version, net, addr_type, address = fields
        return cls(user, session_id, int(version), address, addr_type, net)

    def next_version(self) -> Origin:
        """The same session, one version on (RFC 3264 section 8: every new offer)."""
        return replace(self, session_version=self.session_version + 1)

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.network_type} {self.address_type} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Attribute:
    """``a=<name>`` or ``a=<name>:<value>`` (RFC 8866 section 5.13)."""

    name: str
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Attribute:
        name, colon, value = text.partition(":")
        return cls(name, value if colon else None)

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


def _attributes(lines: Iterable[SdpLine]) -> tuple[Attribute, ...]:
    return tuple(Attribute.parse(value) for kind, value in lines if kind == "a")


def _first(lines: Iterable[SdpLine], kind: str) -> str | None:
    for line_kind, value in lines:
        if line_kind == kind:
            return value
    return None


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """One ``m=<media> <port>[/<number>] <proto> <fmt> ...`` section (RFC 8866 §5.14)
    and the lines that follow it up to the next ``m=``."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    lines: tuple[SdpLine, ...] = ()
    port_count: int | None = None
    # The m= line as parsed, used while the fields still match it (exact round trip).
    _raw: tuple[tuple[object, ...], str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse_m_line(cls, value: str, lines: tuple[SdpLine, ...] = ()) -> MediaDescription:
        fields = value.split()
        if len(fields) < 3:
            raise SdpParseError(f"malformed m= line {value!r}")
        port_text, slash, count_text = fields[1].partition("/")
        if (
            not port_text.isdigit()
            or int(port_text) > 65535
            or (slash and not count_text.isdigit())
        ):
            raise SdpParseError(f"bad port in m= line {value!r}")
        if not _TOKEN.match(fields[0]):
            raise SdpParseError(f"bad media type in m= line {value!r}")
        media = cls(
            fields[0],
            int(port_text),
            fields[2],
            tuple(fields[3:]),
            lines,
            int(count_text) if slash else None,
        )
        return replace(media, _raw=(media._fields(), value))

    def _fields(self) -> tuple[object, ...]:
        return (self.media, self.port, self.port_count, self.proto, self.formats)

    @property
    def m_line(self) -> str:
        """The value of the ``m=`` line."""
        if self._raw is not None and self._raw[0] == self._fields():
            return self._raw[1]
        count = "" if self.port_count is None else f"/{self.port_count}"
        return " ".join((self.media, f"{self.port}{count}", self.proto, *self.formats))

    # -- reading -------------------------------------------------------------------

    @property
    def connection(self) -> Connection | None:
        """The media-level ``c=`` line, if any (the session-level one applies otherwise)."""
        value = _first(self.lines, "c")
        return None if value is None else Connection.parse(value)

    @property
    def attributes(self) -> tuple[Attribute, ...]:
        return _attributes(self.lines)

    def attribute(self, name: str) -> str | None:
        """The value of the first ``a=name:value`` (``""`` for a flag ``a=name``)."""
        for attribute in self.attributes:
            if attribute.name == name:
                return "" if attribute.value is None else attribute.value
        return None

    def attribute_values(self, name: str) -> list[str]:
        return [a.value or "" for a in self.attributes if a.name == name]

    def has_attribute(self, name: str) -> bool:
        return self.attribute(name) is not None

    @property
    def is_rtp(self) -> bool:
        """RTP profiles (RFC 3551 AVP, 4585 AVPF, 3711 SAVP, 5124 SAVPF)."""
        return "RTP/" in self.proto.upper()

    @property
    def rejected(self) -> bool:
        """Port 0: a disabled or rejected stream (RFC 3264 sections 5.1, 6)."""
        return self.port == 0

    # -- rewriting (each returns a new MediaDescription) ------------------------------

    def with_port(self, port: int) -> MediaDescription:
        return replace(self, port=port, port_count=None if port == 0 else self.port_count)

    def with_formats(self, formats: Iterable[str]) -> MediaDescription:
        return replace(self, formats=tuple(formats))

    def with_lines(self, lines: Iterable[SdpLine]) -> MediaDescription:
        return replace(self, lines=tuple(lines))

    def with_connection(self, connection: Connection | None) -> MediaDescription:
        """Replace the media-level ``c=`` (inserted after ``i=`` as RFC 8866 orders it);
        ``None`` removes it."""
        return self.with_lines(_set_line(self.lines, "c", connection, after=("i",)))

    def without_attributes(self, drop: Callable[[Attribute], bool]) -> MediaDescription:
        kept = [(k, v) for k, v in self.lines if k != "a" or not drop(Attribute.parse(v))]
        return self.with_lines(kept)

    def with_attribute(self, name: str, value: str | None = None) -> MediaDescription:
        """Set ``a=name[:value]``: replaces the first one of that name and drops the
        others, or appends it."""
        return self.with_lines(_set_attribute(self.lines, Attribute(name, value)))


def _set_line(
    lines: tuple[SdpLine, ...], kind: str, value: object | None, *, after: tuple[str, ...]
) -> list[SdpLine]:
    out: list[SdpLine] = []
    placed = value is None
    for line_kind, line_value in lines:
        if line_kind == kind:
            if not placed:
                out.append((kind, str(value)))
                placed = True
            continue
        out.append((line_kind, line_value))
    if not placed:
        index = 0
        while index < len(out) and out[index][0] in after:
            index += 1
        out.insert(index, (kind, str(value)))
    return out


def _set_attribute(lines: tuple[SdpLine, ...], attribute: Attribute) -> list[SdpLine]:
    out: list[SdpLine] = []
    placed = False
    for kind, value in lines:
        if kind == "a" and Attribute.parse(value).name == attribute.name:
            if not placed:
                out.append(("a", str(attribute)))
                placed = True
            continue
        out.append((kind, value))
    if not placed:
        out.append(("a", str(attribute)))
    return out


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A whole SDP body: session-level lines, then media sections."""

    lines: tuple[SdpLine, ...]
    media: tuple[MediaDescription, ...] = ()
    eol: str = "\r\n"
    #: What followed the last line: normally one ``eol``; kept for the exact round trip.
    ending: str = "\r\n"

    @classmethod
    def parse(cls, data: bytes) -> SessionDescription:
        """Parse an SDP body; raises ``SdpParseError`` (a ``RemoteProtocolError``) only.

        LF-only line ends are accepted (RFC 8866 section 5 asks parsers to)."""
        text = data.decode("utf-8", "surrogateescape")
        match = _TRAILING_EOL.search(text)
        ending = match.group(0) if match else ""
        body = text[: len(text) - len(ending)]
        if not body:
            raise SdpParseError("empty SDP body")
        raw_lines = _EOL.split(body)
        eol = "\n" if "\r\n" not in text and "\n" in text else "\r\n"
        session: list[SdpLine] = []
        media: list[MediaDescription] = []
        current: tuple[str, list[SdpLine]] | None = None
        for raw in raw_lines:
            kind, equals, value = raw.partition("=")
            if not equals or len(kind) != 1 or kind not in _TYPE_CHARS:
                raise SdpParseError(f"malformed SDP line {raw[:40]!r}")
            if kind == "m":
                if current is not None:
                    media.append(MediaDescription.parse_m_line(current[0], tuple(current[1])))
                current = (value, [])
            elif current is None:
                session.append((kind, value))
            else:
                current[1].append((kind, value))
        if current is not None:
            media.append(MediaDescription.parse_m_line(current[0], tuple(current[1])))
        if not session or session[0] != ("v", "0"):
            raise SdpParseError("SDP must start with v=0 (RFC 8866 section 5.1)")
        description = cls(tuple(session), tuple(media), eol, ending)
        description._check()
        return description

    def _check(self) -> None:
        origin = _first(self.lines, "o")
        if origin is not None:
            Origin.parse(origin)
        for value in (_first(self.lines, "c"), *(_first(m.lines, "c") for m in self.media)):
            if value is not None:
                Connection.parse(value)

    def __bytes__(self) -> bytes:
        out = [f"{kind}={value}" for kind, value in self.lines]
        for media in self.media:
            out.append(f"m={media.m_line}")
            out.extend(f"{kind}={value}" for kind, value in media.lines)
        return (self.eol.join(out) + self.ending).encode("utf-8", "surrogateescape")

    def __str__(self) -> str:
        return bytes(self).decode("utf-8", "replace")

    # -- reading -------------------------------------------------------------------

    @property
    def origin(self) -> Origin | None:
        value = _first(self.lines, "o")
        return None if value is None else Origin.parse(value)

    @property
    def session_name(self) -> str | None:
        return _first(self.lines, "s")

    @property
    def connection(self) -> Connection | None:
        """The session-level ``c=`` line."""
        value = _first(self.lines, "c")
        return None if value is None else Connection.parse(value)

    @property
    def attributes(self) -> tuple[Attribute, ...]:
        return _attributes(self.lines)

    def attribute(self, name: str) -> str | None:
        for attribute in self.attributes:
            if attribute.name == name:
                return "" if attribute.value is None else attribute.value
        return None

    def connection_for(self, media: MediaDescription) -> Connection | None:
        """The connection that applies to ``media``: its own, else the session's."""
        return media.connection or self.connection

    # -- rewriting -----------------------------------------------------------------

    def with_origin(self, origin: Origin) -> SessionDescription:
        return replace(self, lines=tuple(_set_line(self.lines, "o", origin, after=("v",))))

    def with_connection(self, connection: Connection | None) -> SessionDescription:
        after = ("v", "o", "s", "i", "u", "e", "p")  # RFC 8866 section 5 order
        return replace(self, lines=tuple(_set_line(self.lines, "c", connection, after=after)))

    def with_media(self, media: Iterable[MediaDescription]) -> SessionDescription:
        return replace(self, media=tuple(media))

    def without_attributes(self, drop: Callable[[Attribute], bool]) -> SessionDescription:
        kept = [(k, v) for k, v in self.lines if k != "a" or not drop(Attribute.parse(v))]
        return replace(self, lines=tuple(kept))
