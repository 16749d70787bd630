"""REST API of incident reports (``/api/v1/incident-reports``): list, read, file, link to
incidents, unlink, reject, reopen, open an incident; and the report of an alert.

Scopes: reading needs ``read``. Filing a report needs ``ingest``: a sensor's or a partner's tool
sends what it saw, as it sends events, without the ``write`` scope that would let it change
incidents; an organisation-bound token files for its own organisation only. Deciding what a
report is (linking, rejecting, reopening, opening an incident, reporting an alert) is triage and
needs ``triage``, like promoting an alert: it raises TLPs but never lowers one."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import Session

from cert.detection import alerts
from cert.incidents import reports
from cert.incidents.mail_intake import report_messages
from cert.incidents.report_files import report_files
from cert.incidents.reports import LinkOutcome, ReportDraft, ReportFilter, TlpRaiseHook
from cert.sharing.target import targets
from cert.storage.models import Case, IncidentReport
from web.access import actor, platform, remote_addr, requires, visible_scope
from web.api import page_json
from web.api_auth import api_scope
from web.api_spec import Response, body, iso, query, spec
from web.incidents_api import case_json
from web.schemas.incidents import CaseOut
from web.schemas.intake import LinksIn, OpenIncidentIn, RejectIn, ReportIn, ReportOut, ReportPage, ReportQuery

bp = Blueprint("intake_api", __name__, url_prefix="/api/v1")

TAGS = ["incident reports"]


def withdrawal_hook(who: str) -> TlpRaiseHook:
    """After linking raised an incident's TLP: every sharing target withdraws what may no longer leave."""
    settings = platform().settings

    def withdraw(s: Session, case: Case) -> list[str]:
        return [cls.name for cls in targets if cls(settings).withdraw_if_not_shareable(s, case, who)]

    return withdraw


def summary_json(r: IncidentReport) -> dict[str, Any]:
    return {"id": r.id, "source": r.source, "subject": r.subject, "reporter": r.reporter,
            "organization": r.organization, "tlp": r.tlp, "status": r.status, "alert_id": r.alert_id,
            "received_at": iso(r.received_at)}


def report_json(s: Session, r: IncidentReport) -> dict[str, Any]:
    """The report with the incidents it is linked to that the caller may see."""
    linked = reports.linked_incidents(s, r.id, organizations=visible_scope().recorded)
    return {**summary_json(r), "body": r.body, "rejection_reason": r.rejection_reason, "created_by": r.created_by,
            "updated_at": iso(r.updated_at),
            "attachments": [{"id": a.id, "name": a.name, "size": a.size, "sha256": a.sha256,
                             "content_type": a.content_type, "added_at": iso(a.added_at)}
                            for a in report_files(s, r.id)],
            "messages": [{"id": m.id, "kind": m.kind, "from": m.from_address, "envelope_from": m.envelope_from,
                          "subject": m.subject, "body": m.body, "ticket": m.ticket,
                          "ticket_refused": m.ticket_refused, "message_id": m.message_id, "sha256": m.sha256,
                          "received_at": iso(m.received_at)} for m in report_messages(s, r.id)],
            "incidents": [{"id": c.id, "title": c.title, "tlp": c.tlp, "status": c.status, "linked_by": link.linked_by,
                           "linked_at": iso(link.linked_at)} for c, link in linked]}


def raises_json(outcome: LinkOutcome) -> list[dict[str, Any]]:
    return [{"incident": r.case_id, "old": r.old.tag_value, "new": r.new.tag_value,
             "message": _("The TLP of incident #%(case)s was raised from %(old)s to %(new)s, the report's.",
                          case=r.case_id, old=r.old.label, new=r.new.label)} for r in outcome.raised]


def filter_from(q: ReportQuery) -> ReportFilter:
    """The list's filters; an organisation given by its constituency id is matched by its name."""
    organization = q.organization
    if organization:
        org = platform().constituency.by_id(organization.strip())
        organization = org.name if org else organization.strip()
    return ReportFilter(status=q.status, source=q.source, organization=organization or None, text=q.q)


@bp.get("/incident-reports")
@requires("analyst", focal_points=True)
@api_scope("read")
@spec.validate(query=ReportQuery, resp=Response(HTTP_200=ReportPage), tags=TAGS)
def list_reports() -> ResponseReturnValue:
    """Incident reports, the most recent first, a page at a time; filters ``status``, ``source``,
    ``organization`` and ``q`` (text). Of their organisations only for a focal point and a token
    with an organisation."""
    q = query(ReportQuery)
    filters, orgs = filter_from(q), visible_scope().recorded
    with platform().db.session() as s:
        total = reports.count_reports(s, filters, organizations=orgs)
        items = [summary_json(r) for r in reports.list_reports(s, filters, q.limit, q.offset, organizations=orgs)]
    return jsonify(page_json(items, total, q.offset, q.limit))


@bp.get("/incident-reports/<int:report_id>")
@requires("analyst", focal_points=True)
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=ReportOut), tags=TAGS)
def get_report(report_id: int) -> ResponseReturnValue:
    """An incident report with its body (plain text) and the incidents it is linked to; 404 for a
    report of another organisation than a focal point's (or a token's)."""
    with platform().db.session() as s:
        return jsonify(report_json(s, reports.get_report(s, report_id, organizations=visible_scope().recorded)))


