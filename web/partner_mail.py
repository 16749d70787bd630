"""An incident e-mailed to a partner CERT: what the sharing policy lets leave for it (the same
``Shared`` every exit sends), written in the partner's language, marked in the subject with the
highest TLP of what it holds, the indicators in the body and as a CSV attachment, queued in the
outbox for the CERT's mail gateway."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime as rfc2822_date
from email.utils import make_msgid

from flask import render_template
from flask_babel import force_locale, format_datetime
from sqlalchemy.orm import Session

from cert.constituency.directory import Partner
from cert.core.config import Settings
from cert.core.errors import N_, Conflict
from cert.core.tlp import TLP, highest
from cert.incidents.cases import add_timeline
from cert.sharing.outbox import queue_message
from cert.sharing.policy import Shared, require_channel
from cert.sharing.publications import shared_with
from cert.storage import audit
from cert.storage.models import Case
from web.documents.render import DEFINITIONS


@dataclass(frozen=True)
class Mailed:
    file: str
    subject: str
    tlp: TLP


def _one_line(text: str) -> str:
    """Header-safe text: no line break or control character from the data reaches a header."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: a value starting like a formula is quoted."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def marking(case: Case, shared: Shared) -> TLP:
    """The highest TLP of what the message holds: its items, its title unless it is the neutral
    one, the description when it is sent."""
    parts = [i.tlp for i in shared.items]
    if not shared.title_neutral:
        parts.append(TLP.parse(case.title_tlp or case.tlp))
    if shared.description:
        parts.append(TLP.parse(case.tlp))
    return highest(*parts)


def mail_partner(settings: Settings, case: Case, partner: Partner, shared: Shared,
                 now: datetime | None = None) -> Mailed:
    """Compose the message for ``partner`` from ``shared`` and queue it. Forbidden unless the
    partner takes e-mail; Conflict when it has no address or nothing may leave for it."""
    require_channel(partner.id, partner.channels, "email")
    if not partner.email:
        raise Conflict(N_("Partner %(partner)s has no e-mail address."), partner=partner.id)
    if not shared.leaves:
        raise Conflict(N_("Nothing of incident #%(id)s may leave for partner %(partner)s."), id=case.id,
                       partner=partner.id)
    now = now or datetime.now(UTC)
    tlp = marking(case, shared)
    title = _one_line(shared.title)
    with force_locale(partner.language):
        body = render_template("mail/partner_share.txt", tlp=tlp, tlp_definition=str(DEFINITIONS[tlp]),
                               org_name=settings.org_name, partner=partner, case_id=case.id, title=title,
                               description=shared.description, items=shared.items,
                               sent_at=format_datetime(now, "medium") + " UTC")
    msg = EmailMessage()
    msg["From"] = f"{_one_line(settings.org_name)} <noreply@cert.invalid>"
    msg["To"] = f"{_one_line(partner.name)} <{partner.email}>"
    subject = f"[{tlp.label}] [{_one_line(settings.org_name)} #{case.id}] {title}"
    msg["Subject"] = subject
    msg["Date"] = rfc2822_date(now)
    msg["Message-ID"] = make_msgid(domain="cert.invalid")
    msg.set_content(body)
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["type", "value", "tlp", "pap"])
    writer.writerows([i.type, _cell(i.value), i.tlp.label, i.pap.label] for i in shared.items)
    msg.add_attachment(rows.getvalue().encode("utf-8"), maintype="text", subtype="csv",
                       filename=f"incident-{case.id}-indicators.csv")
    path = queue_message(settings, msg, f"partner-{partner.id}-case-{case.id}")
    return Mailed(path.name, subject, tlp)


def send_to_partner(s: Session, settings: Settings, case: Case, partner: Partner, actor: str,
                    remote_addr: str = "") -> tuple[Mailed, Shared]:
    """E-mail ``case`` to ``partner`` (``mail_partner``), audited with the values sent and put on
    the incident's timeline: what the API and the console do."""
    shared = shared_with(case, partner)
    mailed = mail_partner(settings, case, partner, shared)
    audit.record(s, actor, "sharing.email", "case", case.id, remote_addr, partner=partner.id,
                 to=partner.email, subject=mailed.subject, file=mailed.file, terms=shared.terms.label,
                 items=[f"{i.type}:{i.value}" for i in shared.items])
    add_timeline(s, case, actor, "sharing", N_("E-mailed to partner %(partner)s (%(n)s indicator(s), %(tlp)s)"),
                 {"partner": partner.id, "file": mailed.file},
                 params={"partner": partner.id, "n": len(shared.items), "tlp": mailed.tlp.label})
    return mailed, shared
