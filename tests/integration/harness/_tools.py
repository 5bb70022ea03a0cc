"""External tools the integration tests need, and what to do when one is missing."""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["DEBIAN_PACKAGES", "in_ci", "require_tool"]

# command -> Debian package that provides it (scripts/test installs them)
DEBIAN_PACKAGES = {
    "sipp": "sip-tester",
    "baresip": "baresip-core",
    "svwar": "sipvicious",
    "svmap": "sipvicious",
    "svcrack": "sipvicious",
    "tshark": "tshark",
}


def in_ci() -> bool:
    """True under CI (CI=true/1/yes), where a missing tool is a failure, not a skip."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require_tool(command: str) -> str:
    """Path of `command`; skips the test when it is missing, or fails it under CI."""
    path = shutil.which(command)
    if path is not None:
        return path
    package = DEBIAN_PACKAGES.get(command, command)
    message = (
        f"{command} not found: install it with `apt-get install -y {package}` (scripts/test does)"
    )
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
