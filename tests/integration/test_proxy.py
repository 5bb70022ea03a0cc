"""Issue #6 "must show": `sipline serve --mode proxy` (RFC 3261 §16) between real peers.

SIPp callers and callees on 127.0.0.1 around one proxy listening on UDP and TCP on one
port. A callee is one SIPp process that REGISTERs itself (proxy_register_uas.xml) and
answers calls in its out-of-call scenario (-oocsf), so over TCP the calls come back over
the connection it registered on. The scenarios check the essentials themselves (`<ereg
check_it>`: a missing Record-Route fails the call); the tests then read SIPp's message
logs for the exact Record-Route set, Via stack and route popping at each hop.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import (
    SCENARIOS,
    BaresipFactory,
    ServerFactory,
    ServerProcess,
    SippFactory,
    SippProcess,
    account_line,
    import_users,
)

from sipline.proxy import loop_key
from sipline.sip import Request, Response, parse_message

pytestmark = pytest.mark.integration

DOMAIN = "127.0.0.1"
USERS = {
    "uas": "uas-secret-1",
    "alice": "alice-secret-2",
    "carol": "carol-secret-3",  # known, never registered: 480
    "caller": "caller-secret-4",
}


# -- helpers -----------------------------------------------------------------------------


def start_proxy(
    sipline_server: ServerFactory, harness_dir: Path, *, invite_auth: bool = False
) -> ServerProcess:
    """The proxy on UDP and TCP of one free port, users of USERS imported."""
    data_dir = harness_dir / "data"
    import_users(data_dir, USERS)
    config = harness_dir / "sipline.toml"
    config.write_text(f"[auth]\ninvite = {'true' if invite_auth else 'false'}\n")
    return sipline_server(
        *("--mode", "proxy", "--listen", "udp:{host}:{port}", "--listen", "tcp:{host}:{port}"),
        *("--data", "{data_dir}", "--domain", DOMAIN, "--admin", "off"),
        *("--config", str(config)),
        data_dir=data_dir,
    )


def sipp_messages(log: Path) -> list[tuple[str, Request | Response]]:
    """("sent" | "received", message) for every message in a SIPp -trace_msg log."""
    out: list[tuple[str, Request | Response]] = []
    try:
        text = log.read_text("latin-1")
    except FileNotFoundError:
        return out
    for block in text.split("-----------------------------------------------"):
        head, _, rest = block.partition("\n\n")
        if " message sent" in head:
            direction = "sent"
        elif " message received" in head:
            direction = "received"
        else:
            continue
        lines = rest.strip("\r\n").replace("\r\n", "\n").split("\n")
        wire = "\r\n".join(line.rstrip("\r") for line in lines) + "\r\n\r\n"
        out.append((direction, parse_message(wire.encode("latin-1"))))
    return out


def is_a(message: Request | Response, what: str | int) -> bool:
    """A request of method `what`, or a response of status `what` (not to REGISTER)."""
    if isinstance(message, Request):
        return message.method == what
    return message.status_code == what and message.cseq.method != "REGISTER"


def received(log: Path, what: str | int) -> list[Request | Response]:
    return [m for d, m in sipp_messages(log) if d == "received" and is_a(m, what)]


def caller_log(harness_dir: Path) -> Path:
    """The message log of the SIPp process that sent an INVITE first (not a callee)."""
    for path in sorted(harness_dir.glob("sipp-uac-*.messages.log")):
        sent = [m for d, m in sipp_messages(path) if d == "sent"]
        if sent and isinstance(sent[0], Request) and sent[0].method == "INVITE":
            return path
    raise AssertionError(f"no caller message log in {harness_dir}")


def start_callee(
    sipp: SippFactory,
    proxy: ServerProcess,
    scenario: str,
    *,
    transport: str = "udp",
    user: str = "uas",
) -> SippProcess:
    """A SIPp callee registered as `user` over `transport`, answering with `scenario`."""
    callee = sipp.uac(
        "proxy_register_uas",
        proxy.hostport,
        transport=transport,
        service=user,
        auth=(user, USERS[user]),
        calls=1,
        timeout=120.0,
        extra_args=["-oocsf", str(SCENARIOS / f"{scenario}.xml"), "-d", "100000"],
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for direction, message in sipp_messages(callee.message_path):
            if (
                direction == "received"
                and isinstance(message, Response)
                and message.status_code == 200
                and message.cseq.method == "REGISTER"
            ):
                return callee
        time.sleep(0.05)
    raise AssertionError(f"{user} never registered over {transport}:\n{callee.output()}")


def callee_failures(callee: SippProcess) -> list[str]:
    """Error-log lines of a callee other than SIPp's notes about out-of-call messages."""
    try:
        lines = callee.error_path.read_text("latin-1").splitlines()
    except FileNotFoundError:
        return []
    notes = ("out-of-call", "The following events occurred")
    return [line for line in lines if line.strip() and not any(n in line for n in notes)]


