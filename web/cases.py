"""Cases: list, detail with timeline and observables, notes, status, TLP, playbooks, MISP export."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from cert.core.errors import InvalidInput
from cert.incidents import cases as case_service
from cert.incidents.attachments import upload_to_case
from cert.response.playbooks import load_playbooks, start_run
from cert.sharing.actions import change_case_tlp, publish
from cert.storage.models import Alert, PlaybookRun
from web import case_items
from web.access import actor, platform, remote_addr, requires
from web.forms import NoteForm, PlaybookForm, StatusForm, TlpForm, UploadForm
from web.paging import Pager

bp = Blueprint("cases", __name__, url_prefix="/cases")


def _playbook_form() -> PlaybookForm:
    form = PlaybookForm()
    lang = str(get_locale() or "fr")
    books = load_playbooks(platform().settings.playbooks_dir)
    form.playbook.choices = [(b.id, b.title_for(lang)) for b in books.values()]
    g.playbooks = books
    return form


@bp.get("/")
@requires("analyst")
def index() -> ResponseReturnValue:
    with platform().db.session() as s:
        pager = Pager.from_request(case_service.count_cases(s))
        items = case_service.list_cases(s, limit=pager.per_page, offset=pager.offset)
    return render_template("cases.html", cases=items, pager=pager)


@bp.get("/<int:case_id>")
@requires("analyst")
def show(case_id: int) -> ResponseReturnValue:
    with platform().db.session() as s:
        case = case_service.get_case(s, case_id)
        observables, timeline = list(case.observables), list(case.timeline)
        runs = list(s.scalars(select(PlaybookRun).where(PlaybookRun.case_id == case_id).order_by(PlaybookRun.id)))
        linked = list(s.scalars(select(Alert).where(Alert.case_id == case_id)))
    pending = any(r.status in ("queued", "running") for r in runs)
    return render_template(
        "case.html", case=case, observables=observables, timeline=timeline, runs=runs, alerts=linked,
        pending=pending, note_form=NoteForm(), status_form=StatusForm(status=case.status),
        tlp_form=TlpForm(tlp=case.tlp), playbook_form=_playbook_form(), upload_form=UploadForm(),
        lang=str(get_locale() or "fr"), **case_items.sections(case_id),
    )


def _back(case_id: int) -> ResponseReturnValue:
    return redirect(url_for("cases.show", case_id=case_id), 303)


def _form_errors(form: NoteForm | StatusForm | TlpForm | PlaybookForm | UploadForm) -> None:
    if not form.validate_on_submit():
        raise InvalidInput("; ".join(f"{k}: {', '.join(v)}" for k, v in form.errors.items()) or "invalid form")


@bp.post("/<int:case_id>/notes")
@requires("analyst")
def add_note(case_id: int) -> ResponseReturnValue:
    form = NoteForm()
    _form_errors(form)
    with platform().db.session() as s:
        case_service.add_note(s, case_service.get_case(s, case_id), actor(), form.text.data or "")
    return _back(case_id)


@bp.post("/<int:case_id>/status")
@requires("analyst")
def set_status(case_id: int) -> ResponseReturnValue:
    form = StatusForm()
    _form_errors(form)
    with platform().db.session() as s:
        case_service.set_status(s, case_service.get_case(s, case_id), form.status.data or "", actor())
    return _back(case_id)


@bp.post("/<int:case_id>/tlp")
@requires("analyst")
def set_tlp(case_id: int) -> ResponseReturnValue:
    form = TlpForm()
    _form_errors(form)
    change = change_case_tlp(platform(), case_id, form.tlp.data or "", actor(), current_user.role,
                             form.reason.data or "", remote_addr())
    if change.withdrawn_from:
        flash(_("The case is now %(tlp)s: its MISP event was withdrawn from the feed.", tlp=change.new.label), "ok")
    return _back(case_id)


@bp.post("/<int:case_id>/playbooks")
@requires("responder")
def run_playbook(case_id: int) -> ResponseReturnValue:
    form = _playbook_form()
    _form_errors(form)
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
    _form_errors(form)
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
