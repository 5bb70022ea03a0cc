"""RTP relay benchmark: relayed packets per second on one core, and added latency.

The relay runs in its own process (one thread: it uses one core at most; ``--pin``
pins it and the generator to a CPU each), with N calls set up through
``RelayMediaSession`` exactly as the B2BUA does (offer from the caller, answer from the
callee).  This process is the load generator: 2N sockets,
one per phone, each sending a 172-octet G.711 packet every 20 ms (both directions of
every call), spread evenly over the 20 ms as real phones are, each carrying its send
time.  It reports:

* relayed packets per second achieved, and packets lost;
* the relay's CPU time per packet, hence packets per second per core at 100 % CPU
  (robust on a shared machine: CPU time, not wall time);
* one-way latency percentiles through the relay, and the same generator sending
  phone to phone directly: the difference is the latency the relay adds.

    .venv/bin/python bench/relay.py [--calls 1000] [--seconds 5] [--no-uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import selectors
import socket
import struct
import time
from array import array
from multiprocessing.connection import Connection

from sipline.media import RelayConfig, RelayMediaSession, RtpRelay
from sipline.sdp import SessionDescription
from sipline.server import tune_garbage_collector

PTIME = 0.020
PAYLOAD = 160
HEADER = struct.Struct("!BBHIIQ")  # RTP fixed header + the send time (ns) in the payload


def _sdp(port: int) -> bytes:
    return (
        "v=0\r\no=gen 1 1 IN IP4 127.0.0.1\r\ns=bench\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    ).encode()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def relay_main(
    conn: Connection, phone_ports: list[tuple[int, int]], cpu: int | None, uvloop_on: bool
) -> None:
    """The relay process: set up the calls, report the ports, relay until told to stop."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    if uvloop_on:
        import uvloop

        uvloop.install()
    tune_garbage_collector()  # as `sipline serve` does

    async def main() -> None:
        relay = RtpRelay(
            RelayConfig(rtp_ports=(20000, 59999), media_timeout=0, socket_buffer=1 << 21)
        )
        sessions: list[RelayMediaSession] = []
        ports: list[tuple[int, int]] = []
        for index, (caller, callee) in enumerate(phone_ports):
            session = RelayMediaSession(relay, f"bench-{index}")
            to_callee = session.offer(_sdp(caller), from_caller=True)
            to_caller = session.answer(_sdp(callee), from_caller=False)
            sessions.append(session)
            ports.append(
                (
                    SessionDescription.parse(to_caller).media[0].port,
                    SessionDescription.parse(to_callee).media[0].port,
                )
            )
        for session in sessions:
            await session.ready()
        conn.send(ports)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # "start"
        cpu_start = _cpu_seconds()
        await loop.run_in_executor(None, conn.recv)  # "stop"
        cpu_used = _cpu_seconds() - cpu_start
        relayed = sum(leg.packets_sent for s in sessions for leg in s.stats().legs)
        conn.send((cpu_used, relayed))
        for session in sessions:
            session.close()
        await relay.aclose()

    asyncio.run(main())


def _phones(calls: int) -> list[tuple[socket.socket, socket.socket]]:
    pairs = []
    for _ in range(calls):
        pair = []
        for _ in range(2):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            pair.append(sock)
        pairs.append((pair[0], pair[1]))
    return pairs


