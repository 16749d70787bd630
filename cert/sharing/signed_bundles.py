"""Signed bundles for networks with no link between them: a STIX 2.1 bundle of what the sharing
policy lets leave for a partner, written to a file with a detached Ed25519 signature beside it
(``<file>.sig``), carried on removable media, and imported on the other side only when the
signature checks against one of the keys that side trusts. A bundle whose signature is missing,
wrong, or made by a key not trusted is refused whole: nothing of it is read.

The signature file is JSON: ``{"algorithm": "ed25519", "key": <fingerprint>, "signature":
<base64>}``; the fingerprint is the first 16 bytes of the SHA-256 of the raw public key, in hex.
Keys are PEM files (``cert sharing keygen`` writes a pair); ``sharing_signing_key_file`` names
the private key this side signs with, ``sharing_trusted_keys`` the public keys it accepts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from cert.core.errors import N_, ConfigError, InvalidInput
from cert.detection.indicators.formats import Defaults, read_stix
from cert.detection.indicators.store import IndicatorRecord, LoadReport, upsert

SUFFIX = ".sig"
#: a bundle larger than this is refused before it is read
MAX_BYTES = 256 * 1024 * 1024


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


def generate(directory: Path, name: str) -> tuple[Path, Path]:
    """A new key pair: ``<name>.key`` (private, mode 600) and ``<name>.pub`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private, public = directory / f"{name}.key", directory / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    os.chmod(private, 0o600)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"signing key {path}: not an Ed25519 key")
    return key


def _public(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"trusted key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"trusted key {path}: not an Ed25519 key")
    return key


def write_signed(path: Path, data: bytes, key_file: Path) -> Path:
    """Write ``data`` to ``path`` and its signature to ``path.sig``; the signature file's path."""
    key = _private(key_file)
    signature = {"algorithm": "ed25519", "key": fingerprint(key.public_key()),
                 "signature": base64.b64encode(key.sign(data)).decode("ascii")}
    path.write_bytes(data)
    sig = path.with_name(path.name + SUFFIX)
    sig.write_text(json.dumps(signature), encoding="utf-8")
    return sig


def verified(path: Path, trusted: Iterable[Path]) -> bytes:
    """The bundle's bytes when its signature checks against a trusted key; InvalidInput saying
    why otherwise (nothing of the bundle is read before)."""
    keys = {fingerprint(k): k for k in (_public(p) for p in trusted)}
    sig = path.with_name(path.name + SUFFIX)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InvalidInput(N_("%(file)s is larger than %(max)s bytes: refused."), file=path.name, max=MAX_BYTES)
        data, signature = path.read_bytes(), json.loads(sig.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidInput(N_("%(file)s: no signature found (%(sig)s): the bundle is refused."),
                           file=path.name, sig=sig.name) from exc
    except (OSError, ValueError) as exc:
        raise InvalidInput(N_("%(file)s: its signature cannot be read: the bundle is refused."),
                           file=path.name) from exc
    if not isinstance(signature, dict) or signature.get("algorithm") != "ed25519":
        raise InvalidInput(N_("%(file)s: its signature cannot be read: the bundle is refused."), file=path.name)
    key = keys.get(str(signature.get("key", "")))
    if key is None:
        raise InvalidInput(N_("%(file)s is signed by a key this CERT does not trust (%(key)s): the bundle is "
                              "refused."), file=path.name, key=str(signature.get("key", ""))[:64])
    try:
        key.verify(base64.b64decode(str(signature.get("signature", "")), validate=True), data)
    except (InvalidSignature, ValueError) as exc:
        raise InvalidInput(N_("%(file)s does not match its signature (altered or truncated): the bundle is "
                              "refused."), file=path.name) from exc
    return data


def import_bundle(s: Session, path: Path, trusted: Iterable[Path], source: str) -> LoadReport:
    """The indicators of a signed STIX bundle, stored under ``source`` (refused whole when the
    signature does not check)."""
    data = verified(path, trusted)
    try:
        bundle = json.loads(data)
    except ValueError as exc:
        raise InvalidInput(N_("%(file)s is not a STIX bundle: %(error)s"), file=path.name, error=str(exc)[:200]) \
            from exc
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle":
        raise InvalidInput(N_("%(file)s is not a STIX bundle: %(error)s"), file=path.name, error="no bundle object")
    report = LoadReport(source)

    def good() -> Iterator[IndicatorRecord]:
        for pos, item in read_stix(path, bundle, Defaults()):
            report.read += 1
            if item is None:
                report.skipped += 1
            elif isinstance(item, str):
                report.errors.append(f"{pos}: {item}")
            else:
                yield item

    return upsert(s, source, good(), report)
