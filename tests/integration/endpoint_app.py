"""A minimal SIP user agent on ``sipline.endpoint.Endpoint``, run as a real process.

    python tests/integration/endpoint_app.py --listen udp:127.0.0.1:5060 \
        --listen tcp:127.0.0.1:5060 [--listen tls:127.0.0.1:5061 --data-dir DIR] \
        [--uac udp:127.0.0.1:5062 --calls 10 --rate 5 --hold 0] [--t1 0.5] [--uvloop]

As a UAS it answers INVITE with 180 then 200 (Contact and an SDP answer), takes the
ACK, answers BYE (and anything else) with 200; OPTIONS gets the endpoint's own 200.
As a UAC (``--uac TRANSPORT:HOST:PORT``) it places ``--calls`` calls (INVITE, 2xx, ACK,
BYE) at ``--rate`` calls per second, then exits 0 only when every call succeeded.

It prints ``listening on udp:127.0.0.1:PORT ...`` once its listeners are up, and on
exit (end of the calls, or SIGTERM/SIGINT) one line ``stats {json}`` with its
transaction, transport and call counters, so tests can see retransmissions happen.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sipline.endpoint import Endpoint, EndpointConfig, IncomingRequest
from sipline.server import tune_garbage_collector
from sipline.sip import (
    Address,
    Request,
    Response,
    SipParseError,
    SipUri,
    new_call_id,
    new_tag,
)
from sipline.transaction import TransactionConfig
from sipline.transport import TlsConfig, TransportConfig, parse_listen_spec, use_uvloop

SOCKET_BUFFER = 4 * 1024 * 1024  # PEERS.md: 64 KiB buffers drop bursts on the loopback

SDP_TEMPLATE = (
    "v=0\r\n"
    "o=sipline-app {session} {session} IN IP4 {host}\r\n"
    "s=sipline endpoint app\r\n"
    "c=IN IP4 {host}\r\n"
    "t=0 0\r\n"
    "m=audio {port} RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=sendrecv\r\n"
)


def sdp(host: str, port: int = 40000) -> bytes:
    return SDP_TEMPLATE.format(session=int(time.time()), host=host, port=port).encode()


class UserAgent:
    """The application: a UAS for incoming requests, and the UAC's bookkeeping."""

    def __init__(self) -> None:
        self.endpoint: Endpoint | None = None
        self.counts: Counter[str] = Counter()
        #: Call-ID -> (ACK, destination) of calls this UAC acknowledged (§13.2.2.4 resend).
        self.acks: dict[str, tuple[Request, Address]] = {}

    # -- UAS ---------------------------------------------------------------------------
    async def handle_request(self, incoming: IncomingRequest) -> None:
        method = incoming.request.method
        self.counts[f"received_{method}"] += 1
        if method != "INVITE":
            incoming.respond(200)
            return
        assert self.endpoint is not None
        local = incoming.local
        sent_by = self.endpoint.sent_by(local, incoming.source)
        param = "" if local.transport == "udp" else f";transport={local.transport}"
        scheme = "sips" if local.transport == "tls" else "sip"
        contact = f"<{scheme}:app@{sent_by}{param}>"
        incoming.respond(180, headers=[("Contact", contact)])
        host = sent_by.rsplit(":", 1)[0].strip("[]")
        incoming.respond(
            200,
            headers=[("Contact", contact), ("Content-Type", "application/sdp")],
            body=sdp(host),
        )

    def handle_ack(self, request: Request, source: Address) -> None:
        self.counts["received_ACK"] += 1

    def handle_stray_response(self, response: Response, source: Address) -> None:
        self.counts["stray_responses"] += 1
        self.resend_ack(response)

    # -- UAC: §13.2.2.4, every retransmitted 2xx gets the ACK again ------------------------
    def resend_ack(self, response: Response) -> None:
        try:
            is_invite_2xx = 200 <= response.status_code < 300 and response.cseq.method == "INVITE"
            stored = self.acks.get(response.call_id) if is_invite_2xx else None
        except SipParseError:
            return
        if stored is None or self.endpoint is None:
            return
        ack, destination = stored
        self.counts["acks_resent"] += 1
        ack.headers.remove("Via")
        self.endpoint.send_ack(ack, destination)


# -- the UAC side ------------------------------------------------------------------------
def parse_target(text: str) -> Address:
    spec = parse_listen_spec(text)
    return Address(spec.transport, spec.host, spec.port)


def contact_destination(response: Response, transport: str) -> tuple[str, Address]:
    """The remote target of the dialog: the 2xx's Contact URI, and where to send to it."""
    uri = response.contacts[0].uri
    if not isinstance(uri, SipUri):
        raise SipParseError(f"the 2xx Contact is not a SIP URI: {uri}")
    port = uri.port or (5061 if transport == "tls" else 5060)
    return str(uri), Address(transport, uri.host.strip("[]"), port)


