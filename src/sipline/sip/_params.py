"""Header parameters (``;name[=value]``) and the small lexical helpers of RFC 3261 §25.1.

``Params`` is the immutable, ordered, case-insensitive map behind Via, From/To,
Contact, Content-Type and URI parameters.  Values are kept as they appeared on the
wire (quoted strings keep their quotes); :func:`unquote_string` gives the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator

from sipline.sip._errors import SipParseError

__all__ = [
    "SIMPLE_PARAMS",
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
# The usual parameter list: tokens, values of token or host characters, no LWS and no
# quotes.  What it matches, Params._from_simple splits with str.split.  The quantifiers
# are possessive (no backtracking state kept, ~15% faster): each run of characters
# ends where a character outside its class (";", "=", the end) must follow, so giving
# characters back could never let the pattern match.  The parser's other fast
# patterns are written the same way.
SIMPLE_PARAMS = f"(?:;[{TOKEN_CHARS}]++(?:=[{TOKEN_CHARS}:\\[\\]]++)?)*+"
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


_FINDERS: dict[str, Callable[[str], re.Match[str] | None]] = {}  # bounded by _finder
_FINDERS_LIMIT = 256


def _finder(name: str) -> Callable[[str], re.Match[str] | None]:
    """The ``search`` of a pattern for ``;name`` or ``;name=value`` in a simple list
    (group 1: the value), kept for the parameter names programs ask for."""
    search = re.compile(f";{re.escape(name)}(?:=([^;]*))?(?:;|$)").search
    if len(_FINDERS) < _FINDERS_LIMIT:
        _FINDERS[name] = search
    return search


class Params:
    """Ordered, immutable, case-insensitive map of ``;name[=value]`` parameters.

    Names keep their original spelling; a flag parameter (``;lr``) has the value
    ``None``.  Values are raw: a quoted value keeps its quotes (see
    :meth:`get_unquoted`).

    The parser's fast paths hand over the wire text of a list their regular
    expression has already checked (``SIMPLE_PARAMS``: no LWS, no quotes): it is
    split into pairs on first look-up (``_pairs``) and renders as it came, so a
    message whose parameters nobody reads never splits them.
    """

    __slots__ = ("_items", "_keys", "_text")

    _items: tuple[tuple[str, str | None], ...] | None  # None: not split from _text yet
    _keys: tuple[str, ...] | None  # lower-cased names, computed on first look-up
    _text: str | None  # the wire text of a simple list, when made from one

    def __init__(self, items: Iterable[tuple[str, str | None]] = ()) -> None:
        self._items = tuple(items)
        self._keys = None
        self._text = None

    @classmethod
    def _from_tuples(cls, items: tuple[tuple[str, str | None], ...]) -> Params:
        obj = cls.__new__(cls)
        obj._items = items
        obj._keys = obj._text = None
        return obj

    @classmethod
    def _from_simple(cls, text: str) -> Params:
        """The parameters of ``text``, a non-empty string that fully matches
        ``SIMPLE_PARAMS``; split when first looked up."""
        obj = cls.__new__(cls)
        obj._items = obj._keys = None
        obj._text = text
        return obj

    def _pairs(self) -> tuple[tuple[str, str | None], ...]:
        items = self._items
        if items is None:
            assert self._text is not None
            pairs: list[tuple[str, str | None]] = []
            for part in self._text[1:].split(";"):
                name, eq, value = part.partition("=")
                pairs.append((name, value) if eq else (name, None))
            items = self._items = tuple(pairs)
        return items

    def _lower_keys(self) -> tuple[str, ...]:
        keys = self._keys
        if keys is None:
            keys = self._keys = tuple([name.lower() for name, _ in self._pairs()])
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
        items = self._items
        if items is None:
            # Not split yet: search the wire text for the first ";name" that is a whole
            # name, which is the first parameter spelled exactly so (a simple list has
            # no ";" inside values).  Not found: answered from the pairs below, which
            # also match other spellings.
            finder = _FINDERS.get(name) or _finder(name)
            m = finder(self._text)  # type: ignore[arg-type]  # set when _items is None
            if m is not None:
                return m[1]
            items = self._pairs()
        for item_name, value in items:  # names are nearly always spelled as asked
            if item_name == name:
                return value
        try:
            return items[self._lower_keys().index(name.lower())][1]
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
        pairs = self._pairs()
        if key in keys:
            index = keys.index(key)
            items = list(pairs)
            items[index] = (pairs[index][0], value)
            # Later duplicates of the same name are dropped: one value per name.
            return Params(item for i, item in enumerate(items) if i == index or keys[i] != key)
        return Params._from_tuples((*pairs, (name, value)))

    def without(self, name: str) -> Params:
        """A copy with every parameter called ``name`` removed."""
        key = name.lower()
        keys = self._lower_keys()
        if key not in keys:
            return self
        return Params(item for item, k in zip(self._pairs(), keys, strict=True) if k != key)

    def items(self) -> tuple[tuple[str, str | None], ...]:
        return self._pairs()

    def names(self) -> tuple[str, ...]:
        """Lower-cased names, in order."""
        return self._lower_keys()

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._pairs())

    def __len__(self) -> int:
        return len(self._pairs())

    def __bool__(self) -> bool:
        return self._text is not None or bool(self._items)

    def __str__(self) -> str:
        if self._text is not None:
            return self._text  # a simple list renders as it was written
        return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in self._pairs())

    def __repr__(self) -> str:
        return f"Params({str(self)!r})"

    def _normalised(self) -> tuple[tuple[str, str | None], ...]:
        return tuple(zip(self._lower_keys(), (v for _, v in self._pairs()), strict=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Params):
            return NotImplemented
        return self._normalised() == other._normalised()

    def __hash__(self) -> int:
        return hash(self._normalised())


_EMPTY = Params()
