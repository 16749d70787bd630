"""A queued notification as the message sent over SMTP: plain text in UTF-8 with its CSV
attachment, then, when keys allow, OpenPGP (RFC 3156 PGP/MIME, with Debian's gpg through
python-gnupg) or S/MIME (RFC 8551, with ``cryptography``'s PKCS #7).

- The contact has an OpenPGP key and the CERT's keyring is configured: signed with the CERT's key
  and encrypted to the contact's.
- The contact has an S/MIME certificate and the CERT's S/MIME certificate and key are
  configured: S/MIME signed (detached, ``multipart/signed``).
- Otherwise, the CERT's OpenPGP key configured: PGP/MIME signed, for anyone holding its public
  key. No CERT key: unsigned.

The signed part is written once, in canonical form (CRLF line ends), and the signature is made
over exactly those bytes."""

from __future__ import annotations

import secrets
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path

from cert.core.config import Settings
from cert.core.errors import ConfigError
from cert.storage.models import Notification

#: SMTP's line ends; headers folded at the RFC 5322 limit only (a subject on one line when it can be)
HEADERS = SMTP.clone(max_line_length=998)


class SigningError(Exception):
    """The message could not be signed or encrypted (a permanent error of the message's keys)."""


def _inner(row: Notification) -> MIMEPart:
    """The content: the text, and the CSV file when the message has one."""
    part = MIMEPart(policy=SMTP)
    part.set_content(row.body, subtype="plain", charset="utf-8", cte="quoted-printable")
    if row.attachment:
        mixed = MIMEPart(policy=SMTP)
        mixed.make_mixed()
        mixed.attach(part)
        csv = MIMEPart(policy=SMTP)
        csv.set_content(row.attachment.encode("utf-8"), maintype="text", subtype="csv", cte="base64",
                        disposition="attachment", filename=row.attachment_name or "findings.csv")
        mixed.attach(csv)
        return mixed
    return part


def _headers(row: Notification, settings: Settings, message_id: str) -> EmailMessage:
    msg = EmailMessage(policy=HEADERS)
    msg["From"] = formataddr((settings.org_name, settings.smtp_from))
    msg["To"] = formataddr((row.recipient_name, row.recipient_email))
    msg["Subject"] = row.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id
    if row.ticket:
        msg["X-Vigie-Ticket"] = row.ticket
    msg["Content-Language"] = row.language
    msg["MIME-Version"] = "1.0"
    return msg


def _header_bytes(msg: EmailMessage) -> bytes:
    """The header block, non-ASCII text encoded (RFC 2047), without the blank line after it."""
    return msg.as_bytes(policy=HEADERS).rstrip(b"\r\n") + b"\r\n"


def _gpg(settings: Settings) -> object:
    import gnupg

    home = settings.notify_gpg_home
    if home is None or not Path(home).is_dir():
        raise ConfigError(f"notify_gpg_home {home} is not a directory")
    return gnupg.GPG(gnupghome=str(home))


