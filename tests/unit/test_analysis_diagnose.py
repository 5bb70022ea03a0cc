"""Each diagnosis on a crafted trace, and call linking on pcaps of a B2BUA."""

from __future__ import annotations

from collections.abc import Sequence

from analysis_pcaps import ethernet, pcap_file, sip_message, tcp_packet, udp_packet

from sipline.analysis import Flow, analyse, read_records

ALICE = ("10.0.0.10", 5062)
SERVER = ("10.0.0.1", 5060)
BOB = ("10.0.0.20", 5064)
SDP = b"v=0\r\no=- 1 1 IN IP4 10.0.0.10\r\ns=-\r\nc=IN IP4 10.0.0.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\n"

Step = tuple[tuple[str, int], tuple[str, int], bytes]


def _flows(steps: Sequence[Step], transports: Sequence[str] = ()) -> list[Flow]:
    frames = []
    next_seq: dict[tuple[tuple[str, int], tuple[str, int]], int] = {}
    for number, (src, dst, message) in enumerate(steps):
        if number < len(transports) and transports[number] == "tcp":
            seq = next_seq.get((src, dst), 1000)
            next_seq[(src, dst)] = seq + len(message)
            packet = tcp_packet(*src, *dst, seq, message)
        else:
            packet = udp_packet(*src, *dst, message)
        frames.append((100.0 + number * 0.1, ethernet(packet)))
    return analyse(read_records(pcap_file(frames), "crafted.pcap"))


def _request(
    method: str, call_id: str, cseq: int, uri: str = "sip:bob@10.0.0.1", **kw: object
) -> bytes:
    return sip_message(f"{method} {uri} SIP/2.0", call_id, f"{cseq} {method}", **kw)  # type: ignore[arg-type]


def _response(status: str, call_id: str, cseq: int, method: str, **kw: object) -> bytes:
    kw.setdefault("to", "<sip:bob@example.com>;tag=t1")
    return sip_message(f"SIP/2.0 {status}", call_id, f"{cseq} {method}", **kw)  # type: ignore[arg-type]


def _texts(flow: Flow) -> list[str]:
    return [d.text for d in flow.diagnoses]


def test_wrong_password() -> None:
    auth = [
        'Authorization: Digest username="alice", realm="x", nonce="n", uri="sip:x", response="r"'
    ]
    (flow,) = _flows(
        [
            (ALICE, SERVER, _request("REGISTER", "r1", 1, "sip:10.0.0.1")),
            (SERVER, ALICE, _response("401 Unauthorized", "r1", 1, "REGISTER")),
            (ALICE, SERVER, _request("REGISTER", "r1", 2, "sip:10.0.0.1", extra=auth)),
            (SERVER, ALICE, _response("403 Forbidden", "r1", 2, "REGISTER")),
        ]
    )
    assert flow.kind == "registration"
    assert [(p.name, p.first, p.last) for p in flow.phases] == [
        ("challenge", 1, 2),
        ("authorised", 3, 3),
        ("result", 4, 4),
    ]
    (diagnosis,) = flow.diagnoses
    assert diagnosis.text.startswith("wrong password")
    assert diagnosis.messages == (3, 4)


def test_user_not_registered() -> None:
    (flow,) = _flows(
        [
            (ALICE, SERVER, _request("INVITE", "c1", 1, body=SDP)),
            (SERVER, ALICE, _response("480 Temporarily Unavailable", "c1", 1, "INVITE")),
            (ALICE, SERVER, _request("ACK", "c1", 1)),
        ]
    )
    (diagnosis,) = flow.diagnoses
    assert diagnosis.text.startswith("user not registered")
    assert "bob" in diagnosis.text
    assert diagnosis.messages == (1, 2)
    assert flow.phases[-1].name == "failed"


def test_retransmissions_and_missing_final_response() -> None:
    invite = _request("INVITE", "c2", 1, body=SDP)
    (flow,) = _flows([(ALICE, SERVER, invite)] * 3)
    texts = _texts(flow)
    assert any(t.startswith("retransmissions:") and "3 times" in t for t in texts)
    assert any(t.startswith("missing final response: INVITE #1") for t in texts)
    assert flow.messages[1].retransmission_of == 1
    retrans = next(d for d in flow.diagnoses if d.text.startswith("retransmissions"))
    assert retrans.messages == (1, 2, 3)


def test_missing_ack() -> None:
    (flow,) = _flows(
        [
            (ALICE, SERVER, _request("INVITE", "c3", 1, body=SDP)),
            (SERVER, ALICE, _response("200 OK", "c3", 1, "INVITE", body=SDP)),
        ]
    )
    (diagnosis,) = flow.diagnoses
    assert diagnosis.text.startswith("missing ACK")
    assert diagnosis.messages == (2,)


