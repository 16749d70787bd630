"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it received, can refuse messages
for a while, and, with a self-signed certificate made here, offers STARTTLS and requires a login;
and OpenPGP keyrings (Debian's gpg) made in a temporary GNUPGHOME."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import gnupg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    refuse: int = 0  # refuse this many messages (451) before accepting

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 mailbox temporarily unavailable"
        raw = envelope.original_content or b""
        self.received.append(Received(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], raw))
        return "250 OK"


def self_signed(folder: Path, name: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (PEM files), valid one day."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.RFC822Name("cert@cert.example")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@dataclass
class SmtpServer:
    controller: Controller
    handler: Handler
    port: int
    logins: list[tuple[str, str]]


def start_smtp(*, tls: tuple[Path, Path] | None = None, password: str = "") -> SmtpServer:
    """An SMTP server on 127.0.0.1; with ``tls`` (certificate, key) it requires STARTTLS and a
    login with ``password``."""
    handler = Handler()
    logins: list[tuple[str, str]] = []
    port = free_port()
    kwargs: dict[str, Any] = {}
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls[0]), str(tls[1]))

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            if isinstance(data, LoginPassword) and data.password.decode() == password:
                logins.append((data.login.decode(), mechanism))
                return AuthResult(success=True)
            return AuthResult(success=False, handled=False)

        kwargs = {"tls_context": context, "require_starttls": True, "authenticator": authenticate,
                  "auth_required": True, "auth_require_tls": True}
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return SmtpServer(controller, handler, port, logins)


def smtp_server(**kwargs: Any) -> Iterator[SmtpServer]:
    server = start_smtp(**kwargs)
    try:
        yield server
    finally:
        server.controller.stop()


def keyring(email: str) -> tuple[gnupg.GPG, Path]:
    """A GNUPGHOME with an Ed25519 signing key and a Curve25519 encryption subkey for ``email``
    (a short path: gpg-agent's socket path has a length limit)."""
    home = Path(tempfile.mkdtemp(prefix="gpg", dir="/tmp"))
    home.chmod(0o700)
    gpg = gnupg.GPG(gnupghome=str(home))
    made = gpg.gen_key(gpg.gen_key_input(key_type="EDDSA", key_curve="ed25519", subkey_type="ECDH",
                                         subkey_curve="cv25519", name_real=email.split("@")[0],
                                         name_email=email, no_protection=True, expire_date="1d"))
    assert made.fingerprint, made.stderr
    return gpg, home


def drop_keyring(gpg: gnupg.GPG, home: Path) -> None:
    import subprocess

    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


def signed_parts(raw: bytes) -> tuple[bytes, bytes]:
    """(the signed part exactly as received, the detached signature) of a multipart/signed message."""
    message = message_from_bytes(raw, policy=policy.default)
    boundary = message.get_boundary()
    assert boundary, message["Content-Type"]
    body = raw.split(b"\r\n\r\n", 1)[1]
    delimiter = b"--" + boundary.encode()
    parts = body.split(b"\r\n" + delimiter)
    first = parts[0]
    assert first.startswith(delimiter + b"\r\n")
    signed = first[len(delimiter) + 2:]
    signature_part = parts[1]
    signature = signature_part.split(b"\r\n\r\n", 1)[1]
    return signed, signature
