"""A ``Server``-like object built from real parts (SqliteStore in tmp_path, an Endpoint on
127.0.0.1 port 0) and in-memory doubles of the layers being written elsewhere (call
engine, live trace), for the admin API tests."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from sipline.admin import CallInfo, TrunkInfo, WireCounter
from sipline.admin._context import AdminContext
from sipline.admin._server import build_app
from sipline.analysis import TraceRecord
from sipline.config import Config, config_from_dict
from sipline.endpoint import Endpoint, EndpointConfig, IncomingRequest
from sipline.sip import Address, Request, Response
from sipline.store import SqliteStore, open_store
from sipline.transport import TransportConfig, parse_listen_spec

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class OptionsOnly:
    """An endpoint application that refuses everything (the API only reads counters)."""

    async def handle_request(self, incoming: IncomingRequest) -> None:
        incoming.respond(480)

    def handle_ack(self, request: Request, source: Address) -> None:
        pass

    def handle_stray_response(self, response: Response, source: Address) -> None:
        pass


@dataclass
class FakeServer:
    config: Config
    store: SqliteStore | None
    endpoint: Endpoint | None
    domains: frozenset[str]


@dataclass
class RecordingCalls:
    """A call engine double: a fixed set of live calls, hangups recorded."""

    calls: list[CallInfo] = field(default_factory=list)
    ended: Counter[str] = field(default_factory=Counter)
    hung_up: list[str] = field(default_factory=list)

    def active_calls(self) -> list[CallInfo]:
        return list(self.calls)

    def hangup(self, call_id: str) -> bool:
        for call in self.calls:
            if call.id == call_id:
                self.calls.remove(call)
                self.hung_up.append(call_id)
                self.ended["hangup"] += 1
                return True
        return False

    def results(self) -> Mapping[str, int]:
        return self.ended


@dataclass
class MemoryTrace:
    """A live trace double holding records in memory and writing nothing but ``path``."""

    held: Sequence[TraceRecord] = ()
    path: Path | None = None
    on: bool = False
    flushes: int = 0

    @property
    def enabled(self) -> bool:
        return self.on

    def set_enabled(self, enabled: bool) -> None:
        self.on = enabled

    def records(self) -> Sequence[TraceRecord]:
        return self.held

    def file_path(self) -> Path | None:
        return self.path

    def flush(self) -> None:
        self.flushes += 1


@dataclass
class FixedTrunks:
    trunks: list[TrunkInfo]

    def trunk_status(self) -> list[TrunkInfo]:
        return list(self.trunks)


@asynccontextmanager
async def admin_client(
    tmp_path: Path,
    *,
    config: Mapping[str, Any] | None = None,
    domains: frozenset[str] = frozenset({"example.com"}),
    **parts: Any,
) -> AsyncIterator[tuple[TestClient[Any, Any], AdminContext]]:
    """An aiohttp test client on the admin app of a real store and endpoint."""
    store = open_store(tmp_path / "data")
    wire = WireCounter()
    endpoint = Endpoint(
        EndpointConfig(transport=TransportConfig(listen=(parse_listen_spec("udp:127.0.0.1:0"),))),
        OptionsOnly(),
        trace=[wire],  # as the server wires it: /metrics counts what crosses the wire
    )
    await endpoint.start()
    server = FakeServer(config_from_dict(config or {}), store, endpoint, domains)
    context = AdminContext(server=server, token=TOKEN, wire=wire, **parts)
    client = TestClient(TestServer(build_app(context)))
    await client.start_server()
    try:
        yield client, context
    finally:
        await client.close()
        await endpoint.close()
        store.close()


def call(call_id: str = "call-1", *legs_call_ids: str) -> CallInfo:
    from sipline.admin import LegInfo

    now = time.time()
    legs = tuple(
        LegInfo(
            call_id=leg,
            side="caller" if index == 0 else "callee",
            peer=f"udp:127.0.0.1:{5070 + index}",
            state="confirmed",
            codec="PCMU/8000",
        )
        for index, leg in enumerate(legs_call_ids)
    )
    return CallInfo(
        id=call_id,
        caller="1000@example.com",
        callee="1001@example.com",
        state="answered",
        started_at=now - 5,
        answered_at=now - 3,
        legs=legs,
    )
