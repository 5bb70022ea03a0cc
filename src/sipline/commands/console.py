"""The CLI console (like fs_cli): ``sipline status``, ``registrations``, ``calls``,
``hangup ID``, ``trace on|off|status|download``, ``reload`` and ``cdr``, talking to the
running server through its admin API.

The server is found through the data directory (``--data DIR``, the default of
``sipline serve``; or the ``data_dir`` of ``--config FILE``), whose ``admin.json`` and
``admin-token`` the server writes at start, or given as ``--api URL --token T``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sipline.admin import TOKEN_NAME, AdminClient, AdminClientError, read_location
from sipline.config import ConfigError, ServerSection, load_config

__all__ = ["register"]

Action = Callable[[AdminClient, argparse.Namespace], int]


def _common(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("finding the server")
    where.add_argument(
        "--data",
        metavar="DIR",
        help=f"the server's data directory (default ./{ServerSection.data_dir})",
    )
    where.add_argument(
        "--config", metavar="FILE", help="take the data directory from this sipline.toml"
    )
    where.add_argument("--api", metavar="URL", help="admin API URL, e.g. http://127.0.0.1:8080")
    where.add_argument(
        "--token", metavar="T", help="admin token (default: the data directory's admin-token)"
    )
    parser.add_argument("--json", action="store_true", help="print the API's JSON")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    def add(name: str, help_text: str, action: Action) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = subparsers.add_parser(
            name, help=help_text, description=help_text
        )
        _common(parser)
        parser.set_defaults(run=lambda args: _run(action, args))
        return parser

    add("status", "show the running server's version, uptime, listeners and counts", _status)
    add("registrations", "list the registered phones", _registrations)
    add("calls", "list the live calls with their legs, state, duration and codecs", _calls)
    hangup = add("hangup", "hang up a live call", _hangup)
    hangup.add_argument("id", help="the call's id (from `sipline calls`)")
    trace = add("trace", "switch the live SIP trace on or off, or download it", _trace)
    trace.add_argument("state", choices=("on", "off", "status", "download"))
    trace.add_argument(
        "-o", "--output", metavar="FILE", help="with download: write here (default stdout)"
    )
    add("reload", "re-read the configuration file of the running server", _reload)
    cdr = add("cdr", "list call detail records, newest first", _cdr)
    cdr.add_argument("--caller", metavar="AOR")
    cdr.add_argument("--callee", metavar="AOR")
    cdr.add_argument("--call-id", metavar="ID")
    cdr.add_argument("--since", metavar="TIME", help="epoch seconds or ISO 8601")
    cdr.add_argument("--until", metavar="TIME", help="epoch seconds or ISO 8601")
    cdr.add_argument("--limit", type=int, default=20)
    cdr.add_argument("--offset", type=int, default=0)
    cdr.add_argument(
        "--csv", action="store_true", help="export as CSV (one row per call, data as JSON)"
    )


def _client(args: argparse.Namespace) -> AdminClient:
    """``--api``/``--token`` first, else the data directory's admin.json/admin-token."""
    token = args.token or os.environ.get("SIPLINE_ADMIN_TOKEN")
    data_dir = Path(args.data) if args.data else _config_data_dir(args.config)
    if args.api:
        if not token:
            try:
                token = (data_dir / TOKEN_NAME).read_text("ascii").strip()
            except OSError:
                raise LookupError(
                    f"no --token given and no readable {data_dir / TOKEN_NAME}; give --token T"
                ) from None
        return AdminClient(args.api, token)
    location = read_location(data_dir)
    return AdminClient(location.url, token or location.token)


def _config_data_dir(config: str | None) -> Path:
    if config is None:
        return Path(ServerSection.data_dir)
    try:
        return load_config(config).data_path
    except ConfigError as error:
        raise LookupError(f"config: {error.problems[0]}") from None


def _run(action: Action, args: argparse.Namespace) -> int:
    try:
        client = _client(args)
        return action(client, args)
    except (LookupError, AdminClientError) as error:
        print(f"sipline: {error}", file=sys.stderr)
        return 1


# -- output -------------------------------------------------------------------------------
def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = []
    for row in [list(headers), *cells]:
        padded = [c.ljust(w) for c, w in zip(row[:-1], widths[:-1], strict=True)]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)


def duration(seconds: float) -> str:
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


