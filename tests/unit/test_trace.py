"""The live trace: siptrace log round trip through the analysis reader, rotation,
write errors, the control (on/off, memory ring, ladders) and make_trace."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from trace_samples import (
    BROWSER_WS6,
    CALL,
    CALL_ID,
    CALLEE_TCP,
    INVITE,
    OK,
    SERVER_TCP,
    SERVER_WS6,
    T0,
)

from sipline.analysis import Direction, TraceRecord, read_records, read_trace
from sipline.config import TraceSection
from sipline.sip import Address
from sipline.trace import (
    PcapWriter,
    RotatingFile,
    SiptraceWriter,
    TraceControl,
    format_siptrace,
    make_trace,
)

MIXED = [
    *CALL[:2],
    ("send", "tcp", SERVER_TCP, CALLEE_TCP, T0 + 0.1, INVITE),
    ("recv", "tcp", SERVER_TCP, CALLEE_TCP, T0 + 0.2, OK),
    ("recv", "ws", SERVER_WS6, BROWSER_WS6, T0 + 0.3, INVITE + b"\xff\xfe binary tail"),
]


def _expected(call: tuple[str, str, Address, Address, float, bytes]) -> tuple[object, ...]:
    direction, transport, local, remote, _timestamp, data = call
    received = direction == "recv"
    return (
        Direction.RECEIVED if received else Direction.SENT,
        remote if received else local,
        local if received else remote,
        transport,
        data,
    )


def _seen(record: TraceRecord) -> tuple[object, ...]:
    return (record.direction, record.source, record.destination, record.transport, record.raw)


def test_format_is_the_documented_layout() -> None:
    block = format_siptrace("recv", "udp", CALL[0][2], CALL[0][3], T0, b"OPTIONS x SIP/2.0\r\n\r\n")
    lines = block.split(b"\n")
    assert lines[0] == (
        b"recv 21 bytes from udp/[192.0.2.10]:5062 on udp/[192.0.2.1]:5060 "
        b"at 2024-05-01 12:30:57.916812:"
    )
    assert lines[1] == b"-" * 72
    assert block.endswith(b"OPTIONS x SIP/2.0\r\n\r\n\n" + b"-" * 72 + b"\n")


def test_siptrace_round_trip_through_the_analysis_reader(tmp_path: Path) -> None:
    writer = SiptraceWriter(tmp_path / "trace" / "siptrace.log")
    for call in MIXED:
        writer.write(*call)
    writer.close()
    records = read_trace(tmp_path / "trace" / "siptrace.log")  # format auto-detected
    assert [_seen(r) for r in records] == [_expected(c) for c in MIXED]
    for record, call in zip(records, MIXED, strict=True):
        assert record.time == pytest.approx(call[4], abs=1e-6)
        assert record.notes == ()


def test_rotation_keeps_backups_whole(tmp_path: Path) -> None:
    path = tmp_path / "siptrace.log"
    block = len(format_siptrace(*CALL[0]))
    writer = SiptraceWriter(path, max_bytes=block * 2 + 10, backups=2)
    for number in range(7):
        writer.write(*CALL[0][:4], T0 + number, CALL[0][5])
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "siptrace.log",
        "siptrace.log.1",
        "siptrace.log.2",
    ]
    times = []
    for name in ("siptrace.log.2", "siptrace.log.1", "siptrace.log"):
        data = (tmp_path / name).read_bytes()
        assert len(data) <= block * 2 + 10
        times += [round(r.time - T0) for r in read_records(data, name) if r.time is not None]
    assert times == [2, 3, 4, 5, 6]  # the oldest file was dropped


def test_no_backups_truncates(tmp_path: Path) -> None:
    path = tmp_path / "siptrace.log"
    block = len(format_siptrace(*CALL[0]))
    writer = SiptraceWriter(path, max_bytes=block + 1, backups=0)
    for call in CALL[:3]:
        writer.write(*call)
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["siptrace.log"]
    assert [r.raw for r in read_trace(path)] == [CALL[2][5]]


def test_appends_to_an_existing_log(tmp_path: Path) -> None:
    path = tmp_path / "siptrace.log"
    for call in CALL[:2]:
        writer = SiptraceWriter(path)
        writer.write(*call)
        writer.close()
    assert [r.raw for r in read_trace(path)] == [CALL[0][5], CALL[1][5]]


def test_write_errors_are_counted_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    writer = SiptraceWriter(blocker / "siptrace.log")
    with caplog.at_level(logging.WARNING, logger="sipline.trace"):
        for call in CALL:
            writer.write(*call)  # never raises
        writer.close()
    assert writer.errors == len(CALL)
    assert len([r for r in caplog.records if "cannot write" in r.message]) == 1


def test_writes_are_batched_until_the_loop_iteration_ends(tmp_path: Path) -> None:
    path = tmp_path / "siptrace.log"
    file = RotatingFile(path, max_bytes=1 << 20, backups=1)

    async def burst() -> tuple[int, int]:
        file.write(b"one\n")
        file.write(b"two\n")
        before = path.stat().st_size if path.exists() else 0
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return before, path.stat().st_size

    before, after = asyncio.run(burst())
    file.close()
    assert (before, after) == (0, 8)
    assert file.records_written == 2


def test_pcap_file_with_another_header_is_rotated_away(tmp_path: Path) -> None:
    path = tmp_path / "sip.pcap"
    path.write_bytes(b"not a pcap")
    writer = PcapWriter(path, backups=1)
    writer.write(*CALL[0])
    writer.close()
    assert (tmp_path / "sip.pcap.1").read_bytes() == b"not a pcap"
    assert [r.raw for r in read_trace(path)] == [CALL[0][5]]


# --- TraceControl ---------------------------------------------------------------------


def test_control_writes_only_while_enabled(tmp_path: Path) -> None:
    writer = SiptraceWriter(tmp_path / "siptrace.log")
    control = TraceControl([writer])
    assert not control.enabled
    control(*CALL[0])
    control.set_enabled(True)
    for call in CALL[1:4]:
        control(*call)
    control.set_enabled(False)
    control(*CALL[4])
    control.close()
    assert [r.raw for r in read_trace(writer.path)] == [c[5] for c in CALL[1:4]]
    assert control.file_path() == writer.path
    assert control.messages == 5
    assert control.errors == 0


def test_memory_ring_keeps_the_most_recent_records() -> None:
    control = TraceControl(memory_records=4)
    for call in MIXED:
        control(*call)
    records = control.records()
    assert [_seen(r) for r in records] == [_expected(c) for c in MIXED[-4:]]
    assert [r.time for r in records] == [c[4] for c in MIXED[-4:]]
    assert records[0].origin.path == "live"
    assert control.file_path() is None


def test_ladder_of_a_live_call() -> None:
    control = TraceControl()
    for call in CALL:
        control(*call)
    text = control.ladder_for(CALL_ID)
    assert text is not None
    for label in ("INVITE", "180 Ringing", "200 OK", "ACK", "BYE"):
        assert label in text
    mermaid = control.ladder_for(CALL_ID, "mermaid")
    assert mermaid is not None
    assert mermaid.startswith("sequenceDiagram")
    assert control.ladder_for("no-such-call@nowhere") is None


def test_a_failing_writer_never_reaches_the_transport(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        errors = 0

        def write(self, *args: object) -> None:
            raise RuntimeError("bug")

        def flush(self) -> None: ...

        def close(self) -> None: ...

    control = TraceControl([Broken()], enabled=True)
    with caplog.at_level(logging.ERROR, logger="sipline.trace"):
        for call in CALL:
            control(*call)
    assert len(caplog.records) == 1
    assert len(control.records()) == len(CALL)


def test_make_trace_from_the_config_section(tmp_path: Path) -> None:
    section = TraceSection(enabled=True, file="t/siptrace.log", pcap="t/sip.pcap")
    control = make_trace(section, tmp_path)
    assert control.enabled
    assert control.file_path() == tmp_path / "t" / "siptrace.log"
    for call in CALL:
        control(*call)
    control.close()
    assert len(read_trace(tmp_path / "t" / "siptrace.log")) == len(CALL)
    assert len(read_trace(tmp_path / "t" / "sip.pcap")) == len(CALL)


def test_disabled_trace_creates_no_file(tmp_path: Path) -> None:
    control = make_trace(TraceSection(pcap="sip.pcap"), tmp_path)
    for call in CALL:
        control(*call)
    control.close()
    assert list(tmp_path.iterdir()) == []
    assert len(control.records()) == len(CALL)


def test_make_trace_rejects_a_bad_hep_collector(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        make_trace(TraceSection(hep="collector-without-port"), tmp_path)


def test_fits_the_admin_trace_control_protocol() -> None:
    admin = pytest.importorskip("sipline.admin._interfaces")
    assert isinstance(TraceControl(), admin.TraceControl)
