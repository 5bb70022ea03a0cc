"""``sipline ladder``: formats, --call, -o, and exit code 2 with one line on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sipline.cli import main

DATA = Path(__file__).resolve().parent.parent / "data" / "traces"


def test_text_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ladder", str(DATA / "fs_b2bua_call.txt"), "--width", "120"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Call 1: bob -> alice")


def test_json_one_call_to_a_file(tmp_path: Path) -> None:
    output = tmp_path / "out.json"
    argv = ["ladder", str(DATA / "fs_register.txt"), str(DATA / "fs_b2bua_call.txt")]
    argv += [
        "--format",
        "json",
        "--call",
        "0d74ac35-cca4-122d-81a2-2990e5b2bd3e",
        "-o",
        str(output),
    ]
    assert main(argv) == 0
    (call,) = json.loads(output.read_text())["calls"]
    assert len(call["call_ids"]) == 2


def test_forced_input_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "ladder",
                str(DATA / "direct_call.sip"),
                "--input-format",
                "plain",
                "--format",
                "mermaid",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("sequenceDiagram")


@pytest.mark.parametrize(
    "content",
    [b"", b"just some words\n", bytes(range(256)) * 4, b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00"],
)
def test_bad_input_exit_2_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    path = tmp_path / "input"
    path.write_bytes(content)
    assert main(["ladder", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("sipline ladder: ")


def test_missing_file_and_unknown_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ladder", str(tmp_path / "nope.pcap")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["ladder", str(DATA / "direct_call.sip"), "--call", "nope"]) == 2
    assert "no call" in capsys.readouterr().err
