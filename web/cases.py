"""Incidents in the console: the list with its filters, opening one by hand (from a template),
the incident page with its fields, status, closing, reopening and merging, notes, TLP,
playbooks, files and the MISP export."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from cert.incidents import cases as case_service
from cert.incidents import lifecycle, rsit
from cert.incidents.attachments import upload_to_case
from cert.incidents.merge import merge
from cert.incidents.reports import reports_for_case
from cert.response.playbooks import load_playbooks
from cert.response.runs import start_run
from cert.sharing.actions import change_case_tlp, publish
from cert.storage.models import Alert, PlaybookRun
from web import case_items, response_console, sharing_console
from web.access import actor, platform, remote_addr, requires
from web.forms import TLP_CHOICES, NoteForm, PlaybookForm, StatusForm, TlpForm, UploadForm, require_valid
from web.incident_forms import (
    SEVERITY_CHOICES,
    ButtonForm,
    CloseForm,
    IncidentFields,
    MergeForm,
    NewIncidentForm,
    rsit_choices,
)
from web.paging import Pager

bp = Blueprint("cases", __name__, url_prefix="/cases")

#: the alerts listed on an incident's page, the most recent first (the queue filtered on the
#: incident shows them all)
ALERTS_SHOWN = 200

SORT_LABELS = [("-id", _l("Newest first")), ("id", _l("Oldest first")), ("-severity", _l("Most severe first")),
               ("-updated", _l("Last changed first")), ("title", _l("Title"))]
FILTERS = ("status", "severity", "organization", "assignee", "rsit", "tlp", "q", "sort")


@bp.app_template_filter("incident_time")
def incident_time(value: datetime | None) -> str:
    """A date and time in the reader's language, with its time zone."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return str(format_datetime(value, "d MMM y HH:mm:ss zzz"))


def _playbook_form() -> PlaybookForm:
    form = PlaybookForm()
    lang = str(get_locale() or "fr")
    books = load_playbooks(platform().settings.playbooks_dir)
    form.playbook.choices = [(b.id, b.title_for(lang)) for b in books.values()]
    g.playbooks = books
    return form


def _filters() -> case_service.CaseFilter:
    args = {name: (request.args.get(name) or "").strip()[:200] for name in FILTERS}
    status = args["status"] if args["status"] in case_service.STATUSES else ""
    severity = args["severity"] if args["severity"] in case_service.SEVERITIES else ""
    tlp = args["tlp"] if args["tlp"] in dict(TLP_CHOICES) else ""
    return case_service.CaseFilter(status=status, severity=severity, organization=args["organization"],
                                   assignee=args["assignee"], rsit=args["rsit"].lower(), tlp=tlp, text=args["q"],
                                   sort=args["sort"] if args["sort"] in case_service.SORTS else "-id")


@bp.get("/")
@requires("analyst")
def index() -> ResponseReturnValue:
    filters = _filters()
    with platform().db.session() as s:
        pager = Pager.from_request(case_service.count_cases(s, filters=filters))
        items = case_service.list_cases(s, limit=pager.per_page, offset=pager.offset, filters=filters)
        form = IncidentFields(formdata=None, rsit=filters.rsit, assignee=filters.assignee)
        form.fill(s, platform().constituency)
    form.assignee.choices = [("", _("All")), *list(form.assignee.choices or [])[1:]]  # type: ignore[list-item]
    form.rsit.choices = {"—": [("", _("All"))], **{k: v for k, v in rsit_choices("").items() if k != "—"}}
    return render_template("cases.html", cases=items, pager=pager, filters=filters, form=form,
                           statuses=case_service.STATUSES, severities=SEVERITY_CHOICES, tlps=TLP_CHOICES,
                           sorts=SORT_LABELS, rsit_label=rsit.label)


