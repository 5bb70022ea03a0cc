"""The call a log line is about, carried in a context variable.

The endpoint sets ``current_call_id`` while the application handles a request
(asyncio tasks started from there inherit it), and ``CallIdFilter`` puts it on
every log record as ``call_id``, so text logs show ``[call-id]`` and JSON logs
a ``call_id`` field on every line about a call.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

current_call_id: ContextVar[str | None] = ContextVar("sipline_call_id", default=None)


class CallIdFilter(logging.Filter):
    """Adds ``record.call_id`` (None outside a call) unless the caller gave one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "call_id", None) is None:
            record.call_id = current_call_id.get()
        return True


class CallIdTextFormatter(logging.Formatter):
    """``time level logger: [call-id] message``."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        call_id = getattr(record, "call_id", None)
        if call_id:
            head, sep, message = text.partition(": ")
            return f"{head}{sep}[{call_id}] {message}" if sep else f"[{call_id}] {text}"
        return text
