"""Every renderer on the seed B2BUA call: text fits the width, JSON has the documented
keys, Mermaid is a sequenceDiagram, SVG is well-formed XML, HTML is self-contained."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sipline.analysis import Flow, analyse, read_trace
from sipline.analysis.render import FORMATS, render

DATA = Path(__file__).resolve().parent.parent / "data" / "traces"


@pytest.fixture(scope="module")
def flows() -> list[Flow]:
    return analyse(read_trace(DATA / "fs_register.txt") + read_trace(DATA / "fs_b2bua_call.txt"))


@pytest.mark.parametrize("width", [80, 120, 200])
def test_text_ladder_fits_the_width(flows: list[Flow], width: int) -> None:
    text = render(flows, "text", width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "Call 3: bob -> alice" in text
    lines = text.splitlines()
    invite = lines.index(next(line for line in lines if line.startswith("   6 ")))
    assert "INVITE" in lines[invite]
    assert re.search(r"\|-+>\|", lines[invite + 1])  # bob -> FreeSWITCH arrow
    assert "==== challenge: auth challenge (407)" in text
    assert "~~~~ talk: 6.7 s" in text
    assert "! error: credentials refused" in text


def test_text_arrow_directions(flows: list[Flow]) -> None:
    lines = render(flows[2:], "text", width=140).splitlines()
    bye = next(i for i, line in enumerate(lines) if line.startswith("  20 "))  # alice's BYE
    # alice (right) -> FreeSWITCH (middle): the arrow points left, bob's lifeline untouched
    assert re.search(r"\|\s+\|<-+\|", lines[bye + 1])


def test_text_explain_adds_per_line_explanations(flows: list[Flow]) -> None:
    text = render(flows[:1], "text", width=100, explain=True)
    assert "Via: SIP/2.0/UDP 192.168.4.4:5090" in text
    assert "note: rebuilt from one line" in text


def test_json_schema(flows: list[Flow]) -> None:
    document = json.loads(render(flows, "json"))
    calls = document["calls"]
    assert len(calls) == 3
    call = calls[2]
    assert set(call) >= {"call_ids", "parties", "messages", "phases", "diagnoses"}
    assert call["parties"][1] == {"name": "FreeSWITCH", "address": "local", "role": "server"}
    message = call["messages"][0]
    assert set(message) >= {
        "index",
        "time",
        "src",
        "dst",
        "transport",
        "first_line",
        "call_id",
        "summary",
    }
    assert message["first_line"] == "INVITE sip:alice@192.168.4.4 SIP/2.0"
    assert message["src"] == "bob"
    assert {"name", "first", "last"} <= set(call["phases"][0])
    assert calls[1]["diagnoses"][0]["messages"] == [5]


def test_mermaid_sequence_diagram(flows: list[Flow]) -> None:
    text = render(flows[2:], "mermaid")
    lines = text.splitlines()
    assert lines[0] == "sequenceDiagram"
    assert "    participant P0 as bob 192.168.4.4:26000" in lines
    arrows = [line for line in lines if re.match(r"    P\d(->>|--\)|-x)P\d: ", line)]
    assert len(arrows) == 18
    assert lines.count("    end") == sum(1 for line in lines if line.startswith("    rect "))
    assert all(";" not in line.split(":", 1)[-1] for line in arrows)


def test_svg_is_well_formed(flows: list[Flow]) -> None:
    root = ET.fromstring(render(flows, "svg").split("\n", 1)[1])  # noqa: S314 - our own output
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    groups = root.findall(".//{http://www.w3.org/2000/svg}g")
    assert len(groups) == 23  # one clickable group per message


def test_html_is_self_contained(flows: list[Flow]) -> None:
    html = render(flows, "html")
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html
    assert "http://" not in html
    assert "https://" not in html
    payload = re.search(r'<script type="application/json" id="messages">(.*?)</script>', html, re.S)
    assert payload is not None
    data = json.loads(payload.group(1))
    assert data["6"]["text"].startswith("INVITE sip:alice@192.168.4.4 SIP/2.0")
    assert data["6"]["explanation"]
    assert html.count('class="msg"') == 23


def test_every_format_renders_an_unparsed_message() -> None:
    from sipline.analysis import read_records

    flows_ = analyse(read_records(b"INVITE sip:x SIP/2.0\nVia: broken\n\n", "bad.sip", "plain"))
    assert flows_[0].messages[0].message is None
    for output_format in FORMATS:
        assert "INVITE sip:x SIP/2.0" in render(flows_, output_format)
