"""Rule management: enable/disable a detection rule, override its severity, exclude false
positives with exceptions; every change is kept in the rule's history and in the audit trail.

Detectors read the result as ``RuleOverrides`` (``load_overrides``) and re-read it when
``overrides_version`` changes, so a change applies to the next batch without a restart.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cert.core.contracts import ENTITY_FIELDS, SEVERITIES, ExceptionSpec, Hit, RuleOverrides, hit_for_events
from cert.core.ecs import Event, get
from cert.core.errors import InvalidInput, NotFound
from cert.storage import audit
from cert.storage.db import Database
from cert.storage.models.rules import RuleChange, RuleException, RuleSetting

OPERATORS = ("equals", "contains", "startswith", "endswith", "cidr")
MAX_VALUES = 50


def overrides_version(s: Session) -> int:
    return int(s.scalar(select(func.max(RuleChange.id))) or 0)


def load_overrides(s: Session) -> RuleOverrides:
    disabled = frozenset(r.rule_id for r in s.scalars(select(RuleSetting).where(RuleSetting.enabled.is_(False))))
    severity = {r.rule_id: r.severity for r in s.scalars(select(RuleSetting).where(RuleSetting.severity.is_not(None)))
                if r.severity}
    exceptions: dict[str, list[ExceptionSpec]] = {}
    for e in s.scalars(select(RuleException).where(RuleException.active.is_(True)).order_by(RuleException.id)):
        exceptions.setdefault(e.rule_id, []).append(ExceptionSpec(e.id, e.field, e.operator, tuple(e.values)))
    return RuleOverrides(overrides_version(s), disabled, severity, {k: tuple(v) for k, v in exceptions.items()})


def _setting(s: Session, rule_id: str) -> RuleSetting:
    row = s.get(RuleSetting, rule_id)
    if row is None:
        row = RuleSetting(rule_id=rule_id, enabled=True, severity=None)
        s.add(row)
    return row


def _changed(s: Session, rule_id: str, actor: str, action: str, before: dict[str, Any], after: dict[str, Any],
             comment: str, remote_addr: str) -> None:
    s.add(RuleChange(rule_id=rule_id, actor=actor, action=action, before=before, after=after, comment=comment))
    audit.record(s, actor, f"rule_{action}", "rule", rule_id, remote_addr=remote_addr, before=before, after=after)
    s.flush()


def _check_rule_id(rule_id: str) -> str:
    rule_id = rule_id.strip()
    if not rule_id or len(rule_id) > 100:
        raise InvalidInput("rule id: 1 to 100 characters")
    return rule_id


def set_enabled(s: Session, rule_id: str, enabled: bool, actor: str, comment: str = "",
                remote_addr: str = "") -> None:
    row = _setting(s, _check_rule_id(rule_id))
    current = row.enabled is not False
    if current == enabled:
        return
    before = {"enabled": current}
    row.enabled, row.updated_by = enabled, actor
    _changed(s, rule_id, actor, "enable" if enabled else "disable", before, {"enabled": enabled}, comment, remote_addr)


def set_severity(s: Session, rule_id: str, severity: str | None, actor: str, comment: str = "",
                 remote_addr: str = "") -> None:
    """Override the rule's severity; None or '' restores the rule's own level."""
    severity = severity or None
    if severity is not None and severity not in SEVERITIES:
        raise InvalidInput(f"severity: one of {', '.join(SEVERITIES)}")
    row = _setting(s, _check_rule_id(rule_id))
    if row.severity == severity:
        return
    before = {"severity": row.severity}
    row.severity, row.updated_by = severity, actor
    _changed(s, rule_id, actor, "severity", before, {"severity": severity}, comment, remote_addr)


def _check_values(operator: str, values: list[str]) -> list[str]:
    cleaned = [v.strip() for v in values if v and v.strip()]
    if not cleaned:
        raise InvalidInput("exception: at least one value")
    if len(cleaned) > MAX_VALUES or any(len(v) > 1000 for v in cleaned):
        raise InvalidInput(f"exception: at most {MAX_VALUES} values of 1000 characters")
    if operator == "cidr":
        for v in cleaned:
            try:
                ipaddress.ip_network(v, strict=False)
            except ValueError:
                raise InvalidInput(f"exception: {v!r} is not an IP network (e.g. 10.0.0.0/8)") from None
    return cleaned


def add_exception(s: Session, rule_id: str, field_name: str, operator: str, values: list[str], actor: str,
                  comment: str = "", remote_addr: str = "") -> RuleException:
    rule_id = _check_rule_id(rule_id)
    field_name = field_name.strip()
    if not field_name or len(field_name) > 200 or any(c.isspace() for c in field_name):
        raise InvalidInput("exception: the field is an event field name such as process.command_line")
    if operator not in OPERATORS:
        raise InvalidInput(f"exception: operator is one of {', '.join(OPERATORS)}")
    cleaned = _check_values(operator, values)
    exc = RuleException(rule_id=rule_id, field=field_name, operator=operator, values=cleaned,
                        comment=comment.strip(), created_by=actor)
    s.add(exc)
    s.flush()
    after = {"id": exc.id, "field": field_name, "operator": operator, "values": cleaned}
    _changed(s, rule_id, actor, "exception_add", {}, after, comment, remote_addr)
    return exc


def remove_exception(s: Session, exception_id: int, actor: str, comment: str = "", remote_addr: str = "") -> None:
    exc = s.get(RuleException, exception_id)
    if exc is None or not exc.active:
        raise NotFound(f"exception {exception_id} does not exist")
    exc.active = False
    before = {"id": exc.id, "field": exc.field, "operator": exc.operator, "values": list(exc.values)}
    _changed(s, exc.rule_id, actor, "exception_remove", before, {}, comment, remote_addr)


def exceptions_of(s: Session, rule_id: str) -> list[RuleException]:
    return list(s.scalars(select(RuleException).where(RuleException.rule_id == rule_id,
                                                      RuleException.active.is_(True)).order_by(RuleException.id)))


def history(s: Session, rule_id: str, limit: int = 100) -> list[RuleChange]:
    return list(s.scalars(select(RuleChange).where(RuleChange.rule_id == rule_id)
                          .order_by(RuleChange.id.desc()).limit(limit)))


def settings_by_rule(s: Session) -> dict[str, RuleSetting]:
    return {r.rule_id: r for r in s.scalars(select(RuleSetting))}


# ---- applying the overrides to detections --------------------------------------------------------

_CURRENT: dict[str, RuleOverrides] = {}


def current_overrides(db: Database) -> RuleOverrides:
    """The analysts' rule settings, re-read only when a change was recorded since the last call.
    A database without the rule tables yet (not migrated) has no overrides."""
    cached = _CURRENT.get(db.url)
    try:
        with db.session() as s:
            version = overrides_version(s)
            if cached is not None and cached.version == version:
                return cached
            fresh = load_overrides(s)
    except SQLAlchemyError:
        return cached or RuleOverrides()
    _CURRENT[db.url] = fresh
    return fresh


def _text_values(v: Any) -> list[str]:
    items = v if isinstance(v, list) else [v]
    out = []
    for x in items:
        if isinstance(x, bool):
            out.append("true" if x else "false")
        elif isinstance(x, str | int | float):
            out.append(str(x).lower())
    return out


def _compare(operator: str, text: str, wanted: str) -> bool:
    if operator == "equals":
        return text == wanted
    if operator == "contains":
        return wanted in text
    if operator == "startswith":
        return text.startswith(wanted)
    return operator == "endswith" and text.endswith(wanted)


def exception_matches(spec: ExceptionSpec, event: Event) -> bool:
    """Whether an event is excluded by an exception (the same meaning the Sigma engine compiles)."""
    texts = _text_values(get(event, spec.field))
    wanted = [v.lower() for v in spec.values]
    for t in texts:
        for w in wanted:
            if spec.operator == "cidr":
                try:
                    addr, net = ipaddress.ip_address(t), ipaddress.ip_network(w, strict=False)
                except ValueError:
                    continue
                if addr.version == net.version and addr in net:
                    return True
            elif _compare(spec.operator, t, w):
                return True
    return False


def apply_overrides(hits: Sequence[Hit], overrides: RuleOverrides, events: Sequence[Event],
                    own_exceptions: set[str]) -> list[Hit]:
    """Drop hits of disabled rules, apply severity overrides, and remove excepted evidence for
    detectors that do not apply exceptions themselves (``own_exceptions``: those that do)."""
    if not overrides.disabled and not overrides.severity and not overrides.exceptions:
        return list(hits)
    by_id: dict[str, Event] | None = None
    out: list[Hit] = []
    for hit in hits:
        if hit.rule_id in overrides.disabled:
            continue
        specs = overrides.exceptions.get(hit.rule_id)
        if specs and hit.detector not in own_exceptions:
            if by_id is None:
                by_id = {str(get(e, "event.id")): e for e in events}
            evidence = [by_id[i] for i in hit.event_ids if i in by_id]
            excluded = [e for e in evidence if any(exception_matches(x, e) for x in specs)]
            if excluded and len(excluded) == len(evidence):
                continue
            if excluded:
                hit = _without(hit, [e for e in evidence if not any(e is x for x in excluded)], excluded)
        severity = overrides.severity.get(hit.rule_id)
        out.append(replace(hit, severity=severity) if severity else hit)
    return out


def _without(hit: Hit, kept: Sequence[Event], excluded: Sequence[Event]) -> Hit:
    """The hit without its ``excluded`` evidence: its event ids, time span, count and the entities
    taken from events (source.ip, user.name...) follow the evidence left; everything else the
    detector put on the hit (an indicator's provenance, YARA's matched strings, ATT&CK tags,
    the group key) stays as it was."""

    fresh = hit_for_events(kept, rule_id=hit.rule_id, title=hit.title, severity=hit.severity,
                           detector=hit.detector, group_key=hit.group_key, attack=hit.attack)
    gone = {str(get(e, "event.id")) for e in excluded}
    entities = {k: v for k, v in hit.entities.items() if k not in ENTITY_FIELDS}
    entities.update((k, v) for k, v in fresh.entities.items() if k in ENTITY_FIELDS)
    return replace(hit, event_ids=tuple(i for i in hit.event_ids if i not in gone),
                   first_seen=fresh.first_seen, last_seen=fresh.last_seen, entities=entities,
                   organization=fresh.organization or hit.organization, count=max(1, hit.count - len(gone)))