def _pgp_signed(inner: bytes, settings: Settings) -> tuple[str, bytes]:
    gpg = _gpg(settings)
    sig = gpg.sign(inner, keyid=settings.notify_gpg_key or None, detach=True,  # type: ignore[attr-defined]
                   passphrase=settings.notify_gpg_passphrase or None)
    if not sig.data:
        raise SigningError(f"OpenPGP signing failed: {sig.status or sig.stderr[-300:]}")
    boundary = "=_sig_" + secrets.token_hex(12)
    ctype = (f'multipart/signed; micalg="pgp-{_hash_name(sig)}"; protocol="application/pgp-signature"; '
             f'boundary="{boundary}"')
    b = boundary.encode()
    body = (b"--" + b + b"\r\n" + inner + b"\r\n--" + b + b"\r\n"
            b'Content-Type: application/pgp-signature; name="signature.asc"\r\n'
            b'Content-Disposition: attachment; filename="signature.asc"\r\n\r\n'
            + sig.data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n--" + b + b"--\r\n")
    return ctype, body


def _hash_name(sig: object) -> str:
    algo = str(getattr(sig, "hash_algo", "") or "8")
    return {"1": "md5", "2": "sha1", "3": "ripemd160", "8": "sha256", "9": "sha384", "10": "sha512",
            "11": "sha224"}.get(algo, "sha256")


def _pgp_encrypted(inner: bytes, row: Notification, settings: Settings) -> tuple[str, bytes]:
    gpg = _gpg(settings)
    imported = gpg.import_keys(row.recipient_pgp_key)  # type: ignore[attr-defined]
    if not imported.fingerprints:
        raise SigningError(f"the OpenPGP key of {row.recipient_email} could not be read")
    enc = gpg.encrypt(inner, imported.fingerprints, sign=settings.notify_gpg_key or None,  # type: ignore[attr-defined]
                      passphrase=settings.notify_gpg_passphrase or None, always_trust=True, armor=True)
    if not enc.ok:
        raise SigningError(f"OpenPGP encryption failed: {enc.status or enc.stderr[-300:]}")
    boundary = "=_enc_" + secrets.token_hex(12)
    b = boundary.encode()
    ctype = f'multipart/encrypted; protocol="application/pgp-encrypted"; boundary="{boundary}"'
    body = (b"--" + b + b"\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--" + b +
            b'\r\nContent-Type: application/octet-stream; name="encrypted.asc"\r\n\r\n' +
            enc.data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n--" + b + b"--\r\n")
    return ctype, body


def _smime_signed(inner: bytes, settings: Settings) -> bytes:
    """The whole S/MIME part (its own Content-Type header first) signing ``inner``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    if settings.notify_smime_cert_file is None or settings.notify_smime_key_file is None:
        raise ConfigError("notify_smime_cert_file and notify_smime_key_file are needed to sign with S/MIME")
    cert = x509.load_pem_x509_certificate(Path(settings.notify_smime_cert_file).read_bytes())
    key = serialization.load_pem_private_key(Path(settings.notify_smime_key_file).read_bytes(), password=None)
    signed = (pkcs7.PKCS7SignatureBuilder().set_data(inner)
              .add_signer(cert, key, hashes.SHA256())  # type: ignore[arg-type]
              .sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature]))
    return signed.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def protection(row: Notification, settings: Settings) -> str:
    """How the message will be protected: ``pgp-encrypted``, ``smime-signed``, ``pgp-signed`` or ``none``."""
    gpg = settings.notify_gpg_home is not None
    if row.recipient_pgp_key and gpg:
        return "pgp-encrypted"
    if row.recipient_smime_cert and settings.notify_smime_cert_file and settings.notify_smime_key_file:
        return "smime-signed"
    if gpg and settings.notify_gpg_key:
        return "pgp-signed"
    return "none"


def build(row: Notification, settings: Settings) -> tuple[str, bytes]:
    """(Message-ID, the message's bytes as sent over SMTP)."""
    domain = settings.smtp_from.rpartition("@")[2] or "localhost"
    message_id = make_msgid(domain=domain)
    headers = _headers(row, settings, message_id)
    inner = _inner(row).as_bytes(policy=SMTP)
    how = protection(row, settings)
    if how == "none":
        content = _inner(row)
        for name, value in content.items():
            headers[name] = value
        headers.set_payload(content.get_payload())
        return message_id, headers.as_bytes(policy=HEADERS)
    if how == "smime-signed":
        return message_id, _header_bytes(headers) + _smime_signed(inner, settings).removeprefix(
            b"MIME-Version: 1.0\r\n")
    if how == "pgp-encrypted":
        ctype, body = _pgp_encrypted(inner, row, settings)
    else:
        ctype, body = _pgp_signed(inner, settings)
    return message_id, _header_bytes(headers) + f"Content-Type: {ctype}\r\n\r\n".encode() + body
