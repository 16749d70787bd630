"""The anomaly detectors decide the same in both modes: the same labelled events in the embedded
store (aggregated in SQL) and in Elasticsearch (composite aggregations) give the same findings,
scores and explanations, detector by detector."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cert.core.anomaly import AnomalyDetector, Finding
from cert.core.config import Settings
from cert.core.contracts import detectors
from cert.core.ecs import Event, parse_ts
from cert.core.event_store import EventStore
from cert.core.registry import load_plugins
from cert.storage.events.elasticsearch import ElasticsearchEventStore
from cert.storage.events.embedded import EmbeddedEventStore
from tests.detectors._dns_corpus import bind_events, spread
from tests.detectors.network_captures import INJECTED, MONITORED, NMAP, PERIODIC, read
from tests.detectors.test_anomaly_dga import T0, corpus_file

pytestmark = pytest.mark.elasticsearch


def dns_events(corpora: Path) -> list[Event]:
    """A DGA-infected host, two browsing hosts and a dns2tcp tunnel, as BIND logs them."""
    frame = pd.read_csv(corpus_file(corpora), dtype=str, keep_default_na=False)
    rng = random.Random(7)
    legit = list(frame.loc[frame["label"] == "legit", "domain"].head(2000))
    dga = list(frame.loc[frame["family"] == "cryptolocker", "domain"].head(500))
    queries = []
    for i, host in enumerate(("10.30.0.31", "10.30.0.32")):
        names = rng.sample(legit, 120)
        queries += [(at, host, name, "A") for at, name in zip(spread(T0 + timedelta(minutes=i), 120, 30), names,
                                                                  strict=True)]
    infected = rng.sample(legit, 30) + rng.sample(dga, 25)
    queries += [(at, "10.30.0.33", name, "A") for at, name in zip(spread(T0, len(infected), 60), infected, strict=True)]
    tunnel = pd.read_csv(corpora / "anomaly" / "dns_tunnel" / "dns_packets_netrack_features.csv.gz",
                         usecols=["tool", "seq_in_capture", "qname"], keep_default_na=False)
    rows = tunnel[tunnel["tool"] == "dns2tcp"].sort_values("seq_in_capture").head(150)
    queries += [(at, "10.30.0.34", str(name), "TXT") for at, name in zip(spread(T0, len(rows), 20), rows["qname"],
                                                                           strict=True)]
    return bind_events(queries)


@pytest.fixture(scope="module")
def events(corpora_dir: Path) -> list[Event]:
    return [*read(INJECTED), *read(NMAP), *read(PERIODIC), *dns_events(corpora_dir)]


@pytest.fixture(scope="module")
def corpora_dir() -> Path:
    return Settings().corpora_dir


@pytest.fixture(scope="module")
def stores(events: list[Event], es_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[EventStore]]:
    embedded = EmbeddedEventStore(tmp_path_factory.mktemp("modes") / "events.sqlite3")
    elastic = ElasticsearchEventStore(es_url, prefix=f"m{uuid.uuid4().hex[:10]}")
    for store in (embedded, elastic):
        for i in range(0, len(events), 2000):
            store.write(events[i:i + 2000])
        store.refresh()
    yield [embedded, elastic]
    embedded.close()
    elastic.close()


def spans(events: list[Event]) -> Iterator[tuple[datetime, datetime]]:
    """The day of each source of events (the captures are days apart)."""
    days = sorted({parse_ts(str(e["@timestamp"])).replace(hour=0, minute=0, second=0, microsecond=0) for e in events})
    for day in days:
        yield day, day + timedelta(days=1)


def summary(findings: list[Finding]) -> list[dict[str, Any]]:
    return sorted(({"key": f.key, "score": round(f.score, 6), "first": f.first_seen.isoformat(),
                    "last": f.last_seen.isoformat(), "severity": f.severity, "terms": dict(f.terms),
                    "explanation": json.loads(json.dumps(f.explanation, sort_keys=True, default=str))}
                   for f in findings), key=lambda f: f["key"])


@pytest.mark.parametrize("name", ["anomaly.beacon", "anomaly.scan", "anomaly.volume", "anomaly.dga",
                                  "anomaly.dns_tunnel"])
def test_same_findings_in_both_stores(name: str, stores: list[EventStore], events: list[Event],
                                      tmp_path: Path) -> None:
    load_plugins(["detectors"])
    settings = replace(Settings(), data_dir=tmp_path, anomaly_internal_networks=MONITORED,
                       anomaly_volume_min_history=2)
    found: list[list[dict[str, Any]]] = []
    for store in stores:
        detector = detectors.get(name)(settings)
        assert isinstance(detector, AnomalyDetector)
        findings: list[Finding] = []
        for start, end in spans(events):
            findings += detector.find(store, start, end)
        found.append(summary(findings))
    embedded, elastic = found
    assert embedded, f"{name} found nothing on its labelled data: nothing compared"
    assert elastic == embedded


def test_rare_windows_learns_and_judges_the_same_in_both_stores(es_url: str, tmp_path: Path) -> None:
    """Learn the OTRF launcher dataset's background, then judge the whole dataset replayed three
    days later: the same baseline and the same new behaviour, in each store."""
    from tests.detectors.test_anomaly_rare_windows import DATASET, LATER, corpus, shifted

    lab = corpus(DATASET)
    events = [e for e, label in lab if label == "background"] + [shifted(e, LATER, "later") for e, _ in lab]
    times = sorted(parse_ts(str(e["@timestamp"])) for e, _ in lab)
    learn_span = (times[0], times[-1] + timedelta(seconds=1))
    judge_span = (learn_span[0] + LATER, learn_span[1] + LATER)
    load_plugins(["detectors"])
    settings = replace(Settings(), data_dir=tmp_path, anomaly_rare_windows_learning_hours=24)
    embedded = EmbeddedEventStore(tmp_path / "events.sqlite3")
    elastic = ElasticsearchEventStore(es_url, prefix=f"r{uuid.uuid4().hex[:10]}")
    found = []
    try:
        for store in (embedded, elastic):
            store.write(events)
            store.refresh()
            detector = detectors.get("anomaly.rare_windows")(settings)
            assert isinstance(detector, AnomalyDetector)
            assert detector.find(store, *learn_span) == []  # the learning period
            found.append(summary(detector.find(store, *judge_span)))
    finally:
        embedded.close()
        elastic.close()
    assert found[0], "nothing new found in the replay: nothing compared"
    assert found[1] == found[0]
