"""Instant messages (RFC 3428) through `sipline serve` (issue #6).

Users 1000, 1001 and 1002 exist; 1000 and 1001 register (plain-socket phones,
``transfer_peers.Phone``), 1002 does not.  Out-of-dialog MESSAGE requests from local
users are challenged with 407 like INVITEs; with credentials they are delivered to
every registered contact of the target, body intact.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import ServerFactory, ServerProcess
from media_support import import_users
from transfer_peers import Phone

from sipline.sip import (
    DigestChallenge,
    Request,
    make_credentials,
    new_call_id,
    new_tag,
)

pytestmark = pytest.mark.integration

USERS = {"1000": "pw-1000", "1001": "pw-1001", "1002": "pw-1002"}
TEXT = "Hello 1001 \N{WHITE SMILING FACE} ; a=b\r\nsecond line".encode()


@pytest.fixture
def server(sipline_server: ServerFactory, harness_dir: Path) -> ServerProcess:
    data_dir = harness_dir / "data"
    import_users(data_dir, USERS)
    config = harness_dir / "sipline.toml"
    config.write_text('[auth]\nregister = false\ninvite = true\n\n[media]\nmode = "bypass"\n')
    return sipline_server(
        *("--config", str(config), "--listen", "udp:{host}:{port}", "--data", "{data_dir}"),
        *("--domain", "127.0.0.1", "--admin", "off"),
        data_dir=data_dir,
    )


@pytest.fixture
def phones(server: ServerProcess) -> Iterator[tuple[Phone, Phone, Phone]]:
    parties = (Phone("1000", server.port), Phone("1001", server.port), Phone("1001", server.port))
    try:
        for phone in parties:
            phone.register()
        yield parties
    finally:
        for phone in parties:
            phone.close()


def message(sender: Phone, target: str, body: bytes, cseq: int = 1) -> Request:
    return Request(
        "MESSAGE",
        f"sip:{target}@127.0.0.1",
        [
            sender.via(),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{sender.user}@127.0.0.1>;tag={new_tag()}"),
            ("To", f"<sip:{target}@127.0.0.1>"),
            ("Call-ID", new_call_id()),
            ("CSeq", f"{cseq} MESSAGE"),
            ("Content-Type", "text/plain;charset=utf-8"),
        ],
        body,
    )


def send_with_credentials(sender: Phone, target: str, body: bytes) -> None:
    """MESSAGE, its 407, then the same MESSAGE with Proxy-Authorization (sent, not
    waited for: the answer comes once a contact answers)."""
    first = message(sender, target, body)
    sender.send(first)
    challenge = sender.expect_final("MESSAGE")
    assert challenge.status_code == 407
    digest = DigestChallenge.parse(
        challenge.headers.get("Proxy-Authenticate") or "", header="Proxy-Authenticate"
    )
    credentials = make_credentials(
        digest, username=sender.user, password=USERS[sender.user], method="MESSAGE", uri=first.uri
    )
    second = Request(
        "MESSAGE",
        first.uri,
        [(n, v) for n, v in first.headers if n.lower() not in ("via", "cseq")],
        body,
    )
    second.headers.prepend(*sender.via())
    second.headers.set("CSeq", "2 MESSAGE")
    second.headers.add("Proxy-Authorization", str(credentials))
    sender.send(second)


def test_message_is_delivered_to_every_contact_after_the_407(
    phones: tuple[Phone, Phone, Phone],
) -> None:
    sender, first, second = phones
    send_with_credentials(sender, "1001", TEXT)
    # Both contacts of 1001 get the text, From and To kept, our credentials not.
    got = [phone.expect_request("MESSAGE") for phone in (first, second)]
    for phone, delivered in zip((first, second), got, strict=True):
        assert delivered.body == TEXT
        assert delivered.headers.get("Content-Type") == "text/plain;charset=utf-8"
        assert delivered.from_.uri.user == "1000"  # type: ignore[union-attr]
        assert delivered.to.uri.user == "1001"  # type: ignore[union-attr]
        assert delivered.uri.endswith(f"127.0.0.1:{phone.port}")
        assert "Proxy-Authorization" not in delivered.headers
        assert delivered.headers.get("P-Asserted-Identity") == "<sip:1000@127.0.0.1>"
    second.respond(got[1], 486)
    first.respond(got[0], 202)
    # The first 2xx wins: the sender gets 202 although the other contact refused.
    assert sender.expect_final("MESSAGE").status_code == 202


def test_every_contact_refusing_gives_the_best_failure(
    phones: tuple[Phone, Phone, Phone],
) -> None:
    sender, first, second = phones
    send_with_credentials(sender, "1001", b"x")
    first.respond(first.expect_request("MESSAGE"), 480)
    second.respond(second.expect_request("MESSAGE"), 486)
    assert sender.expect_final("MESSAGE").status_code == 486  # more telling than 480


def test_message_to_a_user_not_registered_is_480(phones: tuple[Phone, Phone, Phone]) -> None:
    sender = phones[0]
    send_with_credentials(sender, "1002", b"are you there?")
    assert sender.expect_final("MESSAGE").status_code == 480


def test_message_to_an_unknown_user_is_404(phones: tuple[Phone, Phone, Phone]) -> None:
    sender = phones[0]
    send_with_credentials(sender, "1009", b"hello?")
    assert sender.expect_final("MESSAGE").status_code == 404
