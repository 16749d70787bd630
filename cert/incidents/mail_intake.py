"""E-mail intake: each message received for the CERT becomes an incident report, or a reply
threaded into the report or incident it answers.

Threading. A message threads when its subject carries a ticket (``[VIGIE#12]`` an incident,
``[VIGIE-R#34]`` a report; see ``cert.incidents.tickets``), or when its In-Reply-To/References
name a message the intake recorded. It threads only when its sender may write there: for a
report, the sender is its reporter or a contact of its organisation; for an incident, the sender
is a contact of one of the organisations it concerns or the reporter of a report linked to it.
Otherwise (a forged or mistyped ticket, an incident that does not exist) the message becomes a
report of its own, marked ``ticket_refused`` with the ticket it named.

The organisation of a report is the one whose ``domains`` hold the sender's address domain (the
most specific match), never what the message says of itself. The raw message is kept under
DATA_DIR/intake/ with its SHA-256; a Message-ID seen before is not recorded again (a message
without one is known by its SHA-256). A message that cannot be read is a dead letter with its
reason (``dead_letter``), never lost."""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cert.constituency.directory import Constituency, Organization
from cert.core.errors import N_, VigieError
from cert.incidents.attachments import attach
from cert.incidents.cases import add_timeline
from cert.incidents.mail_parse import MailFile, ParsedMail, Unreadable, normal_address, parse_mail
from cert.incidents.report_files import store_report_file
from cert.incidents.reports import linked_incidents, receive_report, reports_for_case
from cert.incidents.tickets import Ticket, find_ticket
from cert.runtime.platform import Platform
from cert.storage.models import Case, CaseOrganization, DeadLetter, IncidentReport, IntakeMessage

log = logging.getLogger(__name__)

DEAD_LETTER_SOURCE = "email-intake"


@dataclass(frozen=True)
class Envelope:
    """What the SMTP session said: the envelope sender, the recipients, the client's address."""

    mail_from: str
    recipients: tuple[str, ...]
    peer: str = ""


@dataclass(frozen=True)
class Receipt:
    """What became of a message: a new ``report``, a ``reply`` threaded into a report or an
    incident, or a ``duplicate`` of one received before."""

    outcome: str
    report_id: int | None
    case_id: int | None = None
    ticket_refused: bool = False


def organization_for_address(constituency: Constituency, address: str) -> Organization | None:
    """The organisation whose domains hold the address's domain (the longest match), if any."""
    domain = address.rpartition("@")[2].lower().rstrip(".")
    best: Organization | None = None
    best_length = -1
    for org in constituency.organizations:
        for known in org.domains:
            if (domain == known or domain.endswith("." + known)) and len(known) > best_length:
                best, best_length = org, len(known)
    return best


def _contact_addresses(constituency: Constituency, names: Iterable[str | None]) -> set[str]:
    out: set[str] = set()
    for name in names:
        org = constituency.by_name(name)
        if org is None:
            continue
        out.update(normal_address(c.email) for c in org.contacts)
        if org.focal_point is not None:
            out.add(normal_address(org.focal_point.email))
    out.discard("")
    return out


def _reporter_address(report: IncidentReport) -> str:
    return normal_address(parseaddr(report.reporter)[1])


def _may_write_report(constituency: Constituency, report: IncidentReport, sender: str) -> bool:
    return sender == _reporter_address(report) or sender in _contact_addresses(constituency, [report.organization])


def _may_write_case(s: Session, constituency: Constituency, case: Case, sender: str) -> bool:
    names = {case.organization, *s.scalars(select(CaseOrganization.organization)
                                           .where(CaseOrganization.case_id == case.id))}
    if sender in _contact_addresses(constituency, names):
        return True
    return any(_reporter_address(r) == sender for r in reports_for_case(s, case.id))


def _candidates(s: Session, ticket: Ticket | None, refers_to: tuple[str, ...]) -> list[tuple[str, int]]:
    """Where the message may belong, in order: its ticket, then the messages it answers."""
    out: list[tuple[str, int]] = []
    if ticket is not None:
        out.append((ticket.kind, ticket.number))
    if refers_to:
        known = {m.message_id: m for m in s.scalars(select(IntakeMessage)
                                                     .where(IntakeMessage.message_id.in_(list(refers_to))))}
        for ref in refers_to:
            message = known.get(ref)
            if message is not None and message.case_id is not None:
                out.append(("case", message.case_id))
            elif message is not None and message.report_id is not None:
                out.append(("report", message.report_id))
    return list(dict.fromkeys(out))


def _thread_target(s: Session, constituency: Constituency, candidates: list[tuple[str, int]],
                   sender: str) -> tuple[IncidentReport | Case | None, bool]:
    """The first report or incident the sender may write to; and whether one was named that
    they may not (or that does not exist)."""
    refused = False
    for kind, number in candidates:
        if kind == "report":
            report = s.get(IncidentReport, number)
            if report is not None and _may_write_report(constituency, report, sender):
                return report, refused
        else:
            case = s.get(Case, number)
            if case is not None and _may_write_case(s, constituency, case, sender):
                return case, refused
        refused = True
    return None, refused


def _keep_raw(data_dir: Path, digest: str, raw: bytes) -> str:
    """The raw message under DATA_DIR/intake/ (by its SHA-256: a second copy is the same file)."""
    folder = data_dir / "intake"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{digest}.eml"
    target = folder / name
    if not target.exists():
        tmp = folder / f".{name}.{os.getpid()}"
        tmp.write_bytes(raw)
        os.replace(tmp, target)
    return name


