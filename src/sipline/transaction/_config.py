"""Timer values of the transaction layer (RFC 3261 §17.1.1.1, Table 4)."""

from __future__ import annotations

from dataclasses import dataclass

from sipline.sip import LocalProtocolError


@dataclass(frozen=True, slots=True)
class TransactionConfig:
    """The SIP timer base values, in seconds.

    ``t1`` is the round-trip estimate (RFC 3261 §17.1.1.1, default 500 ms), ``t2`` the
    cap on non-INVITE request and INVITE response retransmission intervals (4 s),
    ``t4`` the longest time a message stays in the network (5 s).  ``timer_d`` is how
    long a client INVITE transaction absorbs retransmitted final responses on an
    unreliable transport (Table 4: "> 32 s for UDP").
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_d: float = 32.0

    def __post_init__(self) -> None:
        if not 0 < self.t1 <= self.t2:
            raise LocalProtocolError(f"timers need 0 < t1 <= t2, got t1={self.t1} t2={self.t2}")
        if self.t4 <= 0 or self.timer_d < 0:
            raise LocalProtocolError(
                f"t4 must be > 0 and timer_d >= 0, got {self.t4}, {self.timer_d}"
            )

    @property
    def timeout(self) -> float:
        """64*T1: timers B, F, H, J (unreliable), L and M (§17.1.1.2, RFC 6026 §8.4)."""
        return 64 * self.t1
