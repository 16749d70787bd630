"""Notifying an organisation of an incident, and escalating when it does not acknowledge.

``notify_incident`` queues a message to each focal point of the organisation concerned, in the
contact's language, with what the sharing policy lets leave for it (``share_case`` at
``notify_tlp_ceiling``, the recipient being the organisation itself), the ticket ``VIGIE#<id>``
and a signed acknowledgement link. ``escalate`` runs on a clock (``now``): an organisation that
has not acknowledged within ``notify_ack_minutes`` (per severity) of the last message is written
to again, each step to the next person: its deputy, its CISO, then the CERT's duty officer
(``duty_email``). Each message and each step goes on the incident's timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from babel.dates import format_datetime
from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.accounts.clock import aware
from cert.constituency.directory import Contact, Organization
from cert.core.config import Settings
from cert.core.errors import N_, InvalidInput
from cert.core.tlp import PAP, TLP, highest
from cert.incidents import rsit
from cert.incidents.acks import acknowledgement
from cert.incidents.cases import add_timeline
from cert.notify.links import ack_url, link_expiry
from cert.notify.queue import TLP_MEANINGS, Draft, enqueue, ticket_of
from cert.notify.render import gettext, render, subject_line
from cert.runtime.platform import Platform
from cert.sharing.policy import Shared, Terms, share_case
from cert.storage import audit
from cert.storage.models import Case, Notification

SEVERITIES = {"critical": N_("critical"), "high": N_("high"), "medium": N_("medium"), "low": N_("low"),
              "informational": N_("informational")}
#: escalation steps after the focal points: the organisation's roles, then the CERT's duty officer
ESCALATION = ("deputy", "ciso", "duty_officer")
ROLE_NAMES = {"focal_point": N_("focal point"), "deputy": N_("deputy"), "ciso": N_("CISO"),
              "duty_officer": N_("the CERT's duty officer")}


def when_text(moment: datetime, language: str) -> str:
    """A date and time with its zone, in the reader's language."""
    return format_datetime(aware(moment), "d MMMM y HH:mm zzzz" if language == "fr" else "MMMM d, y HH:mm zzzz",
                           tzinfo=UTC, locale=language)


@dataclass(frozen=True)
class Recipient:
    org: Organization | None
    contact: Contact


def marking(case: Case, shared: Shared) -> TLP:
    """The highest TLP of what the message holds."""
    parts = [i.tlp for i in shared.items]
    if not shared.title_neutral:
        parts.append(TLP.parse(case.title_tlp or case.tlp))
    if shared.description:
        parts.append(TLP.parse(case.tlp))
    return highest(*parts) if parts else TLP.CLEAR


def shared_with(settings: Settings, case: Case, org: Organization, ceiling: TLP | None = None) -> Shared:
    """What of ``case`` may leave for ``org``'s contacts: at ``notify_tlp_ceiling``, or ``ceiling`` when lower."""
    limit = settings.notify_tlp_ceiling
    if ceiling is not None and ceiling.value < limit.value:
        limit = ceiling
    return share_case(case, Terms(limit, PAP.RED), organization=org.name, only_indicators=False,
                      to_organization=True)


def incident_draft(settings: Settings, case: Case, org: Organization, contact: Contact, now: datetime, *,
                   step: int = 0, notified_at: datetime | None = None, ceiling: TLP | None = None) -> Draft:
    """The message about ``case`` for ``contact`` (step 0: the notification, then each escalation),
    holding what may leave at ``notify_tlp_ceiling`` (or ``ceiling`` when lower)."""
    language = contact.language
    shared = shared_with(settings, case, org, ceiling)
    tlp = marking(case, shared)
    ticket = ticket_of(case.id)
    rsit_class = (case.rsit_class or "").split(":")[0]
    context: dict[str, Any] = {
        "cert": settings.org_name, "organization": org.name, "recipient": contact.name, "ticket": ticket,
        "title": shared.title, "description": shared.description, "items": shared.items,
        "severity": gettext(language, SEVERITIES.get(case.severity, case.severity)),
        "rsit_label": gettext(language, rsit.label(case.rsit_class)) if case.rsit_class else "",
        "tlp": tlp, "tlp_meaning": gettext(language, TLP_MEANINGS[tlp]),
        "ack_url": ack_url(settings, case.id, org.id), "ack_until": when_text(link_expiry(settings, now), language),
        "step": step, "notified_at": when_text(notified_at or now, language),
    }
    kind = "escalation" if step else "incident"
    subject, body = render(kind, language, context, rsit_class)
    return Draft(kind=kind, subject=subject_line(tlp, ticket, subject), body=body, tlp=tlp, ticket=ticket,
                 case_id=case.id, escalation_step=step)


