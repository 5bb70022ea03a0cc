"""``sipline parse FILE`` and ``sipline explain FILE``: one SIP message, inspected."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

from sipline.explain import explain_message
from sipline.sip import Request, Response, SipParseError, parse_message


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parse = subparsers.add_parser(
        "parse", help="parse one SIP message and print its structure", description=__doc__
    )
    parse.add_argument("file", help="file holding one SIP message ('-' for standard input)")
    parse.set_defaults(run=run_parse)
    explain = subparsers.add_parser(
        "explain", help="explain each line of a SIP message", description=__doc__
    )
    explain.add_argument("file", help="file holding one SIP message ('-' for standard input)")
    explain.add_argument("--width", type=int, default=100, help="wrap explanations at this width")
    explain.set_defaults(run=run_explain)


def _load(path: str) -> Request | Response | None:
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        print(f"sipline: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return None
    try:
        return parse_message(data)
    except SipParseError as exc:
        print(f"sipline: {path} is not a valid SIP message: {exc}", file=sys.stderr)
        return None


def _views(message: Request | Response) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for label, attribute in (
        ("top Via", "top_via"),
        ("From", "from_"),
        ("To", "to"),
        ("Call-ID", "call_id"),
        ("CSeq", "cseq"),
        ("Max-Forwards", "max_forwards"),
        ("Contact", "contacts"),
    ):
        try:
            value = getattr(message, attribute)
        except SipParseError as exc:
            rows.append((label, f"malformed: {exc}"))
            continue
        if value is None or value == []:
            continue
        if attribute == "cseq":
            value = f"{value.number} {value.method}"
        elif attribute == "contacts":
            value = ", ".join(str(c) for c in value)
        rows.append((label, str(value)))
    return rows


def run_parse(args: argparse.Namespace) -> int:
    message = _load(args.file)
    if message is None:
        return 1
    if isinstance(message, Request):
        print(f"request  {message.method} {message.uri} ({message.version})")
    else:
        print(f"response {message.status_code} {message.reason} ({message.version})")
    for label, value in _views(message):
        print(f"  {label:<13} {value}")
    print(f"headers ({len(message.headers)}):")
    for name, value in message.headers:
        print(f"  {name}: {value}")
    print(
        f"body: {len(message.body)} bytes" + (f" of {message.content_type}" if message.body else "")
    )
    return 0


def run_explain(args: argparse.Namespace) -> int:
    message = _load(args.file)
    if message is None:
        return 1
    width = max(40, args.width)
    for line, explanation in explain_message(message):
        print(line)
        for wrapped in textwrap.wrap(explanation, width - 4):
            print(f"    {wrapped}")
    return 0
