"""Transport edge cases beyond the shared suite: WebSocket handshake and frames,
listener choice, and faults that must drop one connection but never the listener."""

from __future__ import annotations

from pathlib import Path

import pytest
from transport_peers import (
    StreamPeer,
    WsPeer,
    has_ipv6_loopback,
    peer_of,
    request,
    response,
    run_async,
    serve,
    until,
)
from wsproto.events import BytesMessage, RejectConnection

from sipline.sip import Address, Message
from sipline.transport import (
    BadMessage,
    ListenSpec,
    TransportConfig,
    TransportError,
    TransportLayer,
    ensure_self_signed,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tls")
    ensure_self_signed(path)
    return path


@run_async
async def test_ws_handshake_without_sip_subprotocol_is_rejected(cert_dir: Path) -> None:
    async with serve("ws", "127.0.0.1", cert_dir) as server:
        peer, event = await WsPeer.connect(server.address, None, subprotocols=("chat",))
        try:
            assert isinstance(event, RejectConnection)
            assert event.status_code == 400
            assert await peer.wait_closed()
        finally:
            await peer.close()


@run_async
async def test_ws_binary_frames_in_and_non_utf8_out(cert_dir: Path) -> None:
    async with serve("ws", "127.0.0.1", cert_dir) as server, peer_of(server, cert_dir) as peer:
        assert isinstance(peer, WsPeer)
        await peer.send_raw(peer.ws.send(BytesMessage(request(1))))
        assert bytes((await server.receive())[0]) == request(1)
        binary = request(2, body=b"\xff\xfe")
        await server.layer.send(binary, peer.address)
        assert await peer.receive() == binary
        await server.layer.send(response(1), peer.address)
        assert await peer.receive() == response(1)
        assert peer.text_frames == 1  # UTF-8 goes as text, the rest as binary (RFC 7118 §5.1)


@run_async
async def test_layer_chooses_listener_by_transport_and_family(cert_dir: Path) -> None:
    got: list[tuple[Address, Address]] = []
    specs = [ListenSpec("udp", "127.0.0.1", 0), ListenSpec("tcp", "127.0.0.1", 0)]
    if has_ipv6_loopback():
        specs.append(ListenSpec("udp", "::1", 0))
    config = TransportConfig(listen=tuple(specs))
    async with TransportLayer(
        config, lambda _m, source, local: got.append((source, local))
    ) as layer:
        udp4, tcp4 = (listener.local_address for listener in layer.listeners[:2])
        assert layer.listener_for(Address("udp", "192.0.2.1", 5060)).local_address == udp4
        assert layer.listener_for(Address("tcp", "192.0.2.1", 5060)).local_address == tcp4
        if has_ipv6_loopback():
            udp6 = layer.listeners[2].local_address
            assert layer.listener_for(Address("udp", "2001:db8::1", 5060)).local_address == udp6
        with pytest.raises(TransportError, match="no listener"):
            layer.listener_for(Address("tls", "192.0.2.1", 5061))
        with pytest.raises(TransportError, match="no listener"):
            layer.listener_for(
                Address("udp", "192.0.2.1", 5060), local=Address("udp", "10.9.9.9", 1)
            )
        assert layer.listener_for(Address("udp", "192.0.2.1", 1), local=udp4).local_address == udp4
        with pytest.raises(TransportError, match="no listener"):  # local is UDP, not TCP
            layer.listener_for(Address("tcp", "192.0.2.1", 5060), local=udp4)
        with pytest.raises(TransportError, match="not an IP address"):
            await layer.send(b"x", Address("udp", "example.com", 5060))


@run_async
async def test_failing_callback_and_sink_do_not_break_the_listener(cert_dir: Path) -> None:
    calls: list[bytes] = []

    def on_message(message: Message | BadMessage, source: Address, local: Address) -> None:
        calls.append(bytes(message) if not isinstance(message, BadMessage) else b"")
        if len(calls) == 1:
            raise RuntimeError("bug in the layer above")

    def bad_sink(*args: object) -> None:
        raise OSError("disk full")

    config = TransportConfig(listen=(ListenSpec("tcp", "127.0.0.1", 0),))
    async with TransportLayer(config, on_message, trace=[bad_sink]) as layer:
        server = layer.listeners[0].local_address
        peer = await StreamPeer.open(server, None)
        try:
            await peer.send(request(1))
            await peer.send(request(2))
            await until(lambda: len(calls) == 2)
            await layer.send(response(2), peer.address)
            assert await peer.receive() == response(2)
        finally:
            await peer.close()


@pytest.mark.parametrize("transport", ["tls", "wss"])
@run_async
async def test_plaintext_on_a_tls_port_only_closes_that_connection(
    transport: str, cert_dir: Path
) -> None:
    async with serve(transport, "127.0.0.1", cert_dir) as server:
        plain = await StreamPeer.open(Address("tcp", "127.0.0.1", server.address.port), None)
        try:
            await plain.send(request(1))
            assert await plain.wait_closed()
        finally:
            await plain.close()
        async with peer_of(server, cert_dir) as peer:
            await peer.send(request(2))
            assert bytes((await server.receive())[0]) == request(2)
        assert server.inbox.empty()


@run_async
async def test_plain_http_request_on_a_ws_port_is_refused(cert_dir: Path) -> None:
    async with serve("ws", "127.0.0.1", cert_dir) as server:
        peer = await StreamPeer.open(server.address, None)
        try:
            await peer.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = await peer.read_chunk()
            assert answer.startswith(b"HTTP/1.1 400 ")
            assert await peer.wait_closed()
        finally:
            await peer.close()
        assert server.layer.stats.framing_errors == 1


@run_async
async def test_closed_inbound_connection_is_forgotten(cert_dir: Path) -> None:
    async with serve("tcp", "127.0.0.1", cert_dir) as server:
        async with peer_of(server, cert_dir) as peer:
            await peer.send(request(1))
            _, source, _ = await server.receive()
        await until(lambda: server.layer.stats.connections_closed == 1)
        # no connection left: the layer dials the peer's (now closed) port instead
        with pytest.raises(TransportError, match="connect"):
            await server.layer.send(response(1), source)


@run_async
async def test_bug_in_a_stream_handler_drops_only_that_connection(
    cert_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sipline.transport._stream import SipStreamConnection

    original = SipStreamConnection.receive

    def broken(self: SipStreamConnection, data: bytes) -> None:
        raise RuntimeError("bug")

    async with serve("tcp", "127.0.0.1", cert_dir) as server:
        monkeypatch.setattr(SipStreamConnection, "receive", broken)
        async with peer_of(server, cert_dir) as peer:
            await peer.send(request(1))
            assert await peer.wait_closed()
        assert "RuntimeError: bug" in caplog.text
        monkeypatch.setattr(SipStreamConnection, "receive", original)
        async with peer_of(server, cert_dir) as again:
            await again.send(request(2))
            assert bytes((await server.receive())[0]) == request(2)
