"""Issue #3 "must show": transactions, transports and the endpoint against SIPp.

The endpoint runs as a real process (``endpoint_app.py``, a minimal UAS/UAC on
``sipline.endpoint.Endpoint``) and SIPp calls it, or is called by it, on 127.0.0.1,
over UDP and TCP, with and without packet loss.  SIPp 3.6.1 in Debian is built
without OpenSSL (``-t l1``: "To use a TLS transport you must compile SIPp with
OpenSSL"), so TLS is driven by a Python TLS client instead.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import socket
import ssl
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import ManagedProcess, ProcessGroup, SippFactory, free_port, options_ping

from sipline.sip import Request, Response, StreamFramer

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().with_name("endpoint_app.py")
CALLS = 20


class EndpointApp(ManagedProcess):
    """``endpoint_app.py`` as a process; ``stats()`` reads the line it prints on exit."""

    def __init__(self, args: list[str], *, workdir: Path, name: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        super().__init__(name, [sys.executable, str(APP), *args], workdir=workdir, env=env)

    def start(self, timeout: float = 20.0) -> EndpointApp:
        self.spawn()
        if not self.wait_output("listening on", timeout):
            self.stop()
            raise RuntimeError(f"{self.name} did not start:\n{self.output()}")
        return self

    def stats(self) -> dict[str, Any]:
        lines = [ln for ln in self.output().splitlines() if ln.startswith("stats ")]
        assert lines, f"{self.name} printed no stats:\n{self.output()}"
        result: dict[str, Any] = json.loads(lines[-1][len("stats ") :])
        return result


AppFactory = Callable[..., EndpointApp]


@pytest.fixture
def endpoint_app(harness_dir: Path, processes: ProcessGroup) -> AppFactory:
    count = 0

    def start(*args: str, wait_ready: bool = True) -> EndpointApp:
        nonlocal count
        count += 1
        app = EndpointApp(list(args), workdir=harness_dir, name=f"endpoint-app-{count}")
        processes.add(app)
        if wait_ready:
            return app.start()
        app.spawn()
        return app

    return start


def listen_args(port: int, *transports: str) -> list[str]:
    out: list[str] = []
    for transport in transports:
        out += ["--listen", f"{transport}:127.0.0.1:{port}"]
    return out


def retransmissions(stats: dict[str, Any]) -> int:
    return sum(stats["transactions"]["retransmissions"].values())


# -- SIPp UAC -> app (UAS) ----------------------------------------------------------------
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_calls_the_app(
    sipp: SippFactory, endpoint_app: AppFactory, free_port: int, transport: str
) -> None:
    app = endpoint_app(*listen_args(free_port, "udp", "tcp"))
    caller = sipp.run(
        "uac_call",
        f"127.0.0.1:{free_port}",
        transport=transport,
        calls=CALLS,
        rate=20,
        timeout=30,
    )
    caller.assert_ok(calls=CALLS)
    assert caller.retransmissions == 0
    app.stop()
    counts = app.stats()["app"]
    assert counts["received_INVITE"] == counts["received_BYE"] == CALLS
    assert counts["received_ACK"] == CALLS


def test_sipp_calls_the_app_through_packet_loss(
    sipp: SippFactory, endpoint_app: AppFactory, free_port: int
) -> None:
    """SIPp drops 10% of what it sends and receives: both sides' timers must fire."""
    app = endpoint_app(*listen_args(free_port, "udp"), "--t1", "0.1")
    caller = sipp.run(
        "uac_call_hold",
        f"127.0.0.1:{free_port}",
        calls=CALLS,
        rate=10,
        timeout=60,
        extra_args=["-lost", "10", "-d", "1200"],
    )
    caller.assert_ok(calls=CALLS)
    app.stop()
    stats = app.stats()
    # The app's 2xx retransmissions (§13.3.1.4) and its non-INVITE server
    # retransmissions, plus SIPp's own, show the loss was recovered by timers.
    assert retransmissions(stats) + caller.retransmissions > 0, (stats, caller.summary())
    assert stats["transactions"]["retransmissions"].get("server_invite", 0) > 0, stats


# -- app (UAC) -> SIPp UAS ----------------------------------------------------------------
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_the_app_calls_sipp(
    sipp: SippFactory, endpoint_app: AppFactory, free_port: int, transport: str
) -> None:
    callee = sipp.uas("uas_call", transport=transport, calls=CALLS, timeout=60)
    app = endpoint_app(
        *listen_args(free_port, "udp", "tcp"),
        *("--uac", f"{transport}:127.0.0.1:{callee.port}"),
        *("--calls", str(CALLS), "--rate", "20"),
    )
    assert app.wait(60) == 0, app.output()
    callee.wait_result(timeout=20).assert_ok(calls=CALLS)
    stats = app.stats()
    assert stats["app"]["calls_successful"] == CALLS
    assert retransmissions(stats) == 0


def test_the_app_calls_sipp_through_packet_loss(
    sipp: SippFactory, endpoint_app: AppFactory, free_port: int
) -> None:
    callee = sipp.uas("uas_call_lossy", calls=CALLS, timeout=90, extra_args=["-lost", "10"])
    app = endpoint_app(
        *listen_args(free_port, "udp"),
        *("--uac", f"udp:127.0.0.1:{callee.port}"),
        *("--calls", str(CALLS), "--rate", "10", "--hold", "2", "--t1", "0.1"),
    )
    assert app.wait(90) == 0, app.output()
    stats = app.stats()
    assert stats["app"]["calls_successful"] == CALLS
    # Lost INVITEs/BYEs come back through timers A and E; lost ACKs through the 2xx
    # retransmissions that the app acknowledges again (§13.2.2.4).
    callee_result = callee.wait_result(timeout=30)
    callee_result.assert_ok(calls=CALLS)
    resent = retransmissions(stats) + stats["app"].get("acks_resent", 0)
    assert resent + callee_result.retransmissions > 0
    assert retransmissions(stats) > 0, stats


