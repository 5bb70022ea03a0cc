"""``sipline config check FILE``: validate a configuration file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sipline.config import ConfigError, load_config


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser("config", help="work with the configuration file")
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate a sipline.toml and say what is wrong")
    check.add_argument("file", help="the configuration file")
    check.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as error:
        for problem in error.problems:
            print(f"sipline: config: {problem}", file=sys.stderr)
        return 2
    listeners = ", ".join(config.server.listen)
    print(f"{args.file}: ok (mode {config.server.mode}; listening on {listeners})")
    return 0
