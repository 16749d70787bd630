"""SigmaHQ conformance: the unmodified SigmaHQ rule tree, through our EVTX ingest.

* every regression case of SigmaHQ (``regression_data``: the id of a rule and an EVTX sample) is
  run with that rule alone, loaded by its id from SigmaHQ's tree: read by the ``windows.evtx``
  parser through the Ingestor, the sample makes the rule fire at least the ``match_count`` times
  its ``info.yml`` says (SigmaHQ's runner only warns about samples holding more matching events),
  on the fast engine and on the naive oracle alike. Every case runs: no rule of a case is refused
  by the loader (a refused one fails the test with the loader's reason);
* the fast engine and the naive oracle agree on every Windows event of the corpora (the EVTX
  attack corpus and the regression samples) with every SigmaHQ rule.
"""

from __future__ import annotations

import re
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
from cert.pipeline.ingestor import Ingestor, finalize
from cert.runtime.platform import Platform
from detectors.sigma.detector import SigmaDetector
from detectors.sigma.fast import Entry, FastEngine
from detectors.sigma.load import load
from detectors.sigma.naive import NaiveEngine

load_plugins(["ingest.parsers", "detectors"])

SIGMA = corpora_dir() / "sigma"
TREES = ("rules", "rules-emerging-threats", "rules-threat-hunting")
_RULE_ID = re.compile(r"^id:\s*['\"]?([0-9a-fA-F-]{36})", re.M)


def _cases() -> list[tuple[str, str, Path, int]]:
    """(case name, rule id, sample, match_count) of every regression case (a missing count is 1)."""
    out = []
    for info in sorted((SIGMA / "regression_data").glob("**/info.yml")):
        doc = yaml.safe_load(info.read_text(encoding="utf-8"))
        rule_id = doc["rule_metadata"][0]["id"]
        out.extend((info.parent.name, rule_id, SIGMA / test["path"], int(test.get("match_count") or 1))
                   for test in doc["regression_tests_info"])
    return out


def _rule_files() -> dict[str, list[Path]]:
    """SigmaHQ's rule files by the id they declare."""
    found: dict[str, list[Path]] = {}
    for tree in TREES:
        for f in sorted((SIGMA / tree).rglob("*.yml")):
            m = _RULE_ID.search(f.read_text(encoding="utf-8"))
            if m:
                found.setdefault(m.group(1).lower(), []).append(f)
    return found


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


def test_every_regression_case_fires_with_its_sigmahq_rule(evtx_platform: Platform) -> None:
    if not (SIGMA / "regression_data").is_dir():
        pytest.skip(f"SigmaHQ regression data not found under {SIGMA}")
    cases = _cases()
    assert len(cases) >= 139
    files = _rule_files()
    collected: list[dict[str, Any]] = []
    lock = threading.Lock()

    def keep(events: list[dict[str, Any]]) -> None:
        with lock:
            collected.extend(events)

    ingestor = Ingestor(evtx_platform, "windows.evtx", on_batch=keep)
    wrong = []
    for name, rule_id, sample, minimum in cases:
        found = files.get(rule_id.lower(), [])
        assert len(found) == 1, f"{name}: rule {rule_id} is in {len(found)} files of SigmaHQ's tree: {found}"
        rs = load(found)
        assert [r.info.id for r in rs.rules] == [rule_id] and not rs.rejected, (name, rs.rejected)
        fast = FastEngine([Entry(r.info.id, v.condition) for r in rs.rules for v in r.variants])
        naive = NaiveEngine([(r.info.id, [t for v in r.variants for t in v.trees]) for r in rs.rules])
        collected.clear()
        summary = ingestor.ingest(ingestor.parser.read(str(sample)), source=str(sample))
        assert summary.dead_lettered == 0, (sample, summary.dead_letters)
        assert collected, sample
        by_fast = sum(1 for e in collected if rule_id in fast.matches(e))
        by_oracle = sum(1 for e in collected if rule_id in naive.matches(e))
        if by_fast < minimum or by_oracle != by_fast:
            wrong.append((name, rule_id, f"fast {by_fast}, oracle {by_oracle}, at least {minimum} expected"))
    assert not wrong, wrong


# -- fast engine vs oracle on the Windows corpora -----------------------------------------------

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


def _windows_events() -> list[dict[str, Any]]:
    """Every record of the EVTX attack corpus and of SigmaHQ's regression samples, as the Ingestor
    stores it (``finalize``: event.id, event.original, log.file.path, ecs.version...)."""
    parser = parsers.get("windows.evtx")()
    events = []
    samples = [*sorted((corpora_dir() / "evtx").rglob("*.evtx")), *sorted((SIGMA / "regression_data").rglob("*.evtx"))]
    for path in samples:
        for item in parser.read(str(path)):
            if isinstance(item, tuple):
                ev = parser.parse(item[1])
                if ev is not None:
                    events.append(finalize(ev, parser, item[1], str(path)))
    return events


def test_fast_engine_and_oracle_agree_on_every_windows_corpus_event(sigmahq: SigmaDetector) -> None:
    """Every event against every SigmaHQ rule (the three trees: the Windows rules, and the others,
    which route elsewhere and so must match nothing here), not a sample: about 10,000 events in
    about a minute. The oracle is spared only the rules that its own reading of pySigma's tree
    (top-level equality tests on channel, event id or dataset, ``_guard``) rules out for an event."""
    events = _windows_events()
    assert len(events) > 9000 + 139
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
            disagree.append((ev["log"]["file"]["path"], ev["winlog"].get("record_id"), fast, oracle))
    assert not disagree, disagree[:5]
    assert matched > 500  # the corpus is attacks: many events match SigmaHQ rules
