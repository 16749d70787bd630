"""The incident reports' console (``/intake``): the list with its filters, a report (its body
shown as plain text, the incidents it is linked to, the decisions on it), and a report filed by
hand or from an alert."""

from __future__ import annotations

import re
from datetime import datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange

from cert.core.errors import N_, Conflict, InvalidInput, NotFound, VigieError
from cert.detection import alerts
from cert.incidents import reports
from cert.incidents.mail_intake import report_messages
from cert.incidents.report_files import report_files
from cert.incidents.reports import (
    MAX_BODY,
    MAX_REASON,
    MAX_REPORTER,
    MAX_SEARCH,
    MAX_SUBJECT,
    SOURCES,
    STATUSES,
    ReportDraft,
    ReportFilter,
)
from cert.incidents.tickets import report_ticket
from web.access import actor, platform, remote_addr, requires
from web.forms import TLP_CHOICES, form_problems
from web.intake_api import withdrawal_hook
from web.paging import Pager

bp = Blueprint("intake", __name__, url_prefix="/intake")

SEVERITY_CHOICES = [(s, _l(s)) for s in ("informational", "low", "medium", "high", "critical")]
WORDS = (_l("linked"), _l("rejected"), _l("alert"), _l("api"), _l("console"), _l("email"), _l("web-form"))


class ReportForm(FlaskForm):
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=MAX_SUBJECT)])
    body = TextAreaField(_l("Report text"), validators=[Length(max=MAX_BODY)])
    reporter = StringField(_l("Reporter (name or address)"), validators=[Length(max=MAX_REPORTER)])
    # the constituency's organisations (set by the view; the service checks the value)
    organization = SelectField(_l("Organisation"), choices=[], validate_choice=False)
    tlp = SelectField("TLP", choices=TLP_CHOICES, default="amber")


class LinkForm(FlaskForm):
    incidents = StringField(_l("Incident numbers (separated by commas or spaces)"),
                            validators=[DataRequired(), Length(max=1000)])


class RejectForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Length(max=MAX_REASON)])


class OpenIncidentForm(FlaskForm):
    severity = SelectField(_l("Severity"), choices=SEVERITY_CHOICES, default="medium")


class FromAlertForm(FlaskForm):
    alert = IntegerField(_l("Alert number"), validators=[DataRequired(), NumberRange(min=1, max=2**63 - 1)])


class ButtonForm(FlaskForm):
    """A button: the CSRF token only."""


def when(moment: datetime) -> str:
    """A date and time in the reader's language, with its time zone."""
    return f"{format_datetime(moment, 'medium')} {format_datetime(moment, 'zzz')}"


def _organization_choices() -> list[tuple[str, str]]:
    return [("", "—"), *((o.id, o.name) for o in platform().constituency.organizations)]


def _case_ids(text: str) -> list[int]:
    """The incident numbers typed in a field (``12, #15 17``)."""
    parts = [p for p in re.split(r"[\s,;]+", text.strip()) if p]
    ids = []
    for part in parts:
        digits = part.removeprefix("#")
        if not digits.isdigit() or not 1 <= int(digits) < 2**63:
            raise InvalidInput(N_("%(value)s is not an incident number."), value=part[:40])
        ids.append(int(digits))
    return ids


def _error(exc: VigieError) -> str:
    return str(_(exc.message_id, **exc.params)) if exc.message_id else str(exc)


def _back(report_id: int) -> ResponseReturnValue:
    return redirect(url_for("intake.show", report_id=report_id), 303)


@bp.get("/")
@requires("analyst")
def index() -> ResponseReturnValue:
    """The reports, the most recent first, with filters: status, source, organisation, text."""
    args = request.args
    status = args.get("status") if args.get("status") in STATUSES else None
    source = args.get("source") if args.get("source") in SOURCES else None
    org = platform().constituency.by_id(args.get("organization") or "")
    text = (args.get("q") or "").strip()[:MAX_SEARCH]
    filters = ReportFilter(status=status, source=source, organization=org.name if org else None, text=text or None)
    with platform().db.session() as s:
        pager = Pager.from_request(reports.count_reports(s, filters))
        items = reports.list_reports(s, filters, pager.per_page, pager.offset)
    return render_template("intake.html", reports=items, pager=pager, status=status, source=source,
                           organization=org.id if org else "", q=text, statuses=STATUSES, sources=SOURCES,
                           organizations=platform().constituency.organizations, when=when,
                           from_alert=FromAlertForm())


@bp.route("/new", methods=["GET", "POST"])
@requires("analyst")
def new() -> ResponseReturnValue:
    """A report filed by hand (a telephone call, a letter, a colleague's word)."""
    form = ReportForm()
    form.organization.choices = _organization_choices()
    problem = ""
    if request.method == "POST":
        if form.validate_on_submit():
            draft = ReportDraft(form.subject.data or "", form.body.data or "", form.reporter.data or "",
                                form.organization.data or None, form.tlp.data or "amber")
            try:
                with platform().db.session() as s:
                    report = reports.create_report(s, platform().constituency, "console", draft, actor(),
                                                   remote_addr())
                    report_id = report.id
            except InvalidInput as exc:
                problem = _error(exc)
            else:
                flash(_("Incident report #%(id)s filed.", id=report_id), "ok")
                return _back(report_id)
        else:
            problem = form_problems(form)
    return render_template("intake_new.html", form=form, problem=problem), 400 if problem else 200


