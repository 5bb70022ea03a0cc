"""/metrics: the collector reads the live counters of a real endpoint and store."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from admin_helpers import AUTH, RecordingCalls, admin_client, call
from prometheus_client.parser import text_string_to_metric_families

from sipline.admin import WireCounter
from sipline.admin._metrics import CallRate
from sipline.sip import Address
from sipline.store import User

LOCAL = Address("udp", "127.0.0.1", 5060)
PEER = Address("udp", "127.0.0.1", 5070)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_wire_counter_counts_methods_and_status_codes() -> None:
    wire = WireCounter()
    for direction, data in (
        ("recv", b"REGISTER sip:example.com SIP/2.0\r\nVia: x\r\n\r\n"),
        ("recv", b"invite sip:1001@example.com SIP/2.0\r\n\r\n"),
        ("send", b"SIP/2.0 401 Unauthorized\r\n\r\n"),
        ("send", b"SIP/2.0 200 OK\r\n\r\n"),
        ("send", b"SIP/2.0 200 OK\r\n\r\n"),
        ("recv", b"\x00\x01garbage"),
        ("recv", b"SIP/2.0 abc nonsense\r\n"),
        ("recv", b"HELLO world HTTP/1.1\r\n"),
    ):
        wire(direction, "udp", LOCAL, PEER, 0.0, data)  # type: ignore[arg-type]
    assert wire.requests == {("recv", "REGISTER"): 1, ("recv", "INVITE"): 1}
    assert wire.responses == {("send", "401"): 1, ("send", "200"): 2}


def test_call_rate_over_a_sliding_window() -> None:
    rate = CallRate(window=10.0)
    assert rate.per_second() == 0.0
    for second in range(21):
        rate.sample(float(second), 5 * second if second <= 10 else 50)
    assert rate.per_second() == 0.0  # nothing started in the last 10 s
    rate.sample(22.0, 70)
    assert rate.per_second() == 2.0  # 20 calls since the sample at 12 s, 10 s ago


@dataclass
class Counters:
    failures: int = 3
    blocks: int = 1
    packets_relayed: int = 1200
    packets_lost: int = 4
    active_sessions: int = 2


def test_metrics_read_the_live_counters(tmp_path: Path) -> None:
    calls = RecordingCalls([call("c1", "leg-a", "leg-b")])
    calls.ended.update({"answered": 7, "busy": 2})
    counters = Counters()

    async def scenario() -> None:
        async with admin_client(
            tmp_path, calls=calls, auth_stats=counters, media_stats=counters
        ) as (client, context):
            store = context.server.store
            endpoint = context.server.endpoint
            assert store is not None
            assert endpoint is not None
            store.add_user(User.create("1000", "example.com", "pw"))
            # One real OPTIONS through the endpoint: a message each way (answered
            # statelessly, so no transaction).
            port = endpoint.listeners[0].port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.1", 0))
                local_port = sock.getsockname()[1]
                sock.sendto(
                    (
                        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
                        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bKm1;rport\r\n"
                        "Max-Forwards: 70\r\nFrom: <sip:p@127.0.0.1>;tag=1\r\n"
                        f"To: <sip:127.0.0.1:{port}>\r\nCall-ID: metrics-1\r\n"
                        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                    ).encode(),
                    ("127.0.0.1", port),
                )
                sock.setblocking(False)
                loop = asyncio.get_running_loop()
                answer = await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)
                assert answer.startswith(b"SIP/2.0 200")
                sock.sendto(b"NOT SIP AT ALL\r\n\r\n", ("127.0.0.1", port))
                await asyncio.sleep(0.1)
            context.rate.sample(time.monotonic() - 2, 0)
            context.rate.sample(time.monotonic(), context.started_calls())
            response = await client.get("/metrics", headers=AUTH)
            assert response.status == 200
            assert response.content_type == "text/plain"
            found = samples(await response.text())

        assert found["sipline_users", ()] == 1
        assert found["sipline_registrations", ()] == 0
        assert found["sipline_active_calls", ()] == 1
        assert found["sipline_calls_total", (("result", "answered"),)] == 7
        assert found["sipline_calls_total", (("result", "busy"),)] == 2
        assert 4.0 <= found["sipline_calls_per_second", ()] <= 5.0  # 10 calls over ~2 s
        assert (
            found["sipline_sip_requests_total", (("direction", "recv"), ("method", "OPTIONS"))] == 1
        )
        assert found["sipline_sip_responses_total", (("code", "200"), ("direction", "send"))] == 1
        assert found.get(("sipline_transactions_total", (("kind", "server_non_invite"),)), 0) == 0
        assert found["sipline_messages_received_total", ()] == 1
        assert found["sipline_messages_sent_total", ()] == 1
        assert found["sipline_parse_errors_total", ()] == 1
        assert found["sipline_auth_failures_total", ()] == 3
        assert found["sipline_auth_blocks_total", ()] == 1
        assert found["sipline_rtp_relayed_packets_total", ()] == 1200
        assert found["sipline_rtp_lost_packets_total", ()] == 4
        assert found["sipline_rtp_sessions", ()] == 2
        assert all(name.startswith("sipline_") for name, _ in found)

    run(scenario)


def test_metrics_without_call_engine_or_media_are_honest(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with admin_client(tmp_path) as (client, _):
            found = samples(await (await client.get("/metrics", headers=AUTH)).text())
        assert found["sipline_active_calls", ()] == 0
        assert not any(name == "sipline_calls_total" for name, _ in found)
        assert not any(
            name.startswith(("sipline_rtp", "sipline_auth_failures")) for name, _ in found
        )

    run(scenario)


def test_each_server_has_its_own_registry(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            admin_client(tmp_path / "a") as (first, _),
            admin_client(tmp_path / "b", domains=frozenset({"b.example"})) as (second, ctx),
        ):
            store = ctx.server.store
            assert store is not None
            store.add_user(User.create("1", "b.example", "pw"))
            one = samples(await (await first.get("/metrics", headers=AUTH)).text())
            two = samples(await (await second.get("/metrics", headers=AUTH)).text())
        assert one["sipline_users", ()] == 0
        assert two["sipline_users", ()] == 1

    run(scenario)
