"""Sigma correlation rules (Sigma 2), evaluated on the stream of rule matches.

Types: ``event_count``, ``value_count``, ``value_sum``, ``value_avg``, ``value_median``,
``value_percentile``, ``temporal`` (with or without an extended ``and``/``or``/``not`` condition)
and ``temporal_ordered``; ``group-by`` with field ``aliases``; chaining (a correlation may refer
to correlations, whose matches carry their group-by values).

``event_count`` adds each event's ``event.count`` (how many occurrences one event stands for: a
syslog ``message repeated N times``, or 0 for a line that repeats an occurrence another line already
counted, see ``ingest.parsers._attempts``); an event without it, or with a value that is not a
non-negative integer, counts 1. A correlation's match counts 1.

Windows slide (the specification asks not to cut them at fixed boundaries): a group's window holds
the matches of the last ``timespan`` before the newest one. Conditions that can only become true
as matches accumulate (``gt``, ``gte``, and temporal ones) fire as soon as they hold; the match
then keeps absorbing the group's further matches while they come within ``timespan`` of the
previous one (one alert that grows, not one per event). Conditions that more matches can make
false (``lt``, ``lte``, ``eq``, ``neq``) are judged when the window closes: ``timespan`` after its
first match, once event time (the newest timestamp seen) has passed it, or at ``flush``.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionNOT,
    CorrelationConditionOR,
    SigmaCorrelationCondition,
    SigmaCorrelationRule,
    SigmaCorrelationType,
    SigmaExtendedCorrelationCondition,
    SigmaRuleReference,
)

from cert.core.ecs import Event, get
from detectors.sigma.ir import Unsupported
from detectors.sigma.load import rule_key

EAGER_OPS = ("gt", "gte")
COUNT_FIELD = "event.count"
MAX_COUNT = 1_000_000
_OPS: dict[str, Callable[[float, float], bool]] = {
    "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b, "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b, "eq": lambda a, b: a == b, "neq": lambda a, b: a != b,
}


@dataclass
class RuleMatch:
    """A base rule's match (``event`` set) or a correlation's (``group`` and ``events``)."""

    rule_id: str
    ts: datetime
    event: Event | None = None
    group: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    def evidence(self) -> list[Event]:
        return [self.event] if self.event is not None else self.events


@dataclass
class Fired:
    """A correlation match: the correlation, its group, its evidence and its time span."""

    rule_id: str
    group: dict[str, Any]
    events: list[Event]
    first: datetime
    last: datetime
    continued: bool = False  # an ongoing match absorbing a further event

    @property
    def group_key(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.group.items())


@dataclass
class _Group:
    items: deque[tuple[datetime, str, Any, RuleMatch]] = field(default_factory=deque)
    fired_until: datetime | None = None
    progress: list[tuple[datetime, list[RuleMatch]] | None] = field(default_factory=list)


class Correlation:
    """One compiled correlation rule and its per-group state."""

    def __init__(self, rule: SigmaCorrelationRule, field_of: Callable[[str, str], Callable[[RuleMatch], Any]]) -> None:
        self.id = rule_key(rule)
        self.type = rule.type
        refs = rule.referenced_rules
        self.refs = [rule_key(r.rule) for r in refs]
        self.names = {r.reference: rule_key(r.rule) for r in refs}
        self.span = timedelta(seconds=rule.timespan.seconds)
        self.group_by = list(rule.group_by or [])
        aliases = {a.alias: {self.names.get(ref.reference, ref.reference): f for ref, f in a.mapping.items()}
                   for a in rule.aliases}
        self.getters: dict[str, dict[str, Callable[[RuleMatch], Any]]] = {}
        for name in self.group_by:
            per_rule = aliases.get(name, {})
            self.getters[name] = {rid: field_of(rid, per_rule.get(rid, name)) for rid in self.refs}
        cond = rule.condition
        self.extended: SigmaExtendedCorrelationCondition | None = None
        self.value_getters: dict[str, Callable[[RuleMatch], Any]] = {}
        self.percentile = 50
        if isinstance(cond, SigmaExtendedCorrelationCondition):
            self.extended = cond
            self.op, self.threshold = "gte", 1.0
        elif isinstance(cond, SigmaCorrelationCondition):
            self.op, self.threshold = cond.op.name.lower(), float(cond.count)
            if cond.fieldref is not None:
                if isinstance(cond.fieldref, list):
                    raise Unsupported("a correlation condition on several fields")
                fref = cond.fieldref
                self.value_getters = {rid: field_of(rid, fref) for rid in self.refs}
            if cond.percentile is not None:
                self.percentile = int(cond.percentile)
        else:
            raise Unsupported("correlation without condition")
        temporal = self.type in (SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED)
        # "a and not b" can only be judged once the window is over
        negated = self.extended is not None and _has_not(self.extended.parsed)
        self.eager = (self.type is SigmaCorrelationType.TEMPORAL_ORDERED or (temporal and not negated)
                      or (not temporal and self.op in EAGER_OPS))
        self.groups: dict[tuple[Any, ...], _Group] = {}

    # -- helpers ------------------------------------------------------------------------------
    def _key(self, m: RuleMatch) -> tuple[Any, ...] | None:
        key = []
        for name in self.group_by:
            getter = self.getters[name].get(m.rule_id)
            v = getter(m) if getter else None
            if v is None or v == "" or v == []:
                return None  # an event without the group field is in no group
            key.append(tuple(v) if isinstance(v, list) else v)
        return tuple(key)

    def _measure(self, g: _Group) -> float:
        t = self.type
        if t is SigmaCorrelationType.EVENT_COUNT:
            return float(sum(v for _, _, v, _ in g.items))
        if t is SigmaCorrelationType.VALUE_COUNT:
            return float(len({v for _, _, v, _ in g.items if v is not None}))
        values = [v for _, _, v, _ in g.items if isinstance(v, float)]
        if not values:
            return float("nan")
        if t is SigmaCorrelationType.VALUE_SUM:
            return sum(values)
        if t is SigmaCorrelationType.VALUE_AVG:
            return statistics.fmean(values)
        if t is SigmaCorrelationType.VALUE_MEDIAN:
            return float(statistics.median(values))
        if t is SigmaCorrelationType.VALUE_PERCENTILE:
            if len(values) == 1:
                return values[0]
            return statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, self.percentile - 1))]
        raise Unsupported(f"correlation type {t}")

    def _value(self, m: RuleMatch) -> Any:
        getter = self.value_getters.get(m.rule_id)
        v = getter(m) if getter else None
        if self.type is SigmaCorrelationType.VALUE_COUNT:
            return tuple(v) if isinstance(v, list) else v
        if self.type is SigmaCorrelationType.EVENT_COUNT:
            return occurrences(m)
        try:
            return float(v) if v is not None and not isinstance(v, bool) else None
        except (TypeError, ValueError):
            return None

    def _temporal_ok(self, g: _Group) -> bool:
        seen = {rid for _, rid, _, _ in g.items}
        if self.extended is not None:
            return bool(self._eval_ext(self.extended.parsed, seen))
        return _OPS[self.op](float(len(seen)), self.threshold)

    def _eval_ext(self, node: Any, seen: set[str]) -> bool:
        if isinstance(node, SigmaRuleReference):
            return self.names.get(node.reference, node.reference) in seen
        if isinstance(node, CorrelationConditionAND):
            return all(self._eval_ext(a, seen) for a in node.args)
        if isinstance(node, CorrelationConditionOR):
            return any(self._eval_ext(a, seen) for a in node.args)
        if isinstance(node, CorrelationConditionNOT):
            return not self._eval_ext(node.args[0], seen)
        raise Unsupported(f"extended condition element {type(node).__name__}")

    def _fire(self, key: tuple[Any, ...], g: _Group, matches: list[RuleMatch]) -> Fired:
        events: list[Event] = []
        seen: set[int] = set()
        for m in matches:
            for e in m.evidence():
                if id(e) not in seen:
                    seen.add(id(e))
                    events.append(e)
        times = [m.ts for m in matches]
        return Fired(self.id, dict(zip(self.group_by, key, strict=True)), events, min(times), max(times))

    # -- stream -------------------------------------------------------------------------------
    def feed(self, m: RuleMatch) -> list[Fired]:
        key = self._key(m)
        if key is None:
            return []
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = _Group()
        out: list[Fired] = []
        if not self.eager:
            if g.items and m.ts - g.items[0][0] > self.span:
                out.extend(self._close(key, g))
            g.items.append((m.ts, m.rule_id, self._value(m), m))
            return out
        if g.fired_until is not None and m.ts <= g.fired_until:
            g.fired_until = m.ts + self.span  # an ongoing match: it absorbs this event
            f = self._fire(key, g, [m])
            f.continued = True
            return [f]
        if self.type is SigmaCorrelationType.TEMPORAL_ORDERED:
            return self._ordered(key, g, m)
        g.items.append((m.ts, m.rule_id, self._value(m), m))
        while g.items and m.ts - g.items[0][0] > self.span:
            g.items.popleft()
        if self.type is SigmaCorrelationType.TEMPORAL:
            ok = self._temporal_ok(g)
        else:
            ok = _OPS[self.op](self._measure(g), self.threshold)
        if ok:
            out.append(self._fire(key, g, [x[3] for x in g.items]))
            g.items.clear()
            g.fired_until = m.ts + self.span
        return out

    def _ordered(self, key: tuple[Any, ...], g: _Group, m: RuleMatch) -> list[Fired]:
        """Steps in the order of ``rules``; progress[i]: (start, matches) of the latest chain that
        completed steps 0..i, keeping the latest start so the chain fits the timespan best."""
        n = len(self.refs)
        if not g.progress:
            g.progress = [None] * n
        out: list[Fired] = []
        for i in reversed(range(n)):  # reversed: one match advances a chain by one step only
            if self.refs[i] != m.rule_id:
                continue
            if i == 0:
                g.progress[0] = (m.ts, [m])
            else:
                prev = g.progress[i - 1]
                if prev is not None and m.ts - prev[0] <= self.span:
                    cur = g.progress[i]
                    if cur is None or prev[0] >= cur[0]:
                        g.progress[i] = (prev[0], [*prev[1], m])
            done = g.progress[n - 1]
            if i == n - 1 and done is not None and done[1][-1] is m:
                out.append(self._fire(key, g, done[1]))
                g.progress = [None] * n
                g.fired_until = m.ts + self.span
        return out

    def _close(self, key: tuple[Any, ...], g: _Group) -> list[Fired]:
        if not g.items:
            return []
        if self.type is SigmaCorrelationType.TEMPORAL:
            ok = self._temporal_ok(g)
        else:
            ok = _OPS[self.op](self._measure(g), self.threshold)
        matches = [x[3] for x in g.items]
        g.items.clear()
        return [self._fire(key, g, matches)] if ok else []

    def advance(self, now: datetime, final: bool = False) -> list[Fired]:
        """Event time moved to ``now``: close windows that ended, forget stale groups."""
        out: list[Fired] = []
        for key in list(self.groups):
            g = self.groups[key]
            if not self.eager and g.items and (final or now - g.items[0][0] > self.span):
                out.extend(self._close(key, g))
            while self.eager and g.items and now - g.items[0][0] > self.span:
                g.items.popleft()
            if g.fired_until is not None and now > g.fired_until:
                g.fired_until = None
            if g.progress and all(p is None or now - p[0] > self.span for p in g.progress):
                g.progress = []
            if not g.items and g.fired_until is None and not g.progress:
                del self.groups[key]
        return out


def _has_not(node: Any) -> bool:
    if isinstance(node, CorrelationConditionNOT):
        return True
    return any(_has_not(a) for a in getattr(node, "args", []))


def occurrences(m: RuleMatch) -> int:
    """How many occurrences a match adds to an ``event_count``: its event's ``event.count``, else 1."""
    if m.event is None:
        return 1
    count = get(m.event, COUNT_FIELD)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_COUNT:
        return 1
    return count


def event_getter(path: str) -> Callable[[RuleMatch], Any]:
    """The value of an event field for a base-rule match, or of a group field for a correlation's."""

    def getter(m: RuleMatch) -> Any:
        if m.event is not None:
            return get(m.event, path)
        return m.group.get(path)

    return getter
