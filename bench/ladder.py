"""Trace analysis benchmark: SIP messages per second read from a large pcap and grouped
into calls (B2BUA legs linked), and with phases, diagnoses and summaries as well.

It writes a pcap of realistic B2BUA calls (INVITE with SDP, 100, 180, 200, ACK, BYE,
200 on each leg; calls overlapping in time) to a temporary directory, then times
``read_trace`` + ``analyse``.

    .venv/bin/python bench/ladder.py [--messages 200000] [--concurrent 50]
"""

from __future__ import annotations

import argparse
import socket
import struct
import tempfile
import time
from pathlib import Path

from sipline.analysis import analyse, read_trace

SERVER = ("10.1.0.1", 5060)
SDP = (
    "v=0\r\no=- {n} {n} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
)


def _message(first: str, headers: list[str], body: str = "") -> bytes:
    extra = ["Content-Type: application/sdp"] if body else []
    lines = [first, *headers, *extra, f"Content-Length: {len(body.encode())}"]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def _leg(
    call_id: str, caller: tuple[str, int], callee: tuple[str, int], n: int, user: str
) -> list[tuple[tuple[str, int], tuple[str, int], bytes]]:
    """One INVITE dialog from ``caller`` to ``callee``: setup, answer, BYE."""
    branch = call_id.split("-", 1)[0]
    via = f"Via: SIP/2.0/UDP {caller[0]}:{caller[1]};branch=z9hG4bK{branch}x;rport"
    common = [f"From: <sip:{n}@example.com>;tag=f{n}", f"Call-ID: {call_id}"]
    to = f"To: <sip:{user}@example.com>"
    tagged = f"{to};tag=t{n}"
    offer = SDP.format(n=n, ip=caller[0], port=20000 + n % 10000 * 2)
    answer = SDP.format(n=n, ip=callee[0], port=30000 + n % 10000 * 2)
    invite = f"INVITE sip:{user}@{callee[0]}:{callee[1]} SIP/2.0"
    contact = f"Contact: <sip:{user}@{callee[0]}:{callee[1]}>"
    return [
        (
            caller,
            callee,
            _message(invite, [via, *common, to, "CSeq: 1 INVITE", "Max-Forwards: 70"], offer),
        ),
        (callee, caller, _message("SIP/2.0 100 Trying", [via, *common, to, "CSeq: 1 INVITE"])),
        (
            callee,
            caller,
            _message("SIP/2.0 180 Ringing", [via, *common, tagged, "CSeq: 1 INVITE", contact]),
        ),
        (
            callee,
            caller,
            _message("SIP/2.0 200 OK", [via, *common, tagged, "CSeq: 1 INVITE", contact], answer),
        ),
        (
            caller,
            callee,
            _message(invite.replace("INVITE", "ACK", 1), [via, *common, tagged, "CSeq: 1 ACK"]),
        ),
        (
            callee,
            caller,
            _message(
                f"BYE sip:{n}@{caller[0]}:{caller[1]} SIP/2.0",
                [via, *common, tagged, "CSeq: 2 BYE"],
            ),
        ),
        (caller, callee, _message("SIP/2.0 200 OK", [via, *common, tagged, "CSeq: 2 BYE"])),
    ]


def _call(n: int) -> list[tuple[tuple[str, int], tuple[str, int], bytes]]:
    """A B2BUA call: the a-leg's setup, the b-leg, the answer passed back, the hang-up."""
    caller = (f"10.2.{n // 250 % 250}.{n % 250 + 1}", 5060)
    callee = (f"10.3.{n // 250 % 250}.{n % 250 + 1}", 5060)
    a = _leg(f"a{n:08d}-bench@10.2.0.1", caller, SERVER, n, f"1{n:06d}")
    b = _leg(f"b{n:08d}-bench@10.1.0.1", SERVER, callee, n, f"1{n:06d}")
    return [a[0], a[1], b[0], b[1], b[2], a[2], b[3], b[4], a[3], a[4], b[5], b[6], a[5], a[6]]


def _frame(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
        socket.inet_aton(src[0]), socket.inet_aton(dst[0]),
    )  # fmt: skip
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + udp


def write_pcap(path: Path, messages: int, concurrent: int) -> int:
    """Calls interleaved ``concurrent`` at a time; returns the number of messages written."""
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    calls = [_call(n) for n in range(messages // 14 + 1)]
    written = 0
    clock = 1_700_000_000.0
    with path.open("wb") as out:
        out.write(header)
        for start in range(0, len(calls), concurrent):
            batch = calls[start : start + concurrent]
            for step in range(14):
                for call in batch:
                    if written >= messages:
                        return written
                    src, dst, payload = call[step]
                    frame = _frame(src, dst, payload)
                    clock += 0.0005
                    seconds = int(clock)
                    micros = int((clock - seconds) * 1e6)
                    out.write(struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame)
                    written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--concurrent", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.pcap"
        count = write_pcap(path, args.messages, args.concurrent)
        size = path.stat().st_size
        print(f"pcap: {count} SIP messages, {size / 1e6:.1f} MB, {args.concurrent} calls at a time")
        started, cpu_started = time.perf_counter(), time.process_time()
        records = read_trace(path)
        read_done, cpu_read = time.perf_counter(), time.process_time()
        flows = analyse(records, details=False)
        grouped, cpu_grouped = time.perf_counter(), time.process_time()
        calls = sum(1 for flow in flows if flow.kind == "call")
        # CPU time beside wall time: on a shared machine the wall clock counts the
        # other processes' turns on the cores too.
        print(
            f"read:          {len(records) / (read_done - started):>10,.0f} messages/s"
            f"  (cpu {len(records) / (cpu_read - cpu_started):,.0f}/s)"
        )
        print(
            f"read+grouped:  {len(records) / (grouped - started):>10,.0f} messages/s"
            f"  (cpu {len(records) / (cpu_grouped - cpu_started):,.0f}/s, {calls} calls)"
        )
        flows = analyse(records)
        full = time.perf_counter() - grouped + (read_done - started)
        print(
            f"read+analysed: {len(records) / full:>10,.0f} messages/s (phases, diagnoses, summaries)"
        )


if __name__ == "__main__":
    main()
