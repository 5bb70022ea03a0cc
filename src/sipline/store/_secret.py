"""The server secret behind stateless nonces: ``secret.key`` in the data directory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sipline.store._interfaces import StoreError

__all__ = ["SECRET_NAME", "load_or_create_secret"]

SECRET_NAME = "secret.key"  # noqa: S105 (a file name, not a secret)


def load_or_create_secret(data_dir: str | os.PathLike[str]) -> bytes:
    """The 32-byte secret kept in ``data_dir/secret.key`` (hex, mode 0600).

    Generated from ``secrets`` on first use.  Two processes racing to create it
    agree: the file is created exclusively and the loser reads the winner's.
    """
    path = Path(data_dir) / SECRET_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror}") from None
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
    try:
        text = path.read_text().strip()
        secret = bytes.fromhex(text)
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise StoreError(f"{path} is not a hex secret; delete it to make a new one") from None
    if len(secret) < 16:
        raise StoreError(f"{path} holds a secret shorter than 16 bytes; delete it")
    return secret
