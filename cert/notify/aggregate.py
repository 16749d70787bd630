"""Aggregated notifications, as IntelMQ's mailgen sends them: the alerts of one kind (their rule)
seen on one organisation within ``notify_aggregate_minutes`` go in one message per contact with a
CSV attachment and one ticket; a finding (organisation, kind, key: the alert's source address or
group) is not reported again within ``notify_repeat_hours``. Only alerts whose TLP may leave at
``notify_tlp_ceiling`` are sent."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.accounts.clock import aware
from cert.core.tlp import TLP, highest, may_leave
from cert.notify.incidents import when_text
from cert.notify.queue import TLP_MEANINGS, Draft, enqueue
from cert.notify.render import gettext, render, subject_line
from cert.runtime.platform import Platform
from cert.storage import audit
from cert.storage.models import Alert, Notification, NotifiedFinding

COLUMNS = ("first_seen", "last_seen", "rule", "severity", "source_ip", "key", "count", "tlp")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula (OWASP's CSV injection advice)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def finding_key(alert: Alert) -> str:
    return (alert.source_ip or alert.group_key or str(alert.id))[:500]


def to_csv(alerts: list[Alert]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for a in alerts:
        writer.writerow([cell(v) for v in (aware(a.first_seen).isoformat(), aware(a.last_seen).isoformat(),
                                           a.rule_title, a.severity, a.source_ip or "", finding_key(a), a.count,
                                           TLP.parse(a.tlp).label)])
    return out.getvalue()


def notify_alerts(s: Session, platform: Platform, actor: str = "vigie:aggregate", *,
                  now: datetime | None = None) -> list[Notification]:
    """Queue one message per organisation and kind of alert seen in the last interval, its
    findings not reported within the repeat interval; the messages."""
    settings = platform.settings
    when = aware(now) if now else datetime.now(UTC)
    since = when - timedelta(minutes=settings.notify_aggregate_minutes)
    repeat = when - timedelta(hours=settings.notify_repeat_hours)
    groups: dict[tuple[str, str], list[Alert]] = defaultdict(list)
    for alert in s.scalars(select(Alert).where(Alert.last_seen > since, Alert.last_seen <= when,
                                               Alert.organization.is_not(None), Alert.status != "closed")
                           .order_by(Alert.id)):
        if may_leave(TLP.parse(alert.tlp or "clear"), settings.notify_tlp_ceiling):
            groups[(str(alert.organization), alert.rule_id)].append(alert)
    queued: list[Notification] = []
    for (org_name, rule_id), alerts in sorted(groups.items()):
        org = platform.constituency.by_name(org_name)
        if org is None or not org.contacts_with("focal_point"):
            continue
        fresh: dict[str, Alert] = {}
        for alert in alerts:
            key = finding_key(alert)
            seen = s.scalar(select(NotifiedFinding).where(NotifiedFinding.organization == org.id,
                                                          NotifiedFinding.kind == rule_id, NotifiedFinding.key == key))
            if seen is not None and aware(seen.notified_at) > repeat:
                continue
            fresh.setdefault(key, alert)
        if not fresh:
            continue
        chosen = list(fresh.values())
        tlp = highest(*(TLP.parse(a.tlp or "clear") for a in chosen))
        attachment = to_csv(chosen)
        first_row: Notification | None = None
        mine: list[Notification] = []
        for contact in org.contacts_with("focal_point"):
            language = contact.language
            ticket = f"VIGIE-A#{first_row.id}" if first_row else ""
            context = {"cert": settings.org_name, "organization": org.name, "recipient": contact.name,
                       "count": len(chosen), "kind_title": chosen[0].rule_title, "ticket": ticket or "VIGIE-A#?",
                       "start": when_text(since, language), "end": when_text(when, language),
                       "tlp": tlp, "tlp_meaning": gettext(language, TLP_MEANINGS[tlp])}
            subject, body = render("aggregate", language, context)
            draft = Draft(kind="aggregate", subject=subject, body=body, tlp=tlp, ticket=ticket,
                          attachment_name=f"{org.id}-{rule_id}.csv"[:200], attachment=attachment)
            row = enqueue(s, org, contact, draft, actor, now=when)
            if first_row is None:  # the first message's id is the ticket of them all
                first_row = row
                ticket = f"VIGIE-A#{row.id}"
                context["ticket"] = ticket
                subject, row.body = render("aggregate", language, context)
            row.ticket, row.subject = ticket, subject_line(tlp, ticket, subject)
            mine.append(row)
        queued.extend(mine)
        for key in fresh:
            seen = s.scalar(select(NotifiedFinding).where(NotifiedFinding.organization == org.id,
                                                          NotifiedFinding.kind == rule_id, NotifiedFinding.key == key))
            if seen is None:
                s.add(NotifiedFinding(organization=org.id, kind=rule_id[:200], key=key, notified_at=when,
                                      notification_id=first_row.id if first_row else None))
            else:
                seen.notified_at, seen.notification_id = when, first_row.id if first_row else None
        audit.record(s, actor, "notification.aggregate", "organization", org.id, "", rule=rule_id,
                     alerts=[a.id for a in chosen], notifications=[r.id for r in mine])
    s.flush()
    return queued
