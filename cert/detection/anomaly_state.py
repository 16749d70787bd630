"""The anomaly detectors' state in the database: their baselines (``anomaly_baselines``) and the
analysts' benign marks (``anomaly_benign``), so that a restart forgets nothing.

``DbAnomalyState`` is the ``cert.core.anomaly.AnomalyState`` the hunt scheduler gives every anomaly
detector. Marking an alert benign closes it (reason ``benign``) and keeps its detector from
reporting the same key (the alert's group key) until the mark expires; both are audited.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from cert.core.errors import N_, Conflict, InvalidInput, NotFound
from cert.detection.triage_actions import MAX_COMMENT, close
from cert.storage import audit
from cert.storage.db import Database
from cert.storage.models import Alert, AnomalyBaseline, AnomalyBenign

#: the longest a benign mark may last, in days
MAX_DAYS = 3650


class DbAnomalyState:
    """Baselines and benign marks read and written in their own short transactions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def baseline(self, detector: str, key: str) -> dict[str, Any] | None:
        with self.db.session() as s:
            row = s.get(AnomalyBaseline, (detector, key[:300]))
            return dict(row.data) if row is not None else None

    def save_baseline(self, detector: str, key: str, data: dict[str, Any]) -> None:
        with self.db.session() as s:
            row = s.get(AnomalyBaseline, (detector, key[:300]))
            if row is None:
                s.add(AnomalyBaseline(detector=detector, key=key[:300], data=data, updated_at=datetime.now(UTC)))
            else:
                row.data, row.updated_at = data, datetime.now(UTC)

    def benign(self, detector: str, at: datetime) -> set[str]:
        with self.db.session() as s:
            return set(s.scalars(select(AnomalyBenign.key).where(
                AnomalyBenign.detector == detector,
                or_(AnomalyBenign.expires_at.is_(None), AnomalyBenign.expires_at > at))))


def _aware(dt: datetime | None) -> datetime | None:
    return dt if dt is None or dt.tzinfo else dt.replace(tzinfo=UTC)


def mark_alert_benign(s: Session, alert: Alert, actor: str, reason: str, days: int,
                      remote_addr: str = "") -> AnomalyBenign:
    """Close an anomaly alert as benign and keep its detector from reporting its key for ``days``."""
    if not alert.explanation or not alert.group_key:
        raise InvalidInput(N_("Only an anomaly alert can be marked as benign."))
    reason = reason.strip()
    if not reason:
        raise InvalidInput(N_("Say why this is benign."))
    if len(reason) > MAX_COMMENT:
        raise InvalidInput(N_("A comment is at most %(max)s characters."), max=MAX_COMMENT)
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(N_("The duration is between %(low)s and %(high)s days."), low=1, high=MAX_DAYS)
    if close(s, [alert], "benign", actor, reason, remote_addr).skipped:
        raise Conflict(N_("This alert is closed or in an incident."))
    mark = AnomalyBenign(detector=alert.detector, key=alert.group_key, reason=reason, created_by=actor,
                         created_at=datetime.now(UTC), expires_at=datetime.now(UTC) + timedelta(days=days),
                         alert_id=alert.id)
    s.add(mark)
    s.flush()
    audit.record(s, actor, "anomaly.benign", "anomaly_benign", mark.id, remote_addr, detector=mark.detector,
                 key=mark.key, alert=alert.id, days=days, reason=reason)
    return mark


def _marks(q: Select[Any], detector: str | None, key: str | None, active_at: datetime | None,
           organizations: Collection[str] | None) -> Select[Any]:
    if detector:
        q = q.where(AnomalyBenign.detector == detector)
    if key:
        q = q.where(AnomalyBenign.key == key)
    if active_at is not None:
        q = q.where(or_(AnomalyBenign.expires_at.is_(None), AnomalyBenign.expires_at > active_at))
    if organizations is not None:
        q = q.join(Alert, Alert.id == AnomalyBenign.alert_id).where(Alert.organization.in_(sorted(organizations)))
    return q


def marks(s: Session, *, detector: str | None = None, key: str | None = None, active_at: datetime | None = None,
          organizations: Collection[str] | None = None, limit: int = 200, offset: int = 0) -> list[AnomalyBenign]:
    """Benign marks, the newest first: of a detector, of a key, still valid at ``active_at``; for a
    reader narrowed to ``organizations``, only the marks made from their organisations' alerts."""
    q = _marks(select(AnomalyBenign), detector, key, active_at, organizations)
    return list(s.scalars(q.order_by(AnomalyBenign.id.desc()).offset(offset).limit(limit)))


def count_marks(s: Session, *, detector: str | None = None, key: str | None = None,
                active_at: datetime | None = None, organizations: Collection[str] | None = None) -> int:
    """How many marks ``marks`` would list without a limit."""
    q = _marks(select(func.count()).select_from(AnomalyBenign), detector, key, active_at, organizations)
    return int(s.scalar(q) or 0)


def remove_mark(s: Session, mark_id: int, actor: str, remote_addr: str = "", *,
                organizations: Collection[str] | None = None) -> None:
    """Delete a benign mark (audited): its detector reports the key again from its next run. A
    reader narrowed to ``organizations`` finds only the marks of their organisations' alerts."""
    mark = s.get(AnomalyBenign, mark_id)
    if mark is not None and organizations is not None:
        alert = s.get(Alert, mark.alert_id) if mark.alert_id is not None else None
        mark = mark if alert is not None and alert.organization in organizations else None
    if mark is None:
        raise NotFound(N_("Benign mark %(id)s does not exist."), id=mark_id)
    audit.record(s, actor, "anomaly.benign_delete", "anomaly_benign", mark.id, remote_addr, detector=mark.detector,
                 key=mark.key)
    s.delete(mark)


def expires(mark: AnomalyBenign) -> datetime | None:
    """The mark's expiry, time-zone aware whatever the database returned."""
    return _aware(mark.expires_at)
