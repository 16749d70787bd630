"""The DNS tunnelling detector (anomaly.dns_tunnel): through ``hunt()`` on an embedded store of BIND
query events built from the corpus' packets (dns2tcp, dnscapy, plain browsing), the two tunnels are
raised with their domain and the browsing host is not; the score on hand-made frames; hostile
names never crash it."""

from __future__ import annotations

import random
import string
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from cert.core.config import Settings
from cert.core.contracts import detectors
from cert.core.registry import load_plugins
from cert.storage.events.embedded import EmbeddedEventStore
from detectors.anomaly import dns_tunnel
from tests.detectors._dns_corpus import bind_events, spread
from tests.detectors.test_anomaly_dga import HOSTILE

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
HOSTS = {"dns2tcp": "10.30.0.21", "dnscapy": "10.30.0.22", "plain": "10.30.0.23"}
QTYPES = {1: "A", 5: "CNAME", 12: "PTR", 16: "TXT", 28: "AAAA", 10: "NULL"}


def _detector(settings: Settings) -> dns_tunnel.DnsTunnelDetector:
    load_plugins(["detectors"])
    detector = detectors.get("anomaly.dns_tunnel")(settings)
    assert isinstance(detector, dns_tunnel.DnsTunnelDetector)
    return detector


def _store(tmp_path: Path, corpora: Path) -> EmbeddedEventStore:
    frame = pd.read_csv(corpora / "anomaly" / "dns_tunnel" / "dns_packets_netrack_features.csv.gz",
                        usecols=["tool", "seq_in_capture", "qname", "qd_qtype"], keep_default_na=False)
    queries = []
    for tool, rows in frame.groupby("tool"):
        rows = rows.sort_values("seq_in_capture").head(600 if tool == "plain" else 200)
        for at, (name, qtype) in zip(spread(T0, len(rows), 5), rows[["qname", "qd_qtype"]].itertuples(index=False),
                                     strict=True):
            queries.append((at, HOSTS[str(tool)], str(name), QTYPES.get(int(qtype), "A")))
    store = EmbeddedEventStore(tmp_path / "events.sqlite3")
    store.write(bind_events(queries))
    return store


def test_hunt_raises_both_tunnels_and_not_the_browsing(tmp_path: Path, corpora: Path) -> None:
    store = _store(tmp_path, corpora)
    detector = _detector(replace(Settings(), data_dir=tmp_path))
    hits = detector.hunt(store, T0, T0 + timedelta(hours=2))
    assert sorted(h.group_key for h in hits) == ["10.30.0.21 hidemyself.org", "10.30.0.22 example.org"]
    for hit in hits:
        explanation = hit.explanation or {}
        features = {f["name"]: f for f in explanation["features"]}
        assert explanation["score"] >= 0.6
        assert features["length"]["value"] > 52 > features["length"]["baseline"]
        assert features["entropy"]["value"] > 5.0
        assert features["data_types"]["value"] > 0.9
        chart = explanation["chart"]
        assert chart["labels"][-1] == "128-253" and sum(chart["values"]) == features["unique"]["value"]
        events = store.get(hit.event_ids)
        assert events and all(e["dns"]["question"]["name"].rstrip(".").endswith(explanation["domain"]) for e in events)
    detector.state.mark_benign("anomaly.dns_tunnel", "10.30.0.21 hidemyself.org")  # type: ignore[attr-defined]
    assert [h.group_key for h in detector.hunt(store, T0, T0 + timedelta(hours=2))] == ["10.30.0.22 example.org"]


def test_settings_decide(tmp_path: Path, corpora: Path) -> None:
    store = _store(tmp_path, corpora)
    assert _detector(replace(Settings(), anomaly_dns_tunnel_min_queries=201)).hunt(store, T0, T0 + timedelta(hours=2)) == []
    assert _detector(replace(Settings(), anomaly_dns_tunnel_threshold=1.01)).hunt(store, T0, T0 + timedelta(hours=2)) == []


def _frame(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame({"source.ip": [r[0] for r in rows], "dns.question.name": [r[1] for r in rows],
                         "bucket": pd.Timestamp(T0), "queries": [r[2] for r in rows]})


def test_score_of_hand_made_frames() -> None:
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits + "+/"
    tunnel = [("h", "".join(rng.choice(alphabet) for _ in range(60)) + ".t.example.net", 1) for _ in range(400)]
    cdn = [("h", f"e{i}.dscb.cdnprovider.com", 3) for i in range(400)]
    web = [("h", "www.example.org", 40), ("h", "example.org", 5)]
    types = pd.DataFrame({"source.ip": ["h"] * 400, "dns.question.name": [n for _h, n, _c in tunnel],
                          "dns.question.type": "TXT", "queries": 1})
    table = dns_tunnel.measures([_frame(tunnel + cdn + web)], [types])
    scores = dict(zip(table["registered"], table["score"], strict=True))
    assert scores["example.net"] == 1.0
    assert scores["cdnprovider.com"] < 0.6 and scores["example.org"] < 0.2
    found = dns_tunnel.findings([_frame(tunnel + cdn + web)], [types], dns_tunnel.Thresholds(0.6, 30),
                                T0 + timedelta(hours=1))
    assert [f.key for f in found] == ["h example.net"]
    # without record types, length, count and entropy alone still raise it
    assert [f.key for f in dns_tunnel.findings([_frame(tunnel)], [], dns_tunnel.Thresholds(0.6, 30),
                                               T0 + timedelta(hours=1))] == ["h example.net"]


def test_hostile_names_do_not_crash() -> None:
    names = [*HOSTILE, None, 12, "a." * 200 + "evil.com"]
    frame = pd.DataFrame({"source.ip": ["h"] * len(names), "dns.question.name": names,
                          "bucket": pd.Timestamp(T0), "queries": 10_000_000_000})
    types = frame.drop(columns=["bucket"]).assign(**{"dns.question.type": ["TXT", None, 16, "\x00"] * 5 + ["A"] * 2})
    found = dns_tunnel.findings([frame], [types], dns_tunnel.Thresholds(0.0, 1), T0 + timedelta(hours=1))
    assert all(f.key.startswith("h ") and f.explanation["features"] for f in found)
    assert dns_tunnel.findings([frame.iloc[0:0]], [], dns_tunnel.Thresholds(0.0, 1), T0) == []