def generate(
    phones: list[tuple[socket.socket, socket.socket]],
    targets: list[tuple[tuple[str, int], tuple[str, int]]],
    seconds: float,
) -> tuple[int, int, array[float]]:
    """Send from every phone every 20 ms (spread), receive everything; returns
    (sent, received, latencies in microseconds)."""
    senders = [(a, targets[i][0]) for i, (a, _) in enumerate(phones)]
    senders += [(b, targets[i][1]) for i, (_, b) in enumerate(phones)]
    selector = selectors.DefaultSelector()
    for a, b in phones:
        selector.register(a, selectors.EVENT_READ)
        selector.register(b, selectors.EVENT_READ)
    latencies: array[float] = array("d")
    padding = bytes(PAYLOAD - 8)
    sent = received = 0
    sequence = 0
    slots = 20  # the 20 ms period in 1 ms slots, senders spread over them
    start = time.perf_counter()
    end = start + seconds
    tick = 0
    buffer = bytearray(2048)
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        slot_time = start + tick * PTIME / slots
        if now >= slot_time:
            part = senders[tick % slots :: slots]
            sequence = (sequence + 1) & 0xFFFF
            for index, (sock, target) in enumerate(part):
                packet = HEADER.pack(0x80, 0, sequence, 0, index, time.perf_counter_ns()) + padding
                try:
                    sock.sendto(packet, target)
                    sent += 1
                except BlockingIOError:
                    pass
            tick += 1
            slot_time = start + tick * PTIME / slots
        # Receive between slots (and at least poll when behind schedule).
        for key, _ in selector.select(max(0.0, slot_time - time.perf_counter())):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            while True:
                try:
                    size = sock.recv_into(buffer)
                except BlockingIOError:
                    break
                if size >= HEADER.size:
                    received += 1
                    sent_ns = HEADER.unpack_from(buffer)[5]
                    latencies.append((time.perf_counter_ns() - sent_ns) / 1000)
    time.sleep(0.2)  # stragglers
    for key in list(selector.get_map().values()):
        sock = key.fileobj
        assert isinstance(sock, socket.socket)
        while True:
            try:
                sock.recv_into(buffer)
                received += 1
            except BlockingIOError:
                break
    selector.close()
    return sent, received, latencies


def percentile(values: array[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument(
        "--pin", action="store_true", help="pin relay and generator to one CPU each"
    )
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    relay_cpu, generator_cpu = cpus[0], cpus[-1]
    phones = _phones(args.calls)
    phone_ports = [(a.getsockname()[1], b.getsockname()[1]) for a, b in phones]

    # Baseline: the same generator, phone to phone, no relay.
    direct = [(("127.0.0.1", b), ("127.0.0.1", a)) for a, b in phone_ports]
    _, _, direct_latency = generate(phones, direct, min(args.seconds, 2.0))

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    relay = context.Process(
        target=relay_main,
        args=(theirs, phone_ports, relay_cpu if args.pin else None, not args.no_uvloop),
    )
    relay.start()
    try:
        relay_ports = ours.recv()
        if args.pin and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {generator_cpu})
        targets = [(("127.0.0.1", a), ("127.0.0.1", b)) for a, b in relay_ports]
        ours.send("start")
        wall = time.perf_counter()
        sent, received, latency = generate(phones, targets, args.seconds)
        wall = time.perf_counter() - wall
        ours.send("stop")
        cpu_used, relayed = ours.recv()
    finally:
        relay.join(timeout=10)
        if relay.is_alive():
            relay.kill()
        for a, b in phones:
            a.close()
            b.close()

    print(
        f"calls: {args.calls} ({2 * args.calls} streams, {2 * args.calls / PTIME:,.0f} pps offered)"
    )
    print(
        f"uvloop: {not args.no_uvloop}; "
        + (
            f"relay on CPU {relay_cpu}, generator on CPU {generator_cpu}"
            if args.pin
            else "unpinned"
        )
        + f"; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"sent {sent:,} of {2 * args.calls * wall / PTIME:,.0f} due (less: the generator "
        f"fell behind), relayed {relayed:,}, received {received:,} "
        f"(lost {max(0, sent - received):,} = {100 * max(0, sent - received) / max(sent, 1):.2f} %)"
    )
    print(f"relayed: {relayed / wall:,.0f} pps over {wall:.1f} s wall")
    print(
        f"relay CPU: {cpu_used:.2f} s = {100 * cpu_used / wall:.0f} % of one core; "
        f"{1e6 * cpu_used / max(relayed, 1):.2f} us/packet "
        f"=> {relayed / max(cpu_used, 1e-9):,.0f} pps per core"
    )
    for name, values in (("direct", direct_latency), ("relay", latency)):
        print(
            f"{name:>6} one-way latency us: p50 {percentile(values, 0.5):.0f} "
            f"p90 {percentile(values, 0.9):.0f} p99 {percentile(values, 0.99):.0f} "
            f"(n={len(values):,})"
        )
    added50 = percentile(latency, 0.5) - percentile(direct_latency, 0.5)
    added99 = percentile(latency, 0.99) - percentile(direct_latency, 0.99)
    print(f"added by the relay: p50 {added50:.0f} us, p99 {added99:.0f} us")


if __name__ == "__main__":
    main()
