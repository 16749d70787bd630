"""Helpers for the network listener tests: a migrated embedded platform, a bounded wait, and a
self-signed TLS certificate made with ``cryptography``. Everything stays on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cert.core.config import Settings
from cert.core.event_store import EventQuery
from cert.pipeline.listeners import Endpoint, Listener, ListenerConfig, listeners
from cert.runtime.platform import Platform
from cert.storage.models import DeadLetter

LOOPBACK = Endpoint("127.0.0.1", 0)


@pytest.fixture
def net_platform(tmp_path: Path) -> Iterator[Platform]:
    """An embedded platform with only the plug-ins the listeners need."""
    settings = replace(Settings(), data_dir=tmp_path / "data", secret_key="test-secret-key",
                       plugins=("ingest.parsers", "ingest.listeners"))
    p = Platform(settings)
    p.db.upgrade()
    yield p
    p.close()


def start(platform: Platform, kind: str, on_batch: Callable[[list[Any]], None] | None = None,
          **config: Any) -> tuple[Listener, dict[str, tuple[str, int]]]:
    """Start a listener; its bound addresses by scheme (``{"udp": ("127.0.0.1", 40123)}``)."""
    config.setdefault("flush_seconds", 0.1)
    listener = listeners.get(kind)(platform, ListenerConfig(**config), on_batch=on_batch)
    bound: dict[str, tuple[str, int]] = {}
    for url in listener.start():
        scheme, _, address = url.partition("://")
        host, _, port = address.rpartition(":")
        bound[scheme] = (host, int(port))
    return listener, bound


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def events(platform: Platform, **terms: Any) -> list[dict[str, Any]]:
    platform.events.refresh()
    return platform.events.search(EventQuery(terms={k.replace("__", "."): [v] for k, v in terms.items()},
                                             limit=10_000))


def dead_letters(platform: Platform) -> list[DeadLetter]:
    with platform.db.session() as s:
        return list(s.scalars(select(DeadLetter).order_by(DeadLetter.id)))


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vigie-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
