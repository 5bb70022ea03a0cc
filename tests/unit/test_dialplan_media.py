"""Dialplan media actions (issue #7): answer, echo, playback, tone, sleep, ivr, record."""

from __future__ import annotations

import pytest

from sipline.media import ToneSpec
from sipline.routing import DialplanError, HangupCause, MediaStep, Route, parse_dialplan


def route(config: list[dict[str, object]], destination: str) -> Route:
    return parse_dialplan(config).route(destination, "1000", "example.com", lambda u, d: False)


def test_media_steps_run_in_order_and_end_with_an_optional_hangup() -> None:
    config: list[dict[str, object]] = [
        {"match": "^9196$", "actions": ["echo"]},
        {
            "match": "^9197$",
            "actions": [
                "tone ringback 4",
                "answer",
                "playback hello.wav",
                "sleep 0.5",
                "hangup USER_BUSY",
            ],
        },
        {
            "match": "^(\\d{4})$",
            "actions": [
                "set call_timeout=5",
                "ivr menu-$1.wav digits=4 timeout=3 tries=2 terminator=*",
            ],
        },
    ]
    assert route(config, "9196").steps == (MediaStep("echo"),)
    busy = route(config, "9197")
    assert busy.steps == (
        MediaStep("tone", tone=ToneSpec.parse("%(2000,4000,440,480)"), seconds=4.0),
        MediaStep("answer"),
        MediaStep("playback", file="hello.wav"),
        MediaStep("sleep", seconds=0.5),
    )
    assert busy.hangup is HangupCause.USER_BUSY
    ivr = route(config, "1234")
    assert ivr.variables == {"call_timeout": "5"}
    (step,) = ivr.steps
    assert step.file == "menu-1234.wav"
    assert step.ivr is not None
    assert (step.ivr.prompt, step.ivr.max_digits, step.ivr.timeout) == ("menu-1234.wav", 4, 3.0)
    assert (step.ivr.tries, step.ivr.terminator) == (2, "*")


def test_record_goes_with_the_bridge_that_follows() -> None:
    config: list[dict[str, object]] = [
        {"match": "^(1\\d{3})$", "actions": ["record calls/$1.wav"]},
        {"match": "^(1\\d{3})$", "actions": ["bridge user/$1"]},
    ]
    decided = route(config, "1001")
    assert decided.record == "calls/1001.wav"
    assert decided.groups[0][0].value == "1001"


def test_a_capture_that_makes_a_bad_tone_is_an_invalid_number() -> None:
    config: list[dict[str, object]] = [{"match": "^t(.*)$", "actions": ["tone $1"]}]
    assert route(config, "tringback").steps[0].tone == ToneSpec.parse("ringback")
    assert route(config, "t%(1,1,9999)").hangup is HangupCause.INVALID_NUMBER_FORMAT


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        (["tone %(100,100)"], r"dialplan\[0\]\.actions\[0\]: bad tone"),
        (["tone ringback soon"], r"actions\[0\]: 'soon' is not a number of seconds"),
        (["echo 1 2"], r"actions\[0\]: expected echo \[SECONDS\]"),
        (["answer now"], r"actions\[0\]: answer takes no argument"),
        (["playback"], r"actions\[0\]: playback needs an argument"),
        (["playback a.wav b.wav"], r"playback needs one FILE.wav"),
        (["sleep"], r"sleep needs an argument"),
        (["ivr menu.wav digits=0"], r"ivr needs digits=1..32"),
        (["ivr menu.wav colour=red"], r"ivr option 'colour=red'"),
        (["ivr menu.wav terminator=x"], r"ivr terminator must be one key"),
        (["ivr menu.wav", "hangup 16"], r"actions\[1\]: nothing runs after ivr"),
        (["echo", "bridge user/1000"], r"actions\[1\]: bridge cannot follow echo"),
        (["answer", "record x.wav"], r"record cannot follow answer"),
        (["hangup 17", "echo"], r"nothing runs after hangup"),
        (["ech"], r"unknown action 'ech'; expected bridge, hangup, set, record, answer"),
    ],
)
def test_bad_media_actions_are_refused_in_one_line(actions: list[str], message: str) -> None:
    with pytest.raises(DialplanError, match=message) as caught:
        parse_dialplan([{"match": "^1$", "actions": actions}])
    assert "\n" not in str(caught.value)
