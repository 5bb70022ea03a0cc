"""Instant messages (RFC 3428): out-of-dialog MESSAGE to the contacts of a local user.

Wiring (the server does this)::

    messages = MessageRelay(None, store, users=store)
    messages.attach(endpoint)
    await messages.handle(incoming, authenticated="1000@example.com")

MESSAGE inside a dialog is relayed by the B2BUA with the call's other requests.
"""

from sipline.messaging._relay import (
    MAX_BODY,
    MessageRelay,
    best_status,
    message_for_binding,
)

__all__ = ["MAX_BODY", "MessageRelay", "best_status", "message_for_binding"]
