"""Rare Windows behaviour on ``windows/otrf_atomic_empire.labeled.jsonl.gz`` (37 OTRF datasets, one
Empire technique each, in a small lab), leave one dataset out.

Split: for each dataset, the baseline is learnt (``learn``) from the events of the 36 others
labelled background or unknown (attack events left out; the unknown ones are the logons, without
which the logon kinds learn nothing; a second variant learns from background events only, its
summary printed too), read from an embedded store as the detector reads them (``read``: hourly
aggregates, then ``behaviours``); the held-out dataset, all its events, is then judged with
``novel`` as the detector judges a window after its learning period. The datasets are minutes recorded months apart
(2019-12 to 2023-07), so the baseline keeps all of them (retention covering the corpus instead of
the 30-day default) and the held-out window is replayed after the latest of them (its hours shifted
by a constant): the baseline is not in time order (later datasets teach earlier ones). Settings
defaults otherwise (at most 10 % of the other entities showing a behaviour, 5,000 entries).

(a) Per dataset, the findings of the four kinds ranked best first (the order of ``novel``): does
the top 5 / top 10 hold a finding covering an event labelled ``attack``, and one covering a
technique-specific attack event? An attack event is technique-specific when its parent-child pair
or its command-line shape is labelled attack only in datasets of one technique (``_technique``);
the agent's own footprint (``powershell.exe -> whoami.exe``, ``powershell.exe -> conhost.exe``) is
in many, and does not tell the technique. Datasets without such an event are "not told".

(b) Per process-start event (Sysmon 1, Security 4688) labelled attack or background: raised when
its pair or shape is a finding; the score, for the ROC AUC, is the best ``novel`` score of its pair
and shape with no prevalence cap (one minus the share of other hosts showing it; 0 when the host
already showed both).

Baseline measured in the same run: "process name never seen on this host" (host, process.name)
against the same 36 datasets' learnt process starts; binary score; its findings ranked rarest
first. The labels are the corpus's heuristic labels (README: ``_label`` is heuristic; logon events
are ``unknown``; 5 datasets have no attack event at all, 3 more none among process starts).
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

from bench.anomaly.otrf import CORPUS, events
from cert.core.aggregate import BUCKET
from cert.core.config import Settings
from cert.core.ecs import Event, get, parse_ts
from cert.storage.events.embedded import EmbeddedEventStore
from detectors.anomaly.rare_windows import HOUR, KINDS, Baseline, Kind, Novelty, behaviours, copy, learn, novel, read

TOP = (5, 10)
#: what the baseline learns from the other datasets, per variant: the first is reported in full
LEARNT = {"background and unknown": frozenset({"background", "unknown"}), "background only": frozenset({"background"})}
PROCESS_KINDS = ("pair", "shape")


def _scalar(value: Any) -> Any:
    return None if isinstance(value, (list, dict)) else value


def _has(value: Any, wanted: str) -> bool:
    return wanted in value if isinstance(value, list) else value == wanted


def _matches(event: Event, kind: Kind) -> bool:
    """Whether the event is one the kind's aggregate query selects (its ``terms``)."""
    return all(any(_has(get(event, f), str(v)) or str(_scalar(get(event, f))) == str(v) for v in values)
               for f, values in kind.terms.items())


@dataclass
class Corpus:
    """The parsed events per dataset, and one row per event that a kind reads (``table``)."""

    table: pd.DataFrame
    windows: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    technique: dict[str, str] = field(default_factory=dict)


def load(all_store: EmbeddedEventStore, learnt: dict[str, EmbeddedEventStore]) -> Corpus:
    """Every corpus event into ``all_store``, into each store of ``learnt`` the events whose label
    its variant learns from (``LEARNT``), and the table of the events the kinds read with the
    corpus's labels."""
    rows: list[dict[str, Any]] = []
    windows: dict[str, tuple[datetime, datetime]] = {}
    technique: dict[str, str] = {}
    batch: list[Event] = []
    kept: dict[str, list[Event]] = {v: [] for v in learnt}
    fields = sorted({f for k in KINDS for f in (k.entity, *k.fields)})
    for event, columns in events(CORPUS):
        dataset = str(columns["_dataset_file"])
        technique[dataset] = str(columns.get("_technique", ""))
        at = parse_ts(event["@timestamp"])
        lo, hi = windows.get(dataset, (at, at))
        windows[dataset] = (min(lo, at), max(hi, at))
        batch.append(event)
        for variant in learnt:
            if columns["_label"] in LEARNT[variant]:
                kept[variant].append(event)
        kinds = [k.name for k in KINDS if _matches(event, k)]
        if kinds:
            rows.append({"id": event["event"]["id"], "dataset": dataset, "label": columns["_label"],
                         "reason": columns.get("_label_reason", ""), "at": at,
                         "process": "pair" in kinds, "logon": "logon_source" in kinds,
                         **{f: _scalar(get(event, f)) for f in fields}})
        if len(batch) >= 5000:
            all_store.write(batch)
            for variant, store in learnt.items():
                store.write(kept[variant])
                kept[variant] = []
            batch = []
    all_store.write(batch)
    for variant, store in learnt.items():
        store.write(kept[variant])
    table = pd.DataFrame(rows)
    windows = {d: (lo, hi + timedelta(seconds=1)) for d, (lo, hi) in windows.items()}
    return Corpus(table=table, windows=windows, technique=technique)