@bp.post("/incident-reports")
@requires("analyst")
@api_scope("ingest")
@spec.validate(json=ReportIn, resp=Response(HTTP_201=ReportOut), tags=TAGS)
def create_report() -> ResponseReturnValue:
    """File an incident report: ``{"subject", "body", "reporter", "organization", "tlp"}``; 201
    with the report. A token with an organisation files for that organisation only (its own by
    default)."""
    given = body(ReportIn)
    scope = visible_scope()
    organization = given.organization
    if organization is None and scope.recorded is not None:
        organization = getattr(current_user, "organization", None)
    draft = ReportDraft(given.subject, given.body, given.reporter, organization, given.tlp)
    with platform().db.session() as s:
        report = reports.create_report(s, platform().constituency, "api", draft, actor(), remote_addr(),
                                       organizations=scope.recorded)
        return jsonify(report_json(s, report)), 201


@bp.post("/alerts/<int:alert_id>/report")
@requires("analyst")
@api_scope("triage")
@spec.validate(resp=Response(HTTP_201=ReportOut), tags=TAGS)
def report_alert(alert_id: int) -> ResponseReturnValue:
    """The incident report of an alert (its rule's title, a summary of its evidence, its
    organisation and TLP); 201, or 409 with ``report_id`` when the alert has one."""
    with platform().db.session() as s:
        alert = alerts.get_alert(s, alert_id, organizations=visible_scope().recorded)
        report = reports.report_from_alert(s, alert, actor(), remote_addr())
        return jsonify(report_json(s, report)), 201


@bp.post("/incident-reports/<int:report_id>/links")
@requires("analyst")
@api_scope("triage")
@spec.validate(json=LinksIn, resp=Response(HTTP_200=ReportOut), tags=TAGS)
def link_report(report_id: int) -> ResponseReturnValue:
    """Link a report to incidents: ``{"incidents": [ids]}``. Each incident's timeline says so; an
    incident whose TLP is lower than the report's is raised to it (``tlp_raised``)."""
    wanted = body(LinksIn)
    orgs = visible_scope().recorded
    with platform().db.session() as s:
        report = reports.get_report(s, report_id, organizations=orgs)
        outcome = reports.link_report(s, report, wanted.incidents, actor(), remote_addr(), organizations=orgs,
                                      on_tlp_raised=withdrawal_hook(actor()))
        return jsonify({**report_json(s, report), "tlp_raised": raises_json(outcome)})


@bp.delete("/incident-reports/<int:report_id>/links/<int:case_id>")
@requires("analyst")
@api_scope("triage")
@spec.validate(resp=Response(HTTP_200=ReportOut), tags=TAGS)
def unlink_report(report_id: int, case_id: int) -> ResponseReturnValue:
    """Remove a report's link to an incident; the report is ``new`` again when no link is left."""
    orgs = visible_scope().recorded
    with platform().db.session() as s:
        report = reports.get_report(s, report_id, organizations=orgs)
        reports.unlink_report(s, report, case_id, actor(), remote_addr(), organizations=orgs)
        return jsonify(report_json(s, report))


@bp.post("/incident-reports/<int:report_id>/reject")
@requires("analyst")
@api_scope("triage")
@spec.validate(json=RejectIn, resp=Response(HTTP_200=ReportOut), tags=TAGS)
def reject_report(report_id: int) -> ResponseReturnValue:
    """Reject a report with a reason: ``{"reason": ...}`` (required; 400 without one)."""
    given = body(RejectIn)
    with platform().db.session() as s:
        report = reports.get_report(s, report_id, organizations=visible_scope().recorded)
        reports.reject_report(s, report, given.reason, actor(), remote_addr())
        return jsonify(report_json(s, report))


@bp.post("/incident-reports/<int:report_id>/reopen")
@requires("analyst")
@api_scope("triage")
@spec.validate(resp=Response(HTTP_200=ReportOut), tags=TAGS)
def reopen_report(report_id: int) -> ResponseReturnValue:
    """A rejected report becomes ``new`` again; 409 for one that is not rejected."""
    with platform().db.session() as s:
        report = reports.get_report(s, report_id, organizations=visible_scope().recorded)
        reports.reopen_report(s, report, actor(), remote_addr())
        return jsonify(report_json(s, report))


@bp.post("/incident-reports/<int:report_id>/incident")
@requires("analyst")
@api_scope("triage")
@spec.validate(json=OpenIncidentIn, resp=Response(HTTP_201=CaseOut), tags=TAGS)
def open_incident(report_id: int) -> ResponseReturnValue:
    """Open an incident from a report (title from its subject unless given, its TLP and
    organisation) and link the report to it: ``{"title", "severity"}``; 201 with the incident."""
    given = body(OpenIncidentIn)
    with platform().db.session() as s:
        report = reports.get_report(s, report_id, organizations=visible_scope().recorded)
        case = reports.open_incident(s, report, actor(), remote_addr(), title=given.title, severity=given.severity)
        return jsonify(case_json(case)), 201
