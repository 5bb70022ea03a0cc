"""The application's view of one request: received (``IncomingRequest``) or sent
(``ClientRequest``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING

from sipline.sip import Address, Request, Response, make_response, new_tag, reason_phrase
from sipline.transaction import ClientTransaction, ServerTransaction

if TYPE_CHECKING:
    from sipline.endpoint._endpoint import Endpoint


class IncomingRequest:
    """A request received in its server transaction, waiting for the application's answer.

    ``respond()`` sends provisional and final responses (one To tag for all of them).
    ``cancelled`` is set when a CANCEL for this INVITE arrived; ``on_cancel``
    (when set by the application) is called then.
    """

    __slots__ = (
        "_endpoint",
        "cancelled",
        "final",
        "local",
        "on_ack_timeout",
        "on_cancel",
        "request",
        "response_destination",
        "source",
        "to_tag",
        "transaction",
    )

    def __init__(
        self,
        endpoint: Endpoint,
        request: Request,
        source: Address,
        local: Address,
        transaction: ServerTransaction,
        response_destination: Address,
    ) -> None:
        self._endpoint = endpoint
        self.request = request
        self.source = source
        self.local = local
        self.transaction = transaction
        self.response_destination = response_destination
        self.to_tag = request.to.tag or new_tag()
        self.final: Response | None = None
        self.cancelled = False
        self.on_cancel: Callable[[IncomingRequest], None] | None = None
        self.on_ack_timeout: Callable[[IncomingRequest], None] | None = None

    @property
    def in_dialog(self) -> bool:
        return self.request.to.tag is not None

    def make_response(
        self,
        status_code: int,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> Response:
        return make_response(
            self.request, status_code, reason, to_tag=self.to_tag, headers=headers, body=body
        )

    def respond(
        self,
        status_code: int,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> Response:
        """Build and send a response; returns it.  A second final response is ignored."""
        response = self.make_response(status_code, reason, headers=headers, body=body)
        self.send(response)
        return response

    def send(self, response: Response) -> None:
        if self.final is not None:
            return
        if response.status_code >= 200:
            self.final = response
        self._endpoint.send_response(self, response)

    def forward(self, response: Response) -> None:
        """Relay a downstream response (a proxy, RFC 3261 §16.7 step 9).

        Every 2xx to an INVITE goes up, even after the first: the later ones are
        sent without the transaction, which has ended (§16.7 step 5).
        """
        if self.final is not None:
            if self.request.method == "INVITE" and 200 <= response.status_code < 300:
                self._endpoint.send_stateless(response, self.response_destination)
            return
        if response.status_code >= 200:
            self.final = response
        self._endpoint.send_response(self, response, forwarded=True)


class ClientRequest:
    """A request the application sent; iterate it for the responses as they come.

    ``async for response in client`` yields provisional responses and ends with the
    final one; ``await client.final_response()`` waits for the final one only.  A
    timeout or a transport failure gives a synthesized ``408`` or ``503`` final
    response (with a ``Reason``-free header set copied from the request).  2xx
    responses that come after the final one (retransmissions, other forks) go to
    ``on_late_response`` when set.
    """

    __slots__ = (
        "_attempt",
        "_endpoint",
        "_queue",
        "cancel_requested",
        "destination",
        "final",
        "on_late_response",
        "provisional",
        "request",
        "transaction",
    )

    def __init__(self, endpoint: Endpoint, request: Request) -> None:
        self._endpoint = endpoint
        self.request = request
        self.transaction: ClientTransaction | None = None
        self.destination: Address | None = None
        self.final: Response | None = None
        self.provisional: Response | None = None
        self.cancel_requested = False
        self.on_late_response: Callable[[Response], None] | None = None
        self._queue: asyncio.Queue[Response] = asyncio.Queue()
        #: Set while another target may be tried after a timeout or a 503 (RFC 3263 §4.3).
        self._attempt: asyncio.Future[Response] | None = None

    def deliver(self, response: Response, *, synthesized: bool = False) -> None:
        if self.final is not None:
            if self.on_late_response is not None:
                self.on_late_response(response)
            return
        attempt = self._attempt
        retryable = synthesized or response.status_code == 503
        if retryable and attempt is not None and not attempt.done():
            attempt.set_result(response)  # the endpoint tries the next target
            return
        if response.status_code >= 200:
            self.final = response
            if attempt is not None and not attempt.done():
                attempt.set_result(response)  # done: no other target is tried
        else:
            self.provisional = response
        self._queue.put_nowait(response)

    def fail(self, status_code: int, reason: str | None = None) -> None:
        """Finish with a synthesized final response (timeout, transport failure)."""
        if self.final is None:
            response = make_response(
                self.request, status_code, reason or reason_phrase(status_code)
            )
            self.deliver(response, synthesized=True)

    def next_attempt(self) -> asyncio.Future[Response]:
        """A future for the retryable failure of the next target's attempt."""
        self._attempt = asyncio.get_running_loop().create_future()
        return self._attempt

    def last_attempt(self) -> None:
        self._attempt = None

    async def __aiter__(self) -> AsyncIterator[Response]:
        while True:
            response = await self._queue.get()
            yield response
            if response.status_code >= 200:
                return

    async def final_response(self) -> Response:
        async for response in self:
            if response.status_code >= 200:
                return response
        raise AssertionError("unreachable: the iteration ends with a final response")

    def cancel(self, reason: str | None = None) -> None:
        """Send CANCEL (now, or when the first provisional response comes)."""
        if self.request.method != "INVITE" or self.cancel_requested:
            return
        self.cancel_requested = True
        self._endpoint.cancel_request(self, reason)