def record_route(hostport: str, transport: str) -> str:
    return f"sip:{hostport};lr" if transport == "udp" else f"sip:{hostport};transport=tcp;lr"


def route_values(message: Request | Response, name: str) -> list[str]:
    entries = message.routes if name == "route" else message.record_routes
    return [str(entry.uri) for entry in entries]


# -- calls through the proxy: UDP, TCP, and bridged both ways ------------------------------------
@pytest.mark.parametrize("hangup", ["caller", "callee"])
@pytest.mark.parametrize(
    ("caller_transport", "callee_transport"),
    [("udp", "udp"), ("tcp", "tcp"), ("udp", "tcp"), ("tcp", "udp")],
)
def test_call_through_the_proxy(
    sipline_server: ServerFactory,
    sipp: SippFactory,
    harness_dir: Path,
    caller_transport: str,
    callee_transport: str,
    hangup: str,
) -> None:
    proxy = start_proxy(sipline_server, harness_dir)
    callee_scenario = "proxy_uas" if hangup == "caller" else "proxy_uas_hangs_up"
    caller_scenario = "proxy_uac_call" if hangup == "caller" else "proxy_uac_callee_hangs_up"
    callee = start_callee(sipp, proxy, callee_scenario, transport=callee_transport)
    caller = sipp.uac(caller_scenario, proxy.hostport, transport=caller_transport, service="uas")
    caller.wait_result().assert_ok(calls=1)
    time.sleep(0.3)  # the callee's last message (the 200 to BYE or its ACK) is logged
    callee.stop()
    assert callee_failures(callee) == []

    # §16.6 step 4 and RFC 5658: one Record-Route, or two when the transports differ,
    # the one facing the callee on top.
    expected_rr = [record_route(proxy.hostport, callee_transport)]
    if caller_transport != callee_transport:
        expected_rr.append(record_route(proxy.hostport, caller_transport))
    [invite] = received(callee.message_path, "INVITE")
    assert route_values(invite, "record-route") == expected_rr
    # Via stack: the proxy (over the callee's transport), then the caller.
    assert [(v.transport.lower(), v.sent_by) for v in invite.vias] == [
        (callee_transport, proxy.hostport),
        (caller_transport, f"127.0.0.1:{caller.port}"),
    ]
    assert invite.max_forwards == 69
    assert invite.routes == []
    # The caller sees the same Record-Route set in the 200, and only its own Via.
    [ok] = [r for r in received(caller.message_path, 200) if r.cseq.method == "INVITE"]
    assert route_values(ok, "record-route") == expected_rr
    assert len(ok.vias) == 1  # the proxy took its own off (§16.7 step 3)

    # The in-dialog BYE went through the proxy, which popped every route of its own
    # (both entries of a double Record-Route) and kept the sender's Via under its own.
    hung_up, hearer = (caller, callee) if hangup == "caller" else (callee, caller)
    [bye] = received(hearer.message_path, "BYE")
    assert bye.routes == [], f"the proxy left its routes in\n{bytes(bye).decode()}"
    assert [(v.transport.lower(), v.sent_by) for v in bye.vias] == [
        (hearer.transport, proxy.hostport),
        (hung_up.transport, f"127.0.0.1:{hung_up.port}"),
    ]


