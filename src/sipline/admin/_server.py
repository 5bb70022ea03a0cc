"""``AdminServer``: the admin API, ``/metrics`` and the web console, on aiohttp in the
server's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from sipline.admin._api import (
    CLOSING,
    add_api_routes,
    auth_middleware,
    error_middleware,
)
from sipline.admin._context import CONTEXT, AdminContext
from sipline.admin._interfaces import (
    AuthStats,
    CallRegistry,
    MediaStats,
    ReloadFunction,
    ServerView,
    TraceControl,
    TrunkDirectory,
)
from sipline.admin._metrics import WireCounter, make_registry
from sipline.admin._openapi import openapi_document
from sipline.admin._page import CONSOLE_PAGE
from sipline.admin._token import load_or_create_token, remove_discovery, write_discovery
from sipline.admin._users import add_user_routes

__all__ = ["AdminServer", "build_app", "parse_admin_listen"]

logger = logging.getLogger("sipline.admin")

METRICS_REGISTRY = web.AppKey("sipline_admin_metrics", CollectorRegistry)


def parse_admin_listen(listen: str) -> tuple[str, int]:
    """``127.0.0.1:8080`` / ``[::1]:8080`` -> (host, port); ``ValueError`` otherwise."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"admin listen address {listen!r} is not HOST:PORT, e.g. 127.0.0.1:8080")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


async def _page(request: web.Request) -> web.Response:
    return web.Response(
        text=CONSOLE_PAGE,
        content_type="text/html",
        charset="utf-8",
        headers={
            # Everything is inline; nothing may load from elsewhere.
            "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
            "style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self' blob: data:",
            "Cache-Control": "no-store",
        },
    )


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


async def _metrics(request: web.Request) -> web.Response:
    output = generate_latest(request.app[METRICS_REGISTRY])
    return web.Response(body=output, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(context: AdminContext) -> web.Application:
    """The aiohttp application over ``context`` (tests drive it with aiohttp's client)."""
    app = web.Application(middlewares=[error_middleware, auth_middleware])
    app[CONTEXT] = context
    app[CLOSING] = asyncio.Event()
    app[METRICS_REGISTRY] = make_registry(context)
    app.router.add_get("/", _page)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/api/openapi.json", _openapi)
    add_api_routes(app)
    add_user_routes(app)
    return app


class AdminServer:
    """The admin listener of one ``Server``.

    The call engine, live trace, trunk layer, auth and media counters and the reload
    function are optional and may be attached after construction (``admin.calls =
    b2bua``); what is not attached shows as empty or unavailable.  ``wire`` is a trace
    sink to hand to the endpoint so that ``/metrics`` counts requests and responses.
    """

    def __init__(
        self,
        server: ServerView,
        listen: str,
        data_dir: Path,
        *,
        calls: CallRegistry | None = None,
        trace: TraceControl | None = None,
        trunks: TrunkDirectory | None = None,
        auth_stats: AuthStats | None = None,
        media_stats: MediaStats | None = None,
        reload: ReloadFunction | None = None,
        wire: WireCounter | None = None,
    ) -> None:
        self.host, self.port = parse_admin_listen(listen)
        self.data_dir = Path(data_dir)
        self.token, self.token_created = load_or_create_token(self.data_dir)
        self.context = AdminContext(
            server=server,
            token=self.token,
            wire=wire if wire is not None else WireCounter(),
            calls=calls,
            trace=trace,
            trunks=trunks,
            auth_stats=auth_stats,
            media_stats=media_stats,
            reload=reload,
        )
        self.app = build_app(self.context)
        self._runner: web.AppRunner | None = None
        self._sampler: asyncio.Task[None] | None = None
        self.url = ""

    # Late wiring: the parts other layers provide once they exist.
    @property
    def wire(self) -> WireCounter:
        return self.context.wire

    @property
    def calls(self) -> CallRegistry | None:
        return self.context.calls

    @calls.setter
    def calls(self, value: CallRegistry | None) -> None:
        self.context.calls = value

    @property
    def trace(self) -> TraceControl | None:
        return self.context.trace

    @trace.setter
    def trace(self, value: TraceControl | None) -> None:
        self.context.trace = value

    async def start(self) -> None:
        """Listen, write ``admin.json`` and print where (and, the first time, the token)."""
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            raise
        port = self._bound_port()
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{port}"
        write_discovery(self.data_dir, self.url)
        self._sampler = asyncio.create_task(self._sample_call_rate())
        print(f"sipline: admin API and web console on {self.url}/", flush=True)
        if self.token_created:
            print(
                f"sipline: admin token (kept in {self.data_dir / 'admin-token'}): {self.token}",
                flush=True,
            )
        else:
            print(f"sipline: admin token in {self.data_dir / 'admin-token'}", flush=True)

    def _bound_port(self) -> int:
        assert self._runner is not None
        for address in self._runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                return int(address[1])
        return self.port

    async def _sample_call_rate(self) -> None:
        while True:
            try:
                self.context.rate.sample(time.monotonic(), self.context.started_calls())
            except Exception:
                logger.exception("sampling the call rate failed")
            await asyncio.sleep(1.0)

    async def close(self) -> None:
        """Stop listening and end the event streams; idempotent."""
        self.app[CLOSING].set()
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
            self._sampler = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            remove_discovery(self.data_dir)
