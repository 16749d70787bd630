"""From a loaded rule set and the analysts' overrides to hits: the compiled engine, correlation
state, and the step shared by streaming detection and scheduled hunts (rule matches of a batch
of events -> base-rule hits + correlation hits)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cert.core.contracts import ExceptionSpec, Hit, RuleOverrides, evidence_of, hit_for_events
from cert.core.ecs import Event, get, parse_ts
from detectors.sigma.correlate import Correlation, Fired, RuleMatch, event_getter
from detectors.sigma.fast import Entry, FastEngine
from detectors.sigma.ir import Cidr, Match, Node, Or, Str, Unsupported
from detectors.sigma.load import BaseRule, RuleSet, and_not

DETECTOR = "sigma"
GROUP_FIELDS = ("source.ip", "user.name", "host.name")
_EXC_KINDS = {"equals": "eq", "contains": "contains", "startswith": "prefix", "endswith": "suffix"}


def exception_node(spec: ExceptionSpec) -> Node:
    """An analyst's exception as a condition (case-insensitive, any of the values)."""
    if spec.operator == "cidr":
        return Or(tuple(Match(spec.field, Cidr(v)) for v in spec.values))
    kind = _EXC_KINDS[spec.operator]
    return Or(tuple(Match(spec.field, Str(kind, v.lower())) for v in spec.values))


@dataclass
class CorrelationState:
    """Correlation rules with their windows; one per stream (streaming detection, each hunt)."""

    correlations: list[Correlation]
    feeds: dict[str, list[Correlation]]  # rule id -> correlations referring to it
    watermark: datetime | None = None  # event time: the newest timestamp seen


@dataclass
class Compiled:
    """Everything built from one rule set and one version of the analysts' overrides."""

    ruleset: RuleSet
    overrides: RuleOverrides
    engine: FastEngine
    rules: dict[str, BaseRule]
    outputs: set[str]  # ids of rules and correlations that raise alerts themselves
    state: CorrelationState
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fresh_state(self) -> CorrelationState:
        return correlation_state(self.ruleset, self.overrides, self.rules)

    def info(self, rule_id: str) -> Any:
        return self.rules[rule_id].info if rule_id in self.rules else self.ruleset.info(rule_id)

    def severity(self, rule_id: str) -> str:
        if rule_id in self.overrides.severity:
            return self.overrides.severity[rule_id]
        info = self.info(rule_id)
        return str(info.level) if info else "medium"


def correlation_state(rs: RuleSet, overrides: RuleOverrides, rules: dict[str, BaseRule]) -> CorrelationState:
    correlations: list[Correlation] = []
    feeds: dict[str, list[Correlation]] = defaultdict(list)
    corr_ids = {c.info.id for c in rs.correlations}

    def field_of(rid: str, name: str) -> Any:
        base = rules.get(rid)
        if rid in corr_ids or base is None:
            return event_getter(name)
        return event_getter(base.variants[0].field_of(name))

    for c in rs.correlations:
        if c.info.id in overrides.disabled:
            continue
        try:
            corr = Correlation(c.rule, field_of)
        except Unsupported:
            continue
        correlations.append(corr)
        for rid in corr.refs:
            feeds[rid].append(corr)
    return CorrelationState(correlations, dict(feeds))


def compile_ruleset(rs: RuleSet, overrides: RuleOverrides) -> Compiled:
    entries: list[Entry] = []
    rules: dict[str, BaseRule] = {}
    for r in rs.rules:
        if r.info.id in overrides.disabled:
            continue
        rules[r.info.id] = r
        exceptions = [exception_node(e) for e in overrides.exceptions.get(r.info.id, ())]
        entries.extend(Entry(r.info.id, and_not(v.condition, exceptions)) for v in r.variants)
    outputs = {r.info.id for r in rs.rules if r.info.output} | {c.info.id for c in rs.correlations if c.info.output}
    return Compiled(rs, overrides, FastEngine(entries), rules, outputs, correlation_state(rs, overrides, rules))


def timestamp(ev: Event) -> datetime | None:
    try:
        return parse_ts(str(get(ev, "@timestamp")))
    except ValueError:
        return None


