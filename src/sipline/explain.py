"""Explain a SIP message line by line, the way a teacher annotates a trace.

``explain_message`` pairs each line of the message (start line, each header
line, each SDP line) with one sentence on what it does *in this message*:
the values are read from the message itself, not recited from the RFC.
"""

from __future__ import annotations

from collections.abc import Callable

from sipline.sip import (
    DigestChallenge,
    Request,
    Response,
    SipParseError,
    header_key,
    parse_authorization,
    parse_name_addr,
    parse_name_addr_list,
    parse_via_list,
)

Explainer = Callable[[Request | Response, str], str]

METHODS = {
    "INVITE": "asks the callee to join a call (a session); the SDP body offers the media",
    "ACK": "confirms the final response to an INVITE (the third step of the INVITE handshake)",
    "BYE": "hangs up the call this dialog carries",
    "CANCEL": "withdraws a pending INVITE that has not been answered yet",
    "REGISTER": "tells the registrar where this user can be reached (binds the AOR to the Contact)",
    "OPTIONS": "asks what the other side supports (also used as a keep-alive ping)",
    "PRACK": "acknowledges a reliable provisional response (RFC 3262)",
    "UPDATE": "changes the session (e.g. media) before or after the answer (RFC 3311)",
    "INFO": "carries application data inside the call, e.g. DTMF digits (RFC 6086)",
    "MESSAGE": "carries an instant message (RFC 3428)",
    "REFER": "asks the recipient to call a third party: a transfer (RFC 3515)",
    "NOTIFY": "reports the state of a subscription, e.g. transfer progress (RFC 6665)",
    "SUBSCRIBE": "asks to be notified of state changes, e.g. presence or voicemail (RFC 6665)",
    "PUBLISH": "publishes event state, e.g. presence, to a server (RFC 3903)",
}

STATUS_CLASSES = {
    1: "a provisional response: the request is being processed, more will follow",
    2: "a success: the request was accepted",
    3: "a redirection: the target is to be tried elsewhere",
    4: "a client error: this request cannot be fulfilled as sent",
    5: "a server error: the server failed to fulfil a valid request",
    6: "a global failure: no server anywhere will fulfil it",
}

STATUS_MEANINGS = {
    100: "the next hop received the request and is working on it; it stops retransmissions over UDP",
    180: "the callee's phone is ringing",
    183: "session progress: early media (ringback tone or announcement) may flow using the SDP",
    200: "OK: the request succeeded",
    401: "the registrar or UAS asks the sender to authenticate (WWW-Authenticate challenge)",
    403: "forbidden: typically a wrong password, or the user may not do this",
    404: "the called user or number does not exist here",
    407: "the proxy or softswitch asks the caller to authenticate (Proxy-Authenticate challenge)",
    408: "no response in time from the target",
    423: "the registration interval is too short; Min-Expires says the minimum",
    480: "the callee is temporarily unavailable (not registered, or did not answer)",
    481: "the dialog or transaction this request refers to does not exist",
    486: "the callee is busy",
    487: "the INVITE was cancelled before it was answered",
    488: "the offered media (codecs) are not acceptable",
    500: "the server hit an internal error",
    503: "the server or the next hop is unavailable or overloaded",
}


def explain_message(message: Request | Response) -> list[tuple[str, str]]:
    """One ``(line, explanation)`` pair per line of the message, SDP included."""
    lines: list[tuple[str, str]] = []
    if isinstance(message, Request):
        start = f"{message.method} {message.uri} {message.version}"
        what = METHODS.get(message.method, "a request of a method this explainer does not know")
        lines.append((start, f"{message.method} {what}; it is addressed to {message.uri}."))
    else:
        start = f"{message.version} {message.status_code} {message.reason}"
        meaning = STATUS_MEANINGS.get(message.status_code) or STATUS_CLASSES.get(
            message.status_code // 100, "an unusual status code"
        )
        lines.append(
            (start, f"Response {message.status_code} to {_cseq_text(message)}: {meaning}.")
        )
    for name, value in message.headers:
        lines.append((f"{name}: {value}", _explain_header(message, name, value)))
    if message.body and (message.content_type or "") == "application/sdp":
        sdp_lines = message.body.decode("utf-8", "replace").splitlines()
        lines.extend((line, explain_sdp_line(line)) for line in sdp_lines if line)
    elif message.body:
        lines.append(
            (
                f"<{len(message.body)} bytes of {message.content_type or 'untyped'} body>",
                "The message body.",
            )
        )
    return lines


