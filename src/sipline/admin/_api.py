"""The admin HTTP API under ``/api/``: status, registrations, calls, CDRs, trunks, trace,
ladders, reload, and the live event stream (users are in ``_users.py``)."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sipline import __version__
from sipline.admin._context import CONTEXT, AdminContext, ApiError
from sipline.admin._interfaces import TraceControl, TrunkInfo
from sipline.admin._json import binding_json, call_json, cdr_json, trunk_json
from sipline.analysis import Flow, analyse
from sipline.analysis.render import render
from sipline.config import ConfigError

__all__ = ["CLOSING", "add_api_routes", "auth_middleware", "error_middleware"]

logger = logging.getLogger("sipline.admin")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Paths open without a token: liveness probe, API description, the web page (which
#: asks for the token itself).
PUBLIC_PATHS = frozenset({"/", "/api/health", "/api/openapi.json"})
#: EventSource cannot send headers: the event stream also takes ``?token=``.
QUERY_TOKEN_PATHS = frozenset({"/api/events"})
MAX_CDR_LIMIT = 1000
_LADDER_TYPES = {
    "html": "text/html",
    "svg": "image/svg+xml",
    "json": "application/json",
    "text": "text/plain",
    "mermaid": "text/plain",
}
#: Set when the admin server closes: long-lived event streams end.
CLOSING = web.AppKey("sipline_admin_closing", asyncio.Event)


def context(request: web.Request) -> AdminContext:
    return request.app[CONTEXT]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``ApiError`` and aiohttp's HTTP errors as ``{"error": ...}`` JSON."""
    try:
        return await handler(request)
    except ApiError as error:
        return web.json_response({"error": error.message}, status=error.status)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return web.json_response(
            {"error": error.reason}, status=error.status, headers=_allow_header(error)
        )


