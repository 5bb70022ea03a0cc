"""An IVR menu as a sans-I/O state machine: play a prompt, collect digits, give up.

``IvrMenu(IvrConfig(...))``: ``start(now)``, then ``prompt_finished(now)``,
``digit_received(digit, now)`` and ``handle_timer(now)`` when ``next_deadline()``
is reached; each returns the events the application acts on (``PromptStarted``,
``PromptStopped``, ``DigitsCollected``, ``MenuFailed``).  A digit during the prompt
stops it (barge-in); the timeout runs from the end of the prompt and again after
each digit; no digit in time replays the prompt, ``tries`` times in all.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sipline.sip import LocalProtocolError

__all__ = [
    "IVR_TRANSITIONS",
    "DigitsCollected",
    "IvrConfig",
    "IvrEvent",
    "IvrInput",
    "IvrMenu",
    "IvrState",
    "MenuFailed",
    "PromptStarted",
    "PromptStopped",
]


class IvrState(enum.Enum):
    IDLE = "idle"
    PROMPTING = "prompting"  # the prompt plays; a digit stops it
    COLLECTING = "collecting"  # waiting for (more) digits until the timeout
    DONE = "done"
    FAILED = "failed"


class IvrInput(enum.Enum):
    START = "start"
    PROMPT_FINISHED = "prompt finished"
    DIGIT = "digit"
    LAST_DIGIT = "last digit"  # max digits reached or the terminator
    TIMEOUT = "timeout"  # with digits: they are the answer
    TIMEOUT_EMPTY = "timeout, no digits"  # tries left: prompt again
    GIVE_UP = "timeout, no digits, no tries left"


_S, _I = IvrState, IvrInput
IVR_TRANSITIONS: dict[tuple[IvrState, IvrInput], IvrState] = {
    (_S.IDLE, _I.START): _S.PROMPTING,
    (_S.PROMPTING, _I.PROMPT_FINISHED): _S.COLLECTING,
    (_S.PROMPTING, _I.DIGIT): _S.COLLECTING,
    (_S.PROMPTING, _I.LAST_DIGIT): _S.DONE,
    (_S.COLLECTING, _I.DIGIT): _S.COLLECTING,
    (_S.COLLECTING, _I.LAST_DIGIT): _S.DONE,
    (_S.COLLECTING, _I.TIMEOUT): _S.DONE,
    (_S.COLLECTING, _I.TIMEOUT_EMPTY): _S.PROMPTING,
    (_S.COLLECTING, _I.GIVE_UP): _S.FAILED,
}


@dataclass(frozen=True, slots=True)
class IvrConfig:
    """``prompt``: the sound to play; ``max_digits`` ends collection at once when
    reached, ``terminator`` ends it early (not part of the digits)."""

    prompt: str
    max_digits: int = 1
    timeout: float = 5.0
    tries: int = 3
    terminator: str = "#"

    def __post_init__(self) -> None:
        if not 1 <= self.max_digits <= 32 or self.timeout <= 0 or self.tries < 1:
            raise ValueError("ivr: digits 1..32, timeout > 0 and tries >= 1")


@dataclass(frozen=True, slots=True)
class PromptStarted:
    prompt: str
    attempt: int  # 1 for the first play


@dataclass(frozen=True, slots=True)
class PromptStopped:
    """A digit came during the prompt (barge-in): stop playing it."""


@dataclass(frozen=True, slots=True)
class DigitsCollected:
    digits: str


@dataclass(frozen=True, slots=True)
class MenuFailed:
    reason: str


IvrEvent = PromptStarted | PromptStopped | DigitsCollected | MenuFailed


class IvrMenu:
    def __init__(self, config: IvrConfig) -> None:
        self.config = config
        self.state = IvrState.IDLE
        self.digits = ""
        self.attempt = 0
        self._deadline: float | None = None

    def _advance(self, what: IvrInput) -> IvrState:
        after = IVR_TRANSITIONS.get((self.state, what))
        if after is None:
            raise LocalProtocolError(f"IVR: {what.value} in state {self.state.name}")
        self.state = after
        return after

    @property
    def finished(self) -> bool:
        return self.state in (IvrState.DONE, IvrState.FAILED)

    def next_deadline(self) -> float | None:
        return self._deadline if self.state is IvrState.COLLECTING else None

    def start(self, now: float) -> list[IvrEvent]:
        self._advance(IvrInput.START)
        return self._prompt()

    def _prompt(self) -> list[IvrEvent]:
        self.attempt += 1
        self._deadline = None
        return [PromptStarted(self.config.prompt, self.attempt)]

    def prompt_finished(self, now: float) -> list[IvrEvent]:
        if self.state is not IvrState.PROMPTING:
            return []  # the prompt was stopped by a digit: its end is no news
        self._advance(IvrInput.PROMPT_FINISHED)
        self._deadline = now + self.config.timeout
        return []

    def digit_received(self, digit: str, now: float) -> list[IvrEvent]:
        if self.finished or self.state is IvrState.IDLE:
            return []  # digits after the menu (or before it) are not ours
        events: list[IvrEvent] = []
        if self.state is IvrState.PROMPTING:
            events.append(PromptStopped())
        if digit == self.config.terminator and self.digits:
            self._advance(IvrInput.LAST_DIGIT)
            return [*events, DigitsCollected(self.digits)]
        if digit != self.config.terminator:
            self.digits += digit
        if len(self.digits) >= self.config.max_digits:
            self._advance(IvrInput.LAST_DIGIT)
            return [*events, DigitsCollected(self.digits)]
        self._advance(IvrInput.DIGIT)
        self._deadline = now + self.config.timeout
        return events

    def handle_timer(self, now: float) -> list[IvrEvent]:
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return []
        if self.digits:
            self._advance(IvrInput.TIMEOUT)
            return [DigitsCollected(self.digits)]
        if self.attempt < self.config.tries:
            self._advance(IvrInput.TIMEOUT_EMPTY)
            return self._prompt()
        self._advance(IvrInput.GIVE_UP)
        return [MenuFailed(f"no digits after {self.attempt} prompts")]