@bp.route("/new", methods=["GET", "POST"])
@requires("analyst")
def new() -> ResponseReturnValue:
    """Open an incident by hand, from a template or none."""
    p = platform()
    lang = str(get_locale() or "fr")
    form = NewIncidentForm()
    with p.db.session() as s:
        form.fill(s, p.constituency, lang)
    if request.method == "POST":
        require_valid(form)
        incident = lifecycle.NewIncident(
            title=form.title.data or "", description=form.description.data or "", severity=form.severity.data or "",
            tlp=form.tlp.data or "", pap=form.pap.data or "", rsit=form.rsit.data or "",
            attack=_techniques(form.attack.data), organizations=list(form.organizations.data or []),
            assignee=form.assignee.data or "", template=form.template.data or "")
        with p.db.session() as s:
            case_id = lifecycle.open_incident(s, incident, actor(), p.constituency, lang, remote_addr()).id
        flash(_("Incident #%(id)s opened.", id=case_id), "ok")
        return _back(case_id)
    return render_template("case_new.html", form=form)


def _techniques(text: str | None) -> list[str]:
    return [part for part in (text or "").replace(";", ",").replace(" ", ",").split(",") if part.strip()]


@bp.get("/<int:case_id>")
@requires("analyst")
def show(case_id: int) -> ResponseReturnValue:
    p = platform()
    with p.db.session() as s:
        case = case_service.get_case(s, case_id)
        observables, timeline = list(case.observables), list(case.timeline)
        affected = [a.organization for a in case.affected]
        runs = list(s.scalars(select(PlaybookRun).where(PlaybookRun.case_id == case_id).order_by(PlaybookRun.id)))
        linked = list(s.scalars(select(Alert).where(Alert.case_id == case_id).order_by(Alert.id.desc())
                                .limit(ALERTS_SHOWN)))
        linked_total = len(linked) if len(linked) < ALERTS_SHOWN else int(
            s.scalar(select(func.count()).select_from(Alert).where(Alert.case_id == case_id)) or 0)
        reports = reports_for_case(s, case_id)
        primary_first = ([case.organization] if case.organization else []) + \
            [o for o in affected if o != case.organization]
        edit_form = IncidentFields(formdata=None, title=case.title, description=case.description,
                                   severity=case.severity, pap=case.pap, rsit=case.rsit_class,
                                   attack=", ".join(case.attack or []), organizations=primary_first,
                                   assignee=case.assignee or "")
        edit_form.fill(s, p.constituency)
        partners = sharing_console.panel(s, case) if current_user.can("analyst") else None
    pending = any(r.status in ("queued", "running") for r in runs)
    return render_template(
        "case.html", case=case, observables=observables, timeline=timeline, runs=runs, alerts=linked,
        alerts_total=linked_total, reports=reports,
        affected=primary_first, pending=pending, note_form=NoteForm(),
        status_form=StatusForm(status=case.status), tlp_form=TlpForm(tlp=case.tlp), playbook_form=_playbook_form(),
        upload_form=UploadForm(), edit_form=edit_form, close_form=CloseForm(),
        response_actions=response_console.case_actions(case_id), partners=partners,
        merge_form=MergeForm(), lang=str(get_locale() or "fr"), rsit_label=rsit.label,
        rsit_class_label=rsit.class_label, resolutions=lifecycle.RESOLUTIONS, **case_items.sections(case_id),
    )


def _back(case_id: int) -> ResponseReturnValue:
    return redirect(url_for("cases.show", case_id=case_id), 303)


@bp.post("/<int:case_id>/edit")
@requires("analyst")
def edit(case_id: int) -> ResponseReturnValue:
    """Change the incident's fields; each change goes on the timeline."""
    p = platform()
    form = IncidentFields()
    with p.db.session() as s:
        form.fill(s, p.constituency)
    require_valid(form)
    changes = lifecycle.Changes(title=form.title.data or "", description=form.description.data or "",
                                severity=form.severity.data, pap=form.pap.data, rsit=form.rsit.data or "",
                                attack=_techniques(form.attack.data),
                                organizations=list(form.organizations.data or []), assignee=form.assignee.data or "")
    with p.db.session() as s:
        changed = lifecycle.update_case(s, case_service.get_case(s, case_id), changes, actor(), p.constituency,
                                        remote_addr())
    flash(_("Incident updated.") if changed else _("Nothing changed."), "ok")
    return _back(case_id)


@bp.post("/<int:case_id>/close")
@requires("analyst")
def close(case_id: int) -> ResponseReturnValue:
    """Close with a resolution (true positive, false positive, benign, duplicate) and a comment."""
    form = CloseForm()
    require_valid(form)
    with platform().db.session() as s:
        lifecycle.close(s, case_service.get_case(s, case_id), form.resolution.data or "", actor(),
                        form.comment.data or "", remote_addr())
    flash(_("Incident closed."), "ok")
    return _back(case_id)


