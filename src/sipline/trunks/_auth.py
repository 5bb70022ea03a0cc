"""Answering a provider's digest challenges for the requests of one dialog.

The flow of a phone (a Sipura/SPA, X-Lite) calling through a provider that
authenticates it: the INVITE gets 407 (the transaction ACKs it, RFC 3261 §17.1.1.3),
the INVITE goes again with ``Proxy-Authorization`` (same Call-ID and From tag,
CSeq + 1, §22.2), and the dialog's later requests (BYE, re-INVITE) carry
credentials for the same challenge at once, with the nonce count increased
(RFC 7616 §3.4.5), instead of waiting to be challenged again.

- ``DigestCache``: the challenges of one dialog and the account that answers them.
- ``authorized_retry``: the request to send again after a 401/407.
- ``AuthenticatedClient``: a ``ClientRequest`` that does that retry once by itself.
- ``TrunkDialogSet`` / ``TrunkDialog``: the dialogs of such an INVITE, whose requests
  get credentials from the cache.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable

from sipline.dialog import Dialog, DialogSet
from sipline.endpoint import ClientRequest, Endpoint
from sipline.sip import (
    Address,
    DigestChallenge,
    Request,
    Response,
    SipParseError,
    make_credentials,
    make_response,
)

__all__ = [
    "AuthenticatedClient",
    "DigestCache",
    "TrunkDialog",
    "TrunkDialogSet",
    "authorized_retry",
]

_CHALLENGE_HEADERS = {401: "WWW-Authenticate", 407: "Proxy-Authenticate"}
_CREDENTIAL_HEADERS = {401: "Authorization", 407: "Proxy-Authorization"}


class DigestCache:
    """The challenges a provider gave in one dialog, answered for each later request."""

    __slots__ = ("_challenges", "password", "realm", "username")

    def __init__(self, username: str, password: str, realm: str | None = None) -> None:
        self.username = username
        self.password = password
        self.realm = realm  # only this realm's challenges are answered (None: any)
        #: credentials header name -> [challenge, nonce count used so far]
        self._challenges: dict[str, tuple[DigestChallenge, int]] = {}

    def __bool__(self) -> bool:
        return bool(self._challenges)

    def learn(self, response: Response) -> bool:
        """Keep the challenges of a 401/407; False when there is none we can answer."""
        status = response.status_code
        header = _CHALLENGE_HEADERS.get(status)
        if header is None or not self.username:
            return False
        learned = False
        for value in response.headers.get_all(header):
            try:
                challenge = DigestChallenge.parse(value, header=header)
            except SipParseError:
                continue  # another scheme, or malformed: try the next one
            if self.realm is not None and challenge.realm != self.realm:
                continue
            self._challenges[_CREDENTIAL_HEADERS[status]] = (challenge, 0)
            learned = True
            break
        return learned

    def authorize(self, request: Request) -> None:
        """Put credentials for every known challenge in ``request`` (replacing old ones)."""
        for name, (challenge, count) in list(self._challenges.items()):
            count += 1
            self._challenges[name] = (challenge, count)
            credentials = make_credentials(
                challenge,
                username=self.username,
                password=self.password,
                method=request.method,
                uri=request.uri,
                body=request.body,
                nc=count,
            )
            request.headers.remove(name)
            request.headers.add(name, str(credentials))


def authorized_retry(request: Request, response: Response, cache: DigestCache) -> Request | None:
    """§22.2: ``request`` again with credentials for the challenge in ``response``
    (same Call-ID, From tag and body, CSeq + 1, no Via); None when it cannot be answered.
    """
    if not cache.learn(response):
        return None
    headers = [(name, value) for name, value in request.headers if name.lower() not in ("via", "v")]
    retry = Request(request.method, request.uri, headers, request.body)
    cseq = request.cseq
    retry.headers.set("CSeq", f"{cseq.number + 1} {cseq.method}")
    cache.authorize(retry)
    return retry


class AuthenticatedClient(ClientRequest):
    """A request sent through the endpoint that answers one 401/407 by itself.

    Iterating it gives the responses of the first attempt, except its challenge,
    then those of the authorized retry.  A challenge that cannot be answered (no
    account, other realm, the retry challenged again) ends it with a 403, so a
    route goes on to its next target rather than asking the caller for credentials.
    ``on_resend`` is told of the retry (the b-leg keeps its request and CSeq).
    """

    __slots__ = ("_cache", "_inner", "_on_resend", "_resent", "_target")

    def __init__(
        self,
        endpoint: Endpoint,
        request: Request,
        destination: Address | None,
        cache: DigestCache,
        *,
        on_resend: Callable[[Request], None] | None = None,
    ) -> None:
        super().__init__(endpoint, request)
        self._cache = cache
        self._target = destination
        self._on_resend = on_resend
        self._resent = False
        self._inner = self._send(request)

    def _send(self, request: Request) -> ClientRequest:
        inner = self._endpoint.send_request(request, self._target)
        inner.on_late_response = self._late_response
        return inner

    def _late_response(self, response: Response) -> None:
        if self.on_late_response is not None:
            self.on_late_response(response)

    async def __aiter__(self) -> AsyncIterator[Response]:
        while True:
            retry: Request | None = None
            async for response in self._inner:
                self.destination = self._inner.destination
                self.transaction = self._inner.transaction
                if response.status_code in _CHALLENGE_HEADERS:
                    retry = self._retry_for(response)
                    if retry is not None:
                        continue  # the inner request ends with this final response
                    response = self._refused(response)
                if response.status_code >= 200:
                    self.final = response
                else:
                    self.provisional = response
                yield response
            if retry is None:
                return
            self._resent = True
            self.request = retry
            if self._on_resend is not None:
                self._on_resend(retry)
            self._inner = self._send(retry)

    def _retry_for(self, response: Response) -> Request | None:
        if self._resent or self.cancel_requested:
            return None
        return authorized_retry(self.request, response, self._cache)

    def _refused(self, response: Response) -> Response:
        if self.cancel_requested:
            return response
        return make_response(self.request, 403, "Forbidden (the provider refused our credentials)")

    def cancel(self, reason: str | None = None) -> None:
        if self.request.method != "INVITE" or self.cancel_requested:
            return
        self.cancel_requested = True
        self._inner.cancel(reason)


class TrunkDialog(Dialog):
    """A dialog with a provider: its requests carry the cached credentials (the SPA flow)."""

    __slots__ = ("cache",)

    cache: DigestCache

    @classmethod
    def upgrade(cls, dialog: Dialog, cache: DigestCache) -> TrunkDialog:
        out = cls(
            call_id=dialog.call_id,
            local_tag=dialog.local_tag,
            remote_tag=dialog.remote_tag,
            local_header=dialog.local_header,
            remote_header=dialog.remote_header,
            local_seq=dialog.local_seq,
            remote_seq=dialog.remote_seq,
            remote_target=dialog.remote_target,
            route_set=dialog.route_set,
            secure=dialog.secure,
            local_contact=dialog.local_contact,
            state=dialog.state,
        )
        out.cache = cache
        return out

    def create_request(
        self,
        method: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        max_forwards: int = 70,
    ) -> Request:
        request = super().create_request(
            method,
            headers=headers,
            body=body,
            content_type=content_type,
            max_forwards=max_forwards,
        )
        self.cache.authorize(request)
        return request


class TrunkDialogSet(DialogSet):
    """The dialogs of an INVITE sent to a provider, as ``TrunkDialog``s."""

    __slots__ = ("cache",)

    def __init__(
        self, request: Request, cache: DigestCache, *, local_contact: str | None = None
    ) -> None:
        super().__init__(request, local_contact=local_contact)
        self.cache = cache

    def dialog_for_response(self, response: Response) -> Dialog | None:
        dialog = super().dialog_for_response(response)
        if dialog is None or isinstance(dialog, TrunkDialog):
            return dialog
        upgraded = TrunkDialog.upgrade(dialog, self.cache)
        self.dialogs[dialog.remote_tag] = upgraded
        return upgraded
