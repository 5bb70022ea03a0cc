"""Prometheus metrics (``/metrics``), read from the live counters at scrape time.

Nothing is counted twice: the collector reads the counters the layers already keep
(``TransactionLayer.counters``, ``TransportLayer.stats``, ``Endpoint.stats``, the
store) plus the ones below.  :class:`WireCounter` is a transport trace sink
(STYLE.md convention 10) that counts requests by method and responses by status
code as they cross the wire.  Every server has its own ``CollectorRegistry``.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sipline.sip import Address
from sipline.transport import Direction

if TYPE_CHECKING:
    from sipline.admin._context import AdminContext

__all__ = ["CallRate", "SiplineCollector", "WireCounter", "make_registry"]


class WireCounter:
    """A trace sink counting SIP requests by method and responses by status code.

    Reads only the start line (and the CSeq method of responses), so it costs a
    ``split`` per message.  Unreadable start lines are left to the parser's counters.
    """

    __slots__ = ("requests", "responses")

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str]] = Counter()  # (direction, method)
        self.responses: Counter[tuple[str, str]] = Counter()  # (direction, code)

    def __call__(
        self,
        direction: Direction,
        transport: str,
        local: Address,
        remote: Address,
        timestamp: float,
        data: bytes,
        /,
    ) -> None:
        line = data[:200].split(b"\r\n", 1)[0]
        if line.startswith(b"SIP/2.0 "):
            code = line[8:11]
            if code.isdigit():
                self.responses[direction, code.decode("ascii")] += 1
            return
        method, _, rest = line.partition(b" ")
        # RFC 3261 §7.1: Method SP Request-URI SP SIP-Version
        if rest.endswith(b" SIP/2.0") and method.isalpha() and len(method) <= 20:
            self.requests[direction, method.decode("ascii").upper()] += 1


class CallRate:
    """Calls started per second over the last ``window`` seconds, from samples of the
    running total of started calls (ended + active)."""

    def __init__(self, window: float = 10.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def sample(self, now: float, started_total: int) -> None:
        self._samples.append((now, started_total))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()

    def per_second(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (first_time, first), (last_time, last) = self._samples[0], self._samples[-1]
        elapsed = last_time - first_time
        return (last - first) / elapsed if elapsed > 0 else 0.0


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class SiplineCollector(Collector):
    """Reads one server's counters each time Prometheus scrapes."""

    def __init__(self, context: AdminContext) -> None:
        self.context = context

    def collect(self) -> Iterator[Metric]:
        yield from self._store_metrics()
        yield from self._call_metrics()
        yield from self._wire_metrics()
        yield from self._transaction_metrics()
        yield from self._transport_metrics()
        yield from self._auth_metrics()
        yield from self._media_metrics()

    def _store_metrics(self) -> Iterator[Metric]:
        store = self.context.server.store
        if store is None:
            return
        bindings = store.all_bindings(time.time())
        yield _gauge("sipline_registrations", "Registered contacts (bindings)", len(bindings))
        yield _gauge(
            "sipline_registered_aors",
            "Addresses-of-record with at least one contact",
            len({b.aor for b in bindings}),
        )
        yield _gauge("sipline_users", "Local users", store.count_users())

    def _call_metrics(self) -> Iterator[Metric]:
        calls = self.context.calls
        active = calls.active_calls() if calls is not None else []
        yield _gauge("sipline_active_calls", "Calls in progress", len(active))
        yield _gauge(
            "sipline_calls_per_second",
            f"Calls started per second over the last {self.context.rate.window:g} s",
            self.context.rate.per_second(),
        )
        family = CounterMetricFamily("sipline_calls", "Ended calls by result", labels=["result"])
        if calls is not None:
            for result, count in sorted(calls.results().items()):
                family.add_metric([result], count)
        yield family

    def _wire_metrics(self) -> Iterator[Metric]:
        wire = self.context.wire
        requests = CounterMetricFamily(
            "sipline_sip_requests",
            "SIP requests by direction and method",
            labels=["direction", "method"],
        )
        for (direction, method), count in sorted(wire.requests.items()):
            requests.add_metric([direction, method], count)
        yield requests
        responses = CounterMetricFamily(
            "sipline_sip_responses",
            "SIP responses by direction and status code",
            labels=["direction", "code"],
        )
        for (direction, code), count in sorted(wire.responses.items()):
            responses.add_metric([direction, code], count)
        yield responses
        challenges = sum(
            n for (d, code), n in wire.responses.items() if d == "send" and code in ("401", "407")
        )
        yield _counter("sipline_auth_challenges", "401/407 digest challenges sent", challenges)

    def _transaction_metrics(self) -> Iterator[Metric]:
        endpoint = self.context.server.endpoint
        if endpoint is None:
            return
        counters = endpoint.transactions.counters
        for name, table, text in (
            ("sipline_transactions", counters.created, "Transactions created, by kind"),
            ("sipline_transactions_terminated", counters.terminated, "Transactions ended, by kind"),
            (
                "sipline_retransmissions",
                counters.retransmissions,
                "Retransmissions sent, by transaction kind",
            ),
            (
                "sipline_transaction_timeouts",
                counters.timeouts,
                "Transactions timed out (timers B/F/H/...), by kind",
            ),
        ):
            family = CounterMetricFamily(name, text, labels=["kind"])
            for kind, count in sorted(table.items()):
                family.add_metric([kind], count)
            yield family
        yield _counter(
            "sipline_stray_responses", "Responses no transaction matched", counters.stray_responses
        )
        yield _counter(
            "sipline_stateless_answers",
            "Requests answered without a transaction (REGISTER challenges, RFC 3261 8.2.7)",
            endpoint.stats.answered_statelessly,
        )

    def _transport_metrics(self) -> Iterator[Metric]:
        endpoint = self.context.server.endpoint
        if endpoint is None:
            return
        stats = endpoint.transport.stats
        yield _counter("sipline_messages_received", "SIP messages received", stats.received)
        yield _counter("sipline_messages_sent", "SIP messages sent", stats.sent)
        yield _counter(
            "sipline_parse_errors",
            "Unparsable messages: answered with 400, dropped, or closing a stream on a framing error",
            stats.parse_errors + stats.dropped + stats.framing_errors,
        )
        yield _counter(
            "sipline_bad_requests_answered",
            "Unparsable requests answered with 400",
            endpoint.stats.bad_requests_answered,
        )
        yield _counter("sipline_send_errors", "Messages that could not be sent", stats.send_errors)
        yield _gauge(
            "sipline_connections_open",
            "Open TCP/TLS/WS connections",
            stats.connections_opened - stats.connections_closed,
        )

    def _auth_metrics(self) -> Iterator[Metric]:
        auth = self.context.auth_stats
        if auth is None:
            return
        yield _counter("sipline_auth_failures", "Failed digest authentications", auth.failures)
        yield _counter(
            "sipline_auth_blocks", "Sources blocked by the brute-force guard", auth.blocks
        )

    def _media_metrics(self) -> Iterator[Metric]:
        media = self.context.media_stats
        if media is None:
            return
        yield _counter("sipline_rtp_relayed_packets", "RTP packets relayed", media.packets_relayed)
        yield _counter(
            "sipline_rtp_lost_packets", "RTP packets lost (by sequence number)", media.packets_lost
        )
        yield _gauge("sipline_rtp_sessions", "Active RTP relay sessions", media.active_sessions)


def make_registry(context: AdminContext) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SiplineCollector(context))
    return registry
