"""The endpoint on real UDP/TCP sockets on 127.0.0.1 with a minimal application."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sipline.endpoint import Endpoint, EndpointConfig, IncomingRequest
from sipline.sip import (
    Address,
    Request,
    Response,
    SipUri,
    make_request,
    make_response,
    new_call_id,
    new_tag,
    parse_message,
)
from sipline.transaction import TransactionConfig
from sipline.transport import TransportConfig, parse_listen_spec


class AnsweringApp:
    """Answers INVITE with 180 then 200, everything else with 200; records ACKs."""

    def __init__(self) -> None:
        self.acks: list[Request] = []
        self.requests: list[Request] = []
        self.hold_invites = False

    async def handle_request(self, incoming: IncomingRequest) -> None:
        self.requests.append(incoming.request)
        if incoming.request.method == "INVITE":
            incoming.respond(180)
            if self.hold_invites:
                return  # left ringing, so CANCEL can be tested
            incoming.respond(200, headers=[("Contact", "<sip:app@127.0.0.1>")])
        else:
            incoming.respond(200)

    def handle_ack(self, request: Request, source: Address) -> None:
        self.acks.append(request)

    def handle_stray_response(self, response: Response, source: Address) -> None:
        pass


@asynccontextmanager
async def running(
    app: AnsweringApp,
    *specs: str,
    answer_statelessly: Callable[[Request, Address, Address], Response | None] | None = None,
) -> AsyncIterator[Endpoint]:
    config = EndpointConfig(
        transport=TransportConfig(listen=tuple(parse_listen_spec(s) for s in specs)),
        transactions=TransactionConfig(t1=0.05, t2=0.4, t4=0.5),
    )
    endpoint = Endpoint(config, app, answer_statelessly=answer_statelessly)
    await endpoint.start()
    try:
        yield endpoint
    finally:
        await endpoint.close()


def client_request(method: str, port: int, *, branch: str, call_id: str, cseq: int = 1) -> bytes:
    return bytes(
        make_request(
            method,
            f"sip:app@127.0.0.1:{port}",
            via=f"SIP/2.0/UDP 127.0.0.1:9;branch={branch};rport",
            from_=f"<sip:c@127.0.0.1>;tag={new_tag()}",
            to=f"<sip:app@127.0.0.1:{port}>",
            call_id=call_id,
            cseq=cseq,
        )
    )


async def exchange(
    sock: socket.socket, data: bytes | None, count: int, wait: float = 2.0
) -> list[Response]:
    loop = asyncio.get_running_loop()
    if data is not None:
        sock.sendto(data, sock.getpeername())
    out: list[Response] = []
    while len(out) < count:
        raw = await asyncio.wait_for(loop.sock_recv(sock, 65535), wait)
        message = parse_message(raw)
        assert isinstance(message, Response)
        out.append(message)
    return out


def udp_client(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.bind(("127.0.0.1", 0))
    sock.connect(("127.0.0.1", port))
    return sock


def run(test: Callable[[], object]) -> None:
    asyncio.run(test())  # type: ignore[arg-type]


def test_options_answered_with_capabilities_and_rport() -> None:
    async def scenario() -> None:
        async with running(AnsweringApp(), "udp:127.0.0.1:0") as endpoint:
            port = endpoint.listeners[0].port
            with udp_client(port) as sock:
                (ok,) = await exchange(
                    sock, client_request("OPTIONS", port, branch="z9hG4bKo1", call_id="o1"), 1
                )
                assert ok.status_code == 200
                assert "INVITE" in (ok.headers.get("Allow") or "")
                assert ok.headers.get("Accept") == "application/sdp"
                assert ok.top_via.rport == sock.getsockname()[1]
                assert ok.top_via.received == "127.0.0.1"

    run(scenario)


def test_invite_gets_trying_ringing_ok_and_ack_reaches_the_app() -> None:
    async def scenario() -> None:
        app = AnsweringApp()
        async with running(app, "udp:127.0.0.1:0") as endpoint:
            port = endpoint.listeners[0].port
            with udp_client(port) as sock:
                invite = client_request("INVITE", port, branch="z9hG4bKi1", call_id="i1")
                responses = await exchange(sock, invite, 3)
                assert [r.status_code for r in responses] == [100, 180, 200]
                assert responses[1].to.tag == responses[2].to.tag is not None
                # The 2xx is retransmitted until the ACK comes (§13.3.1.4).
                (again,) = await exchange(sock, None, 1)
                assert again.status_code == 200
                ok = responses[2]
                ack = (
                    f"ACK sip:app@127.0.0.1:{port} SIP/2.0\r\n"
                    "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKa1;rport\r\n"
                    f"From: {ok.headers.get('From')}\r\nTo: {ok.headers.get('To')}\r\n"
                    "Call-ID: i1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
                ).encode()
                sock.send(ack)
                await asyncio.sleep(0.3)
                assert len(app.acks) == 1
                # No more 2xx after the ACK.
                try:
                    extra = await exchange(sock, None, 1, wait=0.3)
                except TimeoutError:
                    extra = []
                assert extra == []

    run(scenario)


def test_cancel_gets_200_and_the_invite_487() -> None:
    async def scenario() -> None:
        app = AnsweringApp()
        app.hold_invites = True
        async with running(app, "udp:127.0.0.1:0") as endpoint:
            port = endpoint.listeners[0].port
            with udp_client(port) as sock:
                invite = client_request("INVITE", port, branch="z9hG4bKc1", call_id="c1")
                await exchange(sock, invite, 2)
                parsed = parse_message(invite)
                cancel = (
                    f"CANCEL sip:app@127.0.0.1:{port} SIP/2.0\r\n"
                    "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKc1;rport\r\n"
                    f"From: {parsed.headers.get('From')}\r\nTo: {parsed.headers.get('To')}\r\n"
                    "Call-ID: c1\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
                ).encode()
                responses = await exchange(sock, cancel, 2)
                codes = sorted((r.cseq.method, r.status_code) for r in responses)
                assert codes == [("CANCEL", 200), ("INVITE", 487)]

    run(scenario)


def test_malformed_requests_get_400_naming_the_defect_and_junk_is_dropped() -> None:
    async def scenario() -> None:
        async with running(AnsweringApp(), "udp:127.0.0.1:0") as endpoint:
            port = endpoint.listeners[0].port
            with udp_client(port) as sock:
                bad = client_request("OPTIONS", port, branch="z9hG4bKb1", call_id="b1").replace(
                    b"CSeq: 1 OPTIONS", b"CSeq: 99999999999 OPTIONS"
                )
                sock.send(bad)
                raw = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 65535), 2)
                # The 400 copies the bad CSeq, so only its status line is read here.
                status_line = raw.split(b"\r\n", 1)[0].decode()
                assert status_line.startswith("SIP/2.0 400 Bad Request: CSeq")
                for _ in range(50):
                    sock.send(b"\x00\xffnot sip at all")
                (ok,) = await exchange(
                    sock, client_request("OPTIONS", port, branch="z9hG4bKb2", call_id="b2"), 1
                )
                assert ok.status_code == 200
                assert endpoint.transport.stats.dropped == 50
                assert endpoint.stats.bad_requests_answered == 1

    run(scenario)


def test_version_and_max_forwards_checks() -> None:
    async def scenario() -> None:
        async with running(AnsweringApp(), "udp:127.0.0.1:0") as endpoint:
            port = endpoint.listeners[0].port
            with udp_client(port) as sock:
                invite = client_request("INVITE", port, branch="z9hG4bKm1", call_id="m1")
                (hops,) = await exchange(
                    sock, invite.replace(b"Max-Forwards: 70", b"Max-Forwards: 0"), 1
                )
                assert hops.status_code == 483
                versioned = client_request("OPTIONS", port, branch="z9hG4bKv1", call_id="v1")
                (version,) = await exchange(
                    sock, versioned.replace(b" SIP/2.0\r\n", b" SIP/7.0\r\n", 1), 1
                )
                assert version.status_code == 505

    run(scenario)


def test_send_request_yields_provisionals_then_final_over_tcp() -> None:
    async def scenario() -> None:
        server_app = AnsweringApp()
        async with (
            running(server_app, "tcp:127.0.0.1:0") as server,
            running(AnsweringApp(), "tcp:127.0.0.1:0") as client,
        ):
            target = server.listeners[0]
            request = make_request(
                "INVITE",
                f"sip:app@127.0.0.1:{target.port};transport=tcp",
                via="",
                from_=f"<sip:c@127.0.0.1>;tag={new_tag()}",
                to="<sip:app@127.0.0.1>",
                call_id=new_call_id(),
                cseq=1,
            )
            request.headers.remove("Via")
            outgoing = client.send_request(request)
            codes = [response.status_code async for response in outgoing]
            assert codes[-1] == 200
            assert 180 in codes
            assert isinstance(request.request_uri, SipUri)
            assert server_app.requests[0].top_via.transport == "TCP"

    run(scenario)


def test_unreachable_target_gives_a_synthesized_final_response() -> None:
    async def scenario() -> None:
        async with running(AnsweringApp(), "udp:127.0.0.1:0") as client:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
                silent.bind(("127.0.0.1", 0))
                port = silent.getsockname()[1]
                request = make_request(
                    "OPTIONS",
                    f"sip:x@127.0.0.1:{port}",
                    via="",
                    from_=f"<sip:c@127.0.0.1>;tag={new_tag()}",
                    to="<sip:x@127.0.0.1>",
                    call_id=new_call_id(),
                    cseq=1,
                )
                request.headers.remove("Via")
                final = await client.send_request(request).final_response()
                assert final.status_code == 408

    run(scenario)


def test_malformed_request_on_tcp_gets_400_and_the_connection_stays_up() -> None:
    async def scenario() -> None:
        async with running(AnsweringApp(), "tcp:127.0.0.1:0") as endpoint:
            port = endpoint.listeners[0].port
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                good = client_request("OPTIONS", port, branch="z9hG4bKt2", call_id="t2").replace(
                    b"SIP/2.0/UDP", b"SIP/2.0/TCP"
                )
                bad = good.replace(b"CSeq: 1 OPTIONS", b"CSeq: x OPTIONS").replace(
                    b"z9hG4bKt2", b"z9hG4bKt1"
                )
                writer.write(bad + good)
                await writer.drain()
                first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
                assert first.startswith(b"SIP/2.0 400 Bad Request: malformed CSeq")
                second = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
                assert second.startswith(b"SIP/2.0 200 OK")
            finally:
                writer.close()
                await writer.wait_closed()

    run(scenario)


def test_options_to_the_server_are_answered_without_a_transaction() -> None:
    async def scenario() -> None:
        async with running(AnsweringApp(), "udp:127.0.0.1:0") as endpoint:
            port = endpoint.listeners[0].port
            with udp_client(port) as sock:
                request = client_request("OPTIONS", port, branch="z9hG4bKs1", call_id="s1")
                first = await exchange(sock, request, 1)
                again = await exchange(sock, request, 1)  # a retransmission: another 200
                assert [r.status_code for r in first + again] == [200, 200]
                assert endpoint.transactions.transaction_count == 0
                assert endpoint.stats.options_answered == 2

    run(scenario)


def test_the_application_answers_statelessly_what_it_chooses_to() -> None:
    def challenge_registers(request: Request, source: Address, local: Address) -> Response | None:
        if request.method == "INVITE":
            raise AssertionError("INVITE is never offered")
        if request.call_id == "boom":
            raise RuntimeError("an application bug: the request goes the stateful way")
        if request.method != "REGISTER":
            return None
        return make_response(request, 401, headers=[("WWW-Authenticate", 'Digest realm="x"')])

    async def scenario() -> None:
        app = AnsweringApp()
        async with running(
            app, "udp:127.0.0.1:0", answer_statelessly=challenge_registers
        ) as endpoint:
            port = endpoint.listeners[0].port
            with udp_client(port) as sock:
                request = client_request("REGISTER", port, branch="z9hG4bKc1", call_id="c1")
                first = await exchange(sock, request, 1)
                again = await exchange(sock, request, 1)
                assert [r.status_code for r in first + again] == [401, 401]
                assert first[0].headers.get("Server") == endpoint.config.user_agent
                assert endpoint.transactions.transaction_count == 0
                assert endpoint.stats.answered_statelessly == 2
                assert app.requests == []
                # None, or an application error: the transaction and the app answer
                bye = client_request("BYE", port, branch="z9hG4bKc2", call_id="c2")
                boom = client_request("REGISTER", port, branch="z9hG4bKc3", call_id="boom")
                replies = await exchange(sock, bye, 1) + await exchange(sock, boom, 1)
                assert [r.status_code for r in replies] == [200, 200]
                assert [r.method for r in app.requests] == ["BYE", "REGISTER"]
                invite = client_request("INVITE", port, branch="z9hG4bKc4", call_id="c4")
                assert (await exchange(sock, invite, 3))[-1].status_code == 200
                assert endpoint.stats.answered_statelessly == 2

    run(scenario)


def test_rfc3263_targets_fail_over_to_the_next_after_a_timeout() -> None:
    from test_transport_dns import FakeResolver

    async def scenario() -> None:
        server_app = AnsweringApp()
        async with running(server_app, "udp:127.0.0.1:0") as server:
            good = server.listeners[0].port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
                silent.bind(("127.0.0.1", 0))
                dead = silent.getsockname()[1]
                zone = {
                    ("_sip._udp.pbx.test", "SRV"): [
                        f"10 0 {dead} dead.pbx.test.",
                        f"20 0 {good} good.pbx.test.",
                    ],
                    ("dead.pbx.test", "A"): ["127.0.0.1"],
                    ("good.pbx.test", "A"): ["127.0.0.1"],
                }
                config = EndpointConfig(
                    transport=TransportConfig(listen=(parse_listen_spec("udp:127.0.0.1:0"),)),
                    transactions=TransactionConfig(t1=0.02, t2=0.2, t4=0.2),
                )
                client = Endpoint(config, AnsweringApp(), resolver=FakeResolver(zone))
                await client.start()
                try:
                    request = make_request(
                        "OPTIONS",
                        "sip:1000@pbx.test",
                        via="",
                        from_=f"<sip:c@127.0.0.1>;tag={new_tag()}",
                        to="<sip:1000@pbx.test>",
                        call_id=new_call_id(),
                        cseq=1,
                    )
                    request.headers.remove("Via")
                    outgoing = client.send_request(request)
                    final = await outgoing.final_response()
                    # The SRV target with the lower priority value was silent (Timer F);
                    # the request went on to the second and was answered there.
                    assert final.status_code == 200
                    assert outgoing.destination is not None
                    assert outgoing.destination.port == good
                finally:
                    await client.close()

    run(scenario)
