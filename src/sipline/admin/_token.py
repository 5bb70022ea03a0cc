"""The admin token and the discovery file, both kept in the data directory.

``admin-token`` (mode 0600) holds a random bearer token made at first start;
``admin.json`` says where the running server's admin API listens, so that the
CLI console (``sipline status`` ...) finds it from ``--data DIR`` alone.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DISCOVERY_NAME",
    "TOKEN_NAME",
    "AdminLocation",
    "load_or_create_token",
    "read_location",
    "remove_discovery",
    "write_discovery",
]

TOKEN_NAME = "admin-token"  # noqa: S105 - a file name, not a secret
DISCOVERY_NAME = "admin.json"


def load_or_create_token(data_dir: Path) -> tuple[str, bool]:
    """The token in ``data_dir/admin-token``, made (0600) when absent; and whether it
    was made now."""
    path = data_dir / TOKEN_NAME
    try:
        token = path.read_text("ascii").strip()
    except FileNotFoundError:
        token = ""
    if token:
        return token, False
    token = secrets.token_urlsafe(32)
    data_dir.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two servers starting on one data directory must not both win.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text("ascii").strip(), False
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(token + "\n")
    return token, True


def write_discovery(data_dir: Path, url: str) -> None:
    """Write ``admin.json`` (``{"url": ..., "pid": ...}``) atomically."""
    path = data_dir / DISCOVERY_NAME
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps({"url": url, "pid": os.getpid()}) + "\n", "utf-8")
    temporary.replace(path)


def remove_discovery(data_dir: Path) -> None:
    """Remove ``admin.json`` if it is ours (a newer server may have replaced it)."""
    path = data_dir / DISCOVERY_NAME
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(data, dict) and data.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class AdminLocation:
    url: str
    token: str


def read_location(data_dir: Path) -> AdminLocation:
    """Where the server of ``data_dir`` listens and its token; ``LookupError`` with a
    one-line reason for people when they cannot be found."""
    try:
        data = json.loads((data_dir / DISCOVERY_NAME).read_text("utf-8"))
    except FileNotFoundError:
        raise LookupError(
            f"no running server found in {data_dir} (no {DISCOVERY_NAME}); start `sipline serve"
            f" --data {data_dir}` or give --api URL --token T"
        ) from None
    except (OSError, ValueError) as error:
        raise LookupError(f"cannot read {data_dir / DISCOVERY_NAME}: {error}") from None
    url = data.get("url") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise LookupError(f"{data_dir / DISCOVERY_NAME} has no admin URL; give --api URL")
    try:
        token = (data_dir / TOKEN_NAME).read_text("ascii").strip()
    except OSError as error:
        raise LookupError(
            f"cannot read the admin token {data_dir / TOKEN_NAME} ({error.strerror}); "
            "run as the server's user or give --token T"
        ) from None
    return AdminLocation(url, token)
