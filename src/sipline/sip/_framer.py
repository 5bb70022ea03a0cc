"""Framing SIP messages on stream transports (TCP, TLS, WebSocket byte streams).

RFC 3261 §18.3: on a stream every message carries Content-Length, which says
where the body ends.  RFC 5626 §3.5.1: a double CRLF is a keep-alive ping that
the receiver answers with a single CRLF (the pong); a lone CRLF between
messages is ignored.
"""

from __future__ import annotations

import re

from sipline.sip._errors import SipParseError
from sipline.sip._message import Request, Response
from sipline.sip._parser import parse_message

_CONTENT_LENGTH_RE = re.compile(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)", re.IGNORECASE)
_HEADER_END = b"\r\n\r\n"


class StreamFramer:
    """Turns a byte stream into SIP messages.

    ``feed(data)`` returns the complete messages found so far; ``frames(data)``
    the same as bytes, not parsed, so that one malformed message can be answered
    with a 400 while the connection stays up.  A framing error (no or conflicting
    Content-Length, a message over ``max_message_size``) raises ``SipParseError``:
    the stream cannot be resynchronised and the connection must be closed.  Keep-alive pings seen
    since the last call are counted in ``pings``; the transport answers each
    with ``b"\\r\\n"`` and resets it with ``take_pings()``.
    """

    __slots__ = ("_buffer", "_scan_from", "max_message_size", "pings")

    def __init__(self, max_message_size: int = 65535) -> None:
        self.max_message_size = max_message_size
        self._buffer = bytearray()
        self._scan_from = 0
        self.pings = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not yet part of a complete message."""
        return len(self._buffer)

    def take_pings(self) -> int:
        pings, self.pings = self.pings, 0
        return pings

    def feed(self, data: bytes) -> list[Request | Response]:
        """The messages completed by ``data``; ``SipParseError`` on any bad message."""
        return [parse_message(frame) for frame in self.frames(data)]

    def frames(self, data: bytes) -> list[bytes]:
        """The complete messages ``data`` ends, as bytes, framed but not parsed.

        ``SipParseError`` here is a framing error (the stream is lost); a frame
        that then fails ``parse_message`` is one bad message on a good stream.
        """
        self._buffer += data
        frames: list[bytes] = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return frames
            frames.append(frame)

    def _skip_keepalives(self) -> None:
        buffer = self._buffer
        skipped = 0
        while buffer.startswith(b"\r\n", skipped):
            if buffer.startswith(b"\r\n\r\n", skipped):
                self.pings += 1
                skipped += 4
            elif len(buffer) - skipped >= 4 or not buffer.endswith(b"\r\n"):
                skipped += 2  # a lone CRLF (a pong, or padding): ignored
            else:
                break  # "\r\n" may be the start of a ping: wait for more
        if skipped:
            del buffer[:skipped]
            self._scan_from = 0

    def _next_frame(self) -> bytes | None:
        self._skip_keepalives()
        buffer = self._buffer
        if not buffer or buffer.startswith(b"\r"):
            return None
        end = buffer.find(_HEADER_END, self._scan_from)
        if end < 0:
            if len(buffer) > self.max_message_size:
                raise SipParseError(
                    f"header section longer than {self.max_message_size} bytes", status_hint=513
                )
            self._scan_from = max(0, len(buffer) - 3)
            return None
        body_start = end + 4
        lengths = _CONTENT_LENGTH_RE.findall(buffer, 0, end + 2)
        if not lengths:
            raise SipParseError(
                "missing Content-Length on a stream transport", header="Content-Length"
            )
        if len(set(lengths)) > 1:
            raise SipParseError("conflicting Content-Length headers", header="Content-Length")
        text = lengths[0].strip()
        if not text.isdigit():
            raise SipParseError(f"invalid Content-Length {text[:20]!r}", header="Content-Length")
        total = body_start + int(text)
        if total > self.max_message_size:
            raise SipParseError(
                f"message of {total} bytes is over the {self.max_message_size}-byte limit",
                status_hint=513,
            )
        if len(buffer) < total:
            self._scan_from = end  # header end known; wait for the body
            return None
        raw = bytes(buffer[:total])
        del buffer[:total]
        self._scan_from = 0
        return raw
