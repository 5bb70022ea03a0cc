"""Helpers of the media integration tests: users, an RTP port range, what a pcap says
about RTP flows, and the tone heard in a recording.

No numpy: a tone is measured by counting zero crossings (a clean sine crosses zero
twice per period) and confirmed with Goertzel filters (the power at one frequency)
comparing the expected tone with the other phone's tone and a few others.
"""

from __future__ import annotations

import itertools
import math
import random
import socket
import sys
import wave
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import dpkt
from harness import import_users

__all__ = [
    "Flow",
    "goertzel_power",
    "import_users",
    "rtp_flows",
    "rtp_port_range",
    "tone_frequency",
    "wav_samples",
]

Flow = tuple[str, int, str, int]  # source ip, source port, destination ip, destination port


def rtp_port_range(span: int = 40) -> tuple[int, int]:
    """An even-aligned port range, free right now on 127.0.0.1 for its first pairs, away
    from the default relay range so parallel tests do not share it."""
    for _ in range(50):
        low = random.randrange(34000, 44000, 2)
        try:
            for port in (low, low + 1, low + 2, low + 3):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return low, low + span - 1
    raise RuntimeError("no free RTP port range found")


def rtp_flows(pcap: Path, ports: tuple[int, int]) -> Counter[Flow]:
    """RTP/RTCP datagrams per (source, destination) with one end in the relay's
    ``ports`` range (inclusive), read with dpkt (IPv4 over Ethernet or Linux cooked)."""
    low, high = ports
    flows: Counter[Flow] = Counter()
    with pcap.open("rb") as handle:
        reader = dpkt.pcap.Reader(handle)
        link = reader.datalink()
        for _, frame in reader:
            if link == dpkt.pcap.DLT_LINUX_SLL:
                packet = dpkt.sll.SLL(frame).data
            elif link == dpkt.pcap.DLT_EN10MB:
                packet = dpkt.ethernet.Ethernet(frame).data
            else:
                packet = dpkt.ip.IP(frame)
            if not isinstance(packet, dpkt.ip.IP) or not isinstance(packet.data, dpkt.udp.UDP):
                continue
            udp = packet.data
            if low <= udp.sport <= high or low <= udp.dport <= high:
                src = socket.inet_ntop(socket.AF_INET, packet.src)
                dst = socket.inet_ntop(socket.AF_INET, packet.dst)
                flows[(src, udp.sport, dst, udp.dport)] += 1
    return flows


def wav_samples(path: Path) -> tuple[array[int], int]:
    """The first channel of a 16-bit WAV file and its sample rate."""
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2, f"{path}: {wav.getsampwidth() * 8}-bit samples"
        channels, rate = wav.getnchannels(), wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    samples = array("h")
    samples.frombytes(frames)
    if sys.byteorder == "big":
        samples.byteswap()
    return array("h", samples[::channels]), rate


def _loud_part(samples: Sequence[int]) -> Sequence[int]:
    """The samples between the first and the last loud one (silence before the
    media starts and after it stops left out)."""
    peak = max((abs(s) for s in samples), default=0)
    loud = [i for i, s in enumerate(samples) if abs(s) > peak / 4]
    return samples[loud[0] : loud[-1] + 1] if loud else samples[:0]


def tone_frequency(samples: Sequence[int], rate: int) -> float:
    """The frequency of a clean tone from its zero-crossing rate (0.0 for silence)."""
    part = _loud_part(samples)
    if len(part) < rate // 10:
        return 0.0
    crossings = sum(1 for a, b in itertools.pairwise(part) if (a < 0) != (b < 0))
    return crossings / 2 / (len(part) / rate)


def goertzel_power(samples: Sequence[int], rate: int, frequency: float) -> float:
    """The power of ``samples`` at ``frequency`` (Goertzel), per sample."""
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    previous = before = 0.0
    for sample in samples:
        previous, before = sample + coefficient * previous - before, previous
    power = previous * previous + before * before - coefficient * previous * before
    return power / max(1, len(samples))


def strongest(samples: Sequence[int], rate: int, candidates: Iterable[float]) -> float:
    """The candidate frequency with the most power in the loud part of ``samples``."""
    part = _loud_part(samples)
    return max(candidates, key=lambda f: goertzel_power(part, rate, f))
