"""Fixtures that start real processes on 127.0.0.1 (see harness/__init__.py).

    free_port        -> int, free for UDP and TCP on 127.0.0.1
    processes        -> ProcessGroup of the test (every fixture below registers with it)
    sipp             -> SippFactory: .uas(scenario, **opts), .uac(scenario, target, **opts),
                        .run(scenario, target, **opts) -> SippResult
    sipline_server   -> ServerFactory: (*args, port=None, transport="udp", ...) -> ServerProcess
    baresip          -> BaresipFactory: (name) -> Baresip, then .start(account_line(...))
    tshark           -> CaptureFactory: (*ports) or (bpf=...) -> running Tshark capture

Everything is stopped (SIGTERM, then SIGKILL) when the test ends; when a test fails, the
output of every process it started (and SIPp's error and message logs) is added to its
report. A missing tool skips the test, or fails it when CI=true.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from harness import (
    BaresipFactory,
    CaptureFactory,
    ProcessGroup,
    ServerFactory,
    SippFactory,
    require_tool,
)
from harness import free_port as _free_port

_GROUP = pytest.StashKey[ProcessGroup]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    group = item.stash.get(_GROUP, None)
    if group is not None and report.failed and call.when in ("setup", "call"):
        for title, text in group.report_sections():
            report.sections.append((title, text))
    return report


@pytest.fixture
def processes(request: pytest.FixtureRequest) -> Iterator[ProcessGroup]:
    group = ProcessGroup()
    request.node.stash[_GROUP] = group
    yield group
    group.stop_all()


@pytest.fixture
def free_port() -> int:
    return _free_port()


@pytest.fixture
def harness_dir(tmp_path: Path) -> Path:
    """Where processes keep their logs, configs, stats and captures for this test."""
    path = tmp_path / "harness"
    path.mkdir()
    return path


@pytest.fixture
def sipp(harness_dir: Path, processes: ProcessGroup) -> SippFactory:
    require_tool("sipp")
    return SippFactory(harness_dir, processes.add)


@pytest.fixture
def sipline_server(harness_dir: Path, processes: ProcessGroup) -> ServerFactory:
    return ServerFactory(harness_dir, processes.add)


@pytest.fixture
def baresip(harness_dir: Path, processes: ProcessGroup) -> BaresipFactory:
    require_tool("baresip")
    return BaresipFactory(harness_dir, processes.add)


@pytest.fixture
def tshark(harness_dir: Path, processes: ProcessGroup) -> CaptureFactory:
    require_tool("tshark")  # the capture runs tshark's dumpcap when it is there
    return CaptureFactory(harness_dir, processes.add)