@bp.post("/from-alert")
@requires("analyst")
def from_alert() -> ResponseReturnValue:
    """The report of an alert, by its number."""
    form = FromAlertForm()
    if not form.validate_on_submit():
        raise InvalidInput(N_("The form is not valid: %(problems)s."), problems=form_problems(form))
    try:
        with platform().db.session() as s:
            report = reports.report_from_alert(s, alerts.get_alert(s, int(form.alert.data or 0)), actor(),
                                               remote_addr())
            report_id = report.id
    except Conflict as exc:
        flash(_error(exc), "error")
        existing = exc.details.get("report_id")
        return _back(int(str(existing))) if existing is not None else redirect(url_for("intake.index"), 303)
    flash(_("Incident report #%(id)s filed.", id=report_id), "ok")
    return _back(report_id)


@bp.get("/<int:report_id>")
@requires("analyst")
def show(report_id: int) -> ResponseReturnValue:
    with platform().db.session() as s:
        report = reports.get_report(s, report_id)
        linked = reports.linked_incidents(s, report_id)
        files, messages = report_files(s, report_id), report_messages(s, report_id)
    return render_template("intake_report.html", report=report, linked=linked, files=files, messages=messages,
                           ticket=report_ticket(report_id), when=when, link_form=LinkForm(),
                           reject_form=RejectForm(), open_form=OpenIncidentForm(), button=ButtonForm())


def _act(report_id: int, form: FlaskForm, action: str) -> ResponseReturnValue:
    """Run a decision on a report; a refusal (bad input, wrong state) is flashed on its page."""
    if not form.validate_on_submit():
        flash(_("The form is not valid: %(problems)s.", problems=form_problems(form)), "error")
        return _back(report_id)
    who, addr = actor(), remote_addr()
    with platform().db.session() as s:
        reports.get_report(s, report_id)  # 404 for no such report, before any decision
    try:
        with platform().db.session() as s:
            report = reports.get_report(s, report_id)
            if action == "link" and isinstance(form, LinkForm):
                outcome = reports.link_report(s, report, _case_ids(form.incidents.data or ""), who, addr,
                                              on_tlp_raised=withdrawal_hook(who))
                if outcome.linked:
                    flash(_("Report linked to incident(s) %(ids)s.",
                            ids=", ".join(f"#{i}" for i in outcome.linked)), "ok")
                if outcome.already:
                    flash(_("Already linked to %(ids)s.", ids=", ".join(f"#{i}" for i in outcome.already)), "ok")
                for r in outcome.raised:
                    flash(_("The TLP of incident #%(case)s was raised from %(old)s to %(new)s, the report's.",
                            case=r.case_id, old=r.old.label, new=r.new.label), "warning")
            elif action == "reject" and isinstance(form, RejectForm):
                reports.reject_report(s, report, form.reason.data or "", who, addr)
                flash(_("Report rejected."), "ok")
            elif action == "reopen":
                reports.reopen_report(s, report, who, addr)
                flash(_("Report reopened."), "ok")
            elif action == "incident" and isinstance(form, OpenIncidentForm):
                case = reports.open_incident(s, report, who, addr, severity=form.severity.data or "medium")
                flash(_("Incident #%(id)s opened from the report.", id=case.id), "ok")
    except (InvalidInput, Conflict, NotFound) as exc:  # an unknown incident number is the analyst's typo
        flash(_error(exc), "error")
    return _back(report_id)


@bp.post("/<int:report_id>/links")
@requires("analyst")
def link(report_id: int) -> ResponseReturnValue:
    return _act(report_id, LinkForm(), "link")


@bp.post("/<int:report_id>/links/<int:case_id>/remove")
@requires("analyst")
def unlink(report_id: int, case_id: int) -> ResponseReturnValue:
    form = ButtonForm()
    if not form.validate_on_submit():
        raise InvalidInput(N_("The form is not valid: %(problems)s."), problems=form_problems(form))
    with platform().db.session() as s:
        reports.unlink_report(s, reports.get_report(s, report_id), case_id, actor(), remote_addr())
    flash(_("Link to incident #%(id)s removed.", id=case_id), "ok")
    return _back(report_id)


@bp.post("/<int:report_id>/reject")
@requires("analyst")
def reject(report_id: int) -> ResponseReturnValue:
    return _act(report_id, RejectForm(), "reject")


@bp.post("/<int:report_id>/reopen")
@requires("analyst")
def reopen(report_id: int) -> ResponseReturnValue:
    return _act(report_id, ButtonForm(), "reopen")


@bp.post("/<int:report_id>/incident")
@requires("analyst")
def open_incident(report_id: int) -> ResponseReturnValue:
    return _act(report_id, OpenIncidentForm(), "incident")
