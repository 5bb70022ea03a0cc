"""``sipline ladder FILE...``: SIP traces (sipline/FreeSWITCH siptrace, pcap/pcapng,
phone syslog, plain SIP text) drawn as one ladder diagram per call, with phases named,
each message summarised and failures diagnosed."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from sipline.analysis import INPUT_FORMATS, TraceFormatError, analyse, read_traces
from sipline.analysis.render import FORMATS, render

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "ladder", help="draw SIP traces as call-flow ladders, explained", description=__doc__
    )
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="trace files (merged in time order)"
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="text", help="output format (default text)"
    )
    parser.add_argument(
        "--input-format",
        choices=INPUT_FORMATS,
        default="auto",
        help="force the reader (default auto)",
    )
    parser.add_argument("--explain", action="store_true", help="add per-header explanations")
    parser.add_argument("--width", type=int, default=None, help="text width (default: terminal)")
    parser.add_argument(
        "--call", metavar="CALL_ID", help="only the call with this Call-ID (any leg)"
    )
    parser.add_argument("-o", "--output", metavar="OUTPUT", help="write here instead of stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        records = read_traces(args.files, args.input_format)
    except TraceFormatError as error:
        print(f"sipline ladder: {error}", file=sys.stderr)
        return 2
    flows = analyse(records)
    if args.call:
        flows = [flow for flow in flows if args.call in flow.call_ids]
        if not flows:
            print(
                f"sipline ladder: no call with Call-ID {args.call!r} in the trace", file=sys.stderr
            )
            return 2
    width = args.width or shutil.get_terminal_size((100, 24)).columns
    output = render(flows, args.format, width=max(width, 60), explain=args.explain)
    if args.output:
        try:
            Path(args.output).write_text(output, encoding="utf-8")
        except OSError as error:
            print(f"sipline ladder: cannot write {args.output}: {error.strerror}", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(output)
    return 0