# -- actions ------------------------------------------------------------------------------------
def _status(client: AdminClient, args: argparse.Namespace) -> int:
    data = client.get_json("/api/status")
    if args.json:
        _print_json(data)
        return 0
    counts = data["counts"]
    trace = data["trace"]
    rows = [
        ("version", data["version"]),
        ("uptime", duration(data["uptime"])),
        ("mode", data["mode"]),
        ("listeners", " ".join(data["listeners"]) or "-"),
        ("domains", " ".join(data["domains"]) or "-"),
        ("users", counts["users"]),
        (
            "registrations",
            f"{counts['registrations']} contacts of {counts['registered_aors']} AORs",
        ),
        ("calls", f"{counts['active_calls']} live, {data['calls_per_second']:.2f}/s"),
        ("trace", ("on" if trace["enabled"] else "off") if trace["available"] else "unavailable"),
    ]
    trunks = client.get_json("/api/trunks")["trunks"]
    rows.extend(
        (f"trunk {t['name']}", f"{t['state']} {t.get('detail') or ''}".strip()) for t in trunks
    )
    width = max(14, *(len(name) + 2 for name, _ in rows))
    print("\n".join(f"{name:<{width}}{value}" for name, value in rows))
    return 0


def _registrations(client: AdminClient, args: argparse.Namespace) -> int:
    data = client.get_json("/api/registrations")
    if args.json:
        _print_json(data)
        return 0
    rows = [
        (r["aor"], r["contact"], r["source"], duration(r["expires_in"]), r["user_agent"] or "")
        for r in data["registrations"]
    ]
    print(table(("AOR", "CONTACT", "FROM", "EXPIRES", "USER AGENT"), rows))
    print(f"{len(rows)} registration{'s' if len(rows) != 1 else ''}")
    return 0


def _calls(client: AdminClient, args: argparse.Namespace) -> int:
    data = client.get_json("/api/calls")
    if args.json:
        _print_json(data)
        return 0
    rows = []
    for call in data["calls"]:
        codecs = sorted({leg["codec"] for leg in call["legs"] if leg["codec"]})
        legs = "; ".join(f"{leg['side']} {leg['peer']} {leg['state']}" for leg in call["legs"])
        rows.append(
            (
                call["id"],
                call["caller"],
                call["callee"],
                call["state"],
                duration(call["duration"]),
                ",".join(codecs) or "-",
                legs,
            )
        )
    print(table(("ID", "CALLER", "CALLEE", "STATE", "DURATION", "CODECS", "LEGS"), rows))
    print(f"{len(rows)} call{'s' if len(rows) != 1 else ''}")
    return 0


def _hangup(client: AdminClient, args: argparse.Namespace) -> int:
    from urllib.parse import quote

    data = client.delete_json(f"/api/calls/{quote(args.id, safe='')}")
    if args.json:
        _print_json(data)
    else:
        print(f"hanging up {args.id}")
    return 0


def _trace(client: AdminClient, args: argparse.Namespace) -> int:
    if args.state in ("on", "off"):
        data = client.post_json("/api/trace", {"enabled": args.state == "on"})
        if args.json:
            _print_json(data)
        else:
            print(f"trace {'on' if data['enabled'] else 'off'}")
        return 0
    if args.state == "status":
        trace = client.get_json("/api/status")["trace"]
        if args.json:
            _print_json(trace)
        else:
            print(("on" if trace["enabled"] else "off") if trace["available"] else "unavailable")
        return 0
    _, body, _ = client.request("GET", "/api/trace")
    if args.output:
        Path(args.output).write_bytes(body)
        print(f"wrote {len(body)} bytes to {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    return 0


def _reload(client: AdminClient, args: argparse.Namespace) -> int:
    data = client.post_json("/api/reload")
    if args.json:
        _print_json(data)
        return 0
    changes = data.get("changes") or {}
    print("configuration reloaded" + ("" if changes else " (nothing changed)"))
    for key, value in changes.items():
        print(f"  {key}: {value}")
    return 0


def _cdr(client: AdminClient, args: argparse.Namespace) -> int:
    data = client.get_json(
        "/api/cdrs",
        caller=args.caller,
        callee=args.callee,
        call_id=args.call_id,
        since=args.since,
        until=args.until,
        limit=args.limit,
        offset=args.offset,
    )
    if args.json:
        _print_json(data)
        return 0
    if args.csv:
        _print_cdr_csv(data["cdrs"])
        return 0
    rows = [
        (
            c["id"],
            _when(c["start_time"]),
            c["caller"],
            c["callee"],
            c["cause"],
            " ".join(c["call_ids"]),
        )
        for c in data["cdrs"]
    ]
    print(table(("ID", "START", "CALLER", "CALLEE", "RESULT", "CALL-IDS"), rows))
    if data["next_offset"] is not None:
        print(f"more: --offset {data['next_offset']}")
    return 0


def _print_cdr_csv(cdrs: list[dict[str, Any]]) -> None:
    writer = csv.writer(sys.stdout)
    fields = ("id", "start_time", "caller", "callee", "cause", "call_ids", "data")
    writer.writerow(fields)
    for cdr in cdrs:
        row = []
        for field in fields:
            value = cdr.get(field)
            if field == "call_ids":
                value = " ".join(value or ())
            elif field == "data":
                value = json.dumps(value or {}, sort_keys=True)
            row.append(value)
        writer.writerow(row)
