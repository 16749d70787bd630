"""The notification queue: each message to one contact is a row with its state. ``queued`` and
``failed`` messages whose ``next_attempt_at`` has come are sent by the delivery loop; a refused
or unreachable relay makes a message ``failed``, tried again after a delay that doubles each time,
and ``dead`` after ``notify_max_attempts``: it stays in the queue, listed with its error, until
someone sends it again (``retry``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cert.constituency.directory import Contact, Organization
from cert.core.config import Settings
from cert.core.errors import N_, Conflict, InvalidInput, NotFound
from cert.core.tlp import TLP
from cert.storage import audit
from cert.storage.models import Notification

STATES = ("queued", "sending", "sent", "failed", "dead")
STATE_LABELS = {"queued": N_("queued"), "sending": N_("sending"), "sent": N_("sent"), "failed": N_("failed"),
                "dead": N_("dead")}
TLP_MEANINGS = {
    TLP.CLEAR: N_("recipients may share this information without restriction."),
    TLP.GREEN: N_("recipients may share this information within their community, not publicly."),
    TLP.AMBER: N_("recipients may share this information within their organisation and its clients, "
                  "on a need-to-know basis only."),
    TLP.AMBER_STRICT: N_("recipients may share this information within their organisation only."),
    TLP.RED: N_("for the named recipients only; do not share it any further."),
}


def ticket_of(case_id: int) -> str:
    """The ticket an incident's messages carry in their subject (``VIGIE#12``)."""
    return f"VIGIE#{case_id}"


@dataclass(frozen=True)
class Draft:
    """A rendered message, before it is queued for a contact."""

    kind: str
    subject: str
    body: str
    tlp: TLP
    ticket: str
    case_id: int | None = None
    advisory_id: int | None = None
    escalation_step: int = 0
    attachment_name: str = ""
    attachment: str = ""


def enqueue(s: Session, org: Organization | None, contact: Contact, draft: Draft, actor: str, *,
            organization_id: str = "", now: datetime | None = None) -> Notification:
    """Queue ``draft`` for ``contact`` (of ``org``; the CERT's own duty officer has none)."""
    when = now or datetime.now(UTC)
    row = Notification(
        kind=draft.kind, state="queued", case_id=draft.case_id, advisory_id=draft.advisory_id,
        organization=org.id if org else organization_id, organization_name=org.name if org else "",
        recipient_name=contact.name[:200], recipient_email=contact.email[:320], recipient_role=contact.role,
        recipient_pgp_key=contact.pgp_key, recipient_smime_cert=contact.smime_cert,
        language=contact.language if contact.language in ("fr", "en") else "fr", tlp=draft.tlp.tag_value,
        ticket=draft.ticket, subject=draft.subject, body=draft.body, attachment_name=draft.attachment_name,
        attachment=draft.attachment, escalation_step=draft.escalation_step, attempts=0, last_error="",
        next_attempt_at=when, created_by=actor[:80], created_at=when, message_id="")
    s.add(row)
    s.flush()
    return row


def list_notifications(s: Session, *, state: str | None = None, case_id: int | None = None,
                       organizations: frozenset[str] | None = None, limit: int = 50,
                       offset: int = 0) -> tuple[int, Sequence[Notification]]:
    """(how many match, one page of them, the most recent first). ``organizations`` (names)
    restricts the list to those organisations' messages."""
    if state is not None and state not in STATES:
        raise InvalidInput(N_("Unknown notification state %(state)s."), state=state[:20])
    q = select(Notification)
    if state:
        q = q.where(Notification.state == state)
    if case_id is not None:
        q = q.where(Notification.case_id == case_id)
    if organizations is not None:
        q = q.where(Notification.organization_name.in_(sorted(organizations)))
    total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = s.scalars(q.order_by(Notification.id.desc()).limit(limit).offset(offset)).all()
    return total, rows


def get_notification(s: Session, notification_id: int, organizations: frozenset[str] | None = None) -> Notification:
    row = s.get(Notification, notification_id)
    if row is None or (organizations is not None and row.organization_name not in organizations):
        raise NotFound(N_("Notification %(id)s does not exist."), id=notification_id)
    return row


def retry(s: Session, notification_id: int, actor: str, remote_addr: str = "", *,
          now: datetime | None = None) -> Notification:
    """Send a failed or dead message again at once (its attempts start over)."""
    row = get_notification(s, notification_id)
    if row.state not in ("failed", "dead"):
        raise Conflict(N_("Notification %(id)s is %(state)s: only a failed or dead message is sent again."),
                       id=row.id, state=row.state)
    row.state, row.attempts, row.next_attempt_at = "queued", 0, now or datetime.now(UTC)
    audit.record(s, actor, "notification.retry", "notification", row.id, remote_addr)
    return row


def backoff(settings: Settings, attempts: int) -> timedelta:
    """The delay before the attempt after the ``attempts``-th failed: the first delay, doubled each time."""
    return timedelta(seconds=settings.notify_retry_seconds * 2 ** max(attempts - 1, 0))


def record_failure(row: Notification, settings: Settings, error: str, now: datetime) -> None:
    row.attempts += 1
    row.last_error = error[:2000]
    if row.attempts >= settings.notify_max_attempts:
        row.state = "dead"
    else:
        row.state = "failed"
        row.next_attempt_at = now + backoff(settings, row.attempts)


def record_sent(row: Notification, message_id: str, now: datetime) -> None:
    row.attempts += 1
    row.state, row.sent_at, row.message_id, row.last_error = "sent", now, message_id[:200], ""
