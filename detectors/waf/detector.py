"""Web attacks in access-log events: each request (``url.original``, method, ``User-Agent``,
``Referer``, status) evaluated by ModSecurity with the OWASP Core Rule Set and Vigie's access-log
rules (``detectors.waf.engine``), as logged and in the decoded forms of ``detectors.waf.request``;
and scanning by behaviour, a source whose requests are answered 404 on many distinct paths.

Without the CRS on the machine (``waf_crs_dir`` holds no rules: Debian's ``modsecurity-crs`` is not
installed), the detector says so once in the log and in ``summary()`` (``cert rules``), and runs the
behaviour part only, so that detection of everything else goes on.

A request whose anomaly score reaches the threshold is a hit, grouped per primary rule (the most
severe finding, lowest id first) and source address within a batch. The hit's entities carry, in
ECS names, ``rule.id``, ``rule.name`` and ``rule.ruleset`` of the primary rule, and under ``waf``
the engine (``libinjection`` or ``ModSecurity``), the score, the decoding that revealed it, the
paranoia level and every finding of each request.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from cert.core.config import Settings
from cert.core.contracts import Detector, Hit, detectors, hit_for_events
from cert.core.ecs import Event, get, parse_ts
from cert.core.errors import N_, ConfigError
from detectors.waf.engine import Engine, Finding, Verdict, has_crs
from detectors.waf.request import variants

PROBE_RULE = "waf-probe-404"
MAX_TRACKED_SOURCES = 50_000
SCANNER_TAG = "attack-reputation-scanner"

log = logging.getLogger(__name__)


def _rule_ids(values: tuple[str, ...]) -> tuple[int, ...]:
    """The setting ``waf_excluded_rules`` as ModSecurity rule ids."""
    bad = [v for v in values if not str(v).strip().isdigit()]
    if bad:
        raise ConfigError(f"waf_excluded_rules: not rule ids: {', '.join(map(str, bad))}")
    return tuple(int(str(v).strip()) for v in values)


def _rule_id(f: Finding) -> str:
    return f"vigie-waf-{f.rule_id}" if f.ruleset.startswith("Vigie") else f"crs-{f.rule_id}"


def _primary(findings: Sequence[Finding]) -> Finding:
    return min(findings, key=lambda f: (f.severity, f.rule_id))


class _Probes:
    """Per source, the 404 answers of the last window: (time, path), oldest first."""

    def __init__(self, window: timedelta, minimum: int) -> None:
        self.window, self.minimum = window, minimum
        self.seen: dict[str, deque[tuple[datetime, str, Event]]] = {}

    def add(self, source: str, when: datetime, path: str, ev: Event) -> list[Event] | None:
        """The evidence once the source has reached the minimum of distinct paths in the window
        (its count then starts again), else None."""
        q = self.seen.pop(source, None) or deque()
        self.seen[source] = q  # most recently active last: eviction removes the least recent
        q.append((when, path, ev))
        while q and when - q[0][0] > self.window:
            q.popleft()
        if len({p for _, p, _ in q}) >= self.minimum:
            del self.seen[source]
            return [e for _, _, e in q]
        if len(self.seen) > MAX_TRACKED_SOURCES:
            del self.seen[next(iter(self.seen))]
        return None


@detectors.register
class WebAttackDetector(Detector):
    name = "web_attacks"
    #: English title of its behaviour alerts (translated for the reader, the data after it kept).
    title = N_("Web scanning")

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.engine: Engine | None = None
        self.unavailable = ""
        if has_crs(settings.waf_crs_dir):
            self.engine = Engine(settings.waf_crs_dir, settings.waf_paranoia_level, settings.waf_anomaly_threshold,
                                 excluded_rules=_rule_ids(settings.waf_excluded_rules))
        else:
            self.unavailable = (f"no OWASP CRS rules in {settings.waf_crs_dir} (Debian package modsecurity-crs): "
                                "requests are not evaluated, only scanning by 404 answers is detected")
            log.warning("web_attacks: %s", self.unavailable)
        self.probes = _Probes(timedelta(seconds=settings.waf_probe_window_seconds), settings.waf_probe_min_404)

    def summary(self) -> dict[str, Any]:
        if self.engine is None:
            return {"unavailable": self.unavailable}
        return {"rules": self.engine.rules_loaded, "ruleset": f"OWASP CRS {self.engine.crs_version}",
                "paranoia_level": self.engine.paranoia_level, "anomaly_threshold": self.engine.anomaly_threshold}

    def inspect(self, ev: Event) -> tuple[str, Verdict] | None:
        """The first decoding of the event's request that the rules find an attack in, with its
        verdict; None when no decoding is (or the CRS is not installed)."""
        if self.engine is None:
            return None
        for decoding, request in variants(ev):
            verdict = self.engine.evaluate(request)
            if verdict.attack:
                return decoding, verdict
        return None

    def detect(self, events: Sequence[Event]) -> list[Hit]:
        groups: dict[tuple[str, str], list[tuple[Event, str, Verdict]]] = {}
        hits: list[Hit] = []
        for ev in events:
            if "web" not in (get(ev, "event.category") or ()):
                continue
            found = self.inspect(ev)
            if found is not None:
                decoding, verdict = found
                key = (_rule_id(_primary(verdict.findings)), str(get(ev, "source.ip") or ""))
                groups.setdefault(key, []).append((ev, decoding, verdict))
            probe = self._probe(ev)
            if probe:
                hits.append(self._probe_hit(probe))
        hits.extend(self._hit(rule, source, items) for (rule, source), items in groups.items())
        return hits

    def _probe(self, ev: Event) -> list[Event] | None:
        source, path = get(ev, "source.ip"), get(ev, "url.path")
        if get(ev, "http.response.status_code") != 404 or not source or not isinstance(path, str):
            return None
        return self.probes.add(str(source), parse_ts(str(get(ev, "@timestamp"))), path, ev)

    def _hit(self, rule: str, source: str, items: list[tuple[Event, str, Verdict]]) -> Hit:
        first = _primary(items[0][2].findings)
        scanner = any(SCANNER_TAG in f.tags for _, _, v in items for f in v.findings)
        severity = "high" if max(v.score for _, _, v in items) >= 10 else "medium"
        hit = hit_for_events([ev for ev, _, _ in items], rule_id=rule,
                             title=f"{first.engine} {first.ruleset} {first.rule_id}: {first.message}"[:300],
                             severity=severity, detector=self.name, group_key=f"{rule}|{source}"[:300],
                             attack=("T1595",) if scanner else ("T1190",))
        waf = {"engine": first.engine, "paranoia_level": self.settings.waf_paranoia_level,
               "requests": [{"event.id": get(ev, "event.id"), "decoding": decoding, "score": v.score,
                             "findings": [{"rule.id": str(f.rule_id), "rule.name": f.message,
                                           "rule.ruleset": f.ruleset, "engine": f.engine, "data": f.data}
                                          for f in v.findings]} for ev, decoding, v in items]}
        rule_ecs = {"id": str(first.rule_id), "name": first.message, "ruleset": first.ruleset}
        return replace(hit, entities={**hit.entities, "rule": rule_ecs, "waf": waf}, count=len(items))

    def _probe_hit(self, events: list[Event]) -> Hit:
        source = str(get(events[0], "source.ip"))
        paths = sorted({str(get(e, "url.path")) for e in events})
        hit = hit_for_events(events, rule_id=PROBE_RULE,
                             title=f"{self.title}: {source} ({len(paths)} × 404)"[:300],
                             severity="medium", detector=self.name, group_key=f"{PROBE_RULE}|{source}",
                             attack=("T1595.003",))
        rule_ecs = {"id": PROBE_RULE, "name": "Many 404 answers to one source", "ruleset": "Vigie web behaviour"}
        return replace(hit, entities={**hit.entities, "rule": rule_ecs, "waf": {"paths": paths[:50]}},
                       count=len(events))
