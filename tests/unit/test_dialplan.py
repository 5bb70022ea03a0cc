"""The dialplan: schema checks with one-line errors, rule evaluation, hang-up causes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipline.routing import (
    DEFAULT_CALL_TIMEOUT,
    Dialplan,
    DialplanError,
    HangupCause,
    Route,
    Target,
    cause_for_status,
    cause_from_reason,
    parse_cause,
    parse_dialplan,
)

LOCAL = {"1000", "1001", "1002"}


def is_local(user: str, domain: str) -> bool:
    return user in LOCAL and domain == "example.com"


def route(plan: Dialplan, destination: str, caller: str = "1000") -> Route:
    return plan.route(destination, caller, "example.com", is_local)


def test_default_rule_rings_a_local_user_and_404s_anything_else() -> None:
    plan = parse_dialplan([])
    assert route(plan, "1001") == Route(((Target("user", "1001"),),))
    unknown = route(plan, "5555")
    assert unknown.hangup is HangupCause.UNALLOCATED_NUMBER
    assert unknown.groups == ()
    assert route(plan, "").hangup is HangupCause.UNALLOCATED_NUMBER
    assert parse_dialplan(None).rules == ()


def test_captures_fill_bridge_targets_and_variables() -> None:
    plan = parse_dialplan(
        [
            {
                "match": r"^9(\d{4})$",
                "actions": ["set call_timeout=20", "set caller_id_name=Ext $1", "bridge user/$1"],
            }
        ]
    )
    result = route(plan, "91002")
    assert result.groups == ((Target("user", "1002"),),)
    assert result.call_timeout == 20.0
    assert result.variables["caller_id_name"] == "Ext 1002"
    assert result.rule == 0
    assert route(plan, "1002").call_timeout == DEFAULT_CALL_TIMEOUT


def test_parallel_and_sequential_groups_with_leg_timeouts() -> None:
    plan = parse_dialplan(
        [
            {
                "match": "^2000$",
                "actions": [
                    "bridge user/1000,user/1001|[leg_timeout=10]user/1002@other.org"
                    "|sip/sip:ivr@127.0.0.1:5080|trunk/upstream/0044123"
                ],
            }
        ]
    )
    groups = route(plan, "2000").groups
    assert groups == (
        (Target("user", "1000"), Target("user", "1001")),
        (Target("user", "1002@other.org", timeout=10.0),),
        (Target("sip", "sip:ivr@127.0.0.1:5080"),),
        (Target("trunk", "upstream", "0044123"),),
    )
    assert str(groups[1][0]) == "[leg_timeout=10]user/1002@other.org"
    assert str(groups[3][0]) == "trunk/upstream/0044123"


def test_first_deciding_rule_wins_and_set_only_rules_fall_through() -> None:
    plan = parse_dialplan(
        [
            {"match": ".", "actions": ["set call_timeout=5"]},
            {"match": "^1000$", "caller": "^666$", "actions": ["hangup CALL_REJECTED"]},
            {"match": "^1000$", "domain": r"^other\.org$", "actions": ["hangup 17"]},
            {"match": "^1000$", "actions": ["bridge user/1001"]},
            {"match": "^1000$", "actions": ["bridge user/1002"]},
        ]
    )
    rejected = plan.route("1000", "666", "example.com", is_local)
    assert rejected.hangup is HangupCause.CALL_REJECTED
    assert rejected.call_timeout == 5.0
    assert plan.route("1000", "1", "other.org", is_local).hangup is HangupCause.USER_BUSY
    normal = route(plan, "1000")
    assert normal.groups == ((Target("user", "1001"),),)
    assert normal.rule == 3
    # The default rule keeps the variables set on the way.
    assert route(plan, "1002").call_timeout == 5.0


def test_rule_without_match_matches_every_destination() -> None:
    plan = parse_dialplan([{"caller": "^1001$", "actions": ["hangup USER_NOT_REGISTERED"]}])
    result = plan.route("anything", "1001", "example.com", is_local)
    assert result.hangup is HangupCause.SUBSCRIBER_ABSENT


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("bridge", "dialplan: expected a list"),
        (["x"], "dialplan[0]: expected a table"),
        ([{"mach": "1", "actions": ["hangup 17"]}], "dialplan[0]: unknown key 'mach'"),
        ([{"match": "("}], "dialplan[0].match: bad regular expression"),
        ([{"match": 5, "actions": ["hangup 17"]}], "dialplan[0].match: expected a regular"),
        ([{"caller": "[", "actions": ["hangup 17"]}], "dialplan[0].caller: bad regular"),
        ([{"domain": "*", "actions": ["hangup 17"]}], "dialplan[0].domain: bad regular"),
        ([{"match": "1"}], "dialplan[0].actions: expected a non-empty list"),
        ([{"match": "1", "actions": []}], "dialplan[0].actions: expected a non-empty list"),
        ([{"match": "1", "actions": [3]}], "dialplan[0].actions[0]: expected an action"),
        (
            [{"match": "1", "actions": ["hangup 17"]}, {"match": "1", "actions": ["brige u"]}],
            "dialplan[1].actions[0]: unknown action 'brige'; expected bridge, hangup, set",
        ),
        ([{"actions": ["bridge"]}], "dialplan[0].actions[0]: bridge needs an argument"),
        ([{"actions": ["hangup NOPE"]}], "dialplan[0].actions[0]: unknown hangup cause 'NOPE'"),
        ([{"actions": ["set colour=red"]}], "dialplan[0].actions[0]: unknown variable 'colour'"),
        ([{"actions": ["set call_timeout"]}], "dialplan[0].actions[0]: set needs NAME=VALUE"),
        ([{"actions": ["set call_timeout=0"]}], "call_timeout must be 1..3600 seconds"),
        ([{"actions": ["set call_timeout=abc"]}], "call_timeout must be 1..3600 seconds"),
        ([{"match": "(1)", "actions": ["bridge user/$2"]}], "$2 refers to a group"),
        ([{"actions": ["bridge phone/1000"]}], "unknown target 'phone/1000'"),
        ([{"actions": ["bridge user/"]}], "bad user target 'user/'"),
        ([{"actions": ["bridge trunk/x"]}], "bad trunk target 'trunk/x'"),
        ([{"actions": ["bridge sip/http://x"]}], "bad sip target"),
        ([{"actions": ["bridge [leg_timeout=0]user/1"]}], "leg_timeout must be at least"),
        (
            [{"actions": ["bridge user/1000", "set call_timeout=3"]}],
            "dialplan[0].actions[1]: nothing runs after bridge",
        ),
        ([{"name": 3, "actions": ["hangup 17"]}], "dialplan[0].name: expected text"),
    ],
)
def test_bad_dialplans_are_refused_in_one_line_naming_the_key(config: object, message: str) -> None:
    with pytest.raises(DialplanError) as caught:
        parse_dialplan(config)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


def test_hangup_causes_have_q850_values_sip_codes_and_reason_headers() -> None:
    assert HangupCause.USER_BUSY.reason == 'Q.850;cause=17;text="USER_BUSY"'
    assert HangupCause.NORMAL_CLEARING.reason == 'Q.850;cause=16;text="NORMAL_CLEARING"'
    absent = HangupCause.SUBSCRIBER_ABSENT
    assert (absent.q850, absent.sip_status, absent.text) == (20, 480, "USER_NOT_REGISTERED")
    assert HangupCause.NO_ANSWER.sip_status == 480
    assert HangupCause.ORIGINATOR_CANCEL.sip_status == 487
    assert HangupCause.INCOMPATIBLE_DESTINATION.sip_status == 488
    assert HangupCause.UNALLOCATED_NUMBER.sip_status == 404
    assert parse_cause("user_busy") is HangupCause.USER_BUSY
    assert parse_cause("USER_NOT_REGISTERED") is HangupCause.SUBSCRIBER_ABSENT
    assert parse_cause("19") is HangupCause.NO_ANSWER
    assert parse_cause("999") is None
    assert parse_cause("nonsense") is None


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        (486, HangupCause.USER_BUSY),
        (600, HangupCause.USER_BUSY),
        (404, HangupCause.UNALLOCATED_NUMBER),
        (488, HangupCause.INCOMPATIBLE_DESTINATION),
        (603, HangupCause.CALL_REJECTED),
        (408, HangupCause.RECOVERY_ON_TIMER_EXPIRE),
        (599, HangupCause.NORMAL_TEMPORARY_FAILURE),
        (699, HangupCause.CALL_REJECTED),
        (499, HangupCause.INTERWORKING),
    ],
)
def test_sip_status_maps_to_a_cause(status: int, cause: HangupCause) -> None:
    assert cause_for_status(status) is cause


def test_reason_headers_give_their_q850_cause() -> None:
    assert cause_from_reason('Q.850;cause=17;text="USER_BUSY"') == 17
    assert cause_from_reason('SIP;cause=200;text="x", Q.850;cause=16') == 16
    assert cause_from_reason("SIP;cause=487") is None
    assert cause_from_reason(None) is None
    assert cause_from_reason(";;;") is None


@given(st.text(max_size=30), st.text(max_size=10))
def test_route_never_raises_on_any_destination(destination: str, caller: str) -> None:
    plan = parse_dialplan(
        [
            {"match": r"^(\d+)$", "caller": "^1", "actions": ["bridge user/$1"]},
            {"match": "^x", "actions": ["hangup 21"]},
        ]
    )
    result = plan.route(destination, caller, "example.com", is_local)
    assert (result.hangup is None) == bool(result.groups)


def test_captures_cannot_add_targets_or_break_the_user_part() -> None:
    plan = parse_dialplan([{"match": "^(.*)$", "actions": ["bridge user/$1"]}])
    assert route(plan, "1000").groups == ((Target("user", "1000"),),)
    for hostile in ("1000,user/1001", "10|00", "a b", "x;y"):
        assert route(plan, hostile).hangup is HangupCause.INVALID_NUMBER_FORMAT
    trunk = parse_dialplan([{"match": "^0(.*)$", "actions": ["bridge trunk/up/$1"]}])
    assert route(trunk, "0123").groups == ((Target("trunk", "up", "123"),),)
    assert route(trunk, "0<x>").hangup is HangupCause.INVALID_NUMBER_FORMAT
    sip = parse_dialplan([{"match": "^(.*)$", "actions": ["bridge sip/sip:$1@127.0.0.1"]}])
    assert route(sip, "ivr").groups == ((Target("sip", "sip:ivr@127.0.0.1"),),)
    assert route(sip, "a>b").hangup is HangupCause.INVALID_NUMBER_FORMAT
