"""Helpers for the Sigma engine tests: load rules written inline, run both evaluators."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from detectors.sigma.fast import Entry, FastEngine
from detectors.sigma.load import RuleSet, load
from detectors.sigma.naive import NaiveEngine

_counter = itertools.count()

# A native log source: events of dataset "vigie.test", Sigma field names matched verbatim.
HEADER = """title: {title}
id: {id}
logsource:
  product: vigie
  service: test
level: {level}
"""


def rule_yaml(detection: str, title: str = "test rule", rule_id: str | None = None, level: str = "medium",
              extra: str = "") -> str:
    rid = rule_id or f"00000000-0000-4000-8000-{next(_counter):012d}"
    return HEADER.format(title=title, id=rid, level=level) + "detection:\n" + detection + extra


def load_text(tmp_path: Path, *docs: str, placeholders: dict[str, list[str]] | None = None) -> RuleSet:
    d = tmp_path / f"rules{next(_counter)}"
    d.mkdir()
    for i, doc in enumerate(docs):
        (d / f"r{i}.yml").write_text(doc, encoding="utf-8")
    return load([d], placeholders=placeholders)


class Both:
    """The fast engine and the naive oracle over the same rule set; ``ids`` checks they agree."""

    def __init__(self, rs: RuleSet) -> None:
        assert not rs.rejected, rs.rejected
        self.rs = rs
        self.fast = FastEngine([Entry(r.info.id, v.condition) for r in rs.rules for v in r.variants])
        self.naive = NaiveEngine([(r.info.id, [t for v in r.variants for t in v.trees]) for r in rs.rules])

    def ids(self, event: dict[str, Any]) -> list[str]:
        fast, naive = sorted(self.fast.matches(event)), sorted(self.naive.matches(event))
        assert fast == naive, f"fast {fast} != naive {naive} on {event}"
        return fast

    def hit(self, event: dict[str, Any]) -> bool:
        return bool(self.ids(event))


def event(**fields: Any) -> dict[str, Any]:
    """A test event of the native source; nested dicts for dotted names."""
    ev: dict[str, Any] = {"@timestamp": "2026-11-20T08:00:00.000Z", "event": {"dataset": "vigie.test"}}
    for k, v in fields.items():
        cur = ev
        parts = k.split("__")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = v
    return ev


def one(tmp_path: Path, detection: str, placeholders: dict[str, list[str]] | None = None) -> Both:
    return Both(load_text(tmp_path, rule_yaml(detection), placeholders=placeholders))