def _cseq_text(message: Request | Response) -> str:
    try:
        return f"the {message.cseq.method} (CSeq {message.cseq.number})"
    except SipParseError:
        return "a request"


def _explain_header(message: Request | Response, name: str, value: str) -> str:
    try:
        key = header_key(name)
    except SipParseError:
        return "A header line whose name is not a valid token."
    explainer = HEADER_EXPLAINERS.get(key)
    try:
        if explainer is not None:
            return explainer(message, value)
    except SipParseError as exc:
        return f"Malformed {name} header: {exc.reason}."
    if key.startswith("x-"):
        return f"A private extension header ({name}); SIP elements that do not know it pass it on untouched."
    return f"The {name} header (not explained here); elements that do not know a header ignore it."


def _via(message: Request | Response, value: str) -> str:
    vias = parse_via_list(value)
    via = vias[0]
    where = f"{via.host}:{via.port or 5060} over {via.transport}"
    parts = []
    if isinstance(message, Request):
        parts.append(f"The request passed through {where}; responses retrace this path")
    else:
        parts.append(f"Copied from the request: this response goes back to {where}")
    if via.branch:
        cookie = (
            " (the z9hG4bK cookie marks an RFC 3261 branch)"
            if via.branch.startswith("z9hG4bK")
            else ""
        )
        parts.append(f"branch {via.branch} names the transaction{cookie}")
    if via.received:
        parts.append(f"received={via.received} is the address the server actually saw")
    if via.rport is not None:
        parts.append(
            f"rport={via.rport} is the source port the server saw, where it sends the answer (RFC 3581)"
        )
    elif via.has_rport:
        parts.append(
            "an empty rport asks the server to answer to the source port it sees (RFC 3581, NAT)"
        )
    if len(vias) > 1:
        parts.append(f"{len(vias) - 1} more hop(s) in the same header")
    return "; ".join(parts) + "."


def _from(message: Request | Response, value: str) -> str:
    na = parse_name_addr(value, header="From")
    who = f'"{na.display_name}" ' if na.display_name else ""
    tag = (
        f"; tag {na.tag} is the caller's half of the dialog identifier"
        if na.tag
        else "; no tag (an RFC 2543 peer)"
    )
    return f"The logical sender: {who}{na.uri}{tag}."


def _to(message: Request | Response, value: str) -> str:
    na = parse_name_addr(value, header="To")
    who = f'"{na.display_name}" ' if na.display_name else ""
    if na.tag:
        tag = f"; tag {na.tag} is the answering side's half of the dialog identifier"
    elif isinstance(message, Request):
        tag = "; no tag yet: this request starts a new dialog or stands alone"
    else:
        tag = "; no tag: a 100 Trying, or the answering side has not created a dialog"
    if isinstance(message, Request) and message.method == "REGISTER":
        return f"The address-of-record being registered: {na.uri}{tag}."
    return f"The logical recipient: {who}{na.uri}{tag}."


def _call_id(message: Request | Response, value: str) -> str:
    return f"Call-ID {value} groups every message of this call (or registration); with the tags it identifies the dialog."


def _cseq(message: Request | Response, value: str) -> str:
    cseq = message.cseq
    if isinstance(message, Response):
        return f"Copied from the request: this answers {cseq.method} number {cseq.number}."
    if cseq.method in ("ACK", "CANCEL"):
        return f"{cseq.method} reuses the sequence number {cseq.number} of the INVITE it refers to."
    return f"Request number {cseq.number} from this sender in this dialog; a retry (after a challenge) increments it."


def _max_forwards(message: Request | Response, value: str) -> str:
    return f"At most {message.max_forwards} more hops may forward this request; each proxy decrements it, 0 ends in 483 Too Many Hops."


