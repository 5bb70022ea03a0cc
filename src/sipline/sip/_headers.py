"""The header section of a SIP message: an ordered, case-insensitive multi-map.

RFC 3261 §7.3: header names are case-insensitive, several header lines of one
name form one comma-separated list, and most names have a compact form
(§7.3.3).  ``Headers`` keeps every line as it came (name spelling, order,
unknown headers byte for byte) and answers look-ups by the canonical key.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from typing import Any

from sipline.sip._errors import SipParseError
from sipline.sip._params import is_token, split_top_level

# RFC 3261 §7.3.3 plus the compact forms registered since (RFC 3515, 3841, 3892,
# 4028, 4474, 3265).
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}


# Spelling -> canonical key; bounded so hostile peers cannot grow it forever.  Seeded
# with the usual spellings so that a parse looks every name up with one C-level
# ``map(dict.get, names)`` and falls back to ``header_key`` only for new spellings.
_KEY_CACHE: dict[str, str] = {}
_KEY_CACHE_LIMIT = 4096
_EMPTY: list[int] = []
_COMMON_NAMES = """  # split in _seed_key_cache
    Accept Accept-Contact Accept-Encoding Accept-Language Alert-Info Allow Allow-Events
    Authentication-Info Authorization Call-ID Call-Info Contact Content-Disposition
    Content-Encoding Content-Language Content-Length Content-Type CSeq Date Error-Info Event
    Expires From History-Info Identity In-Reply-To Max-Forwards Min-Expires Min-SE
    MIME-Version Organization P-Asserted-Identity P-Preferred-Identity Path Priority Privacy
    Proxy-Authenticate Proxy-Authorization Proxy-Require RAck Reason Record-Route Refer-To
    Referred-By Reply-To Require Retry-After Route RSeq Server Session-Expires Subject
    Subscription-State Supported Timestamp To Unsupported User-Agent Via Warning
    WWW-Authenticate Call-Id Cseq Www-Authenticate
