"""Call-progress tones in FreeSWITCH's tone syntax, generated sample by sample.

``%(2000,4000,440,480)`` is one segment: 2000 ms on, 4000 ms off, the sum of 440 Hz
and 480 Hz while on (North American ringback).  Segments are joined with ``;`` and
played in turn; ``loops=N`` plays the whole cadence N times (default: forever).
``NAMED_TONES`` gives the usual ones a name (``ringback``, ``busy``...).
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["NAMED_TONES", "ToneGenerator", "ToneSegment", "ToneSpec", "goertzel_power"]

#: Named cadences (ITU-T E.180 / national plans), as FreeSWITCH's vars.xml has them.
NAMED_TONES: dict[str, str] = {
    "ringback": "%(2000,4000,440,480)",  # US ring-back
    "uk-ringback": "%(400,200,400,450);%(400,2000,400,450)",
    "busy": "%(500,500,480,620)",
    "congestion": "%(250,250,480,620)",  # fast busy / reorder
    "dialtone": "%(1000,0,350,440)",
    "beep": "%(500,0,1000);loops=1",
}
_SEGMENT = re.compile(r"%\(\s*(\d+)\s*,\s*(\d+)\s*((?:,\s*\d+(?:\.\d+)?\s*)+)\)")
_LOOPS = re.compile(r"(?:loops|L)=(-?\d+)")
MAX_FREQUENCY = 4000.0  # Nyquist at 8 kHz


@dataclass(frozen=True, slots=True)
class ToneSegment:
    on_ms: int
    off_ms: int
    frequencies: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class ToneSpec:
    """A cadence: segments played in turn, ``loops`` times (None: forever)."""

    segments: tuple[ToneSegment, ...]
    loops: int | None = None

    @classmethod
    def parse(cls, text: str) -> ToneSpec:
        """``%(on,off,f1[,f2...])[;%(...)...][;loops=N]`` or a name from ``NAMED_TONES``.
        Raises ``ValueError`` with a one-line reason."""
        text = NAMED_TONES.get(text.strip().lower(), text.strip())
        segments: list[ToneSegment] = []
        loops: int | None = None
        for part in filter(None, (p.strip() for p in text.split(";"))):
            found = _SEGMENT.fullmatch(part)
            looped = _LOOPS.fullmatch(part)
            if looped is not None:
                value = int(looped.group(1))
                loops = None if value < 0 else value
            elif found is None:
                raise ValueError(f"bad tone {part!r}; expected %(on_ms,off_ms,freq[,freq...])")
            else:
                freqs = tuple(float(f) for f in found.group(3).split(",") if f.strip())
                if any(not 0 < f < MAX_FREQUENCY for f in freqs):
                    raise ValueError(f"tone {part!r}: frequencies must be within 1-3999 Hz")
                segments.append(ToneSegment(int(found.group(1)), int(found.group(2)), freqs))
        if not segments or sum(s.on_ms + s.off_ms for s in segments) == 0:
            raise ValueError(f"tone {text!r}: no segment with a duration")
        return cls(tuple(segments), loops)

    @property
    def cycle_ms(self) -> int:
        return sum(s.on_ms + s.off_ms for s in self.segments)

    @property
    def continuous(self) -> bool:
        """One segment without a pause: a steady tone (dial tone)."""
        return len(self.segments) == 1 and self.segments[0].off_ms == 0


class ToneGenerator:
    """Signed 16-bit samples of a ``ToneSpec`` at ``rate``; ``read(n)`` gives the next
    ``n`` (None once the loops are done).  Each frequency starts at phase 0 at the
    start of its segment; the peak of the summed tones is ``level`` of full scale.
    One cycle is computed once; reading is slicing."""

    def __init__(self, spec: ToneSpec, *, rate: int = 8000, level: float = 0.5) -> None:
        self.spec = spec
        self.rate = rate
        cycle = array("h")
        two_pi = 2 * math.pi
        for segment in spec.segments:
            on = segment.on_ms * rate // 1000
            if spec.continuous:
                on = on or rate
            amplitude = 32767 * level / len(segment.frequencies)
            steps = [two_pi * f / rate for f in segment.frequencies]
            cycle.extend(
                int(amplitude * sum(math.sin(step * n) for step in steps)) for n in range(on)
            )
            cycle.extend(array("h", bytes(2 * (segment.off_ms * rate // 1000))))
        self._cycle = cycle
        self._position = 0  # samples produced so far

    @property
    def total_samples(self) -> int | None:
        loops = self.spec.loops
        return None if loops is None else loops * len(self._cycle)

    @property
    def finished(self) -> bool:
        total = self.total_samples
        return total is not None and self._position >= total

    def read(self, count: int) -> array[int] | None:
        if self.finished:
            return None
        out = array("h")
        total = self.total_samples
        wanted = count if total is None else min(count, total - self._position)
        cycle = self._cycle
        while len(out) < wanted:
            offset = self._position % len(cycle)
            take = min(wanted - len(out), len(cycle) - offset)
            out.extend(cycle[offset : offset + take])
            self._position += take
        if len(out) < count:
            out.extend(array("h", bytes(2 * (count - len(out)))))  # silence after the end
        return out


def goertzel_power(samples: Sequence[int], frequency: float, rate: int = 8000) -> float:
    """Relative power of ``frequency`` in ``samples`` (Goertzel's algorithm),
    normalised by the block length so blocks of any size compare."""
    if not samples:
        return 0.0
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    previous = before = 0.0
    for sample in samples:
        previous, before = sample + coefficient * previous - before, previous
    power = previous * previous + before * before - coefficient * previous * before
    return power / (len(samples) * len(samples))
