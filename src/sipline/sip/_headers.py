"""The header section of a SIP message: an ordered, case-insensitive multi-map.

RFC 3261 §7.3: header names are case-insensitive, several header lines of one
name form one comma-separated list, and most names have a compact form
(§7.3.3).  ``Headers`` keeps every line as it came (name spelling, order,
unknown headers byte for byte) and answers look-ups by the canonical key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from sipline.sip._errors import SipParseError
from sipline.sip._params import split_top_level

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

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")

# Spelling -> canonical key; bounded so hostile peers cannot grow it forever.
_KEY_CACHE: dict[str, str] = {}
_KEY_CACHE_LIMIT = 4096
_EMPTY: list[int] = []


def header_key(name: str) -> str:
    """The canonical, lower-case key of a header name (compact forms expanded).

    Raises ``SipParseError`` when ``name`` is not a token (RFC 3261 §25.1).
    """
    key = _KEY_CACHE.get(name)
    if key is not None:
        return key
    if _TOKEN_RE.fullmatch(name) is None:
        raise SipParseError(f"invalid header name {name!r}", header=name or None)
    lowered = name.lower()
    key = COMPACT_FORMS.get(lowered, lowered)
    if len(_KEY_CACHE) < _KEY_CACHE_LIMIT:
        _KEY_CACHE[name] = key
    return key


class Headers:
    """Ordered header lines with case-insensitive, compact-form-aware look-ups.

    Iteration yields ``(name, value)`` pairs as on the wire.  Every mutation bumps
    ``version`` so a message knows its parsed views and original bytes are stale.
    """

    __slots__ = ("_index", "_items", "version")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = list(items)
        self._index: dict[str, list[int]] | None = None
        self.version = 0

    # -- look-ups -----------------------------------------------------------------
    def index(self) -> dict[str, list[int]]:
        """Canonical key -> positions of its lines (built once, on first use)."""
        index = self._index
        if index is None:
            index = {}
            for position, (item_name, _) in enumerate(self._items):
                key = _KEY_CACHE.get(item_name) or header_key(item_name)
                positions = index.get(key)
                if positions is None:
                    index[key] = [position]
                else:
                    positions.append(position)
            self._index = index
        return index

    def _positions(self, name: str) -> list[int]:
        index = self._index if self._index is not None else self.index()
        # Internal callers pass canonical keys: try them before normalising.
        found = index.get(name)
        if found is not None:
            return found
        return index.get(header_key(name), _EMPTY)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first header line called ``name``."""
        positions = self._positions(name)
        return self._items[positions[0]][1] if positions else default

    def get_all(self, name: str) -> list[str]:
        """The value of every header line called ``name``, in order."""
        items = self._items
        return [items[p][1] for p in self._positions(name)]

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
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def copy(self) -> Headers:
        return Headers(self._items)

    # -- mutations ------------------------------------------------------------------
    def _changed(self) -> None:
        self._index = None
        self.version += 1

    def add(self, name: str, value: str) -> None:
        """Append a header line."""
        header_key(name)
        self._items.append((name, value))
        self._changed()

    def prepend(self, name: str, value: str) -> None:
        """Insert a header line before every other line (a new top Via, say)."""
        header_key(name)
        self._items.insert(0, (name, value))
        self._changed()

    def insert_before(self, name: str, new_name: str, value: str) -> None:
        """Insert a line just before the first line called ``name`` (or append)."""
        header_key(new_name)
        positions = self._positions(name)
        at = positions[0] if positions else len(self._items)
        self._items.insert(at, (new_name, value))
        self._changed()

    def set(self, name: str, value: str) -> None:
        """Replace every line called ``name`` by one line, where the first one was."""
        positions = self._positions(name)
        if not positions:
            self.add(name, value)
            return
        first, *rest = positions
        self._items[first] = (self._items[first][0], value)
        for position in reversed(rest):
            del self._items[position]
        self._changed()

    def remove(self, name: str) -> int:
        """Remove every line called ``name``; returns how many were removed."""
        positions = self._positions(name)
        for position in reversed(positions):
            del self._items[position]
        if positions:
            self._changed()
        return len(positions)

    def replace_at(self, position: int, value: str) -> None:
        """Replace the value of the ``position``-th line of the whole section."""
        self._items[position] = (self._items[position][0], value)
        self._changed()

    def delete_at(self, position: int) -> None:
        del self._items[position]
        self._changed()

    def positions(self, name: str) -> list[int]:
        """Indices (in iteration order) of the lines called ``name``."""
        return list(self._positions(name))
