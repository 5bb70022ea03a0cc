"""One SIP dialog (RFC 3261 §12), sans-I/O.

A ``Dialog`` is the state two user agents share after an INVITE: its identifier
(Call-ID, local and remote tags), the local and remote CSeq numbers, the remote
target and the route set.  It builds the in-dialog requests of its side
(``create_request``, ``create_ack``) and checks the ones it receives
(``receive_request``).  It never sends anything: the caller puts the requests on
the wire (an endpoint adds the Via).

The life cycle is one table, ``TRANSITIONS``: ``(DialogState, DialogInput) ->
DialogState``; a pair not in the table is a ``LocalProtocolError``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from sipline.sip import (
    LocalProtocolError,
    NameAddress,
    RemoteProtocolError,
    Request,
    Response,
    SipParseError,
    SipUri,
    parse_name_addr,
)

__all__ = [
    "TARGET_REFRESH_METHODS",
    "TRANSITIONS",
    "Dialog",
    "DialogConfirmed",
    "DialogEvent",
    "DialogId",
    "DialogInput",
    "DialogState",
    "DialogTerminated",
    "TargetRefreshed",
]

#: Requests whose Contact replaces the remote target (§12.2, RFC 3311 §5.1 UPDATE).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})
#: Requests that take no CSeq number of their own (§12.2.1.1: ACK and CANCEL reuse it).
_NO_NEW_CSEQ = frozenset({"ACK", "CANCEL"})


class DialogState(enum.Enum):
    EARLY = "early"  # §12.1: created by a provisional response with a To tag
    CONFIRMED = "confirmed"  # §12.1: created or confirmed by a 2xx
    TERMINATED = "terminated"


class DialogInput(enum.Enum):
    RESPONSE_1XX = "1xx"  # a provisional response to the dialog-creating INVITE
    RESPONSE_2XX = "2xx"  # a 2xx to the dialog-creating INVITE (or a retransmission)
    RESPONSE_FAILURE = "300-699"  # a failure of the dialog-creating INVITE (§12.3)
    DIALOG_GONE = "481/408"  # §12.2.1.2: a 481 or 408 to an in-dialog request
    BYE = "BYE"  # sent or received (§15)


TRANSITIONS: dict[tuple[DialogState, DialogInput], DialogState] = {
    (DialogState.EARLY, DialogInput.RESPONSE_1XX): DialogState.EARLY,
    (DialogState.EARLY, DialogInput.RESPONSE_2XX): DialogState.CONFIRMED,
    (DialogState.EARLY, DialogInput.RESPONSE_FAILURE): DialogState.TERMINATED,
    (DialogState.EARLY, DialogInput.DIALOG_GONE): DialogState.TERMINATED,
    (DialogState.EARLY, DialogInput.BYE): DialogState.TERMINATED,
    # 2xx retransmissions of the INVITE; late provisionals reordered behind the 2xx.
    (DialogState.CONFIRMED, DialogInput.RESPONSE_2XX): DialogState.CONFIRMED,
    (DialogState.CONFIRMED, DialogInput.RESPONSE_1XX): DialogState.CONFIRMED,
    (DialogState.CONFIRMED, DialogInput.DIALOG_GONE): DialogState.TERMINATED,
    (DialogState.CONFIRMED, DialogInput.BYE): DialogState.TERMINATED,
    # BYEs crossing on the wire, a 481 to the second one.
    (DialogState.TERMINATED, DialogInput.BYE): DialogState.TERMINATED,
    (DialogState.TERMINATED, DialogInput.DIALOG_GONE): DialogState.TERMINATED,
}


@dataclass(frozen=True, slots=True)
class DialogId:
    """§12: Call-ID, local tag and remote tag identify a dialog at one side."""

    call_id: str
    local_tag: str
    remote_tag: str


@dataclass(frozen=True, slots=True)
class DialogConfirmed:
    dialog_id: DialogId


@dataclass(frozen=True, slots=True)
class DialogTerminated:
    dialog_id: DialogId
    cause: DialogInput


@dataclass(frozen=True, slots=True)
class TargetRefreshed:
    dialog_id: DialogId
    remote_target: str


DialogEvent = DialogConfirmed | DialogTerminated | TargetRefreshed


def _contact_uri(message: Request | Response) -> str | None:
    contacts = message.contacts
    if not contacts or contacts[0].is_star:
        return None
    return str(contacts[0].uri)


def _without_tag(value: str, header: str) -> NameAddress:
    return parse_name_addr(value, header).without_param("tag")


class Dialog:
    """The state of one dialog at one side (RFC 3261 §12.1, §12.2).

    ``local_header`` and ``remote_header`` are the From and To values of the
    requests this side sends (each with its tag).
    """

    __slots__ = (
        "call_id",
        "local_contact",
        "local_header",
        "local_seq",
        "local_tag",
        "remote_header",
        "remote_seq",
        "remote_tag",
        "remote_target",
        "route_set",
        "secure",
        "state",
    )

    def __init__(
        self,
        *,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_header: str,
        remote_header: str,
        local_seq: int | None,
        remote_seq: int | None,
        remote_target: str,
        route_set: tuple[str, ...] = (),
        secure: bool = False,
        local_contact: str | None = None,
        state: DialogState = DialogState.CONFIRMED,
    ) -> None:
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.local_header = local_header
        self.remote_header = remote_header
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.remote_target = remote_target
        self.route_set = route_set
        self.secure = secure
        self.local_contact = local_contact
        self.state = state

    # -- creation -------------------------------------------------------------------------
    @classmethod
    def as_uac(
        cls, request: Request, response: Response, *, local_contact: str | None = None
    ) -> Dialog:
        """The dialog a 1xx (with a To tag) or 2xx to our ``request`` creates (§12.1.2)."""
        status = response.status_code
        remote_tag = response.to.tag
        if not 100 < status < 300 or remote_tag is None:
            raise LocalProtocolError(f"a {status} without a To tag creates no dialog")
        local_tag = request.from_.tag
        if local_tag is None:
            raise LocalProtocolError("the request has no From tag")
        target = _contact_uri(response)
        if target is None:
            if status >= 200:
                raise RemoteProtocolError("the 2xx has no Contact", header="Contact")
            target = request.uri  # an early dialog from a Contact-less 18x: best effort
        # §12.1.2: the route set is the Record-Route of the response, reversed.
        route_set = tuple(str(route) for route in reversed(response.record_routes))
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_header=request.headers.get("from") or "",
            remote_header=response.headers.get("to") or "",
            local_seq=request.cseq.number,
            remote_seq=None,
            remote_target=target,
            route_set=route_set,
            secure=_is_sips(request.uri),
            local_contact=local_contact,
            state=DialogState.CONFIRMED if status >= 200 else DialogState.EARLY,
        )

    @classmethod
    def as_uas(
        cls,
        request: Request,
        local_tag: str,
        *,
        local_contact: str | None = None,
        early: bool = True,
    ) -> Dialog:
        """The dialog we create by answering ``request`` with ``local_tag`` (§12.1.1)."""
        remote_tag = request.from_.tag
        if remote_tag is None:
            # §12.1.1 / RFC 2543 peers: no From tag; the dialog's remote tag is empty.
            remote_tag = ""
        target = _contact_uri(request)
        if target is None:
            raise RemoteProtocolError(
                f"the {request.method} that creates a dialog has no Contact", header="Contact"
            )
        to = request.headers.get("to") or ""
        local_header = to if request.to.tag is not None else f"{to};tag={local_tag}"
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=remote_tag,
            local_header=local_header,
            remote_header=request.headers.get("from") or "",
            local_seq=None,  # §12.1.1: empty until we send a request
            remote_seq=request.cseq.number,
            # §12.1.1: the route set is the Record-Route of the request, in order.
            remote_target=target,
            route_set=tuple(str(route) for route in request.record_routes),
            secure=_is_sips(request.uri),
            local_contact=local_contact,
            state=DialogState.EARLY if early else DialogState.CONFIRMED,
        )

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    @property
    def local_uri(self) -> str:
        return str(_without_tag(self.local_header, "From").uri)

    @property
    def remote_uri(self) -> str:
        return str(_without_tag(self.remote_header, "To").uri)

    # -- state ----------------------------------------------------------------------------
    def process_input(self, what: DialogInput) -> list[DialogEvent]:
        """Run one input through ``TRANSITIONS``; the events it causes."""
        before = self.state
        after = TRANSITIONS.get((before, what))
        if after is None:
            raise LocalProtocolError(f"dialog in state {before.name} cannot take {what.name}")
        self.state = after
        if after is before:
            return []
        if after is DialogState.CONFIRMED:
            return [DialogConfirmed(self.id)]
        return [DialogTerminated(self.id, what)]

    # -- building requests (§12.2.1.1) ----------------------------------------------------
    def create_request(
        self,
        method: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        max_forwards: int = 70,
    ) -> Request:
        """An in-dialog request (no Via: the sending endpoint adds it).

        A new local CSeq number for everything but ACK and CANCEL; the target and
        Route headers from the remote target and the route set (loose or strict
        routing, §12.2.1.1); our Contact on target-refresh requests.
        """
        if self.state is DialogState.TERMINATED and method != "ACK":
            raise LocalProtocolError(f"no {method} in a terminated dialog")
        if method in _NO_NEW_CSEQ:
            raise LocalProtocolError(f"{method} reuses a CSeq: use create_ack or make_cancel")
        self.local_seq = 1 if self.local_seq is None else self.local_seq + 1
        return self._build(method, self.local_seq, headers, body, content_type, max_forwards)

    def create_ack(
        self,
        response: Response,
        *,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Request:
        """The ACK of a 2xx to an INVITE of ours (§13.2.2.4): the INVITE's CSeq number."""
        cseq = response.cseq
        if cseq.method != "INVITE" or not 200 <= response.status_code < 300:
            raise LocalProtocolError(f"an ACK is built for a 2xx to INVITE, not {response!r}")
        return self._build("ACK", cseq.number, (), body, content_type, 70)

    def _build(
        self,
        method: str,
        number: int,
        extra: Iterable[tuple[str, str]],
        body: bytes,
        content_type: str | None,
        max_forwards: int,
    ) -> Request:
        uri, routes = self._target_and_routes()
        out: list[tuple[str, str]] = [("Route", route) for route in routes]
        out += [
            ("Max-Forwards", str(max_forwards)),
            ("From", self.local_header),
            ("To", self.remote_header),
            ("Call-ID", self.call_id),
            ("CSeq", f"{number} {method}"),
        ]
        if self.local_contact is not None and method in TARGET_REFRESH_METHODS:
            out.append(("Contact", self.local_contact))
        out.extend(extra)
        if content_type is not None and body:
            out.append(("Content-Type", content_type))
        return Request(method, uri, out, body)

    def _target_and_routes(self) -> tuple[str, list[str]]:
        route_set = self.route_set
        if not route_set:
            return self.remote_target, []
        try:
            first = _parse_route(route_set[0])
        except SipParseError:
            return self.remote_target, list(route_set)
        if isinstance(first.uri, SipUri) and "lr" in first.uri.params:
            return self.remote_target, list(route_set)  # §12.2.1.1 loose routing
        # Strict routing: the first route becomes the Request-URI (its parameters not
        # allowed there stripped), the remote target goes last in the Route headers.
        uri = first.uri
        if isinstance(uri, SipUri):
            uri = SipUri(
                uri.scheme,
                uri.user,
                uri.password,
                uri.host,
                uri.port,
                uri.params.without("method").without("maddr").without("ttl"),
            )
        return str(uri), [*route_set[1:], f"<{self.remote_target}>"]

    # -- receiving (§12.2.2) --------------------------------------------------------------
    def receive_request(self, request: Request) -> list[DialogEvent]:
        """Check an in-dialog request's CSeq and apply its target refresh / BYE.

        Raises ``RemoteProtocolError(status_hint=500)`` for a CSeq lower than the
        last one (§12.2.2).  ACK and CANCEL carry the CSeq of the request they go
        with and are not checked.
        """
        method = request.method
        number = request.cseq.number
        if method not in _NO_NEW_CSEQ:
            if self.remote_seq is not None and number < self.remote_seq:
                raise RemoteProtocolError(
                    f"CSeq {number} is lower than {self.remote_seq}",
                    status_hint=500,
                    header="CSeq",
                )
            self.remote_seq = number
        events: list[DialogEvent] = []
        if method == "BYE":
            events += self.process_input(DialogInput.BYE)
        elif method in TARGET_REFRESH_METHODS:
            events += self._refresh_target(request)
        return events

    def receive_response(self, response: Response) -> list[DialogEvent]:
        """A response to one of our requests in this dialog.

        For the dialog-creating INVITE: 1xx keeps it early, 2xx confirms it
        (recomputing the route set, §12.1.2), a failure ends an early dialog.  For a
        later request: 481/408 end the dialog (§12.2.1.2), a 2xx to a target refresh
        updates the remote target.
        """
        status = response.status_code
        method = response.cseq.method
        events: list[DialogEvent] = []
        if self.state is DialogState.EARLY and method == "INVITE":
            if status < 200:
                events += self.process_input(DialogInput.RESPONSE_1XX)
                events += self._refresh_target(response)
            elif status < 300:
                self.route_set = tuple(str(route) for route in reversed(response.record_routes))
                events += self._refresh_target(response)
                events += self.process_input(DialogInput.RESPONSE_2XX)
            else:
                events += self.process_input(DialogInput.RESPONSE_FAILURE)
            return events
        if status in (481, 408):
            return self.process_input(DialogInput.DIALOG_GONE)
        if 200 <= status < 300 and method in TARGET_REFRESH_METHODS:
            events += self._refresh_target(response)
        return events

    def terminate(self) -> list[DialogEvent]:
        """We sent (or decided on) a BYE."""
        return self.process_input(DialogInput.BYE)

    def _refresh_target(self, message: Request | Response) -> list[DialogEvent]:
        target = _contact_uri(message)
        if target is None or target == self.remote_target:
            return []
        self.remote_target = target
        return [TargetRefreshed(self.id, target)]

    def __repr__(self) -> str:
        return (
            f"<Dialog {self.state.name} {self.call_id} "
            f"local={self.local_tag} remote={self.remote_tag}>"
        )


def _is_sips(uri: str) -> bool:
    return uri[:5].lower() == "sips:"


def _parse_route(value: str) -> NameAddress:
    return parse_name_addr(value, "Route")
