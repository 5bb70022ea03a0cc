"""TLS contexts and the self-signed certificate generated on first start."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ._config import TlsConfig

CERT_NAME = "tls-cert.pem"
KEY_NAME = "tls-key.pem"
_VALIDITY = datetime.timedelta(days=3650)


def certificate_paths(config: TlsConfig) -> tuple[Path, Path]:
    """The certificate and key to serve: configured ones, or the generated pair."""
    if config.cert_file is not None and config.key_file is not None:
        return config.cert_file, config.key_file
    if config.cert_file is not None or config.key_file is not None:
        raise ValueError("TLS needs both cert_file and key_file, or neither (then set data_dir)")
    if config.data_dir is None:
        raise ValueError(
            "TLS listener without cert_file/key_file: set data_dir for a generated one"
        )
    return ensure_self_signed(config.data_dir)


def ensure_self_signed(data_dir: Path) -> tuple[Path, Path]:
    """Create ``tls-cert.pem``/``tls-key.pem`` in ``data_dir`` unless both exist.

    ECDSA P-256, valid ten years, subjectAltName localhost, the host name,
    127.0.0.1 and ::1; the key file is written with mode 0600.
    """
    cert_path, key_path = data_dir / CERT_NAME, data_dir / KEY_NAME
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    data_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    hostname = socket.gethostname()
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    if hostname and hostname != "localhost":
        names.append(x509.DNSName(hostname))
    names += [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname or "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(key_path, key_pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def server_context(config: TlsConfig) -> ssl.SSLContext:
    """Context for ``tls``/``wss`` listeners (TLS 1.2 or later)."""
    cert, key = certificate_paths(config)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def client_context(config: TlsConfig) -> ssl.SSLContext:
    """Context for outbound TLS connections; verifies the server unless told not to."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=config.ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not config.verify_server:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