def _store_files(s: Session, p: Platform, report: IncidentReport, files: tuple[MailFile, ...],
                 message_id: int) -> None:
    for f in files:
        try:
            store_report_file(s, p.settings.data_dir, report, f.name, io.BytesIO(f.data),
                              p.settings.intake_smtp_max_bytes, message_id)
        except VigieError as exc:  # an empty part: nothing to keep
            log.info("attachment %s of report %s not kept: %s", f.name, report.id, exc)


def _record(s: Session, p: Platform, parsed: ParsedMail, envelope: Envelope, sender: str, message_id: str,
            digest: str, raw: bytes, stored: str) -> tuple[Receipt, list[MailFile]]:
    """Record the message (a report, or a reply); the files still to attach to an incident."""
    constituency = p.constituency
    ticket = find_ticket(parsed.subject)
    target, refused = _thread_target(s, constituency, _candidates(s, ticket, parsed.refers_to), sender)
    actor = f"email:{sender}"[:80]
    message = IntakeMessage(message_id=message_id, from_address=sender, from_name=parsed.from_name,
                            envelope_from=normal_address(envelope.mail_from), recipients=list(envelope.recipients),
                            subject=parsed.subject[:300], ticket=str(ticket) if ticket else "",
                            ticket_refused=refused and target is None, peer=envelope.peer[:64], size=len(raw),
                            sha256=digest, stored_name=stored)
    if isinstance(target, Case):
        message.kind, message.case_id, message.body = "reply", target.id, parsed.text
        s.add(message)
        s.flush()
        add_timeline(s, target, actor, "comment", N_("E-mail from %(sender)s: %(text)s"),
                     {"intake_message_id": message.id, "files": [f.sha256 for f in parsed.files]},
                     params={"sender": sender, "text": parsed.text or parsed.subject})
        return Receipt("reply", None, target.id), list(parsed.files)
    if isinstance(target, IncidentReport):
        message.kind, message.report_id, message.body = "reply", target.id, parsed.text
        s.add(message)
        s.flush()
        _store_files(s, p, target, parsed.files, message.id)
        for case, _link in linked_incidents(s, target.id):
            add_timeline(s, case, actor, "comment",
                         N_("E-mail from %(sender)s about incident report #%(report)s: %(text)s"),
                         {"intake_message_id": message.id, "report_id": target.id},
                         params={"sender": sender, "report": target.id, "text": parsed.text or parsed.subject})
        return Receipt("reply", target.id), []
    org = organization_for_address(constituency, sender)
    reporter = f"{parsed.from_name} <{sender}>" if parsed.from_name else sender
    report = receive_report(s, "email", parsed.subject, parsed.text, reporter, org.name if org else None, actor,
                            envelope.peer)
    message.kind, message.report_id = "report", report.id
    s.add(message)
    s.flush()
    _store_files(s, p, report, parsed.files, message.id)
    return Receipt("report", report.id, ticket_refused=message.ticket_refused), []


def receive_mail(p: Platform, raw: bytes, envelope: Envelope) -> Receipt:
    """Turn a received message into a report or a reply (see the module); ``Unreadable`` when
    it has no readable content or no sender address to answer."""
    parsed = parse_mail(raw)
    sender = parsed.from_address or normal_address(envelope.mail_from)
    if not sender:
        raise Unreadable("no sender address (neither From nor the envelope sender)")
    digest = hashlib.sha256(raw).hexdigest()
    message_id = parsed.message_id or f"<{digest}@sha256.intake.invalid>"
    with p.db.session() as s:
        known = s.scalar(select(IntakeMessage).where(IntakeMessage.message_id == message_id))
        if known is not None:
            return Receipt("duplicate", known.report_id, known.case_id)
    stored = _keep_raw(p.settings.data_dir, digest, raw)
    try:
        with p.db.session() as s:
            receipt, case_files = _record(s, p, parsed, envelope, sender, message_id, digest, raw, stored)
    except IntegrityError:  # the same message delivered twice at the same moment
        with p.db.session() as s:
            known = s.scalar(select(IntakeMessage).where(IntakeMessage.message_id == message_id))
            if known is None:
                raise
            return Receipt("duplicate", known.report_id, known.case_id)
    if receipt.case_id is not None:
        for f in case_files:
            try:
                attach(p, receipt.case_id, f.name, io.BytesIO(f.data), f"email:{sender}"[:80], envelope.peer)
            except VigieError as exc:  # an empty part, no file scanner: the message and its hash stay recorded
                log.warning("attachment %s of a reply to incident %s not attached: %s", f.name, receipt.case_id, exc)
    return receipt


def dead_letter(p: Platform, raw: bytes, reason: str, envelope: Envelope) -> None:
    """Keep a message the intake could not take, with its reason, in the dead letters (the
    console's dead-letter page lists them)."""
    with p.db.session() as s:
        s.add(DeadLetter(source=DEAD_LETTER_SOURCE, parser="email", position=envelope.peer[:60],
                         reason=f"{reason} (from {envelope.mail_from or '<>'})"[:500], raw=raw))


def report_messages(s: Session, report_id: int) -> list[IntakeMessage]:
    """The e-mails of a report: the one it came in and the replies threaded into it, oldest first."""
    q = select(IntakeMessage).where(IntakeMessage.report_id == report_id).order_by(IntakeMessage.id)
    return list(s.scalars(q))
