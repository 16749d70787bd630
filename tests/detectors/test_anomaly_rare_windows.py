"""The rare-Windows-behaviour detector through ``hunt()`` on an embedded store holding OTRF events
(the Empire VBS launcher dataset, parsed by Vigie's NXLog parser): nothing during the learning
period; after it, the agent's never-seen parent-child pair raised with its explanation, the lab's
usual behaviour not; the baseline kept in the state; hostile values never crash."""

from __future__ import annotations

import copy
import gzip
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cert.core.anomaly import MemoryState
from cert.core.config import Settings
from cert.core.contracts import detectors
from cert.core.ecs import Event
from cert.storage.events.embedded import EmbeddedEventStore
from detectors.anomaly.rare_windows import KIND, Baseline, RareWindowsBehaviour, generalise, learn, novel
from ingest.parsers.windows_nxlog import NxlogWindowsParser

CORPUS = Settings().corpora_dir / "anomaly" / "windows" / "otrf_atomic_empire.labeled.jsonl.gz"
DATASET = "empire_launcher_vbs.zip"
LATER = timedelta(days=3)


def corpus(dataset: str) -> list[tuple[Event, str]]:
    """(event, heuristic label) of one dataset, each record parsed as the NXLog line it was."""
    parser = NxlogWindowsParser()
    out = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if dataset not in line:
                continue
            record = json.loads(line)
            if record["_dataset_file"] != dataset:
                continue
            doc = {k: v for k, v in record.items() if not k.startswith("_") and k != "@timestamp"}
            doc["EventTime"] = record["@timestamp"]
            if doc["Channel"] == "Security":
                doc["SourceName"] = "Microsoft-Windows-Security-Auditing"
            event = parser.parse(json.dumps(doc))
            assert event is not None
            event["event"]["id"] = f"otrf-{i}"
            out.append((event, record["_label"]))
    return out


def shifted(event: Event, by: timedelta, tag: str) -> Event:
    e = copy.deepcopy(event)
    at = datetime.fromisoformat(e["@timestamp"].replace("Z", "+00:00")) + by
    e["@timestamp"] = at.isoformat().replace("+00:00", "Z")
    e["event"]["id"] = f"{e['event']['id']}-{tag}"
    return e


@pytest.fixture(scope="module")
def lab() -> list[tuple[Event, str]]:
    return corpus(DATASET)


@pytest.fixture
def store(tmp_path: Path, lab: list[tuple[Event, str]]) -> EmbeddedEventStore:
    """The dataset's background events at their time (the learning period), and the whole dataset,
    attack included, again three days later."""
    s = EmbeddedEventStore(tmp_path / "events.sqlite3")
    s.write([e for e, label in lab if label == "background"])
    s.write([shifted(e, LATER, "later") for e, _ in lab])
    return s


def span(lab: list[tuple[Event, str]], later: bool) -> tuple[datetime, datetime]:
    times = [datetime.fromisoformat(e["@timestamp"].replace("Z", "+00:00")) for e, _ in lab]
    lo, hi = min(times), max(times) + timedelta(seconds=1)
    return (lo + LATER, hi + LATER) if later else (lo, hi)


def detector(state: MemoryState | None = None) -> RareWindowsBehaviour:
    d = RareWindowsBehaviour(replace(Settings(), anomaly_rare_windows_learning_hours=24))
    if state is not None:
        d.state = state
    return d


def test_registered() -> None:
    assert detectors.get("anomaly.rare_windows") is RareWindowsBehaviour


def test_learning_raises_nothing_then_the_new_pair_is_raised_explained(
        store: EmbeddedEventStore, lab: list[tuple[Event, str]]) -> None:
    state = MemoryState()
    start, end = span(lab, later=False)
    assert detector(state).hunt(store, start, end) == []  # all of it is new, but the baseline is learning
    start, end = span(lab, later=True)
    hits = detector(state).hunt(store, start, end)
    keys = {h.group_key for h in hits}
    # the agent's discovery (the heuristic labels the launcher itself as background: it is learnt)
    assert "pair|WORKSTATION5.theshire.local|powershell.exe -> whoami.exe" in keys
    hit = next(h for h in hits if h.group_key.endswith("powershell.exe -> whoami.exe"))
    assert hit.detector == "anomaly.rare_windows" and hit.rule_id == "vigie-anomaly-rare-windows"
    assert "WORKSTATION5.theshire.local: powershell.exe -> whoami.exe" in hit.title
    evidence = store.get(hit.event_ids)
    assert len(evidence) == 2 and all(e["process"]["name"] == "whoami.exe" for e in evidence)
    features = {f["name"]: f for f in hit.explanation["features"]}
    assert features["pair"]["value"] == "powershell.exe -> whoami.exe"
    assert features["elsewhere"]["value"] == 0 and hit.explanation["score"] == 1.0
    # its command line is a shape never seen either
    assert r"shape|WORKSTATION5.theshire.local|<dir>\whoami.exe" in keys
    # what the lab did during learning is not raised again three days later
    labels = {e["event"]["id"]: label for e, label in lab}
    for h in hits:
        assert any(labels.get(i.removesuffix("-later")) != "background" for i in h.event_ids), h.group_key


