"""Alerts: hits turned into a triage queue, with suppression so a brute force is one alert."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cert import audit
from cert.errors import NotFound
from cert.models import Alert

if TYPE_CHECKING:
    from cert.detection import Hit

MAX_EVIDENCE = 200
OPEN_STATUSES = ("new", "acknowledged")


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


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
            updated += 1
            continue
        s.add(
            Alert(
                rule_id=hit.rule_id,
                rule_title=hit.title,
                detector=hit.detector,
                severity=hit.severity,
                group_key=hit.group_key,
                source_ip=hit.entities.get("source.ip"),
                organization=hit.organization,
                attack=list(hit.attack),
                entities=dict(hit.entities),
                event_ids=list(hit.event_ids)[:MAX_EVIDENCE],
                count=hit.count,
                first_seen=hit.first_seen,
                last_seen=hit.last_seen,
            )
        )
        s.flush()
        new += 1
    return new, updated


def queue(s: Session, status: str | None = None, limit: int = 200, offset: int = 0) -> list[Alert]:
    """A page of the triage queue, the most recently raised alerts first: an alert raised now over
    old events (a late or back-filled log) comes before alerts raised earlier."""
    q = select(Alert)
    if status:
        q = q.where(Alert.status == status)
    return list(s.scalars(q.order_by(Alert.created_at.desc(), Alert.id.desc()).offset(offset).limit(limit)))


def count(s: Session, status: str | None = None) -> int:
    """How many alerts the queue holds (with that status)."""
    q = select(func.count()).select_from(Alert)
    if status:
        q = q.where(Alert.status == status)
    return int(s.scalar(q) or 0)


def acknowledge(s: Session, alert: Alert, actor: str, remote_addr: str = "") -> bool:
    """A new alert becomes acknowledged, in the audit trail; False when it was not new (no change)."""
    if alert.status != "new":
        return False
    alert.status = "acknowledged"
    audit.record(s, actor, "alert.acknowledge", "alert", alert.id, remote_addr)
    return True


def get_alert(s: Session, alert_id: int) -> Alert:
    alert = s.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return alert
