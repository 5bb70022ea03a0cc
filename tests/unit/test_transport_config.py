"""Listener specs, the generated TLS certificate, uvloop selection."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from sipline.sip import Address
from sipline.transport import (
    ListenSpec,
    TlsConfig,
    ensure_self_signed,
    parse_listen_spec,
    use_uvloop,
)
from sipline.transport._base import is_keepalive, looks_like_request_with_via
from sipline.transport._tls import certificate_paths, client_context, server_context

VALID_SPECS = [
    ("udp:127.0.0.1:5060", ListenSpec("udp", "127.0.0.1", 5060)),
    ("tcp:[::]:5060", ListenSpec("tcp", "::", 5060)),
    ("tls:0.0.0.0:5061", ListenSpec("tls", "0.0.0.0", 5061)),
    ("ws:0.0.0.0:8088", ListenSpec("ws", "0.0.0.0", 8088)),
    ("wss:[::1]:8089", ListenSpec("wss", "::1", 8089)),
    ("UDP:10.0.0.1", ListenSpec("udp", "10.0.0.1", 5060)),
    ("tls:[::1]", ListenSpec("tls", "::1", 5061)),
    ("tcp:[0:0:0:0:0:0:0:1]:0", ListenSpec("tcp", "::1", 0)),
    (" udp:127.0.0.1:65535 ", ListenSpec("udp", "127.0.0.1", 65535)),
]


@pytest.mark.parametrize(("text", "expected"), VALID_SPECS)
def test_parse_listen_spec_valid(text: str, expected: ListenSpec) -> None:
    assert parse_listen_spec(text) == expected


INVALID_SPECS = [
    ("sctp:127.0.0.1:5060", "unknown transport 'sctp'"),
    ("127.0.0.1:5060", "unknown transport '127.0.0.1'"),
    ("udp", "unknown transport"),
    ("udp:localhost:5060", "'localhost' is not an IPv4 address"),
    ("udp:::1:5060", "is not an IPv4 address"),
    ("tcp:[::1:5060", "unclosed IPv6 bracket"),
    ("tcp:[::1]5060", "unclosed IPv6 bracket"),
    ("tcp:[127.0.0.1]:5060", "'127.0.0.1' is not an IPv6 address"),
    ("udp:127.0.0.1:70000", "port '70000' is not 0..65535"),
    ("udp:127.0.0.1:50a", "port '50a' is not 0..65535"),
    ("udp:127.0.0.1:", "is not 0..65535"),
    ("udp:300.1.1.1:5060", "'300.1.1.1' is not an IPv4 address"),
]


@pytest.mark.parametrize(("text", "message"), INVALID_SPECS)
def test_parse_listen_spec_invalid_says_what_and_form(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="expected TRANSPORT:HOST") as info:
        parse_listen_spec(text)
    text_of_error = str(info.value)
    assert message in text_of_error
    assert "\n" not in text_of_error


def test_listen_spec_family_and_address() -> None:
    spec = parse_listen_spec("wss:[::1]:443")
    assert spec.address == Address("wss", "::1", 443)
    assert str(spec) == "wss:[::1]:443"
    assert spec.family.name == "AF_INET6"
    assert parse_listen_spec("udp:0.0.0.0:1").family.name == "AF_INET"


def test_self_signed_certificate_generated_once_with_private_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    cert_path, key_path = ensure_self_signed(data_dir)
    assert cert_path == data_dir / "tls-cert.pem"
    assert key_path == data_dir / "tls-key.pem"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    ips = san.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("127.0.0.1") in ips
    assert ipaddress.ip_address("::1") in ips
    before = (cert_path.read_bytes(), key_path.read_bytes())
    assert ensure_self_signed(data_dir) == (cert_path, key_path)
    assert (cert_path.read_bytes(), key_path.read_bytes()) == before


def test_certificate_paths_prefers_configured_files(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    assert certificate_paths(TlsConfig(cert_file=cert, key_file=key)) == (cert, key)
    with pytest.raises(ValueError, match="both cert_file and key_file"):
        certificate_paths(TlsConfig(cert_file=cert))
    with pytest.raises(ValueError, match="set data_dir"):
        certificate_paths(TlsConfig())


def test_generated_certificate_loads_into_contexts(tmp_path: Path) -> None:
    config = TlsConfig(data_dir=tmp_path)
    server = server_context(config)
    assert server.minimum_version == ssl.TLSVersion.TLSv1_2
    cert, _ = ensure_self_signed(tmp_path)
    trusting = client_context(TlsConfig(ca_file=cert))
    assert trusting.verify_mode == ssl.CERT_REQUIRED
    assert trusting.check_hostname
    lax = client_context(TlsConfig(verify_server=False))
    assert lax.verify_mode == ssl.CERT_NONE


def test_use_uvloop_installs_policy() -> None:
    previous = asyncio.get_event_loop_policy()
    try:
        installed = use_uvloop()
        policy = asyncio.get_event_loop_policy()
        assert installed == (type(policy).__module__.startswith("uvloop"))
        assert installed  # uvloop is a dependency on this platform
    finally:
        asyncio.set_event_loop_policy(previous)


@pytest.mark.parametrize(
    ("data", "answerable"),
    [
        (b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: x\r\n\r\n", True),
        (b"INVITE sip:a@b SIP/2.0\r\nv:SIP/2.0/TCP h\r\n\r\n", True),
        (b"OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:x@y>\r\n\r\n", False),  # no Via
        (b"OPTIONS sip:a@b SIP/2.0\r\n\r\nVia: SIP/2.0/UDP h\r\n", False),  # Via in body
        (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n", False),  # responses get no 400
        (b"\x00\xff garbage", False),
        (b"OPTIONS sip:a@b HTTP/1.1\r\nVia: SIP/2.0/UDP h\r\n\r\n", False),
    ],
)
def test_answerable_bad_request_sniff(data: bytes, answerable: bool) -> None:
    assert looks_like_request_with_via(data) is answerable


def test_keepalive_datagrams() -> None:
    assert is_keepalive(b"\r\n\r\n")
    assert is_keepalive(b"\r\n")
    assert not is_keepalive(b"\r\nX")