async def place_call(
    endpoint: Endpoint, agent: UserAgent, target: Address, number: int, hold: float
) -> bool:
    """One call: INVITE -> 2xx -> ACK -> (hold) -> BYE -> 200.  True when it all worked."""
    local = endpoint.transport.listener_for(target).local_address
    sent_by = endpoint.sent_by(local, target)
    host = f"[{target.host}]" if ":" in target.host else target.host
    param = "" if target.transport == "udp" else f";transport={target.transport}"
    from_ = f"<sip:app@{sent_by}>;tag={new_tag()}"
    call_id = new_call_id()
    request_uri = f"sip:service@{host}:{target.port}{param}"
    invite = Request(
        "INVITE",
        request_uri,
        [
            ("Max-Forwards", "70"),
            ("From", from_),
            ("To", f"<sip:service@{host}:{target.port}>"),
            ("Call-ID", call_id),
            ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:app@{sent_by}{param}>"),
            ("Content-Type", "application/sdp"),
        ],
        sdp(local.host),
    )
    client = endpoint.send_request(invite, target)
    client.on_late_response = agent.resend_ack
    final = await client.final_response()
    if not 200 <= final.status_code < 300:
        agent.counts[f"invite_failed_{final.status_code}"] += 1
        return False
    # §13.2.2.4: the ACK of a 2xx: Request-URI from the Contact, To with the tag of the
    # 2xx, the INVITE's CSeq number, a new branch (the endpoint adds the Via).
    remote_uri, remote = contact_destination(final, target.transport)
    to = final.headers.get("To") or ""
    dialog = [("Max-Forwards", "70"), ("From", from_), ("To", to), ("Call-ID", call_id)]
    routes = [str(r) for r in reversed(final.record_routes)]
    route_headers = [("Route", ", ".join(routes))] if routes else []
    ack = Request("ACK", remote_uri, [*dialog, *route_headers, ("CSeq", "1 ACK")])
    agent.acks[call_id] = (ack, remote)
    endpoint.send_ack(ack, remote)
    if hold > 0:
        await asyncio.sleep(hold)
    bye = Request("BYE", remote_uri, [*dialog, *route_headers, ("CSeq", "2 BYE")])
    bye_final = await endpoint.send_request(bye, remote).final_response()
    if bye_final.status_code != 200:
        agent.counts[f"bye_failed_{bye_final.status_code}"] += 1
        return False
    return True


async def run_uac(
    endpoint: Endpoint, agent: UserAgent, args: argparse.Namespace, stop: asyncio.Event
) -> bool:
    target = parse_target(args.uac)
    tasks: list[asyncio.Task[bool]] = []
    started = time.monotonic()
    for number in range(args.calls):
        due = started + number / args.rate
        delay = due - time.monotonic()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            break
        tasks.append(asyncio.create_task(place_call(endpoint, agent, target, number, args.hold)))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    ok = sum(1 for r in results if r is True)
    for r in results:
        if isinstance(r, BaseException):
            agent.counts[f"call_error_{type(r).__name__}"] += 1
    agent.counts["calls_placed"] = len(tasks)
    agent.counts["calls_successful"] = ok
    print(f"uac: {len(tasks)} calls placed, {ok} successful", flush=True)
    return bool(ok == args.calls)


# -- process plumbing ----------------------------------------------------------------------
def widen_udp_buffers(endpoint: Endpoint) -> None:
    """4 MiB socket buffers on the UDP listeners (the bursts of a load test)."""
    for listener in endpoint.transport.listeners:
        transport = getattr(listener, "_transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is None or listener.local_address.transport != "udp":
            continue
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)


def stats(endpoint: Endpoint, agent: UserAgent) -> dict[str, Any]:
    counters = endpoint.transactions.counters
    return {
        "transactions": {
            "created": dict(counters.created),
            "retransmissions": dict(counters.retransmissions),
            "timeouts": dict(counters.timeouts),
            "transport_errors": dict(counters.transport_errors),
            "stray_responses": counters.stray_responses,
            "unmatched_acks": counters.unmatched_acks,
        },
        "endpoint": asdict(endpoint.stats),
        "transport": asdict(endpoint.transport.stats),
        "app": dict(agent.counts),
    }


def build_config(args: argparse.Namespace, data_dir: Path) -> EndpointConfig:
    t1 = args.t1
    return EndpointConfig(
        transport=TransportConfig(
            listen=tuple(parse_listen_spec(spec) for spec in args.listen),
            tls=TlsConfig(data_dir=data_dir, verify_server=False),
        ),
        transactions=TransactionConfig(t1=t1, t2=max(t1, 8 * t1), t4=max(t1, 10 * t1)),
    )


async def main(args: argparse.Namespace, data_dir: Path) -> int:
    agent = UserAgent()
    endpoint = Endpoint(build_config(args, data_dir), agent)
    agent.endpoint = endpoint
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await endpoint.start()
    code = 0
    try:
        widen_udp_buffers(endpoint)
        print("listening on " + " ".join(str(a) for a in endpoint.listeners), flush=True)
        if args.uac:
            code = 0 if await run_uac(endpoint, agent, args, stop) else 1
        else:
            await stop.wait()
    finally:
        print("stats " + json.dumps(stats(endpoint, agent), sort_keys=True), flush=True)
        await endpoint.close()
    return code


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", action="append", required=True, help="udp:127.0.0.1:5060")
    parser.add_argument("--data-dir", type=Path, help="where the TLS certificate is generated")
    parser.add_argument("--uac", help="call this target (TRANSPORT:HOST:PORT) and exit")
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--rate", type=float, default=10.0, help="calls per second")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds between ACK and BYE")
    parser.add_argument("--t1", type=float, default=0.5, help="RFC 3261 T1 in seconds")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument(
        "--gc-off",
        action="store_true",
        help="disable the cyclic GC (benchmarks: shows what its full collections cost)",
    )
    return parser.parse_args(argv)


def run(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.gc_off:
        gc.disable()
    else:
        tune_garbage_collector()  # as `sipline serve` does
    if args.uvloop and not use_uvloop():
        print("uvloop is not installed", file=sys.stderr)
        return 2
    if args.data_dir is not None:
        return asyncio.run(main(args, args.data_dir))
    with tempfile.TemporaryDirectory(prefix="endpoint-app-") as tmp:
        return asyncio.run(main(args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