def test_challenge_loop() -> None:
    auth = [
        'Proxy-Authorization: Digest username="alice", realm="x", nonce="n", uri="sip:x", response="r"'
    ]
    steps: list[Step] = []
    for cseq in (1, 2, 3):
        extra = auth if cseq > 1 else []
        steps.append((ALICE, SERVER, _request("INVITE", "c4", cseq, extra=extra)))
        steps.append(
            (SERVER, ALICE, _response("407 Proxy Authentication Required", "c4", cseq, "INVITE"))
        )
        steps.append((ALICE, SERVER, _request("ACK", "c4", cseq)))
    (flow,) = _flows(steps)
    loop = next(d for d in flow.diagnoses if d.text.startswith("challenge loop"))
    assert "3 challenges" in loop.text
    assert {2, 5, 8} <= set(loop.messages)


def test_codec_mismatch() -> None:
    (flow,) = _flows(
        [
            (ALICE, SERVER, _request("INVITE", "c5", 1, body=SDP)),
            (SERVER, ALICE, _response("488 Not Acceptable Here", "c5", 1, "INVITE")),
            (ALICE, SERVER, _request("ACK", "c5", 1)),
        ]
    )
    (diagnosis,) = flow.diagnoses
    assert diagnosis.text.startswith("codec mismatch")
    assert "PCMU, PCMA" in diagnosis.text
    assert diagnosis.messages == (1, 2)


def test_private_sdp_across_a_public_hop() -> None:
    phone, provider = ("81.2.69.142", 5060), ("52.1.2.3", 5060)  # public (not TEST-NET)
    private = SDP.replace(b"c=IN IP4 10.0.0.10", b"c=IN IP4 192.168.1.10")
    (flow,) = _flows(
        [
            (phone, provider, _request("INVITE", "c6", 1, body=private)),
            (provider, phone, _response("100 Trying", "c6", 1, "INVITE", to="<sip:bob@x>")),
        ]
    )
    risk = next(d for d in flow.diagnoses if d.text.startswith("one-way audio risk"))
    assert "192.168.1.10" in risk.text
    assert risk.messages == (1,)


def test_unanswered_bye() -> None:
    (flow,) = _flows([(ALICE, SERVER, _request("BYE", "c7", 2, to="<sip:bob@x>;tag=t1"))])
    (diagnosis,) = flow.diagnoses
    assert diagnosis.text.startswith("unanswered BYE")


def _b2bua_call(
    a_call: str, b_call: str, caller: tuple[str, int], callee: tuple[str, int]
) -> list[Step]:
    tagged = "<sip:bob@example.com>;tag=t1"
    return [
        (caller, SERVER, _request("INVITE", a_call, 1, body=SDP)),
        (SERVER, caller, _response("100 Trying", a_call, 1, "INVITE", to="<sip:bob@example.com>")),
        (SERVER, callee, _request("INVITE", b_call, 7, "sip:bob@10.0.0.20:5064", body=SDP)),
        (callee, SERVER, _response("180 Ringing", b_call, 7, "INVITE", to=tagged)),
        (SERVER, caller, _response("180 Ringing", a_call, 1, "INVITE", to=tagged)),
        (callee, SERVER, _response("200 OK", b_call, 7, "INVITE", to=tagged, body=SDP)),
        (SERVER, callee, _request("ACK", b_call, 7, "sip:bob@10.0.0.20:5064", to=tagged)),
        (SERVER, caller, _response("200 OK", a_call, 1, "INVITE", to=tagged, body=SDP)),
        (caller, SERVER, _request("ACK", a_call, 1, to=tagged)),
        (caller, SERVER, _request("BYE", a_call, 2, to=tagged)),
        (SERVER, caller, _response("200 OK", a_call, 2, "BYE", to=tagged)),
        (SERVER, callee, _request("BYE", b_call, 8, "sip:bob@10.0.0.20:5064", to=tagged)),
        (callee, SERVER, _response("200 OK", b_call, 8, "BYE", to=tagged)),
    ]


def test_b2bua_legs_linked_and_transport_mismatch() -> None:
    steps = _b2bua_call("a-leg", "b-leg", ALICE, BOB)
    transports = ["tcp" if ALICE in (s[0], s[1]) else "udp" for s in steps]
    (call,) = _flows(steps, transports)
    assert call.call_ids == ["a-leg", "b-leg"]
    assert [(p.key, p.role) for p in call.parties] == [
        ("10.0.0.10:5062", "caller"),
        ("10.0.0.1:5060", "server"),
        ("10.0.0.20:5064", "callee"),
    ]
    assert [p.name for p in call.phases] == ["setup", "ringing", "answer", "talk", "hang-up"]
    assert call.phases[-1].detail == "hung up by alice (caller)"
    mismatch = next(d for d in call.diagnoses if d.text.startswith("transport mismatch"))
    assert "TCP" in mismatch.text
    assert "UDP" in mismatch.text
    assert mismatch.severity == "info"


def test_two_calls_one_after_the_other_are_not_linked() -> None:
    carol = ("10.0.0.30", 5066)
    steps = _b2bua_call("a1", "b1", ALICE, BOB) + _b2bua_call("a2", "b2", carol, BOB)
    first, second = _flows(steps)
    assert first.call_ids == ["a1", "b1"]
    assert second.call_ids == ["a2", "b2"]
    assert second.parties[0].key == "10.0.0.30:5066"
