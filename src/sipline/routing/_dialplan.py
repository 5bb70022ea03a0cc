"""The dialplan: ordered rules from the config file, evaluated per call.

The config loader hands ``config["dialplan"]`` over as a list of tables::

    [[dialplan]]
    match = "^(1\\d{3})$"        # regex searched in the destination (Request-URI user)
    caller = "^10"               # optional: regex searched in the caller's user part
    domain = "example\\.com$"    # optional: regex searched in the destination domain
    actions = ["set call_timeout=20", "bridge user/$1"]

Actions (``$0``..``$9`` are the groups of ``match``):

- ``bridge TARGETS``: ``user/1000`` (a local user, ``user/1000@domain`` for another
  domain), ``trunk/NAME/NUMBER``, ``sip/URI``; ``,`` rings targets in parallel,
  ``|`` tries groups in sequence; ``[leg_timeout=N]target`` gives one target its
  own ring time (FreeSWITCH's syntax).
- ``hangup CAUSE``: refuse the call (``USER_BUSY``, ``CALL_REJECTED``, ``17``...).
- ``set NAME=VALUE``: ``call_timeout`` (seconds), ``caller_id_name``,
  ``caller_id_number``.
- ``record FILE.wav``: record the bridge that follows (caller left, callee right).

Media applications (sipline answers the call itself and runs them in order; at the
end, or at ``hangup CAUSE``, it hangs up):

- ``answer``: 200 OK with sipline's own SDP (``tone``/``playback`` before it are
  early media in a 183).
- ``echo [SECONDS]``: answer, send the caller's audio back (until BYE or SECONDS).
- ``playback FILE.wav``: play a WAV file (any rate, 8/16-bit, mono or stereo).
- ``tone SPEC [SECONDS]``: FreeSWITCH tone syntax ``%(on_ms,off_ms,freq[,freq])``
  (``;``-joined segments, ``;loops=N``) or a name: ``ringback``, ``busy``...
- ``sleep SECONDS``: silence.
- ``ivr PROMPT.wav [digits=N] [timeout=S] [tries=N] [terminator=#]``: answer, play
  the prompt, collect up to N digits (RFC 4733 or SIP INFO), then route the digits
  through the dialplan as the destination (media applications and hangup).

The first rule that matches and has a ``bridge``, ``hangup`` or media application
decides; rules that only ``set`` (or ``record``) add their variables and evaluation
goes on.  When no rule decides, a
destination that is a local user rings that user, anything else gets
``UNALLOCATED_NUMBER`` (404).  Errors name the key at fault in one line:
``dialplan[2].actions[0]: unknown action 'brige'; expected bridge, hangup, set``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sipline.media import IvrConfig, ToneSpec
from sipline.routing._causes import HangupCause, parse_cause

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "VARIABLES",
    "Dialplan",
    "DialplanError",
    "MediaStep",
    "Route",
    "Rule",
    "Target",
    "parse_dialplan",
]

TargetKind = Literal["user", "trunk", "sip"]

_RULE_KEYS = ("match", "caller", "domain", "actions", "name")
_MEDIA_ACTIONS = ("answer", "echo", "playback", "tone", "sleep", "ivr")
_ACTIONS = ("bridge", "hangup", "set", "record", *_MEDIA_ACTIONS)
_IVR_OPTIONS = ("digits", "timeout", "tries", "terminator")
#: Variables ``set`` accepts, with their checkers (None: any text).
VARIABLES: dict[str, Callable[[str], str | None] | None] = {
    "call_timeout": lambda v: None if v.isdigit() and 0 < int(v) <= 3600 else "1..3600 seconds",
    "caller_id_name": None,
    "caller_id_number": None,
}
_CAPTURE = re.compile(r"\$(\d)")
_LEG_TIMEOUT = re.compile(r"\[leg_timeout=(\d+)\](.*)", re.DOTALL)
_USER = re.compile(r"[A-Za-z0-9_.!~*'()&=+$%-]+(?:@[A-Za-z0-9.:\[\]-]+)?")
DEFAULT_CALL_TIMEOUT = 30.0


class DialplanError(ValueError):
    """A dialplan that cannot be used; the message names the key, in one line."""


@dataclass(frozen=True, slots=True)
class Target:
    """One destination of a bridge: a local user, a trunk number or a SIP URI."""

    kind: TargetKind
    value: str  # "1000" / "1000@domain"; trunk name; SIP URI
    number: str | None = None  # trunk/NAME/NUMBER
    timeout: float | None = None  # [leg_timeout=N]

    def __str__(self) -> str:
        text = f"{self.kind}/{self.value}" + (f"/{self.number}" if self.number else "")
        return f"[leg_timeout={self.timeout:g}]{text}" if self.timeout else text


@dataclass(frozen=True, slots=True)
class MediaStep:
    """One media application sipline runs itself (``verb`` as in the dialplan)."""

    verb: str  # answer, echo, playback, tone, sleep, ivr
    file: str | None = None  # playback: the file; ivr: the prompt
    tone: ToneSpec | None = None
    seconds: float | None = None  # echo/tone/sleep: how long (None: to the end)
    ivr: IvrConfig | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """What to do with one call: ring ``groups`` in turn (each in parallel), run media
    ``steps`` (then hang up with ``hangup`` or normally), or hang up."""

    groups: tuple[tuple[Target, ...], ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)
    hangup: HangupCause | None = None
    rule: int | None = None  # index of the deciding rule; None for the default rule
    steps: tuple[MediaStep, ...] = ()
    record: str | None = None  # record the bridge to this file

    @property
    def call_timeout(self) -> float:
        value = self.variables.get("call_timeout")
        return float(value) if value else DEFAULT_CALL_TIMEOUT


@dataclass(frozen=True, slots=True)
class _Action:
    verb: str
    argument: str
    where: str
    #: bridge: the targets, parsed before captures are filled in (so a destination
    #: holding "," or "|" cannot add targets).
    groups: tuple[tuple[Target, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    match: re.Pattern[str] | None
    caller: re.Pattern[str] | None
    domain: re.Pattern[str] | None
    actions: tuple[_Action, ...]
    name: str | None = None

    def matches(self, destination: str, caller: str, domain: str) -> re.Match[str] | None:
        if self.caller is not None and self.caller.search(caller) is None:
            return None
        if self.domain is not None and self.domain.search(domain) is None:
            return None
        if self.match is None:
            return re.match("", destination)
        return self.match.search(destination)


def _expand(text: str, found: re.Match[str]) -> str:
    return _CAPTURE.sub(lambda m: found.group(int(m.group(1))) or "", text)


def _fill_targets(
    groups: tuple[tuple[Target, ...], ...], found: re.Match[str]
) -> tuple[tuple[Target, ...], ...] | None:
    """The targets with ``$N`` filled in; None when a filled-in user part is not valid."""
    out: list[tuple[Target, ...]] = []
    for group in groups:
        filled: list[Target] = []
        for target in group:
            value = _expand(target.value, found)
            number = None if target.number is None else _expand(target.number, found)
            if target.kind == "user" and not _USER.fullmatch(value):
                return None
            if number is not None and not _USER.fullmatch(number):
                return None
            if target.kind == "sip" and any(c in value for c in " \t\r\n<>"):
                return None
            filled.append(Target(target.kind, value, number, target.timeout))
        out.append(tuple(filled))
    return tuple(out)


class Dialplan:
    """Ordered rules; ``route()`` gives the ``Route`` of one call.  Immutable."""

    __slots__ = ("rules",)

    def __init__(self, rules: Sequence[Rule] = ()) -> None:
        self.rules = tuple(rules)

    def route(
        self,
        destination: str,
        caller: str,
        domain: str,
        is_local_user: Callable[[str, str], bool],
    ) -> Route:
        variables: dict[str, str] = {}
        record: str | None = None
        for index, rule in enumerate(self.rules):
            found = rule.matches(destination, caller, domain)
            if found is None:
                continue
            steps: list[MediaStep] = []
            for action in rule.actions:
                argument = _expand(action.argument, found)
                if action.verb == "set":
                    name, _, value = argument.partition("=")
                    variables[name.strip()] = value.strip()
                elif action.verb == "record":
                    record = argument
                elif action.verb in _MEDIA_ACTIONS:
                    try:
                        steps.append(_media_step(action.verb, argument, action.where))
                    except DialplanError:  # a capture filled in with something unusable
                        return Route(
                            variables=variables,
                            hangup=HangupCause.INVALID_NUMBER_FORMAT,
                            rule=index,
                        )
                elif action.verb == "hangup":
                    cause = parse_cause(argument)
                    assert cause is not None  # checked by the parser
                    return Route(variables=variables, hangup=cause, rule=index, steps=tuple(steps))
                else:
                    groups = _fill_targets(action.groups, found)
                    if groups is None:
                        return Route(
                            variables=variables,
                            hangup=HangupCause.INVALID_NUMBER_FORMAT,
                            rule=index,
                        )
                    return Route(groups, variables, rule=index, record=record)
            if steps:
                return Route(variables=variables, rule=index, steps=tuple(steps))
        if destination and is_local_user(destination, domain):
            return Route(((Target("user", destination),),), variables, record=record)
        return Route(variables=variables, hangup=HangupCause.UNALLOCATED_NUMBER)


# -- parsing ---------------------------------------------------------------------------


def parse_dialplan(config: object) -> Dialplan:
    """Check ``config["dialplan"]`` (a list of tables) and build the dialplan."""
    if config is None:
        return Dialplan()
    if not isinstance(config, list | tuple):
        raise DialplanError("dialplan: expected a list of rules ([[dialplan]] tables)")
    return Dialplan([_parse_rule(item, f"dialplan[{i}]") for i, item in enumerate(config)])


def _parse_rule(item: object, where: str) -> Rule:
    if not isinstance(item, Mapping):
        raise DialplanError(f"{where}: expected a table with match and actions")
    for key in item:
        if key not in _RULE_KEYS:
            raise DialplanError(f"{where}: unknown key {key!r}; expected {', '.join(_RULE_KEYS)}")
    match = _regex(item.get("match"), f"{where}.match")
    caller = _regex(item.get("caller"), f"{where}.caller")
    domain = _regex(item.get("domain"), f"{where}.domain")
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        raise DialplanError(f"{where}.name: expected text")
    raw_actions = item.get("actions")
    if not isinstance(raw_actions, list) or not raw_actions:
        raise DialplanError(f"{where}.actions: expected a non-empty list of actions")
    groups = match.groups if match is not None else 0
    actions: list[_Action] = []
    for index, raw in enumerate(raw_actions):
        action_where = f"{where}.actions[{index}]"
        action = _parse_action(raw, action_where, groups)
        _check_order([a.verb for a in actions], action.verb, action_where)
        actions.append(action)
    return Rule(match, caller, domain, tuple(actions), name)


def _regex(value: Any, where: str) -> re.Pattern[str] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DialplanError(f"{where}: expected a regular expression in quotes")
    try:
        return re.compile(value)
    except re.error as error:
        raise DialplanError(f"{where}: bad regular expression: {error}") from None


def _parse_action(raw: object, where: str, groups: int) -> _Action:
    if not isinstance(raw, str) or not raw.strip():
        raise DialplanError(f"{where}: expected an action such as 'bridge user/1000'")
    verb, _, argument = raw.strip().partition(" ")
    argument = argument.strip()
    if verb not in _ACTIONS:
        raise DialplanError(f"{where}: unknown action {verb!r}; expected {', '.join(_ACTIONS)}")
    for reference in _CAPTURE.findall(argument):
        if int(reference) > groups:
            raise DialplanError(
                f"{where}: ${reference} refers to a group the match does not have ({groups})"
            )
    if not argument and verb not in ("answer", "echo"):
        raise DialplanError(f"{where}: {verb} needs an argument")
    if verb == "hangup" and parse_cause(argument) is None:
        raise DialplanError(f"{where}: unknown hangup cause {argument!r} (e.g. USER_BUSY, 17)")
    if verb == "set":
        _check_set(argument, where)
    if verb in _MEDIA_ACTIONS and _CAPTURE.search(argument) is None:
        _media_step(verb, argument, where)  # checked now when nothing is filled in later
    if verb == "bridge":
        return _Action(verb, argument, where, _parse_targets(argument, where))
    return _Action(verb, argument, where)


def _check_order(before: list[str], verb: str, where: str) -> None:
    """bridge/hangup/ivr end a rule; a bridge cannot follow a media application (the
    call is sipline's then), nor a hangup."""
    for previous in before:
        if previous in ("bridge", "hangup", "ivr"):
            raise DialplanError(f"{where}: nothing runs after {previous}")
    if verb in ("bridge", "record") and any(p in _MEDIA_ACTIONS for p in before):
        media = next(p for p in before if p in _MEDIA_ACTIONS)
        raise DialplanError(f"{where}: {verb} cannot follow {media} (sipline has the call)")


def _media_step(verb: str, argument: str, where: str) -> MediaStep:
    """The ``MediaStep`` of a media action; ``DialplanError`` naming the fault."""
    words = argument.split()
    if verb == "answer":
        if words:
            raise DialplanError(f"{where}: answer takes no argument")
        return MediaStep(verb)
    if verb == "playback":
        if len(words) != 1:
            raise DialplanError(f"{where}: playback needs one FILE.wav (no spaces)")
        return MediaStep(verb, file=words[0])
    if verb == "ivr":
        return MediaStep(verb, file=words[0], ivr=_ivr_config(words, where))
    if verb == "tone":
        if not 1 <= len(words) <= 2:
            raise DialplanError(f"{where}: expected tone SPEC [SECONDS], e.g. tone ringback 10")
        try:
            tone = ToneSpec.parse(words[0])
        except ValueError as error:
            raise DialplanError(f"{where}: {error}") from None
        seconds = _seconds(words[1], where) if len(words) == 2 else None
        return MediaStep(verb, tone=tone, seconds=seconds)
    if len(words) > 1 or (verb == "sleep" and not words):
        raise DialplanError(
            f"{where}: expected {verb} {'SECONDS' if verb == 'sleep' else '[SECONDS]'}"
        )
    return MediaStep(verb, seconds=_seconds(words[0], where) if words else None)


def _seconds(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400:
        raise DialplanError(f"{where}: {text!r} is not a number of seconds (0-86400)")
    return value


def _ivr_config(words: list[str], where: str) -> IvrConfig:
    options: dict[str, str] = {}
    for word in words[1:]:
        name, equals, value = word.partition("=")
        if not equals or name not in _IVR_OPTIONS:
            raise DialplanError(
                f"{where}: ivr option {word!r}; expected {'=, '.join(_IVR_OPTIONS)}="
            )
        options[name] = value
    terminator = options.get("terminator", "#")
    if len(terminator) > 1 or (terminator and terminator not in "0123456789*#ABCD"):
        raise DialplanError(f"{where}: ivr terminator must be one key (0-9, *, #, A-D)")
    try:
        return IvrConfig(
            words[0],
            max_digits=int(options.get("digits", "1")),
            timeout=float(options.get("timeout", "5")),
            tries=int(options.get("tries", "3")),
            terminator=terminator,
        )
    except ValueError:
        raise DialplanError(
            f"{where}: ivr needs digits=1..32, timeout=SECONDS > 0, tries=N >= 1"
        ) from None


def _check_set(argument: str, where: str) -> None:
    name, equals, value = argument.partition("=")
    name = name.strip()
    if not equals:
        raise DialplanError(f"{where}: set needs NAME=VALUE")
    if name not in VARIABLES:
        raise DialplanError(
            f"{where}: unknown variable {name!r}; expected {', '.join(sorted(VARIABLES))}"
        )
    check = VARIABLES[name]
    if check is not None and _CAPTURE.search(value) is None:
        problem = check(value.strip())
        if problem is not None:
            raise DialplanError(f"{where}: {name} must be {problem}, not {value.strip()!r}")


def _parse_targets(text: str, where: str) -> tuple[tuple[Target, ...], ...]:
    groups: list[tuple[Target, ...]] = []
    for group_text in text.split("|"):
        targets = tuple(_parse_target(part.strip(), where) for part in group_text.split(","))
        groups.append(targets)
    return tuple(groups)


def _parse_target(text: str, where: str) -> Target:
    timeout: float | None = None
    found = _LEG_TIMEOUT.fullmatch(text)
    if found is not None:
        timeout = float(found.group(1))
        if timeout <= 0:
            raise DialplanError(f"{where}: leg_timeout must be at least 1 second")
        text = found.group(2).strip()
    kind, _, rest = text.partition("/")
    if kind == "user":
        if not _USER.fullmatch(rest):
            raise DialplanError(f"{where}: bad user target {text!r}; expected user/1000")
        return Target("user", rest, timeout=timeout)
    if kind == "trunk":
        name, _, number = rest.partition("/")
        if not name or not number:
            raise DialplanError(f"{where}: bad trunk target {text!r}; expected trunk/NAME/NUMBER")
        return Target("trunk", name, number, timeout)
    if kind == "sip":
        if not rest.lower().startswith(("sip:", "sips:")):
            raise DialplanError(f"{where}: bad sip target {text!r}; expected sip/sip:user@host")
        return Target("sip", rest, timeout=timeout)
    raise DialplanError(f"{where}: unknown target {text!r}; expected user/, trunk/ or sip/")
