"""Cut a byte stream (a TCP flow, a text dump) into SIP messages.

RFC 3261 section 18.3: on a stream the message ends after Content-Length bytes of body
(a missing Content-Length counts as 0).  Unlike ``sipline.sip.StreamFramer`` this
splitter never gives up on bad data: bytes that are not SIP come out as a chunk of their
own (the analysis shows them as unparsed) and splitting resumes at the next start line.
"""

from __future__ import annotations

import re

__all__ = ["START_LINE", "StreamSplitter", "content_length", "looks_like_sip"]

#: A SIP start line at the beginning of a line: a request line or a status line.
START_LINE = re.compile(
    rb"(?:[A-Za-z][A-Za-z0-9.!%*_+`'~-]* [^ \r\n]+ SIP/2\.0\r?\n|SIP/2\.0 \d{3}\b)"
)
_NEXT_START = re.compile(
    rb"\n(?=(?:[A-Za-z][A-Za-z0-9.!%*_+`'~-]* [^ \r\n]+ SIP/2\.0\r?\n|SIP/2\.0 \d{3}\b))"
)
_CONTENT_LENGTH = re.compile(
    rb"^(?:content-length|l)[ \t]*:[ \t]*(\d+)", re.IGNORECASE | re.MULTILINE
)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def looks_like_sip(data: bytes) -> bool:
    """Whether ``data`` starts with a SIP start line (after keep-alive CRLFs)."""
    return START_LINE.match(data.lstrip(b"\r\n")) is not None


def content_length(header_block: bytes) -> int | None:
    """The Content-Length (or compact ``l``) of a header block, ``None`` if absent."""
    match = _CONTENT_LENGTH.search(header_block)
    return int(match.group(1)) if match else None


class StreamSplitter:
    """Feed stream bytes in, take complete messages (and non-SIP junk) out."""

    def __init__(self, max_message_size: int = 1 << 20) -> None:
        self._buffer = b""
        self._max = max_message_size

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        chunks: list[bytes] = []
        while True:
            chunk = self._next()
            if chunk is None:
                return chunks
            chunks.append(chunk)

    def flush(self) -> list[bytes]:
        """What is left at the end of the stream (an incomplete message, or junk)."""
        rest = self._buffer.strip(b"\r\n")
        self._buffer = b""
        return [rest] if rest else []

    def _next(self) -> bytes | None:
        buffer = self._buffer.lstrip(b"\r\n")  # RFC 5626 section 3.5.1 keep-alives
        self._buffer = buffer
        if not buffer:
            return None
        if START_LINE.match(buffer) is None:
            return self._take_junk(buffer)
        end = _HEADER_END.search(buffer)
        if end is None:
            if len(buffer) > self._max:
                return self._take_junk(buffer, force=True)
            return None
        length = content_length(buffer[: end.start()]) or 0
        total = end.end() + length
        if total > len(buffer):
            if total > self._max:
                return self._take_junk(buffer, force=True)
            return None
        self._buffer = buffer[total:]
        return buffer[:total]

    def _take_junk(self, buffer: bytes, *, force: bool = False) -> bytes | None:
        match = _NEXT_START.search(buffer, 1)
        if match is None:
            if not force and len(buffer) <= self._max:
                return None  # more data may complete a start line
            self._buffer = b""
            return buffer
        self._buffer = buffer[match.end() :]
        return buffer[: match.end()]
