"""Alerts: hits turned into a triage queue, with suppression so a brute force is one alert."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from cert.core.contracts import Event, Hit, RuleOverrides
from cert.core.errors import NotFound
from cert.core.tlp import TLP, highest
from cert.detection.overrides import apply_overrides
from cert.storage import audit
from cert.storage.models import Alert

MAX_EVIDENCE = 200
OPEN_STATUSES = ("new", "acknowledged")


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass
class Raised:
    """What ``raise_alerts`` did: the hits kept after the analysts' rule settings, and the alerts
    they created or updated."""

    hits: list[Hit] = field(default_factory=list)
    new: int = 0
    updated: int = 0


def raise_alerts(s: Session, hits: Sequence[Hit], overrides: RuleOverrides, *, suppression_minutes: int,
                 events: Sequence[Event] = (), handled: Collection[str] = (),
                 keep: Callable[[Session, list[Hit]], list[Hit]] | None = None) -> Raised:
    """The one way hits become alerts, whichever path found them (a detection run, ``cert ingest
    --detect``, a listener, a scheduled hunt, a YARA scan): the analysts' rule settings applied
    (disabled rules dropped, severity overrides, exceptions on ``events`` for the detectors not in
    ``handled``, which apply them themselves), then ``keep`` (a path's own filter, in the same
    session), then suppression into the open alert of the same rule and group. Hits already
    screened with ``apply_overrides`` against their batch (a detection run screens each batch
    while its events are at hand) pass the settings unchanged."""
    kept = apply_overrides(hits, overrides, events, set(handled))
    if keep is not None:
        kept = keep(s, kept)
    new, updated = upsert_hits(s, kept, suppression_minutes)
    return Raised(kept, new, updated)


def _source_ip(hit: Hit) -> str | None:
    """The hit's source address, when it is one (an invalid value stays in ``entities`` only)."""
    ip = hit.entities.get("source.ip")
    if ip is None or "source.ip" in (hit.entities.get("invalid") or {}):
        return None
    return str(ip)[:64]


def upsert_hits(s: Session, hits: Sequence[Hit], suppression_minutes: int) -> tuple[int, int]:
    """Create alerts for hits, or fold a hit into the open alert of the same rule and group key
    seen within the suppression window. Returns (new alerts, updated alerts)."""
    window = timedelta(minutes=suppression_minutes)
    new = updated = 0
    for hit in sorted(hits, key=lambda h: h.first_seen):
        existing = s.scalar(
            select(Alert)
            .where(Alert.rule_id == hit.rule_id, Alert.group_key == hit.group_key, Alert.status.in_(OPEN_STATUSES))
            .order_by(Alert.last_seen.desc())
            .limit(1)
        )
        if existing is not None and hit.group_key and _aware(existing.last_seen) + window >= hit.first_seen:
            known = set(existing.event_ids)
            fresh = [e for e in hit.event_ids if e not in known]
            if not fresh:
                continue
            existing.event_ids = (list(existing.event_ids) + fresh)[:MAX_EVIDENCE]
            existing.count += len(fresh) if hit.count == len(hit.event_ids) else hit.count
            existing.first_seen = min(_aware(existing.first_seen), hit.first_seen)
            existing.last_seen = max(_aware(existing.last_seen), hit.last_seen)
            existing.tlp = highest(TLP.parse(existing.tlp), TLP.parse(hit.tlp)).tag_value
            if hit.explanation:  # the latest run's explanation of an anomaly
                existing.explanation = dict(hit.explanation)
            updated += 1
            continue
        s.add(
            Alert(
                rule_id=hit.rule_id,
                rule_title=hit.title,
                detector=hit.detector,
                severity=hit.severity,
                group_key=hit.group_key,
                source_ip=_source_ip(hit),
                organization=hit.organization,
                attack=list(hit.attack),
                entities=dict(hit.entities),
                event_ids=list(hit.event_ids)[:MAX_EVIDENCE],
                count=hit.count,
                first_seen=hit.first_seen,
                last_seen=hit.last_seen,
                tlp=TLP.parse(hit.tlp).tag_value,
                explanation=dict(hit.explanation),
            )
        )
        s.flush()
        new += 1
    return new, updated