def group_key(ev: Event) -> str:
    for f in GROUP_FIELDS:
        v = get(ev, f)
        if v:
            return f"{f}={v}"
    return ""


class Runner:
    """Turns rule matches into hits for one stream of events (its own correlation state)."""

    def __init__(self, c: Compiled, state: CorrelationState) -> None:
        self.c, self.state = c, state

    def run(self, events: Sequence[Event], matches: Callable[[Event], list[str]]) -> list[Hit]:
        c, st = self.c, self.state
        by_rule: dict[str, list[Event]] = defaultdict(list)
        fired: list[Fired] = []
        for ev in events:
            ids = matches(ev)
            if not ids:
                continue
            ts: datetime | None = None
            fed: list[RuleMatch] = []
            for rid in ids:
                if rid in c.outputs:
                    by_rule[rid].append(ev)
                corrs = st.feeds.get(rid)
                if corrs:
                    if ts is None:
                        ts = timestamp(ev)
                        if ts is None:
                            break
                        st.watermark = ts if st.watermark is None or ts > st.watermark else st.watermark
                    m = RuleMatch(rid, ts, event=ev)
                    fired.extend(self._feed(corrs, m))
                    fed.append(m)
            if fed:
                # the windows keep, until they close, only what a hit takes from the event (one
                # object for all its matches, so that a hit counts the event once): memory
                # follows the matches in a window, not the size of the events
                evidence = evidence_of(ev)
                for m in fed:
                    m.event = evidence
        if st.correlations and events:  # event time moves on even without matches: windows may close
            newest = max(str(e.get("@timestamp", "")) for e in events)
            ts_new = timestamp({"@timestamp": newest}) if newest else None
            if ts_new is not None and (st.watermark is None or ts_new > st.watermark):
                st.watermark = ts_new
        if st.watermark is not None:
            fired.extend(self._advance(st.watermark, final=False))
        return self._base_hits(by_rule) + [self.hit(f) for f in fired if f.rule_id in c.outputs]

    def flush(self) -> list[Hit]:
        """Close every open correlation window (end of a hunt, end of input)."""
        end = self.state.watermark or datetime.max.replace(tzinfo=UTC)
        return [self.hit(f) for f in self._advance(end, final=True) if f.rule_id in self.c.outputs]

    def _advance(self, now: datetime, final: bool) -> list[Fired]:
        out: list[Fired] = []
        for corr in self.state.correlations:
            for f in corr.advance(now, final=final):
                out.append(f)
                out.extend(self._chain(f))
        return out

    def _feed(self, corrs: list[Correlation], m: RuleMatch) -> list[Fired]:
        out: list[Fired] = []
        for corr in corrs:
            for f in corr.feed(m):
                out.append(f)
                out.extend(self._chain(f))
        return out

    def _chain(self, f: Fired) -> list[Fired]:
        """A correlation match feeds the correlations that refer to it (only its first firing:
        an ongoing match absorbing more events is not a new occurrence)."""
        outer = self.state.feeds.get(f.rule_id)
        if not outer or f.continued:
            return []
        return self._feed(outer, RuleMatch(f.rule_id, f.last, group=f.group, events=f.events))

    def _base_hits(self, by_rule: dict[str, list[Event]]) -> list[Hit]:
        hits: list[Hit] = []
        for rid, matched in by_rule.items():
            info = self.c.rules[rid].info
            groups: dict[str, list[Event]] = defaultdict(list)
            for ev in matched:
                groups[group_key(ev)].append(ev)
            for key, evs in groups.items():
                hits.append(hit_for_events(evs, rule_id=rid, title=info.title, severity=self.c.severity(rid),
                                           detector=DETECTOR, group_key=key, attack=info.attack))
        return hits

    def hit(self, f: Fired) -> Hit:
        info = self.c.info(f.rule_id)
        return hit_for_events(f.events, rule_id=f.rule_id, title=info.title if info else f.rule_id,
                              severity=self.c.severity(f.rule_id), detector=DETECTOR, group_key=f.group_key,
                              attack=info.attack if info else ())
