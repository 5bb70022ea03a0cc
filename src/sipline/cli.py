"""The ``sipline`` command line: one sub-command per module under ``sipline.commands``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from sipline import __version__
from sipline.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sipline",
        description="sipline: a SIP softswitch and SIP trace analyzer.",
    )
    parser.add_argument("--version", action="version", version=f"sipline {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 2
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
