"""Incident reports (RTIR's model): what comes in from an alert, the API or the console, before
anyone decides what it is. A report is ``new`` until it is linked to one or more incidents
(``linked``) or rejected with a reason (``rejected``); a rejected report may be reopened.

Subject, body and reporter are what an outsider wrote: they are kept as plain text, within
length limits, and never interpreted. A report keeps its TLP; an incident it is linked to is
raised to at least that TLP, and the raise is on the incident's timeline."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cert.constituency.directory import Constituency
from cert.core.errors import N_, Conflict, Forbidden, InvalidInput, NotFound
from cert.core.tlp import PAP, TLP, highest
from cert.incidents.cases import add_timeline
from cert.storage import audit
from cert.storage.models import Alert, Case, IncidentReport, ReportLink

SOURCES = ("alert", "api", "console", "email", "web-form")
#: the sources a person or a tool files a report from (an alert's report comes from ``report_from_alert``)
FILED_SOURCES = ("api", "console")
STATUSES = ("new", "linked", "rejected")
SEVERITIES = ("informational", "low", "medium", "high", "critical")

MAX_SUBJECT = 300
MAX_BODY = 100_000
MAX_REPORTER = 300
MAX_REASON = 2000
MAX_LINKS = 50
MAX_SEARCH = 200

#: what is called when linking raises an incident's TLP (a sharing target withdraws what may no longer leave)
TlpRaiseHook = Callable[[Session, Case], object]


@dataclass(frozen=True)
class ReportDraft:
    """What a person or a tool files: ``organization`` is a constituency id or name (or None)."""

    subject: str
    body: str = ""
    reporter: str = ""
    organization: str | None = None
    tlp: str = "amber"


@dataclass(frozen=True)
class ReportFilter:
    """The filters of the list: status, source, organisation (as recorded: its name), text."""

    status: str | None = None
    source: str | None = None
    organization: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class TlpRaise:
    case_id: int
    old: TLP
    new: TLP


@dataclass(frozen=True)
class LinkOutcome:
    """The incidents a report was linked to, those it was linked to already, and the TLP raises."""

    linked: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)
    raised: list[TlpRaise] = field(default_factory=list)


def _plain(text: str) -> str:
    """Text that every database stores: a lone surrogate becomes ``?``, NUL becomes U+FFFD."""
    return text.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", "\ufffd")


def _one_line(text: str) -> str:
    """One line of plain text: control characters (line breaks included) become spaces."""
    return " ".join("".join(" " if unicodedata.category(c) == "Cc" else c for c in _plain(text)).split())


def _checked_text(value: str, limit: int, too_long: str) -> str:
    if len(value) > limit:
        raise InvalidInput(too_long, max=limit)
    return value


def organization_name(constituency: Constituency, ref: str | None) -> str | None:
    """The name (as alerts and incidents record it) of the organisation with this id or name;
    None for none; InvalidInput for one the constituency does not know."""
    ref = (ref or "").strip()
    if not ref:
        return None
    org = constituency.by_id(ref) or constituency.by_name(ref)
    if org is None:
        raise InvalidInput(N_("There is no organisation %(organization)s in the constituency."),
                           organization=ref[:200])
    return org.name


def _label(tlp: str) -> TLP:
    try:
        return TLP.parse(tlp)
    except InvalidInput:
        raise InvalidInput(N_("Unknown TLP label %(tlp)s: expected clear, green, amber, amber+strict or red."),
                           tlp=tlp[:30]) from None


def create_report(s: Session, constituency: Constituency, source: str, draft: ReportDraft, actor: str,
                  remote_addr: str = "", *, organizations: Collection[str] | None = None) -> IncidentReport:
    """File a report by hand (``console``) or by a tool (``api``). ``organizations``: the
    organisations the filer may file for (an organisation-bound token); None: any."""
    if source not in FILED_SOURCES:
        raise InvalidInput(N_("A report is filed from the console or the API, not from %(source)s."), source=source)
    subject = _checked_text(_one_line(draft.subject), MAX_SUBJECT,
                            N_("The subject is at most %(max)s characters."))
    if not subject:
        raise InvalidInput(N_("A report needs a subject."))
    body = _checked_text(_plain(draft.body), MAX_BODY, N_("The body is at most %(max)s characters."))
    reporter = _checked_text(_one_line(draft.reporter), MAX_REPORTER,
                             N_("The reporter is at most %(max)s characters."))
    organization = organization_name(constituency, draft.organization)
    if organizations is not None and organization not in organizations:
        raise Forbidden(N_("You may file reports only for your own organisation."))
    report = IncidentReport(source=source, subject=subject, body=body, reporter=reporter, organization=organization,
                            tlp=_label(draft.tlp).tag_value, status="new", created_by=actor)
    s.add(report)
    s.flush()
    audit.record(s, actor, "report.create", "incident_report", report.id, remote_addr, source=source,
                 organization=organization or "")
    return report


#: the sources of reports that come from outside, written by people with no account
OUTSIDE_SOURCES = ("email", "web-form")


def receive_report(s: Session, source: str, subject: str, body: str, reporter: str, organization: str | None,
                   actor: str, remote_addr: str = "") -> IncidentReport:
    """A report from outside (an e-mail, the public form): what its author wrote, cut to the
    limits rather than refused (nothing an outsider sends is lost for being long); a report with
    no subject is named after the start of its body. ``organization`` is a name of the
    constituency (decided by the caller from facts it checked, never from the author's claims)."""
    if source not in OUTSIDE_SOURCES:
        raise InvalidInput(N_("Unknown report source %(source)s: expected %(expected)s."), source=source[:30],
                           expected=", ".join(OUTSIDE_SOURCES))
    text = _plain(body)[:MAX_BODY]
    title = _one_line(subject)[:MAX_SUBJECT] or _one_line(text)[:80]
    report = IncidentReport(source=source, subject=title or "-", body=text,
                            reporter=_one_line(reporter)[:MAX_REPORTER], organization=organization,
                            tlp=TLP.AMBER.tag_value, status="new", created_by=actor[:80])
    s.add(report)
    s.flush()
    audit.record(s, actor[:80], "report.create", "incident_report", report.id, remote_addr, source=source,
                 organization=organization or "")
    return report


def _alert_tlp(alert: Alert) -> TLP:
    """The TLP of what an alert says: its own, or its partner indicator's when higher."""
    label = TLP.parse(alert.tlp or "clear")
    shared = (alert.entities or {}).get("indicator", {}).get("tlp")
    if shared:
        try:
            label = highest(label, TLP.parse(str(shared)))
        except InvalidInput:
            label = TLP.RED  # an unreadable partner label is treated as the strictest
    return label


def evidence_summary(alert: Alert) -> str:
    """What a report made from an alert says of it, one ECS-named field a line (no language)."""
    lines = [
        ("rule.id", alert.rule_id), ("rule.name", alert.rule_title), ("event.severity", alert.severity),
        ("observer.type", alert.detector), ("source.ip", alert.source_ip or ""),
        ("organization.name", alert.organization or ""), ("threat.technique.id", ", ".join(alert.attack)),
        ("event.start", alert.first_seen.isoformat()), ("event.end", alert.last_seen.isoformat()),
        ("event.count", str(alert.count)), ("event.id", ", ".join(alert.event_ids[:20])),
    ]
    return "\n".join(f"{name}: {value}" for name, value in lines if value)


def report_from_alert(s: Session, alert: Alert, actor: str, remote_addr: str = "") -> IncidentReport:
    """The report of an alert: its rule's title, a summary of its evidence, its organisation and
    TLP. An alert has one report at most: Conflict naming the report otherwise."""
    existing = s.scalar(select(IncidentReport.id).where(IncidentReport.alert_id == alert.id))
    if existing is not None:
        raise Conflict(N_("Alert #%(alert)s already has incident report #%(report)s."), alert=alert.id,
                       report=existing, report_id=existing)
    report = IncidentReport(source="alert", subject=_one_line(alert.rule_title)[:MAX_SUBJECT] or alert.rule_id,
                            body=_plain(evidence_summary(alert)), reporter=alert.detector,
                            organization=alert.organization, tlp=_alert_tlp(alert).tag_value, status="new",
                            alert_id=alert.id, created_by=actor)
    s.add(report)
    try:
        s.flush()
    except IntegrityError:  # filed at the same moment by someone else (unique alert_id)
        s.rollback()
        existing = s.scalar(select(IncidentReport.id).where(IncidentReport.alert_id == alert.id))
        raise Conflict(N_("Alert #%(alert)s already has incident report #%(report)s."), alert=alert.id,
                       report=existing, report_id=existing) from None
    audit.record(s, actor, "report.create", "incident_report", report.id, remote_addr, source="alert",
                 alert_id=alert.id)
    return report


def get_report(s: Session, report_id: int, *, organizations: Collection[str] | None = None) -> IncidentReport:
    """The report; NotFound when there is none or it is not of ``organizations`` (the same answer)."""
    report = s.get(IncidentReport, report_id)
    if report is None or (organizations is not None and report.organization not in organizations):
        raise NotFound(N_("Incident report #%(id)s does not exist."), id=report_id)
    return report


def _filtered(q: Select[Any], filters: ReportFilter, organizations: Collection[str] | None) -> Select[Any]:
    if organizations is not None:
        q = q.where(IncidentReport.organization.in_(sorted(organizations)))
    if filters.status:
        if filters.status not in STATUSES:
            raise InvalidInput(N_("Unknown report status %(status)s: expected %(expected)s."),
                               status=filters.status[:30], expected=", ".join(STATUSES))
        q = q.where(IncidentReport.status == filters.status)
    if filters.source:
        if filters.source not in SOURCES:
            raise InvalidInput(N_("Unknown report source %(source)s: expected %(expected)s."),
                               source=filters.source[:30], expected=", ".join(SOURCES))
        q = q.where(IncidentReport.source == filters.source)
    if filters.organization:
        q = q.where(IncidentReport.organization == _one_line(filters.organization))
    text = _one_line(filters.text or "")
    if len(text) > MAX_SEARCH:
        raise InvalidInput(N_("A search is at most %(max)s characters."), max=MAX_SEARCH)
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        q = q.where(or_(IncidentReport.subject.ilike(pattern, escape="\\"),
                        IncidentReport.body.ilike(pattern, escape="\\"),
                        IncidentReport.reporter.ilike(pattern, escape="\\")))
    return q


def list_reports(s: Session, filters: ReportFilter = ReportFilter(), limit: int = 100, offset: int = 0, *,
                 organizations: Collection[str] | None = None) -> list[IncidentReport]:
    """A page of the reports, the most recent first; ``organizations``: only theirs (None: all)."""
    q = _filtered(select(IncidentReport), filters, organizations)
    return list(s.scalars(q.order_by(IncidentReport.id.desc()).offset(offset).limit(limit)))


def count_reports(s: Session, filters: ReportFilter = ReportFilter(), *,
                  organizations: Collection[str] | None = None) -> int:
    q = _filtered(select(func.count()).select_from(IncidentReport), filters, organizations)
    return int(s.scalar(q) or 0)


def linked_incidents(s: Session, report_id: int, *,
                     organizations: Collection[str] | None = None) -> list[tuple[Case, ReportLink]]:
    """The incidents a report is linked to (those of ``organizations`` only, when given)."""
    q = (select(Case, ReportLink).join(ReportLink, ReportLink.case_id == Case.id)
         .where(ReportLink.report_id == report_id).order_by(Case.id))
    if organizations is not None:
        q = q.where(Case.organization.in_(sorted(organizations)))
    return [(case, link) for case, link in s.execute(q)]


def reports_for_case(s: Session, case_id: int) -> list[IncidentReport]:
    """The reports linked to an incident, the oldest first (for the incident's page)."""
    q = (select(IncidentReport).join(ReportLink, ReportLink.report_id == IncidentReport.id)
         .where(ReportLink.case_id == case_id).order_by(IncidentReport.id))
    return list(s.scalars(q))


def _case(s: Session, case_id: int, organizations: Collection[str] | None) -> Case:
    case = s.get(Case, case_id)
    if case is None or (organizations is not None and case.organization not in organizations):
        raise NotFound(N_("Incident #%(id)s does not exist."), id=case_id)
    return case


def _raise_tlp(s: Session, case: Case, report: IncidentReport, actor: str) -> TlpRaise | None:
    """The incident's TLP raised to the report's when lower, said on its timeline."""
    old, wanted = TLP.parse(case.tlp), TLP.parse(report.tlp)
    if wanted.value <= old.value:
        return None
    case.tlp = wanted.tag_value
    add_timeline(s, case, actor, "tlp_raised",
                 N_("TLP raised from %(old)s to %(new)s because of incident report #%(report)s."),
                 {"from": old.tag_value, "to": wanted.tag_value, "report_id": report.id},
                 params={"old": old.label, "new": wanted.label, "report": report.id})
    return TlpRaise(case.id, old, wanted)


def _attach(s: Session, report: IncidentReport, case: Case, actor: str,
            on_tlp_raised: TlpRaiseHook | None) -> TlpRaise | None:
    s.add(ReportLink(report_id=report.id, case_id=case.id, linked_by=actor))
    add_timeline(s, case, actor, "report", N_("Incident report #%(report)s linked: %(subject)s"),
                 {"report_id": report.id}, params={"report": report.id, "subject": report.subject})
    raised = _raise_tlp(s, case, report, actor)
    if raised is not None and on_tlp_raised is not None:
        on_tlp_raised(s, case)
    return raised


def link_report(s: Session, report: IncidentReport, case_ids: Sequence[int], actor: str, remote_addr: str = "",
                *, organizations: Collection[str] | None = None,
                on_tlp_raised: TlpRaiseHook | None = None) -> LinkOutcome:
    """Link a report to incidents (each visible in ``organizations``); it becomes ``linked``. Each
    incident's timeline says so, and its TLP is raised to the report's when lower. A rejected
    report must be reopened first (Conflict)."""
    wanted = list(dict.fromkeys(case_ids))
    if not wanted:
        raise InvalidInput(N_("Name at least one incident to link the report to."))
    if len(wanted) > MAX_LINKS:
        raise InvalidInput(N_("A report is linked to at most %(max)s incidents at once."), max=MAX_LINKS)
    if report.status == "rejected":
        raise Conflict(N_("Incident report #%(report)s is rejected: reopen it before linking it."),
                       report=report.id)
    cases = [_case(s, case_id, organizations) for case_id in wanted]
    present = set(s.scalars(select(ReportLink.case_id).where(ReportLink.report_id == report.id)))
    linked, already, raised = [], [], []
    for case in cases:
        if case.id in present:
            already.append(case.id)
            continue
        change = _attach(s, report, case, actor, on_tlp_raised)
        if change is not None:
            raised.append(change)
        linked.append(case.id)
    report.status = "linked"
    if linked:
        audit.record(s, actor, "report.link", "incident_report", report.id, remote_addr, cases=linked,
                     tlp_raised=[r.case_id for r in raised])
    return LinkOutcome(linked, already, raised)


def unlink_report(s: Session, report: IncidentReport, case_id: int, actor: str, remote_addr: str = "", *,
                  organizations: Collection[str] | None = None) -> None:
    """Remove a report's link to an incident (said on its timeline); a report left with no link
    is ``new`` again. The incident's TLP stays as it is."""
    case = _case(s, case_id, organizations)
    link = s.get(ReportLink, (report.id, case.id))
    if link is None:
        raise NotFound(N_("Incident report #%(report)s is not linked to incident #%(case)s."), report=report.id,
                       case=case.id)
    s.delete(link)
    s.flush()
    add_timeline(s, case, actor, "report", N_("Incident report #%(report)s unlinked."), {"report_id": report.id},
                 params={"report": report.id})
    if not s.scalar(select(exists().where(ReportLink.report_id == report.id))):
        report.status = "new"
    audit.record(s, actor, "report.unlink", "incident_report", report.id, remote_addr, case=case.id)


def reject_report(s: Session, report: IncidentReport, reason: str, actor: str, remote_addr: str = "") -> None:
    """Reject a report (not an incident, spam, out of the constituency...) with a reason. A report
    linked to incidents is unlinked first (Conflict)."""
    reason = _plain(reason).strip()
    if not reason:
        raise InvalidInput(N_("Rejecting a report needs a reason."))
    if len(reason) > MAX_REASON:
        raise InvalidInput(N_("A reason is at most %(max)s characters."), max=MAX_REASON)
    if report.status == "rejected":
        raise Conflict(N_("Incident report #%(report)s is already rejected."), report=report.id)
    if report.status == "linked":
        raise Conflict(N_("Incident report #%(report)s is linked to incidents: unlink it before rejecting it."),
                       report=report.id)
    report.status, report.rejection_reason = "rejected", reason
    audit.record(s, actor, "report.reject", "incident_report", report.id, remote_addr, reason=reason)


def reopen_report(s: Session, report: IncidentReport, actor: str, remote_addr: str = "") -> None:
    """A rejected report is ``new`` again (the reason it was rejected stays in the audit trail)."""
    if report.status != "rejected":
        raise Conflict(N_("Incident report #%(report)s is not rejected."), report=report.id)
    previous = report.rejection_reason
    report.status, report.rejection_reason = "new", ""
    audit.record(s, actor, "report.reopen", "incident_report", report.id, remote_addr, previous_reason=previous)


def open_incident(s: Session, report: IncidentReport, actor: str, remote_addr: str = "", *,
                  title: str | None = None, severity: str = "medium") -> Case:
    """Open an incident from a report: its subject (or ``title``) as title, its body as
    description, its TLP and organisation; the report is linked to it."""
    if report.status == "rejected":
        raise Conflict(N_("Incident report #%(report)s is rejected: reopen it before opening an incident."),
                       report=report.id)
    if severity not in SEVERITIES:
        raise InvalidInput(N_("Unknown severity %(severity)s: expected %(expected)s."), severity=severity[:30],
                           expected=", ".join(SEVERITIES))
    chosen = _one_line(title or "")
    if len(chosen) > MAX_SUBJECT:
        raise InvalidInput(N_("A title is at most %(max)s characters."), max=MAX_SUBJECT)
    label = TLP.parse(report.tlp)
    case = Case(title=chosen or report.subject, description=report.body, severity=severity, tlp=label.tag_value,
                title_tlp=label.tag_value, pap=PAP.AMBER.name.lower(), organization=report.organization,
                created_by=actor, detected_at=report.received_at)
    s.add(case)
    s.flush()
    add_timeline(s, case, actor, "created", N_("Incident opened from incident report #%(report)s: %(subject)s"),
                 {"report_id": report.id}, params={"report": report.id, "subject": report.subject})
    s.add(ReportLink(report_id=report.id, case_id=case.id, linked_by=actor))
    report.status = "linked"
    audit.record(s, actor, "case.create", "case", case.id, remote_addr, report_id=report.id)
    audit.record(s, actor, "report.link", "incident_report", report.id, remote_addr, cases=[case.id])
    return case
