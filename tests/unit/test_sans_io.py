"""The sans-I/O core never touches a clock, a socket, a thread or the loop (convention 1).

Every module of ``sipline.sip``, ``sipline.transaction``, ``sipline.dialog`` and ``sipline.sdp`` is read
with ``ast``: its imports must not name ``asyncio``, ``socket``, ``time`` or
``threading``, and the only sipline packages it may import are the core ones, so no
I/O can come in through a layer above.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

CORE_PACKAGES = ("sipline.sip", "sipline.transaction", "sipline.dialog", "sipline.sdp")
FORBIDDEN = frozenset({"asyncio", "socket", "time", "threading"})


def _core_modules() -> list[tuple[str, Path]]:
    modules = []
    for package_name in CORE_PACKAGES:
        package = importlib.import_module(package_name)
        assert package.__file__ is not None
        modules.append((package_name, Path(package.__file__)))
        for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
            spec = importlib.util.find_spec(info.name)
            assert spec is not None
            assert spec.origin is not None
            modules.append((info.name, Path(spec.origin)))
    return modules


def imported_modules(source: str) -> set[str]:
    """Absolute names of every module ``source`` imports (relative ones skipped)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _top(name: str) -> str:
    return name.partition(".")[0]


MODULES = _core_modules()


def test_every_core_package_is_checked() -> None:
    assert {name for name, _ in MODULES} >= set(CORE_PACKAGES)
    assert any(name.startswith("sipline.transaction._") for name, _ in MODULES)


@pytest.mark.parametrize(("name", "path"), MODULES, ids=[name for name, _ in MODULES])
def test_core_module_imports_no_io(name: str, path: Path) -> None:
    imports = imported_modules(path.read_text(encoding="utf-8"))
    assert not {_top(module) for module in imports} & FORBIDDEN, name
    for module in imports:
        if _top(module) == "sipline" and module != "sipline":
            assert module.startswith(CORE_PACKAGES), f"{name} imports {module}"


@pytest.mark.parametrize(
    "source",
    ["import time", "from time import monotonic", "import asyncio.events", "import socket as s"],
)
def test_the_check_sees_every_import_form(source: str) -> None:
    assert {_top(m) for m in imported_modules(source)} & FORBIDDEN
