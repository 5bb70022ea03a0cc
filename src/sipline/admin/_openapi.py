"""The OpenAPI 3.1 description of the admin API, served at ``/api/openapi.json``.

Written by hand next to the routes; a test checks that every route of the
application appears here with its method, and nothing else does.
"""

from __future__ import annotations

from typing import Any

from sipline import __version__

__all__ = ["openapi_document"]

_ERROR = {"$ref": "#/components/schemas/Error"}
_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_NUM = {"type": ["number", "null"]}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(key: str, item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {key: {"type": "array", "items": _ref(item)}},
        "required": [key],
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


def _op(
    summary: str,
    responses: dict[str, Any],
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    public: bool = False,
) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    if public:
        operation["security"] = []
    else:
        operation["responses"] = {**responses, "401": _json(_ERROR, "Missing or wrong token")}
    return operation


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "problems": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["error"],
    },
    "Registration": {
        "type": "object",
        "properties": {
            "aor": {"type": "string"},
            "contact": {"type": "string"},
            "source": {
                "type": "string",
                "description": "transport:host:port the REGISTER came from",
            },
            "local": {"type": "string"},
            "expires_in": {"type": "integer"},
            "expires_at": {"type": "number"},
            "registered_at": {"type": "number"},
            "user_agent": _NULLABLE_STR,
            "call_id": {"type": "string"},
            "instance": _NULLABLE_STR,
            "reg_id": {"type": ["integer", "null"]},
            "q": _NULLABLE_NUM,
        },
    },
    "Leg": {
        "type": "object",
        "properties": {
            "call_id": {"type": "string"},
            "side": {"type": "string", "enum": ["caller", "callee"]},
            "peer": {"type": "string"},
            "state": {"type": "string"},
            "codec": _NULLABLE_STR,
            "local_tag": _NULLABLE_STR,
            "remote_tag": _NULLABLE_STR,
        },
    },
    "Call": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "caller": {"type": "string"},
            "callee": {"type": "string"},
            "state": {"type": "string"},
            "started_at": {"type": "number"},
            "answered_at": _NULLABLE_NUM,
            "duration": {"type": "number"},
            "talk_time": _NULLABLE_NUM,
            "legs": {"type": "array", "items": _ref("Leg")},
        },
    },
    "Cdr": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "start_time": {"type": "number"},
            "caller": {"type": "string"},
            "callee": {"type": "string"},
            "call_ids": {"type": "array", "items": {"type": "string"}},
            "cause": {"type": "string"},
            "data": {"type": "object"},
        },
    },
    "User": {
        "type": "object",
        "properties": {
            "aor": {"type": "string"},
            "user": {"type": "string"},
            "domain": {"type": "string"},
            "display_name": _NULLABLE_STR,
            "created_at": {"type": "number"},
        },
    },
    "NewUser": {
        "type": "object",
        "properties": {
            "aor": {"type": "string", "example": "1000@example.com"},
            "user": {"type": "string"},
            "domain": {"type": "string"},
            "password": {"type": "string", "description": "kept only as HA1 digests"},
            "display_name": _NULLABLE_STR,
        },
        "required": ["password"],
    },
    "UserChange": {
        "type": "object",
        "properties": {"password": {"type": "string"}, "display_name": _NULLABLE_STR},
    },
    "Trunk": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "target": {"type": "string"},
            "state": {"type": "string"},
            "detail": {"type": "string"},
            "expires_at": _NULLABLE_NUM,
        },
        "additionalProperties": True,
    },
    "Counts": {
        "type": "object",
        "properties": {
            "users": {"type": "integer"},
            "registrations": {"type": "integer"},
            "registered_aors": {"type": "integer"},
            "active_calls": {"type": "integer"},
        },
    },
    "Status": {
        "type": "object",
        "properties": {
            "version": {"type": "string"},
            "started_at": {"type": "number"},
            "uptime": {"type": "number"},
            "mode": {"type": "string"},
            "listeners": {"type": "array", "items": {"type": "string"}},
            "domains": {"type": "array", "items": {"type": "string"}},
            "counts": _ref("Counts"),
            "calls_per_second": {"type": "number"},
            "trace": {"type": "object"},
            "wired": {"type": "object"},
        },
    },
}