@bp.post("/<int:case_id>/reopen")
@requires("analyst")
def reopen(case_id: int) -> ResponseReturnValue:
    require_valid(ButtonForm())
    with platform().db.session() as s:
        lifecycle.reopen(s, case_service.get_case(s, case_id), actor(), remote_addr())
    flash(_("Incident reopened."), "ok")
    return _back(case_id)


@bp.post("/<int:case_id>/acknowledge")
@requires("analyst")
def acknowledge(case_id: int) -> ResponseReturnValue:
    require_valid(ButtonForm())
    with platform().db.session() as s:
        lifecycle.acknowledge(s, case_service.get_case(s, case_id), actor(), explicit=True, remote_addr=remote_addr())
    return _back(case_id)


@bp.post("/<int:case_id>/merge")
@requires("analyst")
def merge_into(case_id: int) -> ResponseReturnValue:
    """Merge another incident into this one; the other is closed as a duplicate."""
    form = MergeForm()
    require_valid(form)
    with platform().db.session() as s:
        done = merge(s, case_id, int(form.source.data or 0), actor(), remote_addr=remote_addr())
    flash(_("Incident #%(other)s merged into this one.", other=done.source), "ok")
    return _back(case_id)


@bp.post("/<int:case_id>/notes")
@requires("analyst")
def add_note(case_id: int) -> ResponseReturnValue:
    form = NoteForm()
    require_valid(form)
    with platform().db.session() as s:
        case_service.add_note(s, case_service.get_case(s, case_id), actor(), form.text.data or "")
    return _back(case_id)


@bp.post("/<int:case_id>/status")
@requires("analyst")
def set_status(case_id: int) -> ResponseReturnValue:
    form = StatusForm()
    require_valid(form)
    with platform().db.session() as s:
        lifecycle.set_status(s, case_service.get_case(s, case_id), form.status.data or "", actor(),
                             remote_addr=remote_addr())
    return _back(case_id)


@bp.post("/<int:case_id>/tlp")
@requires("analyst")
def set_tlp(case_id: int) -> ResponseReturnValue:
    form = TlpForm()
    require_valid(form)
    change = change_case_tlp(platform(), case_id, form.tlp.data or "", actor(), current_user.role,
                             form.reason.data or "", remote_addr())
    if change.withdrawn_from:
        flash(_("The case is now %(tlp)s: its MISP event was withdrawn from the feed.", tlp=change.new.label), "ok")
    return _back(case_id)


@bp.post("/<int:case_id>/playbooks")
@requires("responder")
def run_playbook(case_id: int) -> ResponseReturnValue:
    form = _playbook_form()
    require_valid(form)
    start_run(platform(), case_id, form.playbook.data or "", actor())
    flash(_("Playbook queued (%(kind)s).", kind=platform().jobs.kind), "ok")
    return _back(case_id)


@bp.post("/<int:case_id>/export/misp")
@requires("analyst")
def export_misp(case_id: int) -> ResponseReturnValue:
    result = publish(platform(), case_id, actor(), "misp-feed")
    flash(_("MISP event %(uuid)s written to the feed: %(n)s indicator(s), %(w)s withheld by TLP.",
            uuid=result.reference, n=result.exported, w=result.withheld), "ok")
    return _back(case_id)


@bp.post("/<int:case_id>/files")
@requires("analyst")
def upload_file(case_id: int) -> ResponseReturnValue:
    """A file for the case (sample, script, memory extract): stored, scanned with YARA, on the timeline."""
    form = UploadForm()
    require_valid(form)
    upload = form.file.data
    outcome = upload_to_case(platform(), case_id, upload.filename or "", upload.stream, actor(), remote_addr())
    r = outcome.result
    if r.error:
        flash(_("File stored; the YARA scan failed: %(error)s", error=r.error), "error")
    elif r.matches:
        flash(_("File stored; YARA rules matched: %(rules)s.", rules=", ".join(m.rule for m in r.matches)), "error")
    else:
        flash(_("File stored; no YARA rule matched."), "ok")
    return _back(case_id)
