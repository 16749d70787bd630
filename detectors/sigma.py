"""Sigma detector: SigmaHQ-format rules loaded with pySigma, evaluated on ECS events in-process.

Rules come from ``rules/sigma`` (ours). Each rule is mapped to our fields by a pySigma
processing pipeline, routed to events by its logsource, and compiled to a predicate.
Correlation rules of type ``event_count`` group matches of the rules they name by their
``group-by`` fields within the ``timespan``; state is kept across batches (streaming).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationConditionOperator, SigmaCorrelationRule, SigmaCorrelationType
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from cert.config import Settings
from cert.detection import Detector, Hit, detectors, hit_for_events
from cert.ecs import Event, get, parse_ts
from detectors._sigma_ecs import EventFilter, ecs_pipeline, logsource_filter
from detectors._sigma_eval import Predicate, Unsupported, compile_condition

GROUP_FIELDS = ("source.ip", "user.name", "host.name")


@dataclass
class CompiledRule:
    id: str
    title: str
    severity: str
    attack: tuple[str, ...]
    selects: EventFilter
    matches: Predicate
    output: bool
    source: str
    name: str | None = None


@dataclass
class CompiledCorrelation:
    id: str
    title: str
    severity: str
    attack: tuple[str, ...]
    rule_ids: frozenset[str]
    group_by: tuple[str, ...]
    timespan: int
    op: SigmaCorrelationConditionOperator
    threshold: int
    source: str
    windows: dict[tuple[Any, ...], deque[tuple[datetime, Event]]] = field(default_factory=lambda: defaultdict(deque))
    fired: dict[tuple[Any, ...], datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejected:
    source: str
    title: str
    reason: str


def _severity(rule: SigmaRule | SigmaCorrelationRule) -> str:
    level = getattr(rule, "level", None)
    name = level.name.lower() if level is not None else "medium"
    return name if name in ("informational", "low", "medium", "high", "critical") else "medium"


def _attack(rule: SigmaRule | SigmaCorrelationRule) -> tuple[str, ...]:
    return tuple(f"{t.namespace}.{t.name}" for t in rule.tags if t.namespace == "attack")


def _compare(op: SigmaCorrelationConditionOperator, value: int, threshold: int) -> bool:
    return {
        SigmaCorrelationConditionOperator.LT: value < threshold,
        SigmaCorrelationConditionOperator.LTE: value <= threshold,
        SigmaCorrelationConditionOperator.GT: value > threshold,
        SigmaCorrelationConditionOperator.GTE: value >= threshold,
        SigmaCorrelationConditionOperator.EQ: value == threshold,
    }.get(op, False)


def compile_rule(rule: SigmaRule, source: str) -> CompiledRule:
    if rule.errors:
        raise Unsupported("; ".join(str(e) for e in rule.errors))
    ecs_pipeline().apply(rule)
    selects = logsource_filter(rule.logsource)
    if selects is None:
        raise Unsupported(f"no events for logsource {rule.logsource}")
    predicates = [compile_condition(c.parsed) for c in rule.detection.parsed_condition]
    matches = predicates[0] if len(predicates) == 1 else (lambda e: any(p(e) for p in predicates))
    return CompiledRule(
        id=str(rule.id or rule.name or rule.title),
        title=rule.title,
        severity=_severity(rule),
        attack=_attack(rule),
        selects=selects,
        matches=matches,
        output=rule._output,
        source=source,
        name=rule.name,
    )


def compile_correlation(corr: SigmaCorrelationRule, source: str) -> CompiledCorrelation:
    if corr.type is not SigmaCorrelationType.EVENT_COUNT:
        raise Unsupported(f"correlation type {corr.type.name.lower()} is not evaluated yet")
    if corr.condition is None or corr.timespan is None:
        raise Unsupported("event_count correlation needs a condition and a timespan")
    ids = frozenset(str(ref.rule.id or ref.rule.name) for ref in corr.rules if isinstance(ref.rule, SigmaRule))
    return CompiledCorrelation(
        id=str(corr.id or corr.name or corr.title),
        title=corr.title,
        severity=_severity(corr),
        attack=_attack(corr),
        rule_ids=ids,
        group_by=tuple(corr.group_by or ()),
        timespan=corr.timespan.seconds,
        op=corr.condition.op,
        threshold=int(corr.condition.count),
        source=source,
    )


def load_rules(paths: Sequence[Path]) -> tuple[list[CompiledRule], list[CompiledCorrelation], list[Rejected]]:
    rules: list[CompiledRule] = []
    correlations: list[CompiledCorrelation] = []
    rejected: list[Rejected] = []
    files = [p for base in paths if base.exists() for p in sorted(base.rglob("*.yml"))]
    for path in files:
        try:
            collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"), collect_errors=True)
        except (SigmaError, ValueError) as exc:
            rejected.append(Rejected(str(path), "", str(exc)))
            continue
        for item in collection.rules:
            try:
                if isinstance(item, SigmaCorrelationRule):
                    correlations.append(compile_correlation(item, str(path)))
                elif isinstance(item, SigmaRule):
                    rules.append(compile_rule(item, str(path)))
            except (Unsupported, SigmaError, ValueError, KeyError) as exc:
                rejected.append(Rejected(str(path), getattr(item, "title", ""), str(exc)))
    return rules, correlations, rejected


@detectors.register
class SigmaDetector(Detector):
    name = "sigma"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.rules, self.correlations, self.rejected = load_rules([settings.rules_dir / "sigma"])

    def summary(self) -> dict[str, Any]:
        return {
            "rules": len(self.rules),
            "correlations": len(self.correlations),
            "rejected": [(r.source, r.title, r.reason) for r in self.rejected],
        }

    def _group_key(self, ev: Event) -> str:
        for f in GROUP_FIELDS:
            v = get(ev, f)
            if v:
                return f"{f}={v}"
        return ""

    def detect(self, events: Sequence[Event]) -> list[Hit]:
        hits: list[Hit] = []
        by_rule: dict[str, list[Event]] = defaultdict(list)
        for ev in events:
            for rule in self.rules:
                if rule.selects(ev) and rule.matches(ev):
                    by_rule[rule.id].append(ev)
                    for corr in self.correlations:
                        if rule.id in corr.rule_ids or (rule.name and rule.name in corr.rule_ids):
                            hit = self._correlate(corr, ev)
                            if hit is not None:
                                hits.append(hit)
        for rule in self.rules:
            matched = by_rule.get(rule.id)
            if not matched or not rule.output:
                continue
            groups: dict[str, list[Event]] = defaultdict(list)
            for ev in matched:
                groups[self._group_key(ev)].append(ev)
            for key, evs in groups.items():
                hits.append(hit_for_events(evs, rule_id=rule.id, title=rule.title, severity=rule.severity,
                                           detector=self.name, group_key=key, attack=rule.attack))
        return hits

    def _correlate(self, corr: CompiledCorrelation, ev: Event) -> Hit | None:
        key = tuple(get(ev, f) for f in corr.group_by)
        ts = parse_ts(str(get(ev, "@timestamp")))
        group = ",".join(f"{f}={v}" for f, v in zip(corr.group_by, key, strict=True))
        last = corr.fired.get(key)
        if last is not None and (ts - last).total_seconds() <= corr.timespan:
            # the correlation is ongoing: each further match extends the same alert
            corr.fired[key] = ts
            return hit_for_events([ev], rule_id=corr.id, title=corr.title, severity=corr.severity,
                                  detector=self.name, group_key=group, attack=corr.attack)
        window = corr.windows[key]
        window.append((ts, ev))
        while window and (ts - window[0][0]).total_seconds() > corr.timespan:
            window.popleft()
        if not _compare(corr.op, len(window), corr.threshold):
            return None
        evidence = [e for _, e in window]
        window.clear()
        corr.fired[key] = ts
        return hit_for_events(evidence, rule_id=corr.id, title=corr.title, severity=corr.severity,
                              detector=self.name, group_key=group, attack=corr.attack)
