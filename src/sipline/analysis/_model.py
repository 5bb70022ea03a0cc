"""What the analysis finds in a trace: flows (calls, registrations...), their parties
(the ladder's columns), phases and diagnoses."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._parsed import TracedMessage

__all__ = ["Diagnosis", "Flow", "Leg", "Party", "Phase"]


@dataclass(frozen=True, slots=True)
class Party:
    """A column of the ladder: ``key`` is ``host:port`` (or ``local``), ``role`` one of
    caller / server / callee / client / registrar / party."""

    key: str
    name: str
    role: str


@dataclass(slots=True)
class Leg:
    """The messages of one Call-ID (a dialog and its transactions)."""

    call_id: str
    messages: list[TracedMessage] = field(default_factory=list)

    @property
    def methods(self) -> set[str]:
        """Request methods in the leg (from CSeq when only responses were captured)."""
        found = {m.method for m in self.messages if m.method is not None}
        return found or {m.cseq_method for m in self.messages if m.cseq_method is not None}

    @property
    def kind(self) -> str:
        methods = self.methods
        if methods & {"INVITE", "BYE", "CANCEL", "PRACK"}:
            return "call"
        if "REGISTER" in methods:
            return "registration"
        if methods & {"SUBSCRIBE", "NOTIFY", "PUBLISH"}:
            return "subscription"
        first = next((m.transaction_method for m in self.messages if m.transaction_method), None)
        return first.lower() if first else "unknown"

    def first_request(self, method: str) -> TracedMessage | None:
        return next((m for m in self.messages if m.method == method), None)


@dataclass(frozen=True, slots=True)
class Phase:
    """A named stretch of a flow, from message ``first`` to message ``last`` (indices).

    ``between`` is set for a phase with no message of its own (talk with no re-INVITE):
    it lies after ``first`` and before ``last``."""

    name: str
    first: int
    last: int
    detail: str = ""
    between: bool = False


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """Something that went wrong (or may go wrong), and the messages that show it."""

    text: str
    messages: tuple[int, ...]
    severity: str = "warning"


@dataclass(slots=True)
class Flow:
    """One call (its legs linked), one registration, or another exchange."""

    number: int
    kind: str
    legs: list[Leg]
    messages: list[TracedMessage]
    parties: list[Party] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    summaries: dict[int, str] = field(default_factory=dict)

    @property
    def call_ids(self) -> list[str]:
        return [leg.call_id for leg in self.legs]

    def party(self, key: str) -> Party | None:
        return next((p for p in self.parties if p.key == key), None)

    def name_of(self, key: str) -> str:
        party = self.party(key)
        return party.name if party is not None else key

    def column_of(self, key: str) -> int:
        for column, party in enumerate(self.parties):
            if party.key == key:
                return column
        return -1

    @property
    def start(self) -> float | None:
        return next((m.time for m in self.messages if m.time is not None), None)