def event_values(kind: Kind, table: pd.DataFrame) -> pd.Series:
    """The behaviour value of each event of ``table`` for the kind, computed by ``behaviours``
    (each event its own group: its row number stands for the bucket); NaN where the kind leaves
    the event out (a missing field, as the aggregate leaves it out; a machine account...)."""
    columns = [kind.entity, *kind.fields]
    part = table[table[columns].notna().all(axis=1)]
    frame = part[columns].copy()
    frame[BUCKET] = range(len(part))
    frame["events"] = 1
    values = behaviours(kind, frame)
    out = pd.Series(index=table.index, dtype=object)
    out.loc[part.index[values["bucket"].astype(int).to_numpy()]] = values["value"].to_numpy()
    return out


def technique_specific(corpus: Corpus, values: dict[str, pd.Series]) -> pd.Series:
    """Attack process starts whose pair or shape is labelled attack in datasets of one technique only."""
    t = corpus.table
    attack = t["process"] & (t["label"] == "attack")
    technique = t["dataset"].map(corpus.technique)
    specific = pd.Series(False, index=t.index)
    for kind in PROCESS_KINDS:
        v = values[kind]
        spread = technique[attack & v.notna()].groupby(v[attack & v.notna()]).nunique()
        specific |= attack & v.map(spread).eq(1)
    return specific


@dataclass
class Fold:
    """What one held-out dataset gave: ranked findings as (kind, entity, value) and the per-event
    flags and scores of its process starts, for the detector and the baseline rule."""

    findings: list[tuple[str, str, str]]
    baseline_findings: list[tuple[str, str]]
    flagged: pd.Series
    score: pd.Series
    baseline_flagged: pd.Series


