"""What an analyst does to a selection of alerts: acknowledge, assign, close with a reason,
reopen. Each action runs in the caller's transaction (all the alerts or none), changes only the
alerts it applies to, reports the others with the reason they were left, and writes one audit
entry per alert it changed. The alerts come from ``triage.by_ids`` (within the caller's scope)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.core.errors import N_, InvalidInput
from cert.detection.alerts import acknowledge as acknowledge_one
from cert.storage import audit
from cert.storage.models import Alert, User

CLOSE_REASONS = ("false-positive", "benign", "duplicate", "true-positive")
MAX_COMMENT = 2000

#: why an alert was left as it was (message ids, translated when shown)
NOT_NEW = N_("no longer new")
ALREADY_CLOSED = N_("already closed")
NOT_CLOSED = N_("not closed")
IN_INCIDENT = N_("in an incident")
SAME_ASSIGNEE = N_("already with this assignee")


@dataclass
class BulkResult:
    """The alerts an action changed, and those it left with the reason (a message id)."""

    changed: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


def acknowledge(s: Session, alerts: Sequence[Alert], actor: str, remote_addr: str = "") -> BulkResult:
    """New alerts become acknowledged; the others are left."""
    result = BulkResult()
    for alert in alerts:
        if acknowledge_one(s, alert, actor, remote_addr):
            result.changed.append(alert.id)
        else:
            result.skipped[alert.id] = NOT_NEW
    return result


def assignable(s: Session, username: str) -> str:
    """The user name if it is an active, non-deleted account; InvalidInput naming it otherwise."""
    name = username.strip()
    user = s.scalar(select(User).where(User.username == name)) if name else None
    if user is None or not user.active or user.deleted_at is not None:
        raise InvalidInput(N_("No active user is named %(name)s."), name=name[:80])
    return user.username


def assign(s: Session, alerts: Sequence[Alert], assignee: str | None, actor: str,
           remote_addr: str = "") -> BulkResult:
    """Give the alerts to ``assignee`` (an active user), or to nobody (None)."""
    who = assignable(s, assignee) if assignee is not None else None
    result = BulkResult()
    for alert in alerts:
        if alert.assignee == who:
            result.skipped[alert.id] = SAME_ASSIGNEE
            continue
        previous, alert.assignee = alert.assignee, who
        audit.record(s, actor, "alert.assign" if who else "alert.unassign", "alert", alert.id, remote_addr,
                     assignee=who, previous=previous)
        result.changed.append(alert.id)
    return result


def close(s: Session, alerts: Sequence[Alert], reason: str, actor: str, comment: str = "",
          remote_addr: str = "") -> BulkResult:
    """Close the alerts with a reason (``CLOSE_REASONS``) and an optional comment. An alert in an
    incident is handled there, and one already closed keeps its reason: both are left."""
    if reason not in CLOSE_REASONS:
        raise InvalidInput(N_("The reason must be one of %(allowed)s, not %(value)s."),
                           allowed=", ".join(CLOSE_REASONS), value=reason[:40])
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(N_("A comment is at most %(max)s characters."), max=MAX_COMMENT)
    now = datetime.now(UTC)
    result = BulkResult()
    for alert in alerts:
        if alert.status == "closed":
            result.skipped[alert.id] = ALREADY_CLOSED
        elif alert.case_id is not None:
            result.skipped[alert.id] = IN_INCIDENT
        else:
            alert.status, alert.close_reason, alert.close_comment = "closed", reason, comment
            alert.closed_at, alert.closed_by = now, actor
            audit.record(s, actor, "alert.close", "alert", alert.id, remote_addr, reason=reason, comment=comment)
            result.changed.append(alert.id)
    return result


def reopen(s: Session, alerts: Sequence[Alert], actor: str, remote_addr: str = "") -> BulkResult:
    """Closed alerts go back to the queue (acknowledged if they had been, else new); the closing
    stays in the audit trail."""
    result = BulkResult()
    for alert in alerts:
        if alert.status != "closed":
            result.skipped[alert.id] = NOT_CLOSED
            continue
        previous = alert.close_reason
        alert.status = "acknowledged" if alert.acknowledged_at else "new"
        alert.close_reason, alert.close_comment, alert.closed_at, alert.closed_by = None, "", None, None
        audit.record(s, actor, "alert.reopen", "alert", alert.id, remote_addr, previous_reason=previous)
        result.changed.append(alert.id)
    return result
