"""The benchmark inputs of ``bench/ingest/corpora.py`` are valid for Vigie: a small file of each
kind, ingested through the Ingestor into the embedded store, gives one event per record, no
duplicate (unique lines) and no dead letter; the EVE file holds every record type it claims,
each read by ``suricata.eve``, and the Zeek files every log type of a round."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

from cert.core.ecs import get
from cert.core.event_store import EventQuery
from cert.core.registry import load_plugins
from cert.pipeline.ingestor import Ingestor
from cert.runtime.platform import Platform

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "ingest"))

from _eve_records import ROUND, TYPES
from corpora import KINDS, PARSERS, ZEEK_BLOCKS, write, zeek_logs

load_plugins(["ingest.parsers"])


def _stored(platform: Platform, field: str) -> Counter[str]:
    platform.events.refresh()
    return Counter(str(get(e, field)) for page in platform.events.scan(EventQuery(oldest_first=True), 1000)
                   for e in page)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_ingests_with_no_dead_letter(kind: str, corpora: Path, platform: Platform, tmp_path: Path) -> None:
    lines = sum(ZEEK_BLOCKS.values()) if kind.startswith("zeek") else 3 * len(ROUND) + 1
    path = tmp_path / f"{kind}.log"
    assert write(kind, corpora, path, lines=lines) == lines
    summary = Ingestor(platform, PARSERS[kind]).ingest_file(str(path))
    assert (summary.ingested, summary.duplicates, dict(summary.dead_letters)) == (lines, 0, {}), summary.errors
    assert platform.events.count() == lines
    if kind == "eve":
        assert set(_stored(platform, "suricata.eve.event_type")) == set(TYPES)
        assert {"query", "answer"} <= set(_stored(platform, "dns.type"))
    elif kind.startswith("zeek"):
        assert set(_stored(platform, "event.dataset")) == {
            "zeek.connection" if log.path_name == "conn" else f"zeek.{log.path_name}" for log in zeek_logs(corpora)}


def test_size_bound_and_unique_lines(corpora: Path, tmp_path: Path) -> None:
    path = tmp_path / "eve.log"
    count = write("eve", corpora, path, size=200_000)
    data = path.read_bytes().splitlines()
    assert len(data) == count and len(set(data)) == count
    assert 190_000 < path.stat().st_size <= 200_000