# -- answers of the proxy itself: 404, 480, 483, 482 ------------------------------------------
def invite_text(
    proxy: ServerProcess,
    local_port: int,
    user: str,
    *,
    max_forwards: int = 70,
    call_id: str = "raw-1@127.0.0.1",
    lower_vias: tuple[str, ...] = (),
) -> str:
    lines = [
        f"INVITE sip:{user}@{proxy.hostport} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK{call_id.split('@')[0]};rport",
        *(f"Via: {via}" for via in lower_vias),
        f"Max-Forwards: {max_forwards}",
        f"From: <sip:caller@{DOMAIN}>;tag=raw-from",
        f"To: <sip:{user}@{DOMAIN}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 INVITE",
        f"Contact: <sip:caller@127.0.0.1:{local_port}>",
        "Content-Length: 0",
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


def final_answer(proxy: ServerProcess, build: Callable[[int], str]) -> Response:
    """Send the INVITE `build(local_port)` over UDP; its final response (ACKed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5.0)
        local_port = sock.getsockname()[1]
        text = build(local_port)
        sock.sendto(text.encode(), ("127.0.0.1", proxy.port))
        while True:
            answer = parse_message(sock.recv(65535))
            assert isinstance(answer, Response)
            if answer.status_code >= 200:
                break
        request = parse_message(text.encode())
        assert isinstance(request, Request)
        ack = [
            f"ACK {request.uri} SIP/2.0",
            f"Via: {request.headers.get('Via')}",
            "Max-Forwards: 70",
            f"From: {request.headers.get('From')}",
            f"To: {answer.headers.get('To')}",
            f"Call-ID: {request.call_id}",
            "CSeq: 1 ACK",
            "Content-Length: 0",
        ]
        sock.sendto(("\r\n".join(ack) + "\r\n\r\n").encode(), ("127.0.0.1", proxy.port))
        return answer


def test_unknown_unregistered_and_too_many_hops(
    sipline_server: ServerFactory, harness_dir: Path
) -> None:
    proxy = start_proxy(sipline_server, harness_dir)
    unknown = final_answer(proxy, lambda port: invite_text(proxy, port, "nobody"))
    assert unknown.status_code == 404
    assert "cause=1" in (unknown.headers.get("Reason") or "")
    absent = final_answer(
        proxy, lambda port: invite_text(proxy, port, "carol", call_id="raw-2@127.0.0.1")
    )
    assert absent.status_code == 480  # a user of ours, not registered (§16.5)
    assert "cause=20" in (absent.headers.get("Reason") or "")
    hops = final_answer(
        proxy,
        lambda port: invite_text(proxy, port, "carol", max_forwards=0, call_id="raw-3@127.0.0.1"),
    )
    assert hops.status_code == 483  # §16.3 step 3


def test_loop_is_482_and_spiral_is_not(sipline_server: ServerFactory, harness_dir: Path) -> None:
    proxy = start_proxy(sipline_server, harness_dir)

    def came_back(user: str, keyed_user: str, call_id: str) -> Callable[[int], str]:
        """The INVITE for `user` whose lower Via is the proxy's own, with the loop key of
        the same request addressed to `keyed_user` (§16.6 step 8)."""

        def build(port: int) -> str:
            as_first_sent = parse_message(
                invite_text(proxy, port, keyed_user, call_id=call_id).encode()
            )
            assert isinstance(as_first_sent, Request)
            key = loop_key(as_first_sent)
            ours = f"SIP/2.0/UDP {proxy.hostport};branch=z9hG4bKearlier.{key};rport"
            return invite_text(proxy, port, user, call_id=call_id, lower_vias=(ours,))

        return build

    looped = final_answer(proxy, came_back("carol", "carol", "loop-1@127.0.0.1"))
    assert looped.status_code == 482  # the same request again: a loop (§16.3 step 4)
    spiral = final_answer(proxy, came_back("carol", "uas", "loop-2@127.0.0.1"))
    assert spiral.status_code == 480  # another Request-URI: a spiral, processed


# -- forking, CANCEL, authentication ---------------------------------------------------------
@pytest.mark.parametrize("loser", ["proxy_uas_ring", "proxy_uas_busy"])
def test_parallel_fork_to_two_contacts(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path, loser: str
) -> None:
    proxy = start_proxy(sipline_server, harness_dir)
    other = start_callee(sipp, proxy, loser)
    winner = start_callee(sipp, proxy, "proxy_uas")
    caller = sipp.uac("proxy_uac_call", proxy.hostport, service="uas")
    caller.wait_result().assert_ok(calls=1)
    time.sleep(0.3)
    for callee in (other, winner):
        callee.stop()
        assert callee_failures(callee) == []
        assert len(received(callee.message_path, "INVITE")) == 1  # both rang at once
    assert received(caller.message_path, 486) == []  # a 2xx wins over any 4xx (§16.7)
    [invite] = received(other.message_path, "INVITE")
    if loser == "proxy_uas_ring":
        # §16.7 step 10: the pending branch is cancelled once another one answers.
        [cancel] = received(other.message_path, "CANCEL")
        assert cancel.top_via.branch == invite.top_via.branch
        assert "cause=200" in (cancel.headers.get("Reason") or "")
    else:
        assert received(other.message_path, "CANCEL") == []
    assert len(received(other.message_path, "ACK")) == 1  # its non-2xx was ACKed hop by hop


def test_cancel_from_the_caller(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path
) -> None:
    proxy = start_proxy(sipline_server, harness_dir)
    callee = start_callee(sipp, proxy, "proxy_uas_ring")
    caller = sipp.uac("proxy_uac_cancel", proxy.hostport, service="uas")
    caller.wait_result().assert_ok(calls=1)
    time.sleep(0.3)
    callee.stop()
    assert callee_failures(callee) == []
    [invite] = received(callee.message_path, "INVITE")
    [cancel] = received(callee.message_path, "CANCEL")  # §16.10
    assert cancel.top_via.branch == invite.top_via.branch
    assert len(received(callee.message_path, "ACK")) == 1
    assert len(received(caller.message_path, 487)) == 1


def test_invite_challenged_with_407_when_invite_auth_is_on(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path
) -> None:
    proxy = start_proxy(sipline_server, harness_dir, invite_auth=True)
    callee = start_callee(sipp, proxy, "proxy_uas")
    caller = sipp.uac(
        "proxy_uac_auth",
        proxy.hostport,
        service="uas",
        keys={"caller": "alice"},
        auth=("alice", USERS["alice"]),
        auth_uri=f"uas@{proxy.hostport}",
    )
    caller.wait_result().assert_ok(calls=1)
    time.sleep(0.3)
    callee.stop()
    assert callee_failures(callee) == []
    [challenge] = received(caller.message_path, 407)
    assert f'realm="{DOMAIN}"' in (challenge.headers.get("Proxy-Authenticate") or "")
    [invite] = received(callee.message_path, "INVITE")  # only the authenticated one
    assert invite.cseq.number == 2


# -- two phones ------------------------------------------------------------------------------
def test_two_baresip_phones_call_through_the_proxy(
    sipline_server: ServerFactory, baresip: BaresipFactory, harness_dir: Path
) -> None:
    proxy = start_proxy(sipline_server, harness_dir, invite_auth=True)
    alice = baresip("alice").start(
        account_line("alice", DOMAIN, password=USERS["alice"], outbound=proxy.hostport)
    )
    carol = baresip("carol").start(
        account_line("carol", DOMAIN, password=USERS["carol"], outbound=proxy.hostport)
    )
    assert alice.wait_registered(), alice.output()
    assert carol.wait_registered(), carol.output()
    alice.dial(f"sip:carol@{DOMAIN}")
    carol.wait_event("CALL_INCOMING")
    carol.accept()
    alice.wait_event("CALL_ESTABLISHED")
    carol.wait_event("CALL_ESTABLISHED")
    alice.hangup()
    alice.wait_event("CALL_CLOSED")
    carol.wait_event("CALL_CLOSED")


def test_bindings_stored_before_a_restart_on_other_listeners_still_route(
    sipline_server: ServerFactory, sipp: SippFactory, harness_dir: Path
) -> None:
    """A binding remembers the listener it came in on; after a restart on another port
    that listener is gone, and the call must still reach the callee (not a 500)."""
    first = start_proxy(sipline_server, harness_dir)
    callee = start_callee(sipp, first, "proxy_uas")
    first.stop()
    second = sipline_server(
        *("--mode", "proxy", "--listen", "udp:{host}:{port}", "--listen", "tcp:{host}:{port}"),
        *("--data", "{data_dir}", "--domain", DOMAIN, "--admin", "off"),
        *("--config", str(harness_dir / "sipline.toml")),
        data_dir=harness_dir / "data",
    )
    assert second.port != first.port
    caller = sipp.uac("proxy_uac_call", second.hostport, service="uas")
    caller.wait_result().assert_ok(calls=1)
    callee.stop()
    assert len(received(callee.message_path, "INVITE")) == 1
