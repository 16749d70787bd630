"""Scheduled hunts: the Sigma rules run as queries against the Elasticsearch event store.

Each rule (each processed variant) becomes a Lucene query through pySigma's Elasticsearch
backend. Elasticsearch keyword fields are case-sensitive and Sigma's strings are not, so string
comparisons go to the ``<field>.caseless`` multi-field (lowercase normalizer, see
``cert.storage.events.elasticsearch``) with lowercased values. Where Lucene cannot say exactly what Sigma
means (regular expressions, which Lucene anchors and writes differently; keywords; field
references; time parts; ``null``, which Lucene does not equate with an empty string; CIDR on a
non-IP field), the rule's query is its log source alone (channel, event id, dataset): a superset.

Every event Elasticsearch returns is then checked by the same compiled engine as streaming
detection, and only for the rules whose query returned it; matches feed the same hit and
correlation logic. So a hunt raises exactly the alerts streaming detection raises on the same
events, while Elasticsearch does the scanning. Outside Elasticsearch (embedded mode) the window's
events are read from the store and run through the engine directly.
"""

from __future__ import annotations

import copy
import threading
from collections import defaultdict
from datetime import datetime
from typing import Any

from elasticsearch import ApiError, TransportError
from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations.base import DetectionItemTransformation
from sigma.rule import SigmaDetection, SigmaDetectionItem
from sigma.types import SigmaCasedString, SigmaExpansion, SigmaString, SigmaType

from cert.core.contracts import Hit
from cert.core.ecs import Event, format_ts, get
from cert.core.errors import StoreUnavailable
from cert.storage.events import EventQuery, EventStore
from cert.storage.events.elasticsearch import (
    CASELESS,
    DATE_FIELDS,
    IP_FIELDS,
    LONG_FIELDS,
    TEXT_FIELDS,
    ElasticsearchEventStore,
)
from detectors.sigma.fast import DISCRIMINATORS, required_values
from detectors.sigma.ir import And, Cidr, Cmp, Match, Node, Not, Null, Or, Ref, Regex, Str, TimePart
from detectors.sigma.runtime import Compiled, Runner

TYPED = frozenset(IP_FIELDS + DATE_FIELDS + LONG_FIELDS + TEXT_FIELDS)
PAGE = 5000
MSEARCH = 50  # queries per _msearch request
MAX_EVENTS = 2_000_000  # per hunt window: beyond, the hunt fails loudly rather than eat memory
MAX_TERMS = 150  # a rule with more value tests (e.g. lists of thousands of package names) would cost
# Elasticsearch one automaton each: its query is its log source instead, and the engine does the rest


def _lower(v: SigmaType) -> SigmaType:
    if isinstance(v, SigmaExpansion):
        return SigmaExpansion([_lower(x) for x in v.values])
    if isinstance(v, SigmaString) and not isinstance(v, SigmaCasedString):
        return v.lower()
    return v


def _plain(v: SigmaType) -> bool:
    if isinstance(v, SigmaExpansion):
        return all(_plain(x) for x in v.values)
    return isinstance(v, SigmaString) and not isinstance(v, SigmaCasedString)


class CaselessTransformation(DetectionItemTransformation):
    """String comparisons on ``<field>.caseless`` with lowercased values."""

    def apply_detection_item(self, item: SigmaDetectionItem) -> SigmaDetectionItem | SigmaDetection | None:
        field = item.field
        if field is None or field in TYPED or field.endswith("." + CASELESS) or not item.value:
            return None
        if not all(_plain(v) for v in item.value):
            return None
        item.field = f"{field}.{CASELESS}"
        item.value = [_lower(v) for v in item.value]
        item.disable_conversion_to_plain()
        return item


def exact(node: Node) -> bool:
    """Whether the Lucene translation (on caseless fields) means what Sigma means."""
    if isinstance(node, Match):
        t = node.test
        if node.field is None or isinstance(t, Regex | Ref | TimePart | Null):
            return False
        if isinstance(t, Cmp) and t.op == "neq":
            return False
        if isinstance(t, Cidr):
            return node.field in IP_FIELDS
        if isinstance(t, Str):
            return node.field not in TYPED or (t.kind == "eq" and node.field not in TEXT_FIELDS)
        return True
    if isinstance(node, Not):
        return exact(node.arg)
    if isinstance(node, And | Or):
        return all(exact(a) for a in node.args)
    return True


def terms(node: Node) -> int:
    if isinstance(node, Match):
        return 1
    if isinstance(node, Not):
        return terms(node.arg)
    return sum(terms(a) for a in node.args)


