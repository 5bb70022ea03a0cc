"""Audio through sipline's RTP relay between two real phones (issues #5, #7 and #8).

Two baresip phones register with passwords to `sipline serve` (B2BUA mode, media
relay on a port range of the test) and call each other.  Each phone's microphone is a
sine (`ausine,FREQ`: the caller 440 Hz, the callee 1000 Hz) and each records what it
hears (`sndfile`, the `-dec.wav` file).  While the call is up, a capture on the
loopback takes the SIP port and the relay's range.  The test then checks:

- the call's events on both phones (incoming, ringing, established, closed);
- RTP both ways on both legs, every datagram to or from a relay port (issue #7);
- each phone heard the other's tone, not its own (the relay forwarded, not echoed);
- the CDR, with the relay's per-leg statistics, and the P-RTP-Stat of the BYE's 200;
- `sipline ladder` draws the capture as one call (issue #8).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from harness import (
    Baresip,
    BaresipFactory,
    CaptureFactory,
    ServerFactory,
    ServerProcess,
    account_line,
    free_port,
)
from media_support import (
    import_users,
    rtp_flows,
    rtp_port_range,
    strongest,
    tone_frequency,
    wav_samples,
)

pytestmark = pytest.mark.integration

DOMAIN = "127.0.0.1"
USERS = {"1000": "alice-secret-1000", "1001": "bob-secret-1001"}
CALLER_TONE, CALLEE_TONE = 440, 1000
TALK_SECONDS = 3.0


def start_server(
    sipline_server: ServerFactory, harness_dir: Path, ports: tuple[int, int]
) -> ServerProcess:
    data_dir = harness_dir / "data"
    import_users(data_dir, USERS)
    config = harness_dir / "sipline.toml"
    config.write_text(
        "[auth]\nregister = true\ninvite = true\n\n"
        f'[media]\nmode = "relay"\nrtp_ports = "{ports[0]}-{ports[1]}"\nmedia_timeout = 20\n'
    )
    return sipline_server(
        *("--config", str(config), "--listen", "udp:{host}:{port}", "--data", "{data_dir}"),
        *("--domain", DOMAIN, "--admin", f"127.0.0.1:{free_port()}"),
        data_dir=data_dir,
    )


def phone(baresip: BaresipFactory, user: str, server: ServerProcess, tone: int) -> Baresip:
    line = account_line(user, DOMAIN, password=USERS[user], outbound=server.hostport)
    created = baresip(f"phone-{user}")
    (created.config_dir / "recordings").mkdir(parents=True)  # sndfile does not create it
    started = created.start(line, record=True, extra_config={"audio_source": f"ausine,{tone}"})
    assert started.wait_registered(), started.output()
    return started


def heard(phone: Baresip) -> Path:
    """The phone's recording of what it received (sndfile's decoder-side file)."""
    files = sorted((phone.config_dir / "recordings").glob("dump-*-dec.wav"))
    assert files, f"{phone.name} recorded nothing: {phone.output()[-2000:]}"
    return files[-1]


def cdrs(server: ServerProcess) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "sipline.cli", "cdr", "--json", "--data", str(server.data_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    payload = json.loads(done.stdout)
    records = payload["cdrs"]
    assert isinstance(records, list)
    return records


def assert_hears(phone: Baresip, tone: int, other: int) -> None:
    samples, rate = wav_samples(heard(phone))
    measured = tone_frequency(samples, rate)
    assert abs(measured - tone) < tone * 0.05, f"{phone.name} heard {measured:.0f} Hz"
    candidates = (tone, other, tone * 2, 300, 2000)
    assert strongest(samples, rate, candidates) == tone


def test_two_phones_talk_through_the_relay(
    sipline_server: ServerFactory,
    baresip: BaresipFactory,
    tshark: CaptureFactory,
    harness_dir: Path,
    tmp_path: Path,
) -> None:
    ports = rtp_port_range()
    server = start_server(sipline_server, harness_dir, ports)
    alice = phone(baresip, "1000", server, CALLER_TONE)
    bob = phone(baresip, "1001", server, CALLEE_TONE)
    capture = tshark(bpf=f"udp portrange {ports[0]}-{ports[1]} or udp port {server.port}")

    alice.dial(f"sip:1001@{DOMAIN}")
    bob.wait_event("CALL_INCOMING")
    alice.wait_event("CALL_RINGING")
    bob.accept()
    alice.wait_event("CALL_ESTABLISHED")
    bob.wait_event("CALL_ESTABLISHED")
    time.sleep(TALK_SECONDS)
    bob.hangup()
    bob.wait_event("CALL_CLOSED")
    alice.wait_event("CALL_CLOSED")
    time.sleep(0.3)  # the last RTP in flight
    capture.stop()
    pcap = tmp_path / "baresip-call.pcap"
    shutil.copyfile(capture.pcap_path, pcap)

    # Issue #7: both legs carry RTP both ways, all of it through relay ports.
    flows = rtp_flows(pcap, ports)
    low, high = ports
    rtp = {f: n for f, n in flows.items() if n >= 50}  # RTCP is a few packets
    relay_ports = {p for f in rtp for p in (f[1], f[3]) if low <= p <= high}
    assert len(relay_ports) == 2, f"RTP flows: {flows}"  # one port facing each phone
    for port in relay_ports:
        into = [n for f, n in rtp.items() if f[3] == port]
        out_of = [n for f, n in rtp.items() if f[1] == port]
        # 50 packets/s of 20 ms G.711 for TALK_SECONDS, with margin for start-up
        assert into, flows
        assert out_of, flows
        assert min(*into, *out_of) > 25 * TALK_SECONDS, flows
    phone_ports = {p for f in rtp for p in (f[1], f[3]) if not low <= p <= high}
    assert len(phone_ports) == 2, f"phones' RTP ports: {phone_ports}"

    # Each phone heard the other's tone (issue #5: audio flows through sipline).
    assert_hears(bob, CALLER_TONE, CALLEE_TONE)
    assert_hears(alice, CALLEE_TONE, CALLER_TONE)

    # The CDR, with the relay's statistics; the BYE's 200 carried P-RTP-Stat.
    records = cdrs(server)
    assert len(records) == 1, records
    record = records[0]
    assert record["caller"] == f"1000@{DOMAIN}"
    assert record["callee"] == f"1001@{DOMAIN}"
    assert record["cause"] == "NORMAL_CLEARING"
    data = record["data"]
    assert data["hangup_side"] == "callee"
    assert data["codec"] in ("PCMU", "PCMA")
    legs = {leg["leg"]: leg for leg in data["media"]["legs"]}
    assert set(legs) == {"caller", "callee"}
    for leg in legs.values():
        assert leg["latched"] is True
        assert leg["packets_received"] > 25 * TALK_SECONDS
        assert leg["packets_sent"] > 25 * TALK_SECONDS
        assert low <= leg["local_port"] <= high
    stat = re.search(r"P-RTP-Stat: PS=(\d+);OS=\d+;PR=(\d+);", bob.output())
    assert stat is not None, "no P-RTP-Stat in the 200 to bob's BYE"
    assert int(stat.group(1)) > 25 * TALK_SECONDS  # PS: packets the relay sent bob
    assert int(stat.group(2)) > 25 * TALK_SECONDS  # PR: packets it received from bob

    # Issue #8: the capture of this call draws as one call.
    ladder = subprocess.run(
        [sys.executable, "-m", "sipline.cli", "ladder", "--format", "json", str(pcap)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ladder.returncode == 0, ladder.stderr
    (tmp_path / "baresip-call.ladder.json").write_text(ladder.stdout)
    calls = json.loads(ladder.stdout)["calls"]
    assert len(calls) == 1, f"{len(calls)} calls drawn: {ladder.stdout[:2000]}"
    assert calls[0]["kind"] == "call"
    # both legs of the B2BUA (a-leg and b-leg Call-IDs) in that one ladder
    assert set(calls[0]["call_ids"]) == set(record["call_ids"])