def _paths() -> dict[str, Any]:
    call_id = _path("id", "the call's id, one of its SIP Call-IDs, or a CDR's Call-ID")
    aor = _path("aor", "user@domain")
    return {
        "/": {
            "get": _op("The web console (HTML)", {"200": {"description": "HTML page"}}, public=True)
        },
        "/metrics": {
            "get": _op(
                "Prometheus metrics (text exposition format)", {"200": {"description": "metrics"}}
            )
        },
        "/api/openapi.json": {
            "get": _op("This description", {"200": _json({"type": "object"})}, public=True)
        },
        "/api/health": {
            "get": _op(
                "Liveness and version",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "status": {"type": "string"},
                                "version": {"type": "string"},
                            },
                        }
                    )
                },
                public=True,
            )
        },
        "/api/status": {
            "get": _op(
                "Version, uptime, listeners, domains, counts", {"200": _json(_ref("Status"))}
            )
        },
        "/api/registrations": {
            "get": _op(
                "Registered contacts",
                {"200": _json(_list_of("registrations", "Registration"))},
                parameters=[_query("aor", {"type": "string"}, "only this address-of-record")],
            )
        },
        "/api/calls": {
            "get": _op(
                "Live calls with legs, state, duration and codecs",
                {"200": _json(_list_of("calls", "Call"))},
            )
        },
        "/api/calls/{id}": {
            "delete": _op(
                "Hang up a call (BYE/CANCEL on every leg)",
                {
                    "202": _json({"type": "object"}, "Hang-up started"),
                    "404": _json(_ERROR, "No such call"),
                },
                parameters=[_path("id", "the call's id")],
            )
        },
        "/api/calls/{id}/ladder": {
            "get": _op(
                "The ladder diagram of a call, from the live trace",
                {
                    "200": {"description": "the ladder in the format asked for"},
                    "404": _json(_ERROR, "No message of the call in the trace"),
                    "503": _json(_ERROR, "No live trace in this server"),
                },
                parameters=[
                    call_id,
                    _query(
                        "format",
                        {
                            "type": "string",
                            "enum": ["html", "svg", "json", "text", "mermaid"],
                            "default": "html",
                        },
                        "output format",
                    ),
                ],
            )
        },
        "/api/cdrs": {
            "get": _op(
                "Call detail records, newest first",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "cdrs": {"type": "array", "items": _ref("Cdr")},
                                "limit": {"type": "integer"},
                                "offset": {"type": "integer"},
                                "next_offset": {"type": ["integer", "null"]},
                            },
                        }
                    ),
                    "400": _json(_ERROR, "Bad filter"),
                },
                parameters=[
                    _query("caller", {"type": "string"}, "caller AOR"),
                    _query("callee", {"type": "string"}, "callee AOR"),
                    _query("call_id", {"type": "string"}, "a SIP Call-ID of the call"),
                    _query("cause", {"type": "string"}, "end cause"),
                    _query(
                        "since", {"type": "string"}, "start time >= (epoch seconds or ISO 8601)"
                    ),
                    _query("until", {"type": "string"}, "start time < (epoch seconds or ISO 8601)"),
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 0, "maximum": 1000, "default": 100},
                        "page size",
                    ),
                    _query(
                        "offset", {"type": "integer", "minimum": 0, "default": 0}, "records to skip"
                    ),
                ],
            )
        },
        "/api/users": {
            "get": _op(
                "Local users",
                {"200": _json(_list_of("users", "User"))},
                parameters=[_query("domain", {"type": "string"}, "only this domain")],
            ),
            "post": _op(
                "Add a user",
                {
                    "201": _json(_ref("User"), "Created"),
                    "400": _json(_ERROR, "Invalid"),
                    "409": _json(_ERROR, "Exists"),
                },
                body=_ref("NewUser"),
            ),
        },
        "/api/users/{aor}": {
            "get": _op(
                "One user",
                {"200": _json(_ref("User")), "404": _json(_ERROR, "No such user")},
                parameters=[aor],
            ),
            "put": _op(
                "Change a user's password or display name",
                {"200": _json(_ref("User")), "404": _json(_ERROR, "No such user")},
                parameters=[aor],
                body=_ref("UserChange"),
            ),
            "delete": _op(
                "Remove a user and its registrations",
                {"200": _json({"type": "object"}), "404": _json(_ERROR, "No such user")},
                parameters=[aor],
            ),
        },
        "/api/trunks": {
            "get": _op(
                "Trunks and their registration state", {"200": _json(_list_of("trunks", "Trunk"))}
            )
        },
        "/api/trace": {
            "get": _op(
                "Download the siptrace text log",
                {
                    "200": {"description": "text/plain"},
                    "404": _json(_ERROR, "No trace file"),
                    "503": _json(_ERROR, "No live trace"),
                },
            ),
            "post": _op(
                "Switch the live trace on or off",
                {
                    "200": _json(
                        {"type": "object", "properties": {"enabled": {"type": "boolean"}}}
                    ),
                    "503": _json(_ERROR, "No live trace"),
                },
                body={
                    "type": "object",
                    "properties": {"enabled": {"type": "boolean"}},
                    "required": ["enabled"],
                },
            ),
        },
        "/api/reload": {
            "post": _op(
                "Re-read the configuration file",
                {
                    "200": _json({"type": "object"}),
                    "400": _json(_ERROR, "Invalid configuration"),
                    "503": _json(_ERROR, "Not supported"),
                },
            )
        },
        "/api/events": {
            "get": _op(
                "Server-sent events: a `snapshot` (calls, registrations, counts) every second; "
                "takes ?token= as EventSource cannot send headers",
                {"200": {"description": "text/event-stream"}},
                parameters=[_query("token", {"type": "string"}, "the admin token")],
            )
        },
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sipline admin API",
            "version": __version__,
            "description": "Registrations, live calls, CDRs, users, trunks, trace and ladders of a "
            "running sipline. Send the token of the data directory's admin-token file as "
            "Authorization: Bearer <token>.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _SCHEMAS,
        },
        "paths": _paths(),
    }