def _contact(message: Request | Response, value: str) -> str:
    contacts = parse_name_addr_list(value, header="Contact")
    if contacts and contacts[0].is_star:
        return "Contact * (with Expires: 0) removes every binding of this address-of-record."
    uris = ", ".join(str(c.uri) for c in contacts)
    if isinstance(message, Request) and message.method == "REGISTER":
        expires = [c.expires for c in contacts if c.expires is not None]
        extra = f" for {expires[0]} seconds" if expires else ""
        return f"Where the user can be reached: the registrar binds the AOR to {uris}{extra}."
    if isinstance(message, Response) and message.cseq.method == "REGISTER":
        return f"A current binding of this AOR: {uris} (expires= says how long it remains)."
    return f"Where the sender wants to receive later requests of this dialog (the remote target): {uris}."


def _expires(message: Request | Response, value: str) -> str:
    if value.strip() == "0":
        return "Expires 0: remove the binding (unregister) or end the subscription now."
    return f"The registration or subscription lasts {value.strip()} seconds unless refreshed."


def _challenge(message: Request | Response, value: str) -> str:
    challenge = DigestChallenge.parse(value)
    qop = f", qop {'/'.join(challenge.qop)}" if challenge.qop else ""
    stale = (
        " stale=true: the nonce expired, the phone retries silently with the same password;"
        if challenge.stale
        else ""
    )
    return (
        f"A digest challenge: realm {challenge.realm}, nonce {challenge.nonce}, algorithm "
        f"{challenge.algorithm}{qop};{stale} the client must repeat the request with credentials "
        "computed from its password."
    )


def _credentials(message: Request | Response, value: str) -> str:
    credentials = parse_authorization(value)
    if credentials is None:
        return "Credentials of a scheme other than Digest; a SIP registrar ignores them."
    return (
        f"{credentials.username}'s answer to the challenge for realm {credentials.realm}: response "
        f"{credentials.response} is a {credentials.algorithm or 'MD5'} hash of the password, the nonce and "
        f"the request ({credentials.uri}); the password itself never crosses the network."
    )


def _route(message: Request | Response, value: str) -> str:
    return f"The request must pass through {value} before reaching its target (a pre-loaded or recorded route)."


def _record_route(message: Request | Response, value: str) -> str:
    return f"A proxy ({value}) asks to stay on the path of every later request of this dialog."


def _simple(text: str) -> Explainer:
    def explain(message: Request | Response, value: str) -> str:
        return text.format(value=value)

    return explain


HEADER_EXPLAINERS: dict[str, Explainer] = {
    "via": _via,
    "from": _from,
    "to": _to,
    "call-id": _call_id,
    "cseq": _cseq,
    "max-forwards": _max_forwards,
    "contact": _contact,
    "expires": _expires,
    "www-authenticate": _challenge,
    "proxy-authenticate": _challenge,
    "authorization": _credentials,
    "proxy-authorization": _credentials,
    "route": _route,
    "record-route": _record_route,
    "content-length": _simple(
        "The body is {value} bytes long; on TCP this is how the message end is found."
    ),
    "content-type": _simple(
        "The body is {value} (application/sdp: a session description of the media)."
    ),
    "allow": _simple("The methods the sender accepts: {value}."),
    "supported": _simple("SIP extensions the sender supports: {value}."),
    "require": _simple("Extensions the receiver must support to process this request: {value}."),
    "user-agent": _simple("The sender's software: {value}."),
    "server": _simple("The answering server's software: {value}."),
    "allow-events": _simple("Event packages the sender accepts SUBSCRIBE/NOTIFY for: {value}."),
    "accept": _simple("Body types the sender can read: {value}."),
    "date": _simple(
        "The sender's clock ({value}); phones may set their time from a registrar's Date."
    ),
    "min-expires": _simple(
        "The shortest registration interval the registrar accepts: {value} seconds."
    ),
    "reason": _simple(
        "Why the call ended or the request failed: {value} (RFC 3326; Q.850 cause codes)."
    ),
    "remote-party-id": _simple("Caller (or callee) identity for display: {value}."),
    "p-asserted-identity": _simple("The identity the network vouches for (RFC 3325): {value}."),
    "content-disposition": _simple("How to treat the body: {value}."),
    "session-expires": _simple(
        "Session timer (RFC 4028): refresh the session within {value} seconds or it ends."
    ),
    "min-se": _simple("The smallest session timer interval accepted: {value} seconds."),
    "event": _simple("The event package this SUBSCRIBE/NOTIFY is about: {value}."),
    "subscription-state": _simple("State of the subscription: {value}."),
    "refer-to": _simple("The party the recipient is asked to call (transfer target): {value}."),
    "referred-by": _simple("Who asked for this transfer: {value}."),
    "replaces": _simple(
        "This call replaces the existing dialog {value} (attended transfer, RFC 3891)."
    ),
    "rack": _simple("Acknowledges the reliable provisional response {value} (RFC 3262)."),
    "rseq": _simple("Sequence number {value} of this reliable provisional response (RFC 3262)."),
    "unsupported": _simple("Extensions the receiver does not support: {value}."),
    "warning": _simple("Extra detail about the failure: {value}."),
    "retry-after": _simple("Try again after {value} seconds."),
    "timestamp": _simple("When the request was sent ({value}), echoed to measure round-trip time."),
    "subject": _simple("The call's subject: {value}."),
    "organization": _simple("The sender's organization: {value}."),
    "path": _simple(
        "A proxy on the registration path to keep for calls to this contact (RFC 3327): {value}."
    ),
}

