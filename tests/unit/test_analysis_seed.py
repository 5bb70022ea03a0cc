"""The seed traces of shared/seeds/001 (FreeSWITCH book, chapter 4): registration with
401, a direct call, and the call through FreeSWITCH with 407 and two legs."""

from __future__ import annotations

from pathlib import Path

from sipline.analysis import Flow, analyse, read_trace

DATA = Path(__file__).resolve().parent.parent / "data" / "traces"


def _ladder(flow: Flow) -> list[tuple[str, str, str]]:
    """(from, to, label) per message, with party names: the hand-drawn diagram."""
    return [(flow.name_of(m.source), flow.name_of(m.destination), m.label) for m in flow.messages]


def _phases(flow: Flow) -> list[tuple[str, int, int]]:
    return [(p.name, p.first, p.last) for p in flow.phases]


def test_registration_with_401() -> None:
    registration, refused = analyse(read_trace(DATA / "fs_register.txt"))
    assert registration.kind == "registration"
    assert [(p.name, p.role) for p in registration.parties] == [
        ("alice", "client"),
        ("FreeSWITCH", "registrar"),
    ]
    assert _ladder(registration) == [
        ("alice", "FreeSWITCH", "REGISTER"),
        ("FreeSWITCH", "alice", "401 Unauthorized"),
        ("alice", "FreeSWITCH", "REGISTER"),
        ("FreeSWITCH", "alice", "200 OK"),
    ]
    assert _phases(registration) == [("challenge", 1, 2), ("authorised", 3, 3), ("result", 4, 4)]
    assert registration.phases[-1].detail == "registered for 3600 s"
    assert registration.diagnoses == []
    # the 403 of another attempt (another Call-ID): a flow of its own, diagnosed
    assert refused.kind == "registration"
    assert refused.parties[0].name == "alice"
    assert [d.messages for d in refused.diagnoses] == [(5,)]
    assert "wrong password" in refused.diagnoses[0].text


def test_direct_call() -> None:
    (call,) = analyse(read_trace(DATA / "direct_call.sip"))
    assert [(p.name, p.role) for p in call.parties] == [("bob", "caller"), ("alice", "callee")]
    assert _ladder(call) == [
        ("bob", "alice", "INVITE"),
        ("alice", "bob", "100 Trying"),
        ("alice", "bob", "180 Ringing"),
        ("alice", "bob", "200 OK"),
        ("bob", "alice", "ACK"),
        ("alice", "bob", "BYE"),
        ("bob", "alice", "200 OK"),
    ]
    assert [p.name for p in call.phases] == ["setup", "ringing", "answer", "talk", "hang-up"]
    assert call.phases[-1].detail == "hung up by alice (callee)"
    assert call.diagnoses == []
    assert "PCMU, PCMA" in call.summaries[1]


def test_call_through_freeswitch_links_both_legs() -> None:
    (call,) = analyse(read_trace(DATA / "fs_b2bua_call.txt"))
    assert call.kind == "call"
    assert call.call_ids == [
        "YWEwYjNlZTZjOWZjNDg3ZjU3MjQ3MTA1ZmQ1MDM5YmQ.",
        "0d74ac35-cca4-122d-81a2-2990e5b2bd3e",
    ]
    assert [(p.name, p.key, p.role) for p in call.parties] == [
        ("bob", "192.168.4.4:26000", "caller"),
        ("FreeSWITCH", "local", "server"),
        ("alice", "192.168.4.4:5090", "callee"),
    ]
    # the order of the hand-drawn ladder in the seed
    assert _ladder(call) == [
        ("bob", "FreeSWITCH", "INVITE"),
        ("FreeSWITCH", "bob", "100 Trying"),
        ("FreeSWITCH", "bob", "407 Proxy Authentication Required"),
        ("bob", "FreeSWITCH", "ACK"),
        ("bob", "FreeSWITCH", "INVITE"),
        ("FreeSWITCH", "bob", "100 Trying"),
        ("FreeSWITCH", "alice", "INVITE"),
        ("alice", "FreeSWITCH", "100 Trying"),
        ("alice", "FreeSWITCH", "180 Ringing"),
        ("FreeSWITCH", "bob", "183 Session Progress"),
        ("alice", "FreeSWITCH", "200 OK"),
        ("FreeSWITCH", "alice", "ACK"),
        ("FreeSWITCH", "bob", "200 OK"),
        ("bob", "FreeSWITCH", "ACK"),
        ("alice", "FreeSWITCH", "BYE"),
        ("FreeSWITCH", "alice", "200 OK"),
        ("FreeSWITCH", "bob", "BYE"),
        ("bob", "FreeSWITCH", "200 OK"),
    ]
    assert _phases(call) == [
        ("challenge", 1, 4),
        ("setup", 5, 8),
        ("ringing / early media", 9, 10),
        ("answer", 11, 14),
        ("talk", 14, 15),
        ("hang-up", 15, 18),
    ]
    talk = call.phases[4]
    assert talk.between
    assert talk.detail == "6.7 s"
    assert call.phases[-1].detail == ("hung up by alice (callee), cause NORMAL_CLEARING (Q.850 16)")
    assert call.diagnoses == []
    assert "onward leg to alice" in call.summaries[7]
    assert "with credentials" in call.summaries[5]
