"""The dialogs one INVITE of ours creates (RFC 3261 §12.1.2, §13.2.2.4: forking).

A forked INVITE can create several early dialogs (one per To tag) and more than
one of them can be confirmed by a 2xx.  ``DialogSet`` keeps them by remote tag;
``dialog_for_response`` creates or finds the dialog a response belongs to.
"""

from __future__ import annotations

from sipline.dialog._dialog import Dialog, DialogId, DialogState
from sipline.sip import Request, Response

__all__ = ["DialogSet", "request_dialog_id", "response_dialog_id"]


def request_dialog_id(request: Request) -> DialogId | None:
    """The id, at our (UAS) side, of the dialog an incoming request claims (§12.2.2)."""
    local_tag = request.to.tag
    if local_tag is None:
        return None
    return DialogId(request.call_id, local_tag, request.from_.tag or "")


def response_dialog_id(response: Response) -> DialogId | None:
    """The id, at our (UAC) side, of the dialog a response to our request belongs to."""
    remote_tag = response.to.tag
    local_tag = response.from_.tag
    if remote_tag is None or local_tag is None:
        return None
    return DialogId(response.call_id, local_tag, remote_tag)


class DialogSet:
    """The early and confirmed dialogs of one INVITE we sent, by remote tag."""

    __slots__ = ("dialogs", "local_contact", "request")

    def __init__(self, request: Request, *, local_contact: str | None = None) -> None:
        self.request = request
        self.local_contact = local_contact
        self.dialogs: dict[str, Dialog] = {}

    @property
    def call_id(self) -> str:
        return self.request.call_id

    def dialog_for_response(self, response: Response) -> Dialog | None:
        """The dialog ``response`` creates or updates (None for a 100 or a tag-less one).

        A failure response ends every early dialog of the set (§12.3 of a UAC: the
        INVITE transaction is over).
        """
        status = response.status_code
        if status >= 300:
            for dialog in self.dialogs.values():
                if dialog.state is DialogState.EARLY:
                    dialog.receive_response(response)
            return None
        remote_tag = response.to.tag
        if status == 100 or remote_tag is None:
            return None
        existing = self.dialogs.get(remote_tag)
        if existing is not None:
            existing.receive_response(response)
            return existing
        dialog = Dialog.as_uac(self.request, response, local_contact=self.local_contact)
        self.dialogs[remote_tag] = dialog
        return dialog

    def confirmed(self) -> list[Dialog]:
        return [d for d in self.dialogs.values() if d.state is DialogState.CONFIRMED]
