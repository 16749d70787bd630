"""SigmaHQ conformance: the unmodified SigmaHQ rule tree, through our EVTX ingest.

* every regression case of SigmaHQ (``regression_data``: a rule id and the EVTX sample it must
  match) fires as the case says, read by the ``windows.evtx`` parser through the Ingestor;
* the fast engine and the naive oracle agree on every event of the EVTX attack corpus.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
from sigma.types import SigmaNumber, SigmaString
from support import corpora_dir

from cert.core.config import Settings
from cert.core.parser import parsers
from cert.core.registry import load_plugins
from cert.pipeline.ingestor import Ingestor
from cert.runtime.platform import Platform
from detectors.sigma.detector import SigmaDetector
from detectors.sigma.naive import NaiveEngine

load_plugins(["ingest.parsers", "detectors"])

SIGMA = corpora_dir() / "sigma"
TREES = ("rules", "rules-emerging-threats", "rules-threat-hunting")
# Samples holding more matching events than the case's minimum ``match_count`` (SigmaHQ's runner
# only warns about those); each extra event was checked by hand to match the rule as written.
MORE_THAN_MINIMUM = {
    "file_event_win_cred_dump_tools_dropped_files": 3,  # procdump64.exe, procdump64a.exe, procdump.exe
    "proc_creation_win_dtrace_kernel_dump": 2,  # two dtrace -w lkd() command lines
    "proc_creation_win_github_self_hosted_runner": 2,  # Runner.Listener and Runner.Worker
    "registry_set_disable_administrative_share": 2,  # AutoShareServer and AutoShareWks
}


def _cases() -> list[tuple[str, str, Path, int]]:
    out = []
    for info in sorted((SIGMA / "regression_data").glob("**/info.yml")):
        doc = yaml.safe_load(info.read_text(encoding="utf-8"))
        rule_id = doc["rule_metadata"][0]["id"]
        out.extend((info.parent.name, rule_id, SIGMA / test["path"], int(test.get("match_count") or 1))
                   for test in doc["regression_tests_info"])
    return out


@pytest.fixture(scope="module")
def sigmahq(tmp_path_factory: pytest.TempPathFactory) -> SigmaDetector:
    if not (SIGMA / "rules").is_dir():
        pytest.skip(f"SigmaHQ corpus not found under {SIGMA}")
    settings = replace(Settings(), data_dir=tmp_path_factory.mktemp("sigmahq"),
                       sigma_paths=tuple(str(SIGMA / t) for t in TREES))
    return SigmaDetector(settings)


@pytest.fixture
def evtx_platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(replace(Settings(), data_dir=tmp_path / "data", secret_key="x"))
    p.db.upgrade()
    yield p
    p.close()


def test_sigmahq_tree_loads_with_pysigma(sigmahq: SigmaDetector) -> None:
    info = sigmahq.summary()
    sigmahq_rules = [r for r in sigmahq.rules if r.info.provenance == "sigmahq"]
    assert info["files"] >= 3141 + 600
    assert len(sigmahq_rules) >= 0.97 * 3141 + 600
    assert all(r.info.provenance == "local" for r in sigmahq.rules if "/rules/sigma/" in r.info.source)
    # what is refused says why: ETW-only Windows sources, a database logsource, placeholders
    # with no configured values
    reasons = {r.reason for r in sigmahq.rejected}
    assert reasons and all(r.startswith(("windows/file_access:", "windows/file_rename:", "placeholder %known_cdcs%",
                                         "no event source for logsource -/database/-")) for r in reasons), reasons


def test_every_regression_case_fires_through_the_evtx_ingest(sigmahq: SigmaDetector, evtx_platform: Platform) -> None:
    cases = _cases()
    assert len(cases) >= 139
    collected: list[dict[str, Any]] = []
    lock = threading.Lock()

    def keep(events: list[dict[str, Any]]) -> None:
        with lock:
            collected.extend(events)

    ingestor = Ingestor(evtx_platform, "windows.evtx", on_batch=keep)
    naive = NaiveEngine([(r.info.id, [t for v in r.variants for t in v.trees]) for r in sigmahq.rules])
    wrong = []
    for name, rule_id, sample, minimum in cases:
        collected.clear()
        summary = ingestor.ingest(ingestor.parser.read(str(sample)), source=str(sample))
        assert summary.dead_lettered == 0, (sample, summary.dead_letters)
        assert collected, sample
        fast = sum(1 for e in collected if rule_id in sigmahq.matches(e))
        oracle = sum(1 for e in collected if rule_id in naive.matches(e))
        expected = MORE_THAN_MINIMUM.get(name, minimum)
        if fast != expected or oracle != expected:
            wrong.append((name, rule_id, f"fast {fast}, oracle {oracle}, expected {expected}"))
    assert not wrong, wrong


# -- fast engine vs oracle on the EVTX corpus --------------------------------------------------

GUARDED = ("winlog.channel", "winlog.event_id", "event.dataset")


def _guard(tree: Any) -> dict[str, frozenset[Any]]:
    """Values a processed condition tree requires at its top level (an AND of equality tests on
    winlog.channel, winlog.event_id or event.dataset), read straight from pySigma's tree: a rule
    cannot match an event holding other values, so the oracle need not be asked (it says False)."""
    found: dict[str, frozenset[Any]] = {}
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ConditionAND):
            stack.extend(node.args)
            continue
        leaves = node.args if isinstance(node, ConditionOR) else [node]
        if not all(isinstance(x, ConditionFieldEqualsValueExpression) for x in leaves):
            continue
        fields = {x.field for x in leaves}
        if len(fields) != 1 or (name := fields.pop()) not in GUARDED:
            continue
        if all(isinstance(x.value, SigmaString) and not x.value.contains_special() for x in leaves):
            found[name] = frozenset(str(x.value).lower() for x in leaves)
        elif all(isinstance(x.value, SigmaNumber) for x in leaves):
            found[name] = frozenset(str(x.value.number) for x in leaves)
    return found


def _key(ev: dict[str, Any]) -> tuple[str, str, str]:
    w, e = ev.get("winlog", {}), ev.get("event", {})
    return (str(w.get("channel", "")).lower(), str(w.get("event_id", "")), str(e.get("dataset", "")).lower())


def test_fast_engine_and_oracle_agree_on_every_evtx_corpus_event(sigmahq: SigmaDetector) -> None:
    parser = parsers.get("windows.evtx")()
    events = []
    for path in sorted((corpora_dir() / "evtx").rglob("*.evtx")):
        for item in parser.read(str(path)):
            if isinstance(item, tuple):
                ev = parser.parse(item[1])
                if ev is not None:
                    events.append(ev)
    assert len(events) > 9000
    # The oracle's predicate of every rule variant; those whose top-level equality tests on
    # channel, event id or dataset cannot hold for an event are not asked (provably False), all
    # the others are, with no other shortcut.
    oracle_rules = []
    for r in sigmahq.rules:
        for v in r.variants:
            for tree in v.trees:
                guard = _guard(tree)
                oracle_rules.append((r.info.id, NaiveEngine([(r.info.id, [tree])]).rules[0][1][0],
                                     tuple(guard.get(f) for f in GUARDED)))
    asked_for: dict[tuple[str, str, str], list[tuple[str, Any]]] = {}
    disagree = []
    matched = 0
    for ev in events:
        key = _key(ev)
        if key not in asked_for:
            asked_for[key] = [(rid, pred) for rid, pred, wants in oracle_rules
                              if all(want is None or value in want for value, want in zip(key, wants, strict=True))]
        oracle = sorted({rid for rid, pred in asked_for[key] if pred(ev)})
        fast = sorted(sigmahq.matches(ev))
        matched += bool(fast)
        if fast != oracle:
            disagree.append((key, ev["winlog"].get("record_id"), fast, oracle))
    assert not disagree, disagree[:5]
    assert matched > 500  # the corpus is attacks: many events match SigmaHQ rules