def organization_of(platform: Platform, case: Case) -> Organization:
    org = platform.constituency.by_name(case.organization)
    if org is None:
        raise InvalidInput(N_("Incident #%(id)s concerns no organisation of the constituency."), id=case.id)
    return org


def notify_incident(s: Session, platform: Platform, case: Case, actor: str, *, remote_addr: str = "",
                    now: datetime | None = None, ceiling: TLP | None = None) -> list[Notification]:
    """Queue the incident's notification to each focal point of its organisation (at most
    ``ceiling`` when given: a playbook step's); the messages."""
    when = aware(now) if now else datetime.now(UTC)
    org = organization_of(platform, case)
    contacts = org.contacts_with("focal_point")
    if not contacts:
        raise InvalidInput(N_("No focal point is known for the organisation %(organization)s."),
                           organization=org.name)
    rows = []
    for contact in contacts:
        draft = incident_draft(platform.settings, case, org, contact, when, ceiling=ceiling)
        row = enqueue(s, org, contact, draft, actor, now=when)
        rows.append(row)
        add_timeline(s, case, actor, "notified",
                     N_("Notification %(ticket)s queued for %(name)s (%(role)s, %(organization)s), marked %(tlp)s."),
                     {"notification": row.id, "recipient": contact.email},
                     params={"ticket": draft.ticket, "name": contact.name, "organization": org.name,
                             "tlp": draft.tlp.label, "role": {"message": ROLE_NAMES["focal_point"], "params": {}}})
    audit.record(s, actor, "notification.incident", "case", case.id, remote_addr, organization=org.id,
                 notifications=[r.id for r in rows])
    return rows


def _duty_officer(settings: Settings) -> Contact | None:
    if not settings.duty_email:
        return None
    return Contact(name=settings.org_name, email=settings.duty_email, role="duty", language="fr")


def _recipients(settings: Settings, org: Organization, step: int) -> tuple[str, tuple[Contact, ...]]:
    role = ESCALATION[step - 1]
    if role == "duty_officer":
        duty = _duty_officer(settings)
        return role, (duty,) if duty else ()
    return role, org.contacts_with(role)


def escalate(s: Session, platform: Platform, actor: str = "vigie:escalation", *,
             now: datetime | None = None) -> list[Notification]:
    """Queue the escalations that are due at ``now``; the messages."""
    when = aware(now) if now else datetime.now(UTC)
    settings = platform.settings
    latest: dict[tuple[int, str], Notification] = {}
    for row in s.scalars(select(Notification).where(Notification.kind.in_(("incident", "escalation")),
                                                    Notification.case_id.is_not(None)).order_by(Notification.id)):
        key = (int(row.case_id or 0), row.organization)
        if key not in latest or row.escalation_step >= latest[key].escalation_step:
            latest[key] = row
    queued: list[Notification] = []
    for (case_id, org_id), last in sorted(latest.items()):
        case = s.get(Case, case_id)
        org = platform.constituency.by_id(org_id)
        if case is None or org is None or case.status == "closed" or last.escalation_step >= len(ESCALATION):
            continue
        if acknowledgement(s, case_id, org_id) is not None:
            continue
        window = timedelta(minutes=settings.notify_ack_minutes.get(case.severity, 24 * 60))
        if when < aware(last.created_at) + window:
            continue
        first = s.scalar(select(Notification.created_at).where(
            Notification.case_id == case_id, Notification.organization == org_id,
            Notification.escalation_step == 0).order_by(Notification.id).limit(1)) or last.created_at
        step, role = last.escalation_step, ""
        contacts: tuple[Contact, ...] = ()
        while not contacts and step < len(ESCALATION):
            step += 1
            role, contacts = _recipients(settings, org, step)
        if not contacts:
            continue
        for contact in contacts:
            # never more than the last message held
            draft = incident_draft(settings, case, org, contact, when, step=step, notified_at=aware(first),
                                   ceiling=TLP.parse(last.tlp))
            row = enqueue(s, org, contact, draft, actor, now=when)
            queued.append(row)
            add_timeline(s, case, actor, "escalated",
                         N_("Not acknowledged by %(organization)s within %(minutes)s minutes: escalated to "
                            "%(name)s (%(role)s), step %(step)s."),
                         {"notification": row.id, "recipient": contact.email, "step": step, "role": role},
                         params={"organization": org.name, "minutes": int(window.total_seconds() // 60),
                                 "name": contact.name, "step": step,
                                 "role": {"message": ROLE_NAMES[role], "params": {}}})
    return queued
