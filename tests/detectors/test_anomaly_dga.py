"""The DGA detector (anomaly.dga): its model loads offline without pickle and is the one its
training script makes from the corpus; through ``hunt()`` on an embedded store of BIND query events
built from the corpus, the host resolving DGA domains is raised and the browsing hosts are not;
hostile names never crash it."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cert.core.aggregate import AggregateQuery, Metric, reference_aggregate
from cert.core.config import Settings
from cert.core.contracts import detectors
from cert.core.registry import load_plugins
from cert.storage.events.embedded import EmbeddedEventStore
from detectors.anomaly import _dga_model, dga
from tests.detectors._dns_corpus import bind_events, spread

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
INFECTED, BROWSERS = "10.20.0.66", ("10.20.0.11", "10.20.0.12", "10.20.0.13")


def corpus_file(root: Path) -> Path:
    return root / "anomaly" / "dga" / "dga_domains.csv.gz"


def test_model_loads_offline_without_pickle_and_records_its_data(corpora: Path) -> None:
    doc = json.loads(_dga_model.MODEL_FILE.read_text(encoding="utf-8"))
    assert doc["data_sha256"] == _dga_model.sha256_file(corpus_file(corpora))
    with np.load(_dga_model.MODEL_FILE.with_suffix(".npz"), allow_pickle=False) as npz:
        assert npz["coef"].dtype == np.float64 and npz["coef"].shape == (doc["n_features"],)
    model = _dga_model.load()
    assert 0.5 < model.threshold < 1.0 and model.meta["seed"] == _dga_model.SEED
    scores = model.scores(["google", "wikipedia", "xjwqkvbzrtpl", "o8484e734a6c8aa7c06fc27f2a2bcb675a"])
    assert scores[0] < model.threshold and scores[1] < model.threshold
    assert scores[2] > 0.9 and scores[3] >= model.threshold


def test_altered_coefficients_are_refused(tmp_path: Path) -> None:
    doc = json.loads(_dga_model.MODEL_FILE.read_text(encoding="utf-8"))
    (tmp_path / "dga.json").write_text(json.dumps(doc), encoding="utf-8")
    with np.load(_dga_model.MODEL_FILE.with_suffix(".npz"), allow_pickle=False) as npz:
        coef = npz["coef"].copy()
    coef[0] += 1.0
    np.savez_compressed(tmp_path / "dga.npz", coef=coef, intercept=np.array([0.0]))
    with pytest.raises(_dga_model.ModelError, match="SHA-256"):
        _dga_model.load(tmp_path / "dga.json")


def test_shipped_threshold_is_reproduced_from_the_corpus(corpora: Path) -> None:
    """The shipped coefficients score the corpus' calibration names (chosen by the split rule)
    to the recorded threshold, and the legitimate test names stay under the 0.1 % target."""
    frame = pd.read_csv(corpus_file(corpora), dtype=str, keep_default_na=False)
    legit = frame.loc[frame["label"] == "legit", "domain"].tolist()
    prepared = _dga_model.prepare(legit)
    calibration = [label for label, _own, b in prepared if label and b in _dga_model.CALIBRATION]
    test = [label for label, _own, b in prepared if label and b in _dga_model.TEST]
    model = _dga_model.load()
    assert len(calibration) == model.meta["calibration_names"]
    assert _dga_model.threshold_for(model.scores(calibration), model.meta["calibration_fpr"]) == model.threshold
    assert float(np.mean(model.scores(test) >= model.threshold)) <= 0.001


def test_training_is_deterministic_on_a_sample(corpora: Path) -> None:
    frame = pd.read_csv(corpus_file(corpora), dtype=str, keep_default_na=False)
    sample = pd.concat([frame[frame["label"] == "legit"].sample(3000, random_state=3),
                        frame[frame["label"] == "dga"].sample(3000, random_state=3)])
    names, y = sample["domain"].tolist(), (sample["label"] == "dga").astype(int).tolist()
    one = _dga_model.train(names, y, data_sha256="sample", n_features=2**14)
    three = _dga_model.train(names, y, data_sha256="sample", n_features=2**14)
    assert np.array_equal(one.coef, three.coef) and one.intercept == three.intercept
    assert one.threshold == three.threshold and one.legit_profile == three.legit_profile


def _store(tmp_path: Path, corpora: Path) -> tuple[EmbeddedEventStore, list[str]]:
    frame = pd.read_csv(corpus_file(corpora), dtype=str, keep_default_na=False)
    rng = random.Random(14)
    test_dga = [d for d in frame.loc[frame["family"] == "cryptolocker", "domain"] if _dga_model.bucket(d) in (8, 9)]
    test_legit = [d for d in frame.loc[frame["label"] == "legit", "domain"] if _dga_model.bucket(d) in (8, 9)]
    chosen = rng.sample(test_dga, 20)
    queries = []
    for i, browser in enumerate(BROWSERS):
        names = rng.sample(test_legit, 150)
        queries += [(at, browser, f"www.{name}" if j % 3 == 0 else name, "A")
                    for j, (at, name) in enumerate(zip(spread(T0 + timedelta(minutes=i), 150, 20), names, strict=True))]
    infected = rng.sample(test_legit, 40) + chosen
    queries += [(at, INFECTED, name, "A") for at, name in zip(spread(T0, len(infected), 45), infected, strict=True)]
    store = EmbeddedEventStore(tmp_path / "events.sqlite3")
    store.write(bind_events(queries))
    return store, chosen


def _detector(settings: Settings) -> dga.DgaDetector:
    load_plugins(["detectors"])
    detector = detectors.get("anomaly.dga")(settings)
    assert isinstance(detector, dga.DgaDetector)
    return detector


def test_hunt_raises_the_infected_host_only(tmp_path: Path, corpora: Path) -> None:
    store, chosen = _store(tmp_path, corpora)
    detector = _detector(replace(Settings(), data_dir=tmp_path))
    hits = detector.hunt(store, T0, T0 + timedelta(hours=3))
    assert [h.group_key for h in hits] == [INFECTED]
    hit = hits[0]
    assert hit.rule_id == "vigie-anomaly-dga" and hit.event_ids and INFECTED in hit.title
    explanation = hit.explanation or {}
    listed = {d["domain"] for d in explanation["domains"]}
    assert len(listed) >= 5 and listed <= set(chosen)
    features = {f["name"]: f for f in explanation["features"]}
    assert features["dga_domains"]["value"] == len(listed) and features["dga_domains"]["baseline"] == 3
    assert features["length"]["value"] > features["length"]["baseline"]
    assert features["rarity"]["value"] > features["rarity"]["baseline"]
    assert explanation["chart"]["labels"] and len(explanation["chart"]["labels"]) == len(explanation["chart"]["values"])
    events = store.get(hit.event_ids)
    assert {e["source"]["ip"] for e in events} == {INFECTED}
    assert all(e["dns"]["question"]["name"] in chosen for e in events)
    # an analyst marks the host as benign: it is not raised again
    detector.state.mark_benign("anomaly.dga", INFECTED)  # type: ignore[attr-defined]
    assert detector.hunt(store, T0, T0 + timedelta(hours=3)) == []


def test_min_domains_setting_decides(tmp_path: Path, corpora: Path) -> None:
    store, _chosen = _store(tmp_path, corpora)
    strict = _detector(replace(Settings(), anomaly_dga_min_domains=21))
    assert strict.hunt(store, T0, T0 + timedelta(hours=3)) == []
    loose = _detector(replace(Settings(), anomaly_dga_threshold=0.999999))
    assert len(loose.hunt(store, T0, T0 + timedelta(hours=3))) <= 1


HOSTILE = ["", ".", "..", "a..b.com", "trailing.dot.example.com.", "x" * 5000, ".".join(["a" * 63] * 60),
           "bücher.de", "ＷＷＷ.例え.テスト", "xn--bcher-kva.de", "com", "localhost", "\x00\x01.com", "a b.com",
           "-.-.--.org", "🙂.🙂.example", "1.2.3.4", "::1", "*.example.org"]


def test_hostile_names_do_not_crash(tmp_path: Path) -> None:
    queries = [(T0 + timedelta(seconds=i), "10.9.9.9", name, "A") for i, name in enumerate(HOSTILE)]
    frame = pd.DataFrame({"source.ip": ["10.9.9.9"] * len(HOSTILE) + [None, 7],
                          "dns.question.name": [*HOSTILE, "a.com", None],
                          "bucket": pd.Timestamp(T0), "queries": 1})
    limits = dga.Thresholds(score=0.0, min_domains=1)
    found = dga.findings([frame], dga.model(), limits, T0 + timedelta(hours=1))
    assert {f.key for f in found} <= {"10.9.9.9", "None", "7"}
    store = EmbeddedEventStore(tmp_path / "events.sqlite3")
    # the names a parser may hand over (Suricata and Zeek JSON carry any string): stored as given
    events = bind_events([(at, client, "placeholder.example", rtype) for at, client, _name, rtype in queries])
    for event, name in zip(events, HOSTILE, strict=True):
        event["dns"]["question"]["name"] = name
        event["event"]["id"] = f"hostile-{HOSTILE.index(name)}"
    store.write(events)
    hits = _detector(replace(Settings(), anomaly_dga_min_domains=1, anomaly_dga_threshold=0.01)).hunt(
        store, T0, T0 + timedelta(hours=1))
    assert [h.group_key for h in hits] == ["10.9.9.9"]
    assert list(reference_aggregate(store, AggregateQuery(T0, T0 + timedelta(hours=1), group=("dns.question.name",),
                                                          metrics=(Metric("n", "count"),))))
