"""Fixtures of the ingest tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from cert.core.config import Settings
from cert.runtime.platform import Platform


@pytest.fixture
def ingest_platform(settings: Settings) -> Iterator[Platform]:
    """A platform of a fresh data directory with the ingest parsers loaded."""
    p = Platform(replace(settings, plugins=("ingest.parsers",)))
    p.db.upgrade()
    yield p
    p.close()
