"""A B2BUA on a real UDP endpoint with phones (endpoints too) on 127.0.0.1, for tests.

``World`` runs the server endpoint with a ``B2bua`` backed by a real SqliteStore,
registers ``Phone``s in it, and lets a phone place a call (``Phone.call``) and act
in its dialogs.  Timers are short (T1 = 50 ms).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sipline.b2bua import B2BUA_METHODS, B2bua, B2buaConfig, MediaFactory, PassThroughMedia
from sipline.dialog import Dialog
from sipline.endpoint import ClientRequest, Endpoint, EndpointConfig, IncomingRequest
from sipline.routing import parse_dialplan
from sipline.sip import Address, Request, Response, new_call_id, new_tag
from sipline.store import Binding, SqliteStore, User
from sipline.transaction import TransactionConfig
from sipline.transport import TransportConfig, parse_listen_spec

TIMERS = TransactionConfig(t1=0.05, t2=0.4, t4=0.5, timer_d=1.0)
SDP_A = b"v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8\r\n"
SDP_B = b"v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 42000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"


def endpoint_config() -> EndpointConfig:
    return EndpointConfig(
        transport=TransportConfig(listen=(parse_listen_spec("udp:127.0.0.1:0"),)),
        transactions=TIMERS,
        allowed_methods=(*B2BUA_METHODS, "REGISTER"),
    )


class Phone:
    """A phone: answers INVITEs per ``mode`` (answer, busy, ring, early, reject488)."""

    def __init__(self, name: str, mode: str = "answer") -> None:
        self.name = name
        self.mode = mode
        self.endpoint: Endpoint | None = None
        self.invites: list[IncomingRequest] = []
        self.requests: list[Request] = []
        self.acks: list[Request] = []
        self.dialogs: list[Dialog] = []
        self.got_request = asyncio.Event()
        self.answer_sdp = SDP_B

    @property
    def port(self) -> int:
        assert self.endpoint is not None
        return self.endpoint.listeners[0].port

    @property
    def contact(self) -> str:
        return f"<sip:{self.name}@127.0.0.1:{self.port}>"

    async def handle_request(self, incoming: IncomingRequest) -> None:
        request = incoming.request
        self.requests.append(request)
        self.got_request.set()
        contact = [("Contact", self.contact)]
        if request.method == "INVITE" and not incoming.in_dialog:
            self.invites.append(incoming)
            if self.mode == "busy":
                incoming.respond(486)
                return
            if self.mode == "reject488":
                incoming.respond(488)
                return
            incoming.respond(180, headers=contact)
            if self.mode == "early":
                sdp = [*contact, ("Content-Type", "application/sdp")]
                incoming.respond(183, headers=sdp, body=self.answer_sdp)
            if self.mode == "ring":
                return
            dialog = Dialog.as_uas(request, incoming.to_tag, local_contact=self.contact)
            dialog.state = dialog.state.CONFIRMED
            self.dialogs.append(dialog)
            self.answer(incoming)
        elif incoming.in_dialog:
            for dialog in self.dialogs:
                if dialog.call_id == request.call_id:
                    dialog.receive_request(request)
            if request.method == "INVITE":
                self.answer(incoming)
            else:
                incoming.respond(200)

    def answer(self, incoming: IncomingRequest) -> None:
        body = self.answer_sdp if incoming.request.body or self.mode != "late" else SDP_B
        headers = [("Contact", self.contact), ("Content-Type", "application/sdp")]
        session = incoming.request.headers.get("Session-Expires")
        if session is not None:
            headers.append(("Session-Expires", session))
        incoming.respond(200, headers=headers, body=body)

    def handle_ack(self, request: Request, source: Address) -> None:
        self.acks.append(request)

    def handle_stray_response(self, response: Response, source: Address) -> None:
        pass

    def send(self, request: Request, destination: Address) -> ClientRequest:
        assert self.endpoint is not None
        return self.endpoint.send_request(request, destination)


@dataclass
class Placed:
    """A call a phone placed: its INVITE, responses so far, and its dialog once answered."""

    invite: Request
    client: ClientRequest
    responses: list[Response] = field(default_factory=list)
    dialog: Dialog | None = None

    @property
    def final(self) -> Response:
        return self.responses[-1]


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.store = SqliteStore(tmp_path / "sipline.db")
        self.server: Endpoint | None = None
        self.b2bua: B2bua | None = None
        self.phones: list[Phone] = []

    @property
    def address(self) -> Address:
        assert self.server is not None
        return self.server.listeners[0]

    async def phone(self, name: str, mode: str = "answer", *, register: bool = True) -> Phone:
        phone = Phone(name, mode)
        endpoint = Endpoint(endpoint_config(), phone)
        phone.endpoint = endpoint
        await endpoint.start()
        self.phones.append(phone)
        if register:
            self.register(phone)
        return phone

    def register(self, phone: Phone, aor: str | None = None) -> None:
        aor = aor or f"{phone.name}@127.0.0.1"
        source = Address("udp", "127.0.0.1", phone.port)
        binding = Binding(
            aor=aor,
            key=f"{phone.contact}",
            contact=phone.contact,
            expires_at=time.time() + 3600,
            call_id=new_call_id(),
            cseq=1,
            source=source,
            local=self.address,
        )
        self.store.update(aor, save=[binding])

    def add_user(self, name: str) -> None:
        self.store.add_user(User.create(name, "127.0.0.1", "pw"))

    async def call(
        self,
        caller: Phone,
        destination: str,
        *,
        body: bytes = SDP_A,
        headers: tuple[tuple[str, str], ...] = (),
        until: int = 200,
        wait: float = 5.0,
    ) -> Placed:
        """Send an INVITE to the server; collect responses until one >= ``until``."""
        invite = Request(
            "INVITE",
            f"sip:{destination}@127.0.0.1:{self.address.port}",
            [
                ("Max-Forwards", "70"),
                ("From", f'"Alice Caller" <sip:{caller.name}@127.0.0.1>;tag={new_tag()}'),
                ("To", f"<sip:{destination}@127.0.0.1>"),
                ("Call-ID", new_call_id()),
                ("CSeq", "1 INVITE"),
                ("Contact", caller.contact),
                *headers,
                *([("Content-Type", "application/sdp")] if body else []),
            ],
            body,
        )
        placed = Placed(invite, caller.send(invite, self.address))
        await self.collect(placed, until, wait)
        return placed

    async def collect(self, placed: Placed, until: int, wait: float = 5.0) -> None:
        async def gather() -> None:
            async for response in placed.client:
                placed.responses.append(response)
                if response.status_code >= until:
                    return

        await asyncio.wait_for(gather(), wait)
        final = placed.responses[-1] if placed.responses else None
        if final is not None and 200 <= final.status_code < 300 and placed.dialog is None:
            placed.dialog = Dialog.as_uac(placed.invite, final)

    def ack(self, caller: Phone, placed: Placed, body: bytes = b"") -> None:
        assert placed.dialog is not None
        assert caller.endpoint is not None
        ack = placed.dialog.create_ack(
            placed.final, body=body, content_type="application/sdp" if body else None
        )
        caller.endpoint.send_ack(ack, self.address)

    async def request(
        self, phone: Phone, dialog: Dialog, method: str, destination: Address, **kw: object
    ) -> Response:
        request = dialog.create_request(method, **kw)  # type: ignore[arg-type]
        return await asyncio.wait_for(phone.send(request, destination).final_response(), 5)


async def wait_for(predicate: object, within: float = 5.0) -> None:
    """Poll ``predicate()`` until true (the loop keeps running meanwhile)."""
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def world(
    tmp_path: Path,
    *,
    dialplan: list[dict[str, object]] | None = None,
    config: B2buaConfig | None = None,
    media: MediaFactory = PassThroughMedia,
    users: bool = False,
) -> AsyncIterator[World]:
    w = World(tmp_path)
    placeholder = Phone("server")
    server = Endpoint(endpoint_config(), placeholder)
    await server.start()
    w.server = server
    b2bua = B2bua(
        server,
        w.store,
        parse_dialplan(dialplan or []),
        w.store,
        config,
        users=w.store if users else None,
        media=media,
    )
    server.application = b2bua
    w.b2bua = b2bua
    try:
        yield w
    finally:
        await b2bua.close()
        for phone in w.phones:
            assert phone.endpoint is not None
            await phone.endpoint.close()
        await server.close()
        w.store.close()
