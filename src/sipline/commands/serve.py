"""``sipline serve``: run the server in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from sipline.config import ConfigError, load_config


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the SIP server in the foreground",
        description=(
            "Run the SIP server: registrar with digest authentication, calls through the "
            "B2BUA (or the proxy), in the foreground until SIGINT/SIGTERM. With no "
            "config file it listens on UDP and TCP port 5060 of every interface and keeps "
            "its data in ./sipline-data."
        ),
    )
    parser.add_argument(
        "--config", metavar="FILE", help="a sipline.toml (default: built-in defaults)"
    )
    parser.add_argument(
        "--listen",
        metavar="SPEC",
        action="append",
        help="listener TRANSPORT:HOST:PORT, e.g. udp:0.0.0.0:5060, tcp:[::]:5060, "
        "tls:0.0.0.0:5061, ws:0.0.0.0:8088 (repeatable; replaces server.listen)",
    )
    parser.add_argument("--data", metavar="DIR", help="data directory (default ./sipline-data)")
    parser.add_argument(
        "--domain",
        metavar="NAME",
        action="append",
        help="a domain the server is authoritative for (repeatable; default: its own addresses)",
    )
    parser.add_argument(
        "--mode", choices=("b2bua", "proxy"), help="call handling mode (default b2bua)"
    )
    parser.add_argument(
        "--admin", metavar="HOST:PORT", help="admin API/web console address, or 'off'"
    )
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    parser.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    server_overrides: dict[str, Any] = {
        "listen": args.listen,
        "data_dir": args.data,
        "domains": args.domain,
        "mode": args.mode,
        "log_level": args.log_level,
    }
    overrides: dict[str, dict[str, Any]] = {"server": server_overrides}
    if args.admin is not None:
        overrides["admin"] = {"listen": args.admin}
    try:
        config = load_config(args.config, **overrides)
    except ConfigError as error:
        for problem in error.problems:
            print(f"sipline: config: {problem}", file=sys.stderr)
        return 2

    from sipline.server import Server, configure_logging, tune_garbage_collector
    from sipline.transport import use_uvloop

    configure_logging(config.server.log_level, config.server.log_format)
    use_uvloop()
    tune_garbage_collector()
    server = Server(config, overrides=server_overrides)
    try:
        asyncio.run(server.run_forever())
    except OSError as error:
        print(f"sipline: {error.strerror or error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    logging.getLogger("sipline").info("stopped")
    return 0