def unreported(s: Session, hits: list[Hit]) -> list[Hit]:
    """The hits of a re-run (``run_detection`` over events examined before) without what an alert
    already reported: a (rule, event) pair in the evidence of an alert of the rule, whatever its
    status (a closed alert is not raised again by the same events), is dropped. An alert keeps
    ``MAX_EVIDENCE`` events; beyond, an alert of the same rule and group whose time span covers
    the hit's reported it. A hit some of whose events are new keeps those only."""
    reported: dict[str, set[str]] = {}
    spans: dict[str, list[tuple[str, datetime, datetime]]] = {}
    for rule_id in {h.rule_id for h in hits}:
        known: set[str] = set()
        covered: list[tuple[str, datetime, datetime]] = []
        rows = s.execute(select(Alert.event_ids, Alert.count, Alert.group_key, Alert.first_seen, Alert.last_seen)
                         .where(Alert.rule_id == rule_id))
        for event_ids, n, group, first, last in rows:
            known.update(event_ids or ())
            if n > len(event_ids or ()):
                covered.append((group, _aware(first), _aware(last)))
        reported[rule_id], spans[rule_id] = known, covered
    out: list[Hit] = []
    for hit in hits:
        if any(group == hit.group_key and first <= hit.first_seen and hit.last_seen <= last
               for group, first, last in spans[hit.rule_id]):
            continue
        fresh = tuple(e for e in hit.event_ids if e not in reported[hit.rule_id])
        if not fresh:
            continue
        if len(fresh) < len(hit.event_ids) and hit.count == len(hit.event_ids):
            hit = replace(hit, event_ids=fresh, count=len(fresh))
        reported[hit.rule_id].update(fresh)
        out.append(hit)
    return out


def _visible(q: Select[Any], organizations: Collection[str] | None) -> Select[Any]:
    """``q`` narrowed to the alerts recorded with one of ``organizations`` (None: all alerts; an
    alert of no organisation is never in a narrowed view)."""
    return q if organizations is None else q.where(Alert.organization.in_(sorted(organizations)))


def queue(s: Session, status: str | None = None, limit: int = 200, offset: int = 0, *,
          organizations: Collection[str] | None = None) -> list[Alert]:
    """A page of the triage queue, the most recently raised alerts first: an alert raised now over
    old events (a late or back-filled log) comes before alerts raised earlier. ``organizations``:
    only the alerts of these (``cert.accounts.access.Scope.recorded``); None: all."""
    q = _visible(select(Alert), organizations)
    if status:
        q = q.where(Alert.status == status)
    return list(s.scalars(q.order_by(Alert.created_at.desc(), Alert.id.desc()).offset(offset).limit(limit)))


def count(s: Session, status: str | None = None, *, organizations: Collection[str] | None = None) -> int:
    """How many alerts the queue holds (with that status, of those organisations)."""
    q = _visible(select(func.count()).select_from(Alert), organizations)
    if status:
        q = q.where(Alert.status == status)
    return int(s.scalar(q) or 0)


def acknowledge(s: Session, alert: Alert, actor: str, remote_addr: str = "") -> bool:
    """A new alert becomes acknowledged, in the audit trail; False when it was not new (no change)."""
    if alert.status != "new":
        return False
    alert.status = "acknowledged"
    alert.acknowledged_at, alert.acknowledged_by = datetime.now(UTC), actor
    audit.record(s, actor, "alert.acknowledge", "alert", alert.id, remote_addr)
    return True


def get_alert(s: Session, alert_id: int, *, organizations: Collection[str] | None = None) -> Alert:
    """The alert; NotFound when there is none, or when it is not of ``organizations`` (the same
    answer: whoever may not see an alert does not learn that it exists)."""
    alert = s.get(Alert, alert_id)
    if alert is None or (organizations is not None and alert.organization not in organizations):
        raise NotFound(f"alert {alert_id} does not exist")
    return alert
