"""YARA on event payloads: the fields named by the setting ``yara_payload_fields`` (PowerShell
script blocks, HTTP bodies, command lines...) scanned with the rules of ``rules/yara``.

The rules are compiled once per content (see ``detectors.yara.scan.load_rules``). Each scan has the
``yara_timeout_seconds`` timeout; a payload that times out is sent to the dead-letter store with
the event id and field, and detection goes on. One alert per rule and entity (host, else source
address, else user) within the suppression window; the alert's entities carry the rule, its
metadata, the field and the matched strings with their offsets under ``yara``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from cert.core.config import Settings
from cert.core.contracts import Detector, FileMatch, Hit, detectors, hit_for_events
from cert.core.ecs import Event, get
from cert.storage.db import shared_database
from cert.storage.models import DeadLetter
from detectors.yara.scan import load_rules, scan_bytes

log = logging.getLogger(__name__)
ENTITY_FIELDS = ("host.name", "source.ip", "user.name")


def _entity(ev: Event) -> str:
    for f in ENTITY_FIELDS:
        v = get(ev, f)
        if v not in (None, ""):
            return f"{f}={v}"
    return ""


@detectors.register
class YaraPayloadDetector(Detector):
    name = "yara_payloads"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.ruleset = load_rules(settings.rules_dir / "yara")
        self.fields = tuple(settings.yara_payload_fields)
        grouped: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for f in self.fields:
            top, *rest = f.split(".")
            grouped.setdefault(top, []).append((f, tuple(rest)))
        self.by_top = tuple((top, tuple(paths)) for top, paths in grouped.items())
        self.timeout = settings.yara_timeout_seconds
        self.timeouts = 0

    def summary(self) -> dict[str, Any]:
        return {"rules": len(self.ruleset), "fields": ", ".join(self.fields),
                "rejected": [(path, "", reason) for path, reason in self.ruleset.rejected]}

    def detect(self, events: Sequence[Event]) -> list[Hit]:
        groups: dict[tuple[str, str], tuple[FileMatch, str, list[Event]]] = {}
        failures: list[tuple[Event, str, str, str]] = []
        by_top, ruleset, timeout = self.by_top, self.ruleset, self.timeout
        for ev in events:
            for top, paths in by_top:
                sub = ev.get(top)
                if sub is None:
                    continue
                for path, parts in paths:
                    payload: Any = sub
                    for part in parts:
                        payload = payload.get(part) if payload.__class__ is dict else None
                        if payload is None:
                            break
                    if payload.__class__ is not str or not payload:
                        continue
                    result = scan_bytes(ruleset, payload, path, timeout)
                    if result.error:
                        failures.append((ev, path, result.error, payload))
                    for m in result.matches:
                        key = (m.rule_id, _entity(ev))
                        if key in groups:
                            if groups[key][2][-1] is not ev:
                                groups[key][2].append(ev)
                        else:
                            groups[key] = (m, path, [ev])
        if failures:
            self._dead_letter(failures)
        return [self._hit(m, path, entity, evs) for (_, entity), (m, path, evs) in groups.items()]

    def _hit(self, m: FileMatch, path: str, entity: str, events: list[Event]) -> Hit:
        title = str(m.meta.get("description") or m.rule)
        hit = hit_for_events(events, rule_id=m.rule_id, title=f"YARA {m.rule}: {title}"[:300], severity=m.severity,
                             detector=self.name, group_key=f"{m.rule_id}|{entity}"[:300])
        return replace(hit, entities={**hit.entities, "yara": {**m.as_dict(), "field": path}})

    def _dead_letter(self, failures: list[tuple[Event, str, str, str]]) -> None:
        self.timeouts += len(failures)
        for ev, path, error, _ in failures:
            log.warning("yara_payloads: event %s field %s: %s", get(ev, "event.id"), path, error)
        if not self.settings.database_url:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = shared_database(self.settings.effective_database_url)
        with db.session() as s:
            for ev, path, error, payload in failures:
                s.add(DeadLetter(source=f"event {get(ev, 'event.id')}"[:500], parser=self.name, position=path[:60],
                                 reason=error[:500], raw=payload.encode("utf-8", "replace")[:4096]))