def _quote(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def route_query(node: Node) -> str:
    """The rule's log source as a Lucene query (its channel, event id, dataset...)."""
    parts = []
    for path in DISCRIMINATORS:
        wanted = required_values(node, path)
        if wanted is None:
            continue
        if not wanted:
            return "NOT *:*"  # contradictory: the rule can never match
        target = path if path in TYPED else f"{path}.{CASELESS}"
        parts.append(f"{target}:(" + " OR ".join(_quote(v) for v in sorted(wanted)) + ")")
    return " AND ".join(parts) if parts else "*:*"


class Plan:
    """Lucene query -> ids of the rules it serves, for one compiled rule set."""

    def __init__(self, c: Compiled) -> None:
        backend = LuceneBackend(ProcessingPipeline(name="Vigie: caseless strings", priority=90, items=[
            ProcessingItem(identifier="vigie_caseless", transformation=CaselessTransformation())]))
        self.queries: dict[str, set[str]] = defaultdict(set)
        self.converted = self.by_logsource = 0
        for rid, rule in c.rules.items():
            for v in rule.variants:
                query = None
                if exact(v.condition) and terms(v.condition) <= MAX_TERMS:
                    try:
                        out = backend.convert_rule(copy.deepcopy(v.rule))
                        query = " OR ".join(f"({q})" for q in out) if len(out) > 1 else str(out[0])
                        self.converted += 1
                    except (SigmaError, NotImplementedError, ValueError, TypeError, IndexError):
                        query = None
                if query is None:
                    query = route_query(v.condition)
                    self.by_logsource += 1
                self.queries[query].add(rid)


_PLANS: dict[int, Plan] = {}
_PLAN_LOCK = threading.Lock()


def plan_for(c: Compiled) -> Plan:
    with _PLAN_LOCK:
        if id(c) not in _PLANS:
            _PLANS.clear()
            _PLANS[id(c)] = Plan(c)
        return _PLANS[id(c)]


def _window(start: datetime, end: datetime) -> dict[str, Any]:
    return {"range": {"@timestamp": {"gte": format_ts(start), "lt": format_ts(end)}}}


def _search_es(store: ElasticsearchEventStore, plan: Plan, start: datetime,
               end: datetime) -> tuple[dict[str, Event], dict[str, set[str]]]:
    """Run every query over the window: events by id, and the rules whose query returned each."""
    events: dict[str, Event] = {}
    rules_of: dict[str, set[str]] = defaultdict(set)
    pending: list[tuple[str, list[Any] | None]] = [(q, None) for q in plan.queries]
    sort = [{"@timestamp": "asc"}, {"event.id": "asc"}]
    while pending:
        chunk, pending = pending[:MSEARCH], pending[MSEARCH:]
        body: list[dict[str, Any]] = []
        for q, after in chunk:
            body.append({"index": store.pattern, "ignore_unavailable": True, "allow_no_indices": True})
            search: dict[str, Any] = {"size": PAGE, "sort": sort, "track_total_hits": False, "query": {"bool": {
                "filter": [_window(start, end), {"query_string": {"query": q, "lenient": True,
                                                                  "allow_leading_wildcard": True}}]}}}
            if after is not None:
                search["search_after"] = after
            body.append(search)
        try:
            resp = store.es.msearch(searches=body)
        except (TransportError, ApiError) as exc:
            raise StoreUnavailable(f"Elasticsearch: hunt queries failed: {exc}") from exc
        for (q, _after), answer in zip(chunk, resp["responses"], strict=True):
            if "error" in answer:
                raise StoreUnavailable(f"Elasticsearch refused a hunt query ({answer['error']}): {q[:300]}")
            if answer.get("timed_out") or answer.get("_shards", {}).get("failed"):  # partial answer: not trusted
                raise StoreUnavailable(f"Elasticsearch answered a hunt query partially "
                                       f"({answer.get('_shards')}): {q[:300]}")
            hits = answer["hits"]["hits"]
            for h in hits:
                eid = h["_id"]
                events.setdefault(eid, h["_source"])
                rules_of[eid].update(plan.queries[q])
            if len(events) > MAX_EVENTS:
                raise StoreUnavailable(f"hunt window {format_ts(start)}..{format_ts(end)} returns more than "
                                       f"{MAX_EVENTS} events: shorten the lookback")
            if len(hits) == PAGE:
                pending.append((q, hits[-1]["sort"]))
    return events, rules_of


def hunt(c: Compiled, store: EventStore, start: datetime, end: datetime) -> list[Hit]:
    """Hits of the rules over the stored events of [start, end), oldest first, correlations
    evaluated within the window (fresh state: the windows of consecutive hunts overlap)."""
    if isinstance(store, ElasticsearchEventStore):
        plan = plan_for(c)
        found, rules_of = _search_es(store, plan, start, end)
        events = sorted(found.values(), key=lambda e: (str(get(e, "@timestamp")), str(get(e, "event.id"))))

        def matches(ev: Event) -> list[str]:
            allowed = rules_of.get(str(get(ev, "event.id")), set())
            return [rid for rid in c.engine.matches(ev) if rid in allowed]
    else:
        events = store.search(EventQuery(start=start, end=end, limit=MAX_EVENTS, oldest_first=True))
        events.sort(key=lambda e: (str(get(e, "@timestamp")), str(get(e, "event.id"))))
        matches = c.engine.matches
    runner = Runner(c, c.fresh_state())
    with c.lock:
        hits = runner.run(events, matches)
    return hits + runner.flush()
