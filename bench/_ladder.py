"""The rate ladder every SIPp benchmark climbs (the method of shared/bench-peers).

Each rung offers a fixed rate to the server; a rung passes by its benchmark's own rule
(few failures, no backlog, few retransmissions).  Rates double from ``start`` until a
rung fails, then the bracket is bisected geometrically until it is within 8%, or the
time budget runs out.  The result is the passing rung with the highest rate.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Protocol, TypeVar


class Rung(Protocol):
    @property
    def passed(self) -> bool: ...

    def line(self) -> str: ...


R = TypeVar("R", bound=Rung)


def climb(
    run: Callable[[int], R],
    *,
    start: float,
    budget: float,
    rung_seconds: float,
    cap: float = math.inf,
    floor: float = 1.0,
    pause: float = 1.0,
) -> R | None:
    """Climb with ``run(rate)`` for at most ``budget`` seconds; the best passing rung."""
    deadline = time.monotonic() + budget
    best: tuple[int, R] | None = None
    low, high = 0.0, math.inf
    rate = float(start)
    while time.monotonic() + rung_seconds * 1.3 + 4 <= deadline:
        offered = max(1, round(rate))
        rung = run(offered)
        print(rung.line(), file=sys.stderr, flush=True)
        if rung.passed:
            low = max(low, offered)
            if best is None or offered > best[0]:
                best = (offered, rung)
        else:
            high = min(high, offered)
        if high == math.inf:
            if rate >= cap:
                break
            rate = min(rate * 2, cap)
        elif low == 0:
            rate = high / 2
            if rate < floor:
                break
        elif high / low <= 1.08:
            break
        else:
            rate = math.sqrt(low * high)
        time.sleep(pause)
    return None if best is None else best[1]
