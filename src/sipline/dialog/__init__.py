"""SIP dialogs (RFC 3261 §12), sans-I/O.

``Dialog`` holds one dialog's state at one side (created as UAC from our request
and its response, or as UAS from a request we answer) and builds/checks in-dialog
requests; ``DialogSet`` keeps the dialogs a forked INVITE of ours creates.
"""

from sipline.dialog._dialog import (
    TARGET_REFRESH_METHODS,
    TRANSITIONS,
    Dialog,
    DialogConfirmed,
    DialogEvent,
    DialogId,
    DialogInput,
    DialogState,
    DialogTerminated,
    TargetRefreshed,
)
from sipline.dialog._dialog_set import DialogSet, request_dialog_id, response_dialog_id

__all__ = [
    "TARGET_REFRESH_METHODS",
    "TRANSITIONS",
    "Dialog",
    "DialogConfirmed",
    "DialogEvent",
    "DialogId",
    "DialogInput",
    "DialogSet",
    "DialogState",
    "DialogTerminated",
    "TargetRefreshed",
    "request_dialog_id",
    "response_dialog_id",
]