def test_baseline_persists_in_the_state(store: EmbeddedEventStore, lab: list[tuple[Event, str]]) -> None:
    state = MemoryState()
    learning, later = span(lab, later=False), span(lab, later=True)
    detector(state).hunt(store, *learning)
    assert state.baseline("anomaly.rare_windows", "pair:WORKSTATION5.theshire.local")
    assert state.baseline("anomaly.rare_windows", "meta")
    first = {h.group_key for h in detector(state).hunt(store, *later)}
    again = {h.group_key for h in detector(state).hunt(store, *later)}  # a re-run reports the same
    assert first and first == again
    assert detector(MemoryState()).hunt(store, *later) == []  # a forgotten baseline learns again
    state.mark_benign("anomaly.rare_windows", "pair|WORKSTATION5.theshire.local|powershell.exe -> whoami.exe")
    assert "pair|WORKSTATION5.theshire.local|powershell.exe -> whoami.exe" not in \
        {h.group_key for h in detector(state).hunt(store, *later)}


def frame(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"entity": e, "value": v, "host": e, "bucket": pd.Timestamp(t, tz="UTC"), "events": 1,
                          "example": ""} for e, v, t in rows])


def test_prevalence_and_ageing_on_hand_made_frames() -> None:
    b = Baseline({}, {}, {})
    learn(b, frame([(f"h{i}", "svchost.exe -> taskhostw.exe", "2026-01-01 00:00") for i in range(20)]
                   + [("h0", "cmd.exe -> whoami.exe", "2026-01-01 00:00")]),
          now_hour=493_000, retention_hours=24 * 365 * 100, max_entries=100)
    window = frame([("h1", "cmd.exe -> whoami.exe", "2026-02-01 10:00"),
                    ("h2", "word.exe -> powershell.exe", "2026-02-01 10:00"),
                    ("h2", "svchost.exe -> taskhostw.exe", "2026-02-01 10:00")])
    before = copy.deepcopy(b)
    learn(b, window, now_hour=493_000, retention_hours=24 * 365 * 100, max_entries=100)
    start = datetime(2026, 2, 1, 9, tzinfo=UTC)
    found = novel(KIND["pair"], before, b, window, start, start, max_prevalence=0.1)
    assert [(n.entity, n.value, n.elsewhere, n.others) for n in found] == [
        ("h2", "word.exe -> powershell.exe", 0, 19), ("h1", "cmd.exe -> whoami.exe", 1, 19)]
    assert found[0].score == 1.0 and found[1].score == round(1 - 1 / 19, 4)
    assert novel(KIND["pair"], before, b, window, start, start, max_prevalence=0.0)[0].entity == "h2"
    # after the retention, everything of January is forgotten
    learn(b, frame([]), now_hour=int(datetime(2026, 6, 1, tzinfo=UTC).timestamp()) // 3600,
          retention_hours=24 * 30, max_entries=100)
    assert b.entities == {} and b.shared == {} and b.known == {}


def test_command_line_shapes() -> None:
    assert generalise('"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe" -noP -sta -w 1 -enc '
                      "SQBGACgAJABQAFMAVgBlAFIAcwBpAE8ATgBUAEEAQgBMAGUA") == \
        "<dir>\\powershell.exe -nop -sta -w <n> -enc <blob>"
    assert generalise(r'"C:\Program Files (x86)\App\up.exe" /id {0a1b2c3d-aaaa-bbbb-cccc-0123456789ab} 4242') == \
        generalise(r'"C:\Program Files (x86)\App\up.exe" /id {ffffffff-aaaa-bbbb-cccc-0123456789ab} 7')
    assert generalise(r"cmd.exe /c whoami") != generalise(r"cmd.exe /c net user")
    assert len(generalise("x" * 100_000)) <= 300


def hostile(i: int, value: Any) -> Event:
    return {"@timestamp": f"2026-03-0{1 + i % 3}T10:00:00Z",
            "event": {"id": f"h{i}", "category": ["process"], "type": ["start"], "code": "4624",
                      "dataset": "windows.security"},
            "host": {"name": value}, "user": {"name": value}, "source": {"ip": value},
            "winlog": {"logon": {"type": value}},
            "process": {"name": value, "command_line": value, "parent": {"name": value}}}


def test_hostile_values_do_not_crash(tmp_path: Path) -> None:
    s = EmbeddedEventStore(tmp_path / "h.sqlite3")
    values: list[Any] = [None, 0, -1, 2**63 - 1, 1.5e308, True, "", " ", "\x00<script>", "é" * 5000, "$",
                         ["a", "b"], {"x": 1}, "a -> b", "|", "C:\\" + "a\\" * 2000]
    s.write([hostile(i, v) for i, v in enumerate(values)])
    d = detector()
    d.settings = replace(d.settings, anomaly_rare_windows_learning_hours=1)
    d.hunt(s, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 1, 1, tzinfo=UTC))
    hits = d.hunt(s, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC))
    for h in hits:
        assert 0 <= h.explanation["score"] <= 1 and len(h.title) <= 300
