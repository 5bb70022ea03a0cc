"""Sub-commands of the ``sipline`` CLI.

Each module defines ``register(subparsers)`` which adds its sub-command(s) and sets
``run=`` (a function ``(argparse.Namespace) -> int``) as the parser default.
Add a module's ``register`` to ``COMMANDS`` to expose it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from sipline.commands import config_check, console, ladder, message, serve, user

Register = Callable[["argparse._SubParsersAction[Any]"], None]

COMMANDS: list[Register] = [
    serve.register,
    config_check.register,
    message.register,
    ladder.register,
    user.register,
    console.register,
]