def fold(dataset: str, corpus: Corpus, frames: dict[str, dict[str, pd.DataFrame]],
         background: dict[str, dict[str, pd.DataFrame]], values: dict[str, pd.Series], settings: Settings,
         first_hour: int, last_hour: int, labels: frozenset[str]) -> Fold:
    t = corpus.table
    start, end = corpus.windows[dataset]
    shift = timedelta(hours=last_hour + 1 - int(start.timestamp()) // HOUR)
    retention = last_hour - first_hour + 48
    max_entries = int(settings.anomaly_rare_windows_max_entries)
    cap = int(settings.anomaly_rare_windows_max_prevalence_percent) / 100
    found: list[Novelty] = []
    scores: dict[tuple[str, str, str], float] = {}
    for kind in KINDS:
        before = Baseline(entities={}, shared={}, known={})
        learnt = [background[d][kind.name] for d in background if d != dataset]
        learn(before, pd.concat(learnt, ignore_index=True), last_hour, retention, max_entries)
        held = frames[dataset][kind.name].copy()
        if len(held):
            held["bucket"] = held["bucket"] + shift
        after = copy(before)
        learn(after, held, int((end + shift).timestamp()) // HOUR, retention, max_entries)
        found.extend(novel(kind, before, after, held, start + shift, start + shift, cap))
        if kind.name in PROCESS_KINDS:
            scores.update({(n.kind, n.entity, n.value): n.score
                           for n in novel(kind, before, after, held, start + shift, start + shift, 1.0)})
    found.sort(key=lambda n: (-n.score, n.events, n.entity, n.value))
    raised = {(n.kind, n.entity, n.value) for n in found}

    mine = t[(t["dataset"] == dataset) & t["process"]]
    flagged = pd.Series(False, index=mine.index, dtype=bool)
    score = pd.Series(0.0, index=mine.index)
    for name in PROCESS_KINDS:
        keys = [(name, str(h), str(v)) for h, v in zip(mine["host.name"], values[name].loc[mine.index], strict=True)]
        flagged |= pd.Series([k in raised for k in keys], index=mine.index, dtype=bool)
        score = score.combine(pd.Series([scores.get(k, 0.0) for k in keys], index=mine.index), max)

    known = t[(t["dataset"] != dataset) & t["process"] & t["label"].isin(labels)]
    seen = set(zip(known["host.name"], known["process.name"], strict=True))
    names = list(zip(mine["host.name"], mine["process.name"], strict=True))
    baseline_flagged = pd.Series([n not in seen for n in names], index=mine.index, dtype=bool)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for n, new in zip(names, baseline_flagged, strict=True):
        if new:
            counts[(str(n[0]), str(n[1]))] += 1
    baseline_findings = sorted(counts, key=lambda n: (counts[n], n))
    return Fold(findings=[(n.kind, n.entity, n.value) for n in found], baseline_findings=baseline_findings,
                flagged=flagged, score=score, baseline_flagged=baseline_flagged)


def covered(findings: Iterable[tuple[str, ...]], dataset: str, corpus: Corpus,
            values: dict[str, pd.Series]) -> pd.Index:
    """The events of the dataset that findings cover (the evidence a hunt would fetch)."""
    t = corpus.table
    mine = t[t["dataset"] == dataset]
    hit = pd.Series(False, index=mine.index)
    for finding in findings:
        if len(finding) == 2:
            host, name = finding
            hit |= mine["process"] & (mine["host.name"] == host) & (mine["process.name"] == name)
            continue
        kind, entity, value = finding
        entities = mine[next(k.entity for k in KINDS if k.name == kind)].astype(str)
        hit |= (entities == entity) & (values[kind].loc[mine.index] == value)
    return mine.index[hit.to_numpy()]


def measure(name: str, label: pd.Series, flagged: pd.Series, score: pd.Series) -> dict[str, Any]:
    p, r, f, _ = precision_recall_fscore_support(label, flagged, average="binary", zero_division=0)
    auc = roc_auc_score(label, score) if label.nunique() == 2 else float("nan")
    row = {"method": name, "events": len(label), "positives": int(label.sum()), "raised": int(flagged.sum()),
           "precision": round(float(p), 3), "recall": round(float(r), 3), "f1": round(float(f), 3),
           "roc_auc": round(float(auc), 3)}
    print(f"  {name:<36} P {row['precision']:.3f}  R {row['recall']:.3f}  F1 {row['f1']:.3f}  "
          f"AUC {row['roc_auc']:.3f}  raised {row['raised']}/{row['events']} (positives {row['positives']})")
    return row


def variant(name: str, corpus: Corpus, frames: dict[str, dict[str, pd.DataFrame]],
            learnt: dict[str, dict[str, pd.DataFrame]], values: dict[str, pd.Series], specific: pd.Series,
            settings: Settings, full: bool) -> dict[str, Any]:
    """The folds with the baseline learnt from ``learnt``; per-dataset lines printed when ``full``."""
    t = corpus.table
    first_hour = min(int(lo.timestamp()) // HOUR for lo, _ in corpus.windows.values())
    last_hour = max(int(hi.timestamp()) // HOUR for _, hi in corpus.windows.values())
    flagged, score, baseline_flagged = [], [], []
    per_dataset = []
    print(f"baseline learnt from the other datasets' events labelled {name}")
    if full:
        print(f"  {'dataset':<58} {'tech':<10} att  told  found  detector top5/top10 att, tech  "
              f"| baseline found  top5/top10 att, tech")
    for dataset in sorted(corpus.windows, key=lambda d: corpus.windows[d][0]):
        f = fold(dataset, corpus, frames, learnt, values, settings, first_hour, last_hour, LEARNT[name])
        flagged.append(f.flagged)
        score.append(f.score)
        baseline_flagged.append(f.baseline_flagged)
        mine = t[(t["dataset"] == dataset) & t["process"]]
        attack = int((mine["label"] == "attack").sum())
        told = bool(specific.loc[mine.index].any())
        row: dict[str, Any] = {"dataset": dataset, "technique": corpus.technique[dataset],
                               "attack_process_starts": attack, "told": told,
                               "findings": len(f.findings), "baseline_findings": len(f.baseline_findings)}
        for method, ranked in (("detector", f.findings), ("baseline", f.baseline_findings)):
            for k in TOP:
                ids = covered(ranked[:k], dataset, corpus, values)
                row[f"{method}_top{k}_attack"] = bool((t.loc[ids, "label"] == "attack").any())
                row[f"{method}_top{k}_technique"] = bool(specific.loc[ids].any())
        per_dataset.append(row)

        def marks(method: str, r: dict[str, Any] = row) -> str:
            return " ".join(("A" if r[f"{method}_top{k}_attack"] else "-") + ("T" if r[f"{method}_top{k}_technique"]
                            else "-") for k in TOP)

        if full:
            print(f"  {dataset:<58} {row['technique']:<10} {attack:>3}  {'yes' if told else 'no ':<4} "
                  f"{len(f.findings):>5}  {marks('detector'):<31}| {len(f.baseline_findings):>14}  "
                  f"{marks('baseline')}")

    summary: dict[str, Any] = {}
    with_attack = [r for r in per_dataset if r["attack_process_starts"]]
    tellable = [r for r in per_dataset if r["told"]]
    without = [r for r in per_dataset if not r["attack_process_starts"]]
    print(f"  datasets with attack-labelled process starts: {len(with_attack)}; technique told: {len(tellable)}; "
          f"none: {len(without)}")
    for method in ("detector", "baseline"):
        for k in TOP:
            summary[f"{method}_top{k}_attack"] = sum(r[f"{method}_top{k}_attack"] for r in with_attack)
            summary[f"{method}_top{k}_technique"] = sum(r[f"{method}_top{k}_technique"] for r in tellable)
        n = "findings" if method == "detector" else "baseline_findings"
        summary[f"{method}_findings_median"] = float(pd.Series([r[n] for r in per_dataset]).median())
        summary[f"{method}_findings_without_attack"] = sum(r[n] for r in without)
        print(f"  {method:<8} attack in top 5: {summary[f'{method}_top5_attack']}/{len(with_attack)}, top 10: "
              f"{summary[f'{method}_top10_attack']}/{len(with_attack)}; technique in top 5: "
              f"{summary[f'{method}_top5_technique']}/{len(tellable)}, top 10: "
              f"{summary[f'{method}_top10_technique']}/{len(tellable)}; findings per dataset (median) "
              f"{summary[f'{method}_findings_median']:g}; "
              f"findings on the {len(without)} datasets without attack process starts: "
              f"{summary[f'{method}_findings_without_attack']}")

    judged = pd.concat(flagged).index
    label_all = t.loc[judged, "label"]
    keep = label_all.isin(["attack", "background"])
    label = (label_all[keep] == "attack").astype(int)
    print(f"  process starts labelled attack/background (heuristic labels): {len(label)}, "
          f"{int(label.sum())} attack")
    rows = [measure("rare pair/shape (shipped)", label, pd.concat(flagged)[keep], pd.concat(score)[keep]),
            measure("process name never seen on this host", label, pd.concat(baseline_flagged)[keep],
                    pd.concat(baseline_flagged)[keep].astype(float))]
    return {"datasets": per_dataset, "summary": summary, "rows": rows}


def evaluate() -> dict[str, Any]:
    started = time.perf_counter()
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="vigie-eval-rare-") as tmp:
        all_store = EmbeddedEventStore(Path(tmp) / "all.sqlite3")
        stores = {v: EmbeddedEventStore(Path(tmp) / f"learnt-{i}.sqlite3") for i, v in enumerate(LEARNT)}
        corpus = load(all_store, stores)
        frames = {d: {k.name: read(all_store, k, lo, hi) for k in KINDS} for d, (lo, hi) in corpus.windows.items()}
        learnt = {v: {d: {k.name: read(store, k, lo, hi) for k in KINDS} for d, (lo, hi) in corpus.windows.items()}
                  for v, store in stores.items()}
        for store in (all_store, *stores.values()):
            store.close()
    print(f"leave one dataset out over {len(corpus.windows)} datasets "
          f"({time.perf_counter() - started:.1f} s to parse, store and aggregate)")
    values = {k.name: event_values(k, corpus.table) for k in KINDS}
    specific = technique_specific(corpus, values)
    out: dict[str, Any] = {"max_prevalence_percent": int(settings.anomaly_rare_windows_max_prevalence_percent),
                           "variants": {}}
    for i, name in enumerate(LEARNT):
        out["variants"][name] = variant(name, corpus, frames, learnt[name], values, specific, settings, i == 0)
    out["seconds"] = round(time.perf_counter() - started, 2)
    print(f"{out['seconds']} s")
    return out