"""


def _seed_key_cache() -> None:
    # Keys are interned: every spelling of a header maps to the one key object, so
    # list.index / count / ``in`` over a message's keys compare by identity first.
    for name in _COMMON_NAMES.split():
        key = sys.intern(name.lower())
        for spelling in (name, key, name.upper()):
            _KEY_CACHE[spelling] = key
    for letter, key in COMPACT_FORMS.items():
        _KEY_CACHE[letter] = _KEY_CACHE[letter.upper()] = sys.intern(key)


_seed_key_cache()


def header_key(name: str) -> str:
    """The canonical, lower-case key of a header name (compact forms expanded).

    Raises ``SipParseError`` when ``name`` is not a token (RFC 3261 §25.1).
    """
    key = _KEY_CACHE.get(name)
    if key is not None:
        return key
    if not is_token(name):
        raise SipParseError(f"invalid header name {name!r}", header=name or None)
    lowered = name.lower()
    key = sys.intern(COMPACT_FORMS.get(lowered, lowered))
    if len(_KEY_CACHE) < _KEY_CACHE_LIMIT:
        _KEY_CACHE[name] = key
    return key


def header_keys(names: Sequence[str]) -> list[str]:
    """``header_key`` of every name, in order (the first invalid name raises)."""
    found = list(map(_KEY_CACHE.get, names))
    if None in found:
        return [header_key(name) for name in names]
    return found  # type: ignore[return-value]  # no None in it


_strip = str.strip
_POSITIONS = range(1 << 30)  # zip()ped with the keys (shorter): no range made per message


class Headers:
    """Ordered header lines with case-insensitive, compact-form-aware look-ups.

    Iteration yields ``(name, value)`` pairs as on the wire.  Every mutation bumps
    ``version`` so a message knows its original bytes are stale, and drops the
    look-up tables and the typed values parsed from the lines (``_parsed``).

    Lines from the parser stay as two tuples (names, values not yet stripped of
    LWS): a value is stripped when looked up, and the ``(name, value)`` pairs are
    made only when the lines are iterated or changed (``_lines``).
    """

    __slots__ = ("_dups", "_first", "_items", "_keys", "_names", "_parsed", "_values", "version")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] | None = list(items)
        self._names: Sequence[str] = ()  # with _values: the parser's lines, until _lines()
        self._values: Sequence[str] = ()
        self._keys: list[str] | None = None  # canonical key of each line
        self._first: dict[str, int] | None = None  # key -> position of its first line
        self._dups = False  # some key has more than one line
        # Typed values parsed from the lines (a message's Via, From, ... views).
        self._parsed: dict[str, Any] = {}
        self.version = 0

    @classmethod
    def _from_parsed(cls, items: list[tuple[str, str]], keys: list[str]) -> Headers:
        """Wrap lines whose canonical keys the parser has already computed."""
        headers = cls.__new__(cls)
        headers._items = items
        headers._names = headers._values = ()
        headers._set_keys(keys)
        headers._parsed = {}
        headers.version = 0
        return headers

    @classmethod
    def _from_split(
        cls, names: Sequence[str], values: Sequence[str], keys: list[str], dups: bool
    ) -> Headers:
        """Wrap the parser's lines: names, values still to strip of LWS, their keys and
        whether a key repeats; the key -> position table is built on first look-up."""
        headers = cls.__new__(cls)
        headers._items = None
        headers._names = names
        headers._values = values
        headers._keys = keys
        headers._first = None
        headers._dups = dups
        headers._parsed = {}
        headers.version = 0
        return headers

    def _lines(self) -> list[tuple[str, str]]:
        """The ``(name, value)`` list, made from the parser's split lines on first use."""
        items = self._items
        if items is None:
            values = map(_strip, self._values, repeat(" \t"))
            items = self._items = list(zip(self._names, values, strict=True))
            self._names = self._values = ()
        return items

    def _value(self, position: int) -> str:
        """The value of the ``position``-th line."""
        items = self._items
        if items is None:
            return self._values[position].strip(" \t")
        return items[position][1]

    def _set_keys(self, keys: list[str]) -> dict[str, int]:
        self._keys = keys
        count = len(keys)
        first = dict(zip(keys, _POSITIONS, strict=False))  # positions of the last lines
        self._dups = dups = len(first) != count
        if dups:  # right to left, so that each key keeps the position of its first line
            first = dict(zip(reversed(keys), range(count - 1, -1, -1), strict=False))
        self._first = first
        return first

    def _first_positions(self) -> dict[str, int]:
        first = self._first
        if first is None:
            keys = self._keys
            if keys is None:
                keys = header_keys([name for name, _ in self._lines()])
            first = self._set_keys(keys)
        return first

    # -- look-ups -----------------------------------------------------------------
    def index(self) -> dict[str, list[int]]:
        """Canonical key -> positions of its lines."""
        self._first_positions()
        index: dict[str, list[int]] = {}
        for position, key in enumerate(self._keys or ()):
            index.setdefault(key, []).append(position)
        return index

    def _positions(self, name: str) -> list[int]:
        first = self._first if self._first is not None else self._first_positions()
        # Internal callers pass canonical keys: try them before normalising.
        position = first.get(name)
        if position is None:
            key = header_key(name)
            position = first.get(key)
            if position is None:
                return _EMPTY
        else:
            key = name
        if not self._dups:
            return [position]
        keys = self._keys
        assert keys is not None
        positions = [position]
        for _ in range(keys.count(key) - 1):
            position = keys.index(key, position + 1)
            positions.append(position)
        return positions

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first header line called ``name``."""
        first = self._first if self._first is not None else self._first_positions()
        position = first.get(name)
        if position is None:
            position = first.get(header_key(name))
            if position is None:
                return default
        return self._value(position)

    def get_all(self, name: str) -> list[str]:
        """The value of every header line called ``name``, in order."""
        value = self._sole(name)
        if value is not None:
            return [value]
        return [self._value(p) for p in self._positions(name)]

    def _sole(self, key: str) -> str | None:
        """The value of the one line of the canonical ``key`` when the message has one
        line per key (the usual case, known without a scan); ``None`` when ``key`` has
        no line or some key repeats: ask ``get_all``."""
        first = self._first if self._first is not None else self._first_positions()
        if self._dups:
            return None
        position = first.get(key)
        if position is None:
            return None
        items = self._items
        if items is None:
            return self._values[position].strip(" \t")
        return items[position][1]

    def values(self, name: str) -> list[str]:
        """Every comma-separated element of the header lines called ``name``."""
        out: list[str] = []
        for value in self.get_all(name):
            if "," in value:
                out.extend(v for v in split_top_level(value) if v)
            elif value:
                out.append(value)
        return out

    def count(self, name: str) -> int:
        return len(self._positions(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self._positions(name))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._lines())

    def __len__(self) -> int:
        items = self._items
        return len(self._names) if items is None else len(items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._lines() == other._lines()

    def __repr__(self) -> str:
        return f"Headers({self._lines()!r})"

    def items(self) -> list[tuple[str, str]]:
        return list(self._lines())

    def copy(self) -> Headers:
        return Headers(self._lines())

    # -- mutations ------------------------------------------------------------------
    def _changed(self) -> None:
        self._first = self._keys = None
        self._parsed = {}
        self.version += 1

    def add(self, name: str, value: str) -> None:
        """Append a header line."""
        header_key(name)
        self._lines().append((name, value))
        self._changed()

    def prepend(self, name: str, value: str) -> None:
        """Insert a header line before every other line (a new top Via, say)."""
        header_key(name)
        self._lines().insert(0, (name, value))
        self._changed()

    def insert_before(self, name: str, new_name: str, value: str) -> None:
        """Insert a line just before the first line called ``name`` (or append)."""
        header_key(new_name)
        positions = self._positions(name)
        items = self._lines()
        at = positions[0] if positions else len(items)
        items.insert(at, (new_name, value))
        self._changed()

    def set(self, name: str, value: str) -> None:
        """Replace every line called ``name`` by one line, where the first one was."""
        positions = self._positions(name)
        if not positions:
            self.add(name, value)
            return
        first, *rest = positions
        items = self._lines()
        items[first] = (items[first][0], value)
        for position in reversed(rest):
            del items[position]
        self._changed()

    def remove(self, name: str) -> int:
        """Remove every line called ``name``; returns how many were removed."""
        positions = self._positions(name)
        if positions:
            items = self._lines()
            for position in reversed(positions):
                del items[position]
            self._changed()
        return len(positions)

    def replace_at(self, position: int, value: str) -> None:
        """Replace the value of the ``position``-th line of the whole section."""
        items = self._lines()
        items[position] = (items[position][0], value)
        self._changed()

    def _replace_value(self, position: int, value: str, key: str, parsed: Any) -> None:
        """Replace one line's value and its parsed view only: the other lines, their
        positions and views stay valid (a Via stamped with received/rport)."""
        if self._items is None:  # the parser's split lines: no need to pair them up
            values = list(self._values)
            values[position] = value
            self._values = values
        else:
            self._items[position] = (self._items[position][0], value)
        self._parsed[key] = parsed
        self.version += 1

    def delete_at(self, position: int) -> None:
        del self._lines()[position]
        self._changed()

    def positions(self, name: str) -> list[int]:
        """Indices (in iteration order) of the lines called ``name``."""
        return list(self._positions(name))


# -- splitting a parsed message's header section --------------------------------------


def parse_header_section(head: str, lines: list[str], lf_only: bool) -> Headers:
    """The header lines of ``head`` (the decoded header section; ``lines`` is it split
    at its line breaks, start line first).  Raises ``SipParseError`` on a malformed
    line (no colon, bad fold, stray CR or LF, a name that is not a token)."""
    headers = _fast_headers(head, lines, lf_only)
    return headers if headers is not None else Headers(_header_lines(head, lf_only))


def _fast_headers(head: str, lines: list[str], lf_only: bool) -> Headers | None:
    """The header lines after the start line, split with C-level loops.

    Returns ``None`` when a line needs the general path (``_header_lines``): a CR
    that is not part of the line break, a line without a colon, or a folded line.
    A name spelling not seen before is checked by ``header_keys`` (which raises
    for a name that is not a token, as the general path would on first look-up).
    """
    # A CR that is not part of a line break is left in a line (searched with memchr
    # over one joined copy: cheaper than counting the CRs of the header section).
    if "\r" in ("".join(lines) if not lf_only else head):
        return None
    del lines[0]  # the start line
    if not lines:
        return Headers._from_parsed([], [])
    # The usual line is "Name: value": split there, and the values are stripped only
    # when looked up (Headers._value / _lines).  A known spelling has no colon, so
    # its line's first colon is the one of ": "; anything else is split below.
    names, colons, values = zip(*map(_partition, lines, repeat(": ")), strict=False)
    if "" not in colons:
        found = list(map(_KEY_CACHE.get, names))
        if None not in found:
            dups = len(set(found)) != len(found)
            return Headers._from_split(names, values, found, dups)  # type: ignore[arg-type]
    return _split_at_colons(head, lines, lf_only)


def _split_at_colons(head: str, lines: list[str], lf_only: bool) -> Headers | None:
    """``_fast_headers`` for lines not all written "Name: value" (or not all known
    spellings): split at the first colon, names checked by ``header_keys``."""
    names, colons, values = zip(*map(_partition, lines, repeat(":")), strict=False)
    if "" in colons:
        return None
    found = list(map(_KEY_CACHE.get, names))
    if None in found:
        # A new spelling, white space before the colon, or a folded line (whose
        # "name" starts with white space: never a known spelling).
        newline = "\n" if lf_only else "\r\n"
        if f"{newline} " in head or f"{newline}\t" in head:
            return None
        names = tuple([name.rstrip(" \t") for name in names])
        keys = header_keys(names)
    else:
        keys = found  # type: ignore[assignment]  # no None in it
    items = list(zip(names, map(_strip, values, repeat(" \t")), strict=False))
    return Headers._from_parsed(items, keys)


_partition = str.partition


def _header_lines(head: str, lf_only: bool) -> list[tuple[str, str]]:
    newline = "\n" if lf_only else "\r\n"
    if (
        f"{newline} " not in head
        and f"{newline}\t" not in head
        and "\r" not in head.replace("\r\n", "")
    ):
        # Fast path: no folded lines, no stray CR.
        lines = head.split(newline)
        del lines[0]
        parts = [line.partition(":") for line in lines]
        for name, colon, _ in parts:
            if not colon:
                raise SipParseError(f"header line without a colon: {name[:60]!r}")
        return [(name.rstrip(" \t"), value.strip(" \t")) for name, _, value in parts]
    lines = head.split(newline)
    if "\n" in head and not lf_only:
        for line in lines:
            if "\n" in line or "\r" in line:
                raise SipParseError("bare CR or LF inside a header line")
    items: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            raise SipParseError("empty line inside the header section")
        first = line[0]
        if first == " " or first == "\t":
            # Folded continuation line (RFC 3261 §7.3.1): joins the previous value.
            if not items:
                raise SipParseError("the first header line starts with white space")
            name, value = items[-1]
            folded = line.strip(" \t")
            items[-1] = (name, f"{value} {folded}" if value else folded)
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"header line without a colon: {line[:60]!r}")
        items.append((name.rstrip(" \t"), value.strip(" \t")))
    return items
