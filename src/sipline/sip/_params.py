"""Header parameters (``;name[=value]``) and the small lexical helpers of RFC 3261 §25.1.

``Params`` is the immutable, ordered, case-insensitive map behind Via, From/To,
Contact, Content-Type and URI parameters.  Values are kept as they appeared on the
wire (quoted strings keep their quotes); :func:`unquote_string` gives the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from sipline.sip._errors import SipParseError

__all__ = [
    "TOKEN_CHARS",
    "Params",
    "is_token",
    "quote_string",
    "split_top_level",
    "unquote_string",
]

# RFC 3261 §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN_CHARS = r"A-Za-z0-9\-.!%*_+`'~"  # noqa: S105 (a character class, not a secret)
_TOKEN_RE = re.compile(f"[{TOKEN_CHARS}]+")

# LWS: the header reader unfolds lines, but a value handed over raw may still hold CRLF.
_LWS = r"[ \t\r\n]*"
# quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE (§25.1); quoted-pair may
# escape any octet but CR/LF, and qdtext is any UTF-8 except '"' and '\'.
QUOTED_STRING = r'"(?:[^"\\\r\n]|\\[^\r\n])*"'
# gen-value = token / host / quoted-string (§25.1); host adds ":" "[" "]" to token.
_GEN_VALUE = f"(?:{QUOTED_STRING}|[{TOKEN_CHARS}:\\[\\]]+)"
_ONE_PARAM = f"{_LWS};{_LWS}([{TOKEN_CHARS}]+)(?:{_LWS}={_LWS}({_GEN_VALUE}))?"
_PARAMS_FULL_RE = re.compile(f"(?:{_ONE_PARAM})*{_LWS}")
_PARAMS_ITER_RE = re.compile(_ONE_PARAM)
_UNESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)


def is_token(text: str) -> bool:
    """True if ``text`` is an RFC 3261 token (non-empty, token characters only)."""
    return _TOKEN_RE.fullmatch(text) is not None


# Characters a quoted-string must carry as quoted-pairs: '"', '\\' and controls (§25.1).
_NEEDS_QUOTED_PAIR_RE = re.compile(r'["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')


def quote_string(text: str) -> str:
    """Render ``text`` as a quoted-string (§25.1).

    ``"``, ``\\`` and control characters become quoted-pairs; CR and LF cannot be
    carried in a quoted-string at all and become spaces (no header injection).
    """
    if "\r" in text or "\n" in text:
        text = text.replace("\r", " ").replace("\n", " ")
    return '"' + _NEEDS_QUOTED_PAIR_RE.sub(lambda m: "\\" + m.group(0), text) + '"'


def unquote_string(text: str) -> str:
    """The text of a quoted-string (quoted-pairs resolved); other text is returned as is."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if "\\" in inner:
            return _UNESCAPE_RE.sub(r"\1", inner)
        return inner
    return text


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside quoted strings and ``<...>``; strip LWS around each part.

    Empty parts are kept (callers decide whether ``a,,b`` is an error).
    """
    if '"' not in text and "<" not in text:
        return [part.strip() for part in text.split(sep)]
    parts: list[str] = []
    start = 0
    in_quotes = False
    in_angle = False
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if in_quotes:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
        elif in_angle:
            if ch == ">":
                in_angle = False
        elif ch == "<":
            in_angle = True
        elif ch == sep:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    parts.append(text[start:].strip())
    return parts


class Params:
    """Ordered, immutable, case-insensitive map of ``;name[=value]`` parameters.

    Names keep their original spelling; a flag parameter (``;lr``) has the value
    ``None``.  Values are raw: a quoted value keeps its quotes (see
    :meth:`get_unquoted`).
    """

    __slots__ = ("_items", "_keys")

    _items: tuple[tuple[str, str | None], ...]
    _keys: tuple[str, ...] | None  # lower-cased names, computed on first look-up

    def __init__(self, items: Iterable[tuple[str, str | None]] = ()) -> None:
        self._items = tuple(items)
        self._keys = None

    @classmethod
    def _from_tuples(cls, items: tuple[tuple[str, str | None], ...]) -> Params:
        obj = cls.__new__(cls)
        obj._items = items
        obj._keys = None
        return obj

    def _lower_keys(self) -> tuple[str, ...]:
        keys = self._keys
        if keys is None:
            keys = self._keys = tuple([name.lower() for name, _ in self._items])
        return keys

    @classmethod
    def parse(cls, text: str, *, header: str | None = None) -> Params:
        """Parse ``;a=b;c`` (LWS around ``;`` and ``=`` tolerated; empty text -> no params).

        Raises :class:`SipParseError` when the text is not a parameter list.
        """
        if not text:
            return _EMPTY
        if _PARAMS_FULL_RE.fullmatch(text) is None:
            what = f"{header} parameters" if header else "parameters"
            raise SipParseError(f"malformed {what}: {text.strip()[:60]!r}", header=header)
        return cls._from_tuples(
            tuple((name, value or None) for name, value in _PARAMS_ITER_RE.findall(text))
        )

    def get(self, name: str) -> str | None:
        """The raw value of ``name`` (``None`` when absent or a flag parameter)."""
        for item_name, value in self._items:  # names are nearly always spelled as asked
            if item_name == name:
                return value
        try:
            return self._items[self._lower_keys().index(name.lower())][1]
        except ValueError:
            return None

    def get_unquoted(self, name: str) -> str | None:
        """The value of ``name`` with a quoted-string unquoted."""
        value = self.get(name)
        return None if value is None else unquote_string(value)

    def has(self, name: str) -> bool:
        return name.lower() in self._lower_keys()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lower_keys()

    def with_(self, name: str, value: str | None) -> Params:
        """A copy with ``name`` set to ``value`` (in place if present, else appended)."""
        key = name.lower()
        keys = self._lower_keys()
        if key in keys:
            index = keys.index(key)
            items = list(self._items)
            items[index] = (self._items[index][0], value)
            # Later duplicates of the same name are dropped: one value per name.
            return Params(item for i, item in enumerate(items) if i == index or keys[i] != key)
        return Params._from_tuples((*self._items, (name, value)))

    def without(self, name: str) -> Params:
        """A copy with every parameter called ``name`` removed."""
        key = name.lower()
        keys = self._lower_keys()
        if key not in keys:
            return self
        return Params(item for item, k in zip(self._items, keys, strict=True) if k != key)

    def items(self) -> tuple[tuple[str, str | None], ...]:
        return self._items

    def names(self) -> tuple[str, ...]:
        """Lower-cased names, in order."""
        return self._lower_keys()

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __str__(self) -> str:
        return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in self._items)

    def __repr__(self) -> str:
        return f"Params({str(self)!r})"

    def _normalised(self) -> tuple[tuple[str, str | None], ...]:
        return tuple(zip(self._lower_keys(), (v for _, v in self._items), strict=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Params):
            return NotImplemented
        return self._normalised() == other._normalised()

    def __hash__(self) -> int:
        return hash(self._normalised())


_EMPTY = Params()