def _allow_header(error: web.HTTPException) -> dict[str, str]:
    allow = error.headers.get("Allow")
    return {"Allow": allow} if allow else {}


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer token (RFC 6750 §2.1) on everything but the public paths."""
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    token = context(request).token
    given = ""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        given = value.strip()
    elif request.path in QUERY_TOKEN_PATHS:
        given = request.query.get("token", "")
    if not given or not secrets.compare_digest(given.encode(), token.encode()):
        return web.json_response(
            {"error": "missing or wrong token: send Authorization: Bearer <admin-token>"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="sipline"'},
        )
    return await handler(request)


# -- status -----------------------------------------------------------------------------
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__})


def counts(ctx: AdminContext) -> dict[str, Any]:
    store = ctx.server.store
    bindings = store.all_bindings(time.time()) if store is not None else []
    return {
        "users": store.count_users() if store is not None else 0,
        "registrations": len(bindings),
        "registered_aors": len({b.aor for b in bindings}),
        "active_calls": len(ctx.calls.active_calls()) if ctx.calls is not None else 0,
    }


async def status(request: web.Request) -> web.Response:
    ctx = context(request)
    config = ctx.server.config
    endpoint = ctx.server.endpoint
    now = time.time()
    return web.json_response(
        {
            "version": __version__,
            "started_at": ctx.started_at,
            "uptime": round(now - ctx.started_at, 3),
            "mode": config.server.mode,
            "listeners": [str(a) for a in endpoint.listeners] if endpoint is not None else [],
            "domains": sorted(ctx.server.domains),
            "counts": counts(ctx),
            "calls_per_second": ctx.rate.per_second(),
            "trace": {
                "available": ctx.trace is not None,
                "enabled": ctx.trace.enabled if ctx.trace is not None else False,
            },
            "wired": {
                "calls": ctx.calls is not None,
                "trace": ctx.trace is not None,
                "trunks": ctx.trunks is not None,
                "reload": ctx.reload is not None,
            },
        }
    )


async def registrations(request: web.Request) -> web.Response:
    store = context(request).store()
    now = time.time()
    aor = request.query.get("aor")
    bindings = store.lookup(aor, now) if aor else store.all_bindings(now)
    return web.json_response({"registrations": [binding_json(b, now) for b in bindings]})


# -- calls --------------------------------------------------------------------------------
async def calls(request: web.Request) -> web.Response:
    ctx = context(request)
    now = time.time()
    active = ctx.calls.active_calls() if ctx.calls is not None else []
    return web.json_response({"calls": [call_json(c, now) for c in active]})


async def hangup(request: web.Request) -> web.Response:
    ctx = context(request)
    call_id = request.match_info["id"]
    if ctx.calls is None or not ctx.calls.hangup(call_id):
        raise ApiError(404, f"no call {call_id!r} in progress")
    logger.info("call hung up through the admin API", extra={"call_id": call_id})
    return web.json_response({"hung_up": call_id}, status=202)


# -- CDRs ---------------------------------------------------------------------------------
def _time_param(request: web.Request, name: str) -> float | None:
    """Epoch seconds or ISO 8601 (UTC when no offset is given)."""
    text = request.query.get(name)
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(
            400, f"{name}: {text!r} is neither epoch seconds nor ISO 8601 (2024-05-01T12:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _int_param(request: web.Request, name: str, default: int, high: int) -> int:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit() or int(text) > high:
        raise ApiError(400, f"{name}: must be a whole number from 0 to {high}, not {text!r}")
    return int(text)


async def cdrs(request: web.Request) -> web.Response:
    store = context(request).store()
    limit = _int_param(request, "limit", 100, MAX_CDR_LIMIT)
    offset = _int_param(request, "offset", 0, 2**62)
    records = store.list_cdrs(
        since=_time_param(request, "since"),
        until=_time_param(request, "until"),
        caller=request.query.get("caller") or None,
        callee=request.query.get("callee") or None,
        call_id=request.query.get("call_id") or None,
        cause=request.query.get("cause") or None,
        limit=limit + 1,  # one more tells whether there is a next page
        offset=offset,
    )
    more = len(records) > limit
    return web.json_response(
        {
            "cdrs": [cdr_json(r) for r in records[:limit]],
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if more else None,
        }
    )


# -- trunks -------------------------------------------------------------------------------
_SECRET_WORDS = ("password", "secret", "token", "ha1")


def configured_trunks(ctx: AdminContext) -> list[TrunkInfo]:
    """The trunks of the configuration, when no trunk layer reports their state."""
    found = []
    for index, entry in enumerate(ctx.server.config.trunks):
        extra = {
            k: v for k, v in entry.items() if not any(word in k.lower() for word in _SECRET_WORDS)
        }
        target = entry.get("proxy") or entry.get("host") or entry.get("uri") or ""
        found.append(
            TrunkInfo(
                name=str(entry.get("name", f"trunk{index + 1}")),
                target=str(target),
                state="unknown",
                detail="configured; no trunk layer is running to report its state",
                extra=extra,
            )
        )
    return found


async def trunks(request: web.Request) -> web.Response:
    ctx = context(request)
    found = ctx.trunks.trunk_status() if ctx.trunks is not None else configured_trunks(ctx)
    return web.json_response({"trunks": [trunk_json(t) for t in found]})


# -- trace and ladders ------------------------------------------------------------------------
def _trace(ctx: AdminContext) -> TraceControl:
    if ctx.trace is None:
        raise ApiError(503, "the live trace is not available in this server")
    return ctx.trace


async def trace_set(request: web.Request) -> web.Response:
    trace = _trace(context(request))
    body = await json_body(request)
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise ApiError(400, 'send {"enabled": true} or {"enabled": false}')
    trace.set_enabled(enabled)
    logger.info("live trace %s through the admin API", "on" if enabled else "off")
    return web.json_response({"enabled": trace.enabled})


async def trace_download(request: web.Request) -> web.StreamResponse:
    trace = _trace(context(request))
    trace.flush()
    path = trace.file_path()
    if path is None or not path.is_file():
        raise ApiError(404, "no trace file yet: switch the trace on with POST /api/trace")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{path.name}"',
        },
    )


def _call_ids_of(ctx: AdminContext, wanted: str) -> set[str]:
    """The SIP Call-IDs of a call named by its id, one of its Call-IDs, or a CDR id."""
    ids = {wanted}
    if ctx.calls is not None:
        for call in ctx.calls.active_calls():
            if call.id == wanted or wanted in call.call_ids:
                ids.update(call.call_ids)
    store = ctx.server.store
    if store is not None:
        for record in store.list_cdrs(call_id=wanted, limit=5):
            ids.update(record.call_ids)
    return ids


def ladder_flows(ctx: AdminContext, wanted: str) -> list[Flow]:
    trace = _trace(ctx)
    ids = _call_ids_of(ctx, wanted)
    needles = [i.encode("utf-8", "replace") for i in ids]
    # Only records that mention one of the Call-IDs are analysed (a cheap byte search).
    records = [r for r in trace.records() if any(n in r.raw for n in needles)]
    return [f for f in analyse(records) if ids & set(f.call_ids)]


async def ladder(request: web.Request) -> web.Response:
    ctx = context(request)
    wanted = request.match_info["id"]
    output_format = request.query.get("format", "html")
    if output_format not in _LADDER_TYPES:
        raise ApiError(400, f"format: one of {', '.join(_LADDER_TYPES)}, not {output_format!r}")
    flows = ladder_flows(ctx, wanted)
    if not flows:
        raise ApiError(404, f"no message of call {wanted!r} among the live trace's recent messages")
    text = render(flows, output_format, explain=output_format in ("json", "text"))
    return web.Response(text=text, content_type=_LADDER_TYPES[output_format], charset="utf-8")


# -- reload -----------------------------------------------------------------------------------
async def reload(request: web.Request) -> web.Response:
    ctx = context(request)
    if ctx.reload is None:
        raise ApiError(503, "this server cannot reload its configuration; restart it")
    try:
        changes = await ctx.reload()
    except ConfigError as error:
        return web.json_response(
            {"error": "the configuration has errors; nothing changed", "problems": error.problems},
            status=400,
        )
    logger.info("configuration reloaded through the admin API")
    return web.json_response({"reloaded": True, "changes": dict(changes)})


# -- live events ------------------------------------------------------------------------------
MAX_EVENT_REGISTRATIONS = 500


def snapshot(ctx: AdminContext) -> dict[str, Any]:
    now = time.time()
    store = ctx.server.store
    bindings = store.all_bindings(now) if store is not None else []
    active = ctx.calls.active_calls() if ctx.calls is not None else []
    return {
        "time": now,
        "calls": [call_json(c, now) for c in active],
        "registrations": [binding_json(b, now) for b in bindings[:MAX_EVENT_REGISTRATIONS]],
        "counts": counts(ctx),
        "calls_per_second": ctx.rate.per_second(),
        "trace_enabled": ctx.trace.enabled if ctx.trace is not None else None,
    }


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events (HTML Living Standard §9.2): a ``snapshot`` every second."""
    ctx = context(request)
    closing = request.app[CLOSING]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    try:
        while not closing.is_set():
            data = json.dumps(snapshot(ctx), separators=(",", ":"))
            await response.write(f"event: snapshot\ndata: {data}\n\n".encode())
            try:
                await asyncio.wait_for(closing.wait(), timeout=1.0)
            except TimeoutError:
                pass
    except (ConnectionResetError, ConnectionError):
        pass  # the browser went away
    return response


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def add_api_routes(app: web.Application) -> None:
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/registrations", registrations)
    app.router.add_get("/api/calls", calls)
    app.router.add_delete("/api/calls/{id}", hangup)
    app.router.add_get("/api/calls/{id}/ladder", ladder)
    app.router.add_get("/api/cdrs", cdrs)
    app.router.add_get("/api/trunks", trunks)
    app.router.add_get("/api/trace", trace_download)
    app.router.add_post("/api/trace", trace_set)
    app.router.add_post("/api/reload", reload)
    app.router.add_get("/api/events", events)
