"""The two error families of the SIP stack (see STYLE.md, convention 5).

``LocalProtocolError`` is our own misuse of the API (a bug in the caller);
``RemoteProtocolError`` is the peer's fault and carries the status code to
answer with.  ``SipParseError`` is what the parser raises, and nothing else.
"""

from __future__ import annotations


class SipError(Exception):
    """Base class of every error the SIP stack raises on purpose."""


class LocalProtocolError(SipError):
    """The application used the stack wrongly (a bug on our side)."""


class RemoteProtocolError(SipError):
    """The peer sent something that breaks the protocol.

    ``status_hint`` is the response code an element should answer with
    (400, 416, 420, 481, 483, 505, ...), ``header`` the header at fault when known.
    """

    def __init__(self, reason: str, *, status_hint: int = 400, header: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_hint = status_hint
        self.header = header

    def __str__(self) -> str:
        if self.header and self.header.lower() not in self.reason.lower():
            return f"{self.reason} (header {self.header})"
        return self.reason


class SipParseError(RemoteProtocolError):
    """Bytes that are not a well-formed SIP message (or a malformed header value)."""
