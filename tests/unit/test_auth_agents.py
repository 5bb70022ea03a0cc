"""Phones that cannot take a SHA-256 challenge are offered MD5 alone."""

from __future__ import annotations

from pathlib import Path

from sipline.auth import AuthConfig, Authenticator, Challenge, NonceFactory
from sipline.sip import Address, Request
from sipline.store import SqliteStore

SOURCE = Address("udp", "127.0.0.1", 5062)


def register(agent: str) -> Request:
    return Request(
        "REGISTER",
        "sip:127.0.0.1",
        [
            ("Via", "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKa1"),
            ("From", "<sip:1000@127.0.0.1>;tag=1"),
            ("To", "<sip:1000@127.0.0.1>"),
            ("Call-ID", "c1"),
            ("CSeq", "1 REGISTER"),
            ("User-Agent", agent),
        ],
    )


def algorithms(challenge: Challenge) -> list[str]:
    return [value.split("algorithm=")[1].split(",")[0] for _, value in challenge.headers]


def test_md5_only_agents_get_md5_alone_and_others_both(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "db") as store:
        authenticator = Authenticator(
            store, NonceFactory(b"k" * 32), AuthConfig(algorithms=("MD5", "SHA-256"))
        )
        for agent, expected in (
            ("baresip v1.0.0 (x86_64/linux)", ["MD5"]),
            ("Zoiper rev.5415", ["MD5", "SHA-256"]),
        ):
            result = authenticator.check(
                register(agent), source=SOURCE, realm="127.0.0.1", proxy=False, now=1000.0
            )
            assert isinstance(result, Challenge)
            assert algorithms(result) == expected


def test_the_quirk_list_can_be_emptied(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "db") as store:
        config = AuthConfig(algorithms=("SHA-256", "MD5"), md5_only_agents=())
        authenticator = Authenticator(store, NonceFactory(b"k" * 32), config)
        result = authenticator.check(
            register("baresip v1.0.0"), source=SOURCE, realm="127.0.0.1", proxy=False, now=1.0
        )
        assert isinstance(result, Challenge)
        assert algorithms(result) == ["SHA-256", "MD5"]


def test_the_guard_counts_failures_and_blocks() -> None:
    from sipline.auth import BruteForceGuard

    guard = BruteForceGuard(threshold=3, window=60, block_time=10)
    assert (guard.failures, guard.blocks) == (0, 0)
    for attempt in range(3):
        guard.failed("192.0.2.7", "1000@example.com", 100.0 + attempt)
    assert (guard.failures, guard.blocks) == (3, 1)
    assert guard.blocked("192.0.2.7", 105.0)
