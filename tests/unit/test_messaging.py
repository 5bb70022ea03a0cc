"""The MESSAGE relay's copies and failure ranking (RFC 3428, RFC 3261 §16.7)."""

from __future__ import annotations

from sipline.messaging import best_status, message_for_binding
from sipline.sip import Address, Request, parse_message
from sipline.store import Binding


def sent() -> Request:
    message = parse_message(
        b"MESSAGE sip:1001@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKm1\r\nMax-Forwards: 10\r\n"
        b"From: <sip:1000@example.com>;tag=f1\r\nTo: <sip:1001@example.com>\r\n"
        b"Call-ID: chat-1\r\nCSeq: 7 MESSAGE\r\nContent-Type: text/plain\r\n"
        b'Proxy-Authorization: Digest username="1000"\r\nSubject: hi\r\n'
        b"Content-Length: 5\r\n\r\nhello"
    )
    assert isinstance(message, Request)
    return message


def binding(contact: str, path: tuple[str, ...] = ()) -> Binding:
    source = Address("udp", "192.0.2.7", 5062)
    return Binding(
        aor="1001@example.com",
        key=contact,
        contact=contact,
        expires_at=1e12,
        call_id="r1",
        cseq=1,
        source=source,
        local=Address("udp", "192.0.2.1", 5060),
        path=path,
    )


def test_copy_for_a_contact() -> None:
    found = message_for_binding(
        sent(), binding("<sip:1001@192.0.2.7:5062;ob>"), authenticated="1000@example.com"
    )
    assert found is not None
    copy, destination = found
    assert copy.uri == "sip:1001@192.0.2.7:5062;ob"
    assert destination == Address("udp", "192.0.2.7", 5062)
    assert copy.body == b"hello"
    assert (copy.call_id, copy.from_.tag, copy.to.tag) == ("chat-1", "f1", None)
    assert copy.max_forwards == 9
    assert copy.headers.get("Subject") == "hi"
    assert copy.headers.get("Content-Type") == "text/plain"
    assert "Proxy-Authorization" not in copy.headers
    assert "Via" not in copy.headers  # the endpoint adds ours
    assert copy.headers.get("P-Asserted-Identity") == "<sip:1000@example.com>"


def test_copy_follows_the_path_and_skips_a_broken_contact() -> None:
    found = message_for_binding(sent(), binding("<sip:1001@10.1.1.1>", ("<sip:edge;lr>",)))
    assert found is not None
    assert found[0].headers.get_all("Route") == ["<sip:edge;lr>"]
    assert "P-Asserted-Identity" not in found[0].headers
    assert message_for_binding(sent(), binding("<not a uri")) is None


def test_best_status() -> None:
    assert best_status([480, 486]) == 486
    assert best_status([408, 503]) == 408
    assert best_status([486, 603]) == 603
    assert best_status([404, 500]) == 404
    assert best_status([]) == 480