# -- malformed input while a call is up ------------------------------------------------
def junk_datagrams(port: int, count: int) -> Iterator[bytes]:
    rng = random.Random(3)
    template = (
        f"INVITE sip:x@127.0.0.1:{port} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{n};rport\r\n"
        "From: <sip:junk@127.0.0.1>;tag={n}\r\nTo: <sip:x@127.0.0.1>\r\n"
        "Call-ID: junk-{n}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    for n in range(count):
        kind = n % 5
        whole = template.format(n=n).encode()
        if kind == 0:
            yield rng.randbytes(rng.randrange(1, 1400))
        elif kind == 1:
            yield whole[: rng.randrange(1, len(whole) - 4)]  # half a request
        elif kind == 2:
            yield whole.replace(b"CSeq: 1 INVITE", b"CSeq: x INVITE")
        elif kind == 3:
            yield whole.replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1)
        else:
            yield b"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n" + rng.randbytes(50)


def test_a_call_survives_1000_malformed_datagrams(
    sipp: SippFactory, endpoint_app: AppFactory, free_port: int
) -> None:
    app = endpoint_app(*listen_args(free_port, "udp"))
    caller = sipp.uac(
        "uac_call_hold", f"127.0.0.1:{free_port}", calls=1, timeout=30, extra_args=["-d", "2000"]
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        for data in junk_datagrams(free_port, 1000):
            sock.sendto(data, ("127.0.0.1", free_port))
            time.sleep(0.0005)
    caller.wait_result().assert_ok(calls=1)
    assert app.running
    assert options_ping("127.0.0.1", free_port, "udp", timeout=2.0) == 200
    app.stop()
    transport = app.stats()["transport"]
    assert transport["dropped"] + transport["parse_errors"] >= 200, transport


# -- TLS (SIPp here has no TLS: a Python TLS client) ---------------------------------------
class TlsPeer:
    """A blocking TLS SIP client that reads whole messages with the StreamFramer."""

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock = sock
        self.framer = StreamFramer()
        self.pending: list[Request | Response] = []

    def send(self, message: Request) -> None:
        self.sock.sendall(bytes(message))

    def response(self) -> Response:
        while not self.pending:
            data = self.sock.recv(65535)
            assert data, "the app closed the TLS connection"
            self.pending.extend(self.framer.feed(data))
        message = self.pending.pop(0)
        assert isinstance(message, Response), message
        return message


def tls_request(method: str, uri: str, local: tuple[str, int], dialog: dict[str, str]) -> Request:
    return Request(
        method,
        uri,
        [
            ("Via", f"SIP/2.0/TLS {local[0]}:{local[1]};branch=z9hG4bK{secrets.token_hex(8)}"),
            ("Max-Forwards", "70"),
            ("From", dialog["from"]),
            ("To", dialog["to"]),
            ("Call-ID", dialog["call_id"]),
            ("CSeq", dialog["cseq"]),
            ("Contact", f"<sips:tls-client@{local[0]}:{local[1]}>"),
        ],
    )


def test_a_call_over_tls(endpoint_app: AppFactory, free_port: int, harness_dir: Path) -> None:
    data_dir = harness_dir / "app-data"
    endpoint_app(*listen_args(free_port, "udp", "tls"), "--data-dir", str(data_dir))
    # Verify the app's generated certificate (its subjectAltName holds 127.0.0.1).
    context = ssl.create_default_context(cafile=str(data_dir / "tls-cert.pem"))
    with (
        socket.create_connection(("127.0.0.1", free_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        peer = TlsPeer(sock)
        local = sock.getsockname()[:2]
        uri = f"sips:service@127.0.0.1:{free_port}"
        dialog = {
            "from": f"<sips:tls-client@127.0.0.1>;tag={secrets.token_hex(4)}",
            "to": f"<{uri}>",
            "call_id": f"tls-{secrets.token_hex(6)}",
            "cseq": "1 INVITE",
        }
        peer.send(tls_request("INVITE", uri, local, dialog))
        codes: list[int] = []
        while not codes or codes[-1] < 200:
            ok = peer.response()
            codes.append(ok.status_code)
        assert codes == [100, 180, 200]
        assert ok.body.startswith(b"v=0")
        contact = str(ok.contacts[0].uri)
        assert contact.startswith("sips:")
        assert "transport=tls" in contact
        dialog["to"] = ok.headers.get("To") or ""
        dialog["cseq"] = "1 ACK"
        peer.send(tls_request("ACK", contact, local, dialog))
        dialog["cseq"] = "2 BYE"
        peer.send(tls_request("BYE", contact, local, dialog))
        bye_ok = peer.response()
        assert (bye_ok.status_code, bye_ok.cseq.method) == (200, "BYE")
        dialog.update(cseq="3 OPTIONS", to=f"<{uri}>")
        peer.send(tls_request("OPTIONS", uri, local, dialog))
        assert peer.response().status_code == 200


def test_the_app_stops_on_sigterm_with_its_stats(endpoint_app: AppFactory) -> None:
    port = free_port()
    app = endpoint_app(*listen_args(port, "udp", "tcp"))
    assert options_ping("127.0.0.1", port, "tcp", timeout=2.0) == 200
    assert app.stop() == 0
    stats = app.stats()
    # OPTIONS to the server are answered statelessly (RFC 3261 §8.2.7): no transaction.
    assert stats["endpoint"]["options_answered"] == 1
    assert stats["transactions"]["created"].get("server_non_invite", 0) == 0