SDP_FIELDS = {
    "v": "SDP version {rest}.",
    "o": "Origin: creator, session id and version (the version increases when the session changes): {rest}.",
    "s": "Session name: {rest}.",
    "i": "Session information: {rest}.",
    "c": "Connection address: media is to be sent to {rest} (a private address here across NAT means one-way audio).",
    "b": "Bandwidth: {rest}.",
    "t": "Time the session is active ({rest}; 0 0 means unbounded).",
    "k": "Encryption key: {rest}.",
}

SDP_ATTRIBUTES = {
    "rtpmap": "Payload type mapping: {rest} (payload type, codec name and clock rate).",
    "fmtp": "Format parameters for a codec: {rest}.",
    "ptime": "Packet duration: {rest} ms of audio per RTP packet.",
    "maxptime": "Longest packet duration accepted: {rest} ms.",
    "sendrecv": "Media flows both ways.",
    "sendonly": "The sender only sends media: the other side is put on hold.",
    "recvonly": "The sender only receives media.",
    "inactive": "No media flows in either direction (both on hold).",
    "rtcp": "RTCP (media statistics) uses {rest} instead of the RTP port + 1.",
    "rtcp-mux": "RTP and RTCP share one port.",
    "candidate": "An ICE candidate address for the media: {rest}.",
    "ice-ufrag": "ICE credentials (user fragment).",
    "ice-pwd": "ICE credentials (password).",
    "crypto": "SRTP keying (RFC 4568): {rest}.",
    "fingerprint": "DTLS-SRTP certificate fingerprint: {rest}.",
    "setup": "DTLS role: {rest}.",
    "mid": "Media stream identifier: {rest}.",
    "silenceSupp": "Silence suppression setting: {rest}.",
}


def explain_sdp_line(line: str) -> str:
    """One sentence on an SDP line (RFC 8866)."""
    kind, _, rest = line.partition("=")
    if kind == "m":
        parts = rest.split()
        if len(parts) >= 3:
            formats = " ".join(parts[3:])
            return (
                f"Media stream: {parts[0]} on port {parts[1]} over {parts[2]}, payload types in order of "
                f"preference: {formats} (port 0 declines the stream)."
            )
        return f"Media description: {rest}."
    if kind == "a":
        name, _, value = rest.partition(":")
        template = SDP_ATTRIBUTES.get(name)
        if template is not None:
            return template.format(rest=value)
        return f"Media attribute {name}" + (f": {value}." if value else ".")
    template = SDP_FIELDS.get(kind)
    if template is not None:
        return template.format(rest=rest)
    return "An SDP line of an unknown type."
