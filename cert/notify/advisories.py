"""Security advisories: a bulletin written in French and English, marked with a TLP, sent to the
contacts (focal points and CISOs) of the organisations named and of the sectors named, each in
their language, and kept (``Advisory``). An advisory is ``TLP:CLEAR``, ``GREEN`` or ``AMBER`` at
most (``notify_tlp_ceiling``): TLP:RED never leaves in an automated message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cert.constituency.directory import Contact, Organization
from cert.core.errors import N_, InvalidInput, NotFound
from cert.core.tlp import TLP, may_leave
from cert.notify.queue import TLP_MEANINGS, Draft, enqueue
from cert.notify.render import gettext, render, subject_line
from cert.runtime.platform import Platform
from cert.storage import audit
from cert.storage.models import Advisory, Notification

ROLES = ("focal_point", "ciso")


@dataclass(frozen=True)
class AdvisoryDraft:
    title_fr: str
    title_en: str
    body_fr: str
    body_en: str
    tlp: str
    organizations: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ()


def audience(platform: Platform, organizations: Sequence[str], sectors: Sequence[str]) -> list[Organization]:
    """The organisations an advisory goes to: those named (ids), and those of the sectors named."""
    found: dict[str, Organization] = {}
    for ref in organizations:
        org = platform.constituency.by_id(ref.strip())
        if org is None:
            raise InvalidInput(N_("No organisation %(organization)s in the constituency."), organization=ref[:80])
        found[org.id] = org
    wanted = {x.strip().lower() for x in sectors if x.strip()}
    known = {o.sector.lower() for o in platform.constituency.organizations if o.sector}
    unknown = sorted(wanted - known)
    if unknown:
        raise InvalidInput(N_("No organisation of the sector %(sector)s in the constituency."), sector=unknown[0][:80])
    for org in platform.constituency.organizations:
        if org.sector and org.sector.lower() in wanted:
            found.setdefault(org.id, org)
    return list(found.values())


def _contacts(org: Organization) -> list[Contact]:
    seen: set[str] = set()
    out = []
    for role in ROLES:
        for c in org.contacts_with(role):
            if c.email.lower() not in seen:
                seen.add(c.email.lower())
                out.append(c)
    return out


def create_advisory(s: Session, platform: Platform, draft: AdvisoryDraft, actor: str, remote_addr: str = "", *,
                    now: datetime | None = None) -> tuple[Advisory, list[Notification]]:
    """Archive the advisory and queue it to its audience's contacts."""
    when = now or datetime.now(UTC)
    texts = (draft.title_fr, draft.title_en, draft.body_fr, draft.body_en)
    if not all(t.strip() for t in texts):
        raise InvalidInput(N_("An advisory needs a title and a text in French and in English."))
    tlp = TLP.parse(draft.tlp)
    if not may_leave(tlp, platform.settings.notify_tlp_ceiling):
        raise InvalidInput(N_("An advisory marked %(tlp)s may not be sent (at most %(ceiling)s)."),
                           tlp=tlp.label, ceiling=platform.settings.notify_tlp_ceiling.label)
    orgs = audience(platform, draft.organizations, draft.sectors)
    if not orgs:
        raise InvalidInput(N_("Choose at least one organisation or sector for the advisory."))
    advisory = Advisory(title_fr=draft.title_fr.strip()[:300], title_en=draft.title_en.strip()[:300],
                        body_fr=draft.body_fr, body_en=draft.body_en, tlp=tlp.tag_value,
                        organizations=sorted(o.id for o in orgs if o.id in draft.organizations),
                        sectors=sorted({x.strip().lower() for x in draft.sectors if x.strip()}),
                        recipients=0, created_by=actor[:80], created_at=when)
    s.add(advisory)
    s.flush()
    ticket = f"VIGIE-AV#{advisory.id}"
    rows: list[Notification] = []
    for org in orgs:
        for contact in _contacts(org):
            language = contact.language
            title = advisory.title_en if language == "en" else advisory.title_fr
            context = {"cert": platform.settings.org_name, "title": title,
                       "text": advisory.body_en if language == "en" else advisory.body_fr, "ticket": ticket,
                       "tlp": tlp, "tlp_meaning": gettext(language, TLP_MEANINGS[tlp])}
            subject, body = render("advisory", language, context)
            rows.append(enqueue(s, org, contact, Draft(kind="advisory", subject=subject_line(tlp, ticket, subject),
                                                       body=body, tlp=tlp, ticket=ticket, advisory_id=advisory.id),
                                actor, now=when))
    advisory.recipients = len(rows)
    audit.record(s, actor, "advisory.create", "advisory", advisory.id, remote_addr, tlp=tlp.tag_value,
                 organizations=[o.id for o in orgs], recipients=len(rows))
    return advisory, rows


def list_advisories(s: Session, limit: int = 50, offset: int = 0) -> tuple[int, Sequence[Advisory]]:
    total = s.scalar(select(func.count()).select_from(Advisory)) or 0
    return total, s.scalars(select(Advisory).order_by(Advisory.id.desc()).limit(limit).offset(offset)).all()


def get_advisory(s: Session, advisory_id: int) -> Advisory:
    row = s.get(Advisory, advisory_id)
    if row is None:
        raise NotFound(N_("Advisory %(id)s does not exist."), id=advisory_id)
    return row
