"""Users CRUD under ``/api/users``.  Passwords are turned into HA1 digests by
``User.create`` (RFC 7616 §3.4.2, realm = domain) and never stored or returned."""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from typing import Any

from aiohttp import web

from sipline.admin._api import context, json_body
from sipline.admin._context import AdminContext, ApiError
from sipline.admin._json import user_json
from sipline.store import User, UserExistsError

__all__ = ["add_user_routes"]

logger = logging.getLogger("sipline.admin")

# RFC 3261 §25.1 user = 1*( unreserved / escaped / user-unreserved ); escapes are not
# accepted here: a user name someone types is plain.
_USER = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/]{1,64}")
_DOMAIN = re.compile(r"[A-Za-z0-9.\-]{1,253}|\[[0-9A-Fa-f:.]+\]")
_MAX_PASSWORD = 256


def split_aor(aor: str) -> tuple[str, str]:
    user, at, domain = aor.rpartition("@")
    if not at or not _USER.fullmatch(user) or not _DOMAIN.fullmatch(domain):
        raise ApiError(
            400, f"{aor!r} is not an address-of-record user@domain, e.g. 1000@example.com"
        )
    return user, domain.lower()


def _check_domain(ctx: AdminContext, domain: str) -> None:
    served = ctx.server.domains
    if served and domain not in served:
        raise ApiError(
            400,
            f"domain {domain!r} is not served here (domains: {', '.join(sorted(served))}); "
            "phones could not register to it",
        )


def _password(body: dict[str, Any], required: bool) -> str | None:
    password = body.get("password")
    if password is None and not required:
        return None
    if not isinstance(password, str) or not password or len(password) > _MAX_PASSWORD:
        raise ApiError(400, f"password: a non-empty string of at most {_MAX_PASSWORD} characters")
    return password


def _display_name(body: dict[str, Any]) -> str | None:
    name = body.get("display_name")
    if name is not None and (not isinstance(name, str) or len(name) > 128 or "\n" in name):
        raise ApiError(400, "display_name: a one-line string of at most 128 characters, or null")
    return name


async def list_users(request: web.Request) -> web.Response:
    store = context(request).store()
    domain = request.query.get("domain") or None
    return web.json_response({"users": [user_json(u) for u in store.list_users(domain)]})


async def create_user(request: web.Request) -> web.Response:
    ctx = context(request)
    store = ctx.store()
    body = await json_body(request)
    if isinstance(body.get("aor"), str):
        user, domain = split_aor(body["aor"])
    elif isinstance(body.get("user"), str) and isinstance(body.get("domain"), str):
        user, domain = split_aor(f"{body['user']}@{body['domain']}")
    else:
        raise ApiError(400, 'give "aor": "user@domain" (or "user" and "domain") and "password"')
    _check_domain(ctx, domain)
    password = _password(body, required=True)
    assert password is not None
    created = User.create(
        user, domain, password, display_name=_display_name(body), created_at=time.time()
    )
    try:
        store.add_user(created)
    except UserExistsError:
        raise ApiError(
            409, f"user {created.aor} already exists; PUT /api/users/{created.aor} changes it"
        ) from None
    logger.info("user %s added through the admin API", created.aor)
    return web.json_response(
        user_json(created), status=201, headers={"Location": f"/api/users/{created.aor}"}
    )


def _existing(ctx: AdminContext, aor: str) -> User:
    user, domain = split_aor(aor)
    found = ctx.store().get_user(user, domain)
    if found is None:
        raise ApiError(404, f"no user {user}@{domain}")
    return found


async def get_user(request: web.Request) -> web.Response:
    return web.json_response(user_json(_existing(context(request), request.match_info["aor"])))


async def update_user(request: web.Request) -> web.Response:
    ctx = context(request)
    current = _existing(ctx, request.match_info["aor"])
    body = await json_body(request)
    if "password" not in body and "display_name" not in body:
        raise ApiError(400, 'give "password" and/or "display_name"')
    display_name = _display_name(body) if "display_name" in body else current.display_name
    password = _password(body, required=False)
    if password is not None:
        updated = User.create(
            current.user,
            current.domain,
            password,
            display_name=display_name,
            created_at=current.created_at,
        )
    else:
        updated = dataclasses.replace(current, display_name=display_name)
    if not ctx.store().update_user(updated):
        raise ApiError(404, f"no user {current.aor}")
    logger.info("user %s changed through the admin API", current.aor)
    return web.json_response(user_json(updated))


async def delete_user(request: web.Request) -> web.Response:
    ctx = context(request)
    current = _existing(ctx, request.match_info["aor"])
    store = ctx.store()
    if not store.remove_user(current.user, current.domain):
        raise ApiError(404, f"no user {current.aor}")
    # Its phones can no longer authenticate; their bindings go with the user.
    removed = store.remove_aor(current.aor)
    logger.info("user %s removed through the admin API", current.aor)
    return web.json_response({"deleted": current.aor, "bindings_removed": removed})


def add_user_routes(app: web.Application) -> None:
    app.router.add_get("/api/users", list_users)
    app.router.add_post("/api/users", create_user)
    app.router.add_get("/api/users/{aor}", get_user)
    app.router.add_put("/api/users/{aor}", update_user)
    app.router.add_delete("/api/users/{aor}", delete_user)
