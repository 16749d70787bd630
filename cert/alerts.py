"""Alerts: hits turned into a triage queue, with suppression so a brute force is one alert."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.errors import NotFound
from cert.models import Alert
from cert.tlp import TLP, highest

if TYPE_CHECKING:
    from cert.detection import Hit

MAX_EVIDENCE = 200
OPEN_STATUSES = ("new", "acknowledged")


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


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
            )
        )
        s.flush()
        new += 1
    return new, updated


def queue(s: Session, status: str | None = None, limit: int = 200) -> list[Alert]:
    """The triage queue, newest first."""
    q = select(Alert)
    if status:
        q = q.where(Alert.status == status)
    return list(s.scalars(q.order_by(Alert.last_seen.desc(), Alert.id.desc()).limit(limit)))


def get_alert(s: Session, alert_id: int) -> Alert:
    alert = s.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return alert
