"""Recording a bridged call: each leg's G.711 RTP decoded onto one channel of a
stereo WAV, time-aligned by RTP timestamps, silence where packets are missing.

``StereoMixer`` is the sans-I/O part: packets and their arrival time in, interleaved
16-bit frames out (``take(now)`` keeps ``window`` seconds back for late packets,
``take_all()`` at the end).  ``WavRecorder`` feeds a mixer into a WAV file.

Placement: the first packet of a stream (an SSRC on a channel) is put at its arrival
time since the start of the recording; every later packet at that position plus
its timestamp's distance from the first one (RFC 3550 section 5.1: the timestamp is
the sampling instant).  A timestamp far from what the arrival time says (a sender
that jumped) re-anchors the stream.
"""

from __future__ import annotations

import sys
import wave
from array import array
from pathlib import Path

from sipline.media._packets import G711_DECODERS, rtp_payload
from sipline.media._rtp import RtpHeader

__all__ = ["StereoMixer", "WavRecorder"]

_WRAP = 1 << 32


class _Channel:
    __slots__ = ("base_position", "base_timestamp", "filled", "pending", "ssrc")

    def __init__(self) -> None:
        self.ssrc: int | None = None
        self.base_timestamp = 0
        self.base_position = 0
        self.pending = array("h")  # samples from the mixer's ``flushed`` position on
        self.filled = 0  # end (absolute sample position) of what was written


class StereoMixer:
    """Two channels (0: caller, 1: callee) of decoded G.711 at ``clock_rate``."""

    def __init__(
        self, start: float, *, clock_rate: int = 8000, window: float = 0.5, jump: float = 10.0
    ) -> None:
        self.start = start
        self.clock_rate = clock_rate
        self.window = int(window * clock_rate)
        self.jump = int(jump * clock_rate)
        self.flushed = 0  # frames handed out so far
        self.channels = (_Channel(), _Channel())
        self.packets = 0
        self.late = 0  # packets (or parts) behind what was already written

    def receive(self, channel: int, data: bytes, arrival: float) -> None:
        """One RTP packet as received from that leg's phone (other payloads than
        PCMU/PCMA, such as telephone-event and comfort noise, are skipped)."""
        header = RtpHeader.parse(data)
        payload = rtp_payload(data)
        decode = G711_DECODERS.get(header.payload_type) if header is not None else None
        if header is None or payload is None or decode is None:
            return
        self.packets += 1
        state = self.channels[channel]
        arrived_at = max(0, round((arrival - self.start) * self.clock_rate))
        position = self._position(state, header, arrived_at)
        if abs(position - arrived_at) > self.jump:
            state.ssrc = None  # the sender's clock jumped: start over from arrival
            position = self._position(state, header, arrived_at)
        self._place(state, position, decode(payload))

    def _position(self, state: _Channel, header: RtpHeader, arrived_at: int) -> int:
        if state.ssrc != header.ssrc:
            state.ssrc = header.ssrc
            state.base_timestamp = header.timestamp
            state.base_position = max(arrived_at, state.filled)
        distance = (header.timestamp - state.base_timestamp) % _WRAP
        if distance >= _WRAP // 2:
            distance -= _WRAP  # a packet from before the first one (reordered)
        return state.base_position + distance

    def _place(self, state: _Channel, position: int, samples: array[int]) -> None:
        if position < self.flushed:
            self.late += 1
            cut = self.flushed - position
            if cut >= len(samples):
                return
            samples, position = samples[cut:], self.flushed
        offset = position - self.flushed
        end = offset + len(samples)
        if end > len(state.pending):
            state.pending.extend(array("h", bytes(2 * (end - len(state.pending)))))
        state.pending[offset:end] = samples
        state.filled = max(state.filled, position + len(samples))

    def ready(self, now: float) -> int:
        """How many frames ``take(now)`` would give."""
        return max(0, round((now - self.start) * self.clock_rate) - self.window - self.flushed)

    def take(self, now: float) -> array[int]:
        """Interleaved frames up to ``window`` before ``now`` (nothing later can land
        there but late packets, which are dropped)."""
        upto = round((now - self.start) * self.clock_rate) - self.window
        return self._take(upto)

    def take_all(self) -> array[int]:
        return self._take(max(c.filled for c in self.channels))

    def _take(self, upto: int) -> array[int]:
        count = upto - self.flushed
        if count <= 0:
            return array("h")
        out = array("h", bytes(4 * count))
        for index, state in enumerate(self.channels):
            part = state.pending[:count]
            out[index : index + 2 * len(part) : 2] = part
            del state.pending[:count]
        self.flushed = upto
        return out


class WavRecorder:
    """A ``StereoMixer`` written to a 16-bit stereo WAV as the call goes on."""

    def __init__(self, path: str | Path, start: float, *, clock_rate: int = 8000) -> None:
        self.path = Path(path)
        self.mixer = StereoMixer(start, clock_rate=clock_rate)
        self._writer: wave.Wave_write | None = wave.open(  # noqa: SIM115 - open for the whole call, closed by close()
            str(self.path), "wb"
        )
        self._writer.setnchannels(2)
        self._writer.setsampwidth(2)
        self._writer.setframerate(clock_rate)

    def receive(self, channel: int, data: bytes, arrival: float) -> None:
        self.mixer.receive(channel, data, arrival)
        if self._writer is not None and self.mixer.ready(arrival) >= self.mixer.clock_rate // 2:
            self._write(self.mixer.take(arrival))  # in chunks of 0.5 s or more

    def _write(self, frames: array[int]) -> None:
        if self._writer is None:
            return
        if sys.byteorder == "big":
            frames.byteswap()
        self._writer.writeframes(frames.tobytes())

    def close(self) -> None:
        """Write what is left and finish the file (its header gets the length)."""
        if self._writer is None:
            return
        self._write(self.mixer.take_all())
        self._writer.close()
        self._writer = None
