"""Console of what an incident is made of: its tasks, countermeasures, observables (with their
sightings), comments and attachments (with their chain of custody). The incident page shows them
with the partials of ``templates/case/`` from what ``sections`` gathers; the forms post here, and
every answer leads back to the incident page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime, get_timezone
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from cert.accounts.access import STAFF_ROLES
from cert.core.errors import N_, InvalidInput
from cert.incidents import attachments, comments, countermeasures, observables, tasks
from cert.incidents.cases import OBSERVABLE_TYPES, get_case
from cert.incidents.edits import KEEP
from cert.incidents.observables import Sighting
from cert.storage.models import Attachment, Comment, Countermeasure, CustodyEntry, Observable, Task, User
from web.access import actor, platform, remote_addr, requires, visible_scope
from web.case_items_api import file_response
from web.forms import TLP_CHOICES, require_valid

bp = Blueprint("case_items", __name__, url_prefix="/cases/<int:case_id>")

TASK_STATUS_CHOICES = [("open", _l("open")), ("in-progress", _l("in-progress")), ("done", _l("done")),
                       ("cancelled", _l("cancelled"))]
KIND_CHOICES = [("block-ip", _l("block an IP address")), ("block-domain", _l("block a domain")),
                ("sinkhole", _l("sinkhole a domain")), ("disable-account", _l("disable an account")),
                ("reset-password", _l("reset a password")), ("isolate-host", _l("isolate a host")),
                ("takedown", _l("take down")), ("patch", _l("patch")), ("other", _l("other"))]
CM_STATUS_CHOICES = [("proposed", _l("proposed")), ("requested", _l("requested")),
                     ("in-progress", _l("in-progress")), ("done", _l("done")), ("failed", _l("failed")),
                     ("impossible", _l("impossible")), ("reverted", _l("reverted"))]
CUSTODY_WORDS = {"added": _l("added"), "downloaded": _l("downloaded"), "refused": _l("download refused"),
                 "removed": _l("removed")}


class TaskForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=300)])
    description = TextAreaField(_l("Description"), validators=[Length(max=20000)])
    assignee = SelectField(_l("Assignee"), choices=[], validate_choice=False)
    due = StringField(_l("Due date"), validators=[Length(max=40)], render_kw={"type": "datetime-local"})
    timezone = StringField(_l("Time zone"), validators=[Length(max=60)], default="UTC")
    status = SelectField(_l("Status"), choices=TASK_STATUS_CHOICES, default="open")


class CountermeasureForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=KIND_CHOICES)
    target = StringField(_l("Target"), validators=[Length(max=2048)])
    organization = SelectField(_l("Organisation that acts"), choices=[], validate_choice=False)
    status = SelectField(_l("Status"), choices=CM_STATUS_CHOICES, default="proposed")
    comment = StringField(_l("Comment (required when failed or impossible)"), validators=[Length(max=5000)])


class CountermeasureStatusForm(FlaskForm):
    status = SelectField(_l("Status"), choices=CM_STATUS_CHOICES)
    comment = StringField(_l("Comment (required when failed or impossible)"), validators=[Length(max=5000)])


class ObservableForm(FlaskForm):
    type = SelectField(_l("Type"), choices=[(t, t) for t in OBSERVABLE_TYPES])
    value = StringField(_l("Value"), validators=[DataRequired(), Length(max=2048)])
    tlp = SelectField("TLP", choices=TLP_CHOICES, default="amber")
    ioc = BooleanField(_l("Indicator (IOC)"), default=True)
    comment = StringField(_l("Comment"), validators=[Length(max=5000)])


class ObservableEditForm(FlaskForm):
    tlp = SelectField("TLP", choices=TLP_CHOICES)
    pap = SelectField("PAP", choices=[("incident", _l("the incident's")), ("red", "PAP:RED"), ("amber", "PAP:AMBER"),
                                      ("green", "PAP:GREEN"), ("clear", "PAP:CLEAR")], default="incident")
    ioc = BooleanField(_l("Indicator (IOC)"))
    comment = StringField(_l("Comment"), validators=[Length(max=5000)])


class CommentForm(FlaskForm):
    text = TextAreaField(_l("Comment"), validators=[DataRequired(), Length(max=20000)])


class AttachmentForm(FlaskForm):
    file = FileField(_l("File"), validators=[FileRequired()])
    tlp = SelectField("TLP", choices=[("", _l("the incident's")), *TLP_CHOICES], default="")


class ButtonForm(FlaskForm):
    """A button: the CSRF token only."""


@dataclass
class Sections:
    """What the partials of the incident page show."""

    case_id: int
    tasks: list[Task] = field(default_factory=list)
    overdue: set[int] = field(default_factory=set)
    countermeasures: list[Countermeasure] = field(default_factory=list)
    observables: list[Observable] = field(default_factory=list)
    sightings: dict[int, Sighting] = field(default_factory=dict)
    comments: list[Comment] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    custody: dict[int, list[CustodyEntry]] = field(default_factory=dict)
    users: list[str] = field(default_factory=list)
    organizations: list[tuple[str, str]] = field(default_factory=list)
    transitions: dict[str, list[str]] = field(default_factory=dict)
    custody_words: dict[str, Any] = field(default_factory=dict)
    status_words: dict[str, Any] = field(default_factory=dict)
    kind_words: dict[str, Any] = field(default_factory=dict)


def sections(case_id: int) -> dict[str, Any]:
    """The data of the partials of ``templates/case/`` for the incident page, as render_template
    keywords (``case_items`` and the forms). A fixed number of queries whatever the incident holds."""
    p = platform()
    orgs = visible_scope().recorded
    with p.db.session() as s:
        case = get_case(s, case_id, organizations=orgs)
        data = Sections(case_id=case.id)
        data.tasks = tasks.list_tasks(s, case.id)
        data.overdue = {t.id for t in data.tasks if tasks.is_overdue(t)}
        data.countermeasures = countermeasures.list_countermeasures(s, case.id)
        data.observables = list(case.observables)
        data.sightings = observables.sightings(s, case, data.observables, organizations=orgs)
        data.comments = comments.list_comments(s, case.id)
        data.attachments = attachments.list_attachments(s, case.id)
        data.custody = attachments.custody(s, [a.id for a in data.attachments])
        data.users = list(s.scalars(select(User.username).where(User.active.is_(True), User.deleted_at.is_(None),
                                                                 User.role.in_(STAFF_ROLES))
                                    .order_by(User.username)))
    data.organizations = [(o.id, o.name) for o in p.constituency.organizations]
    data.transitions = {k: sorted(v) for k, v in countermeasures.TRANSITIONS.items()}
    data.custody_words = dict(CUSTODY_WORDS)
    data.status_words = dict(CM_STATUS_CHOICES) | dict(TASK_STATUS_CHOICES)
    data.kind_words = dict(KIND_CHOICES)
    task_form = TaskForm()
    task_form.assignee.choices = [("", _("nobody")), *((u, u) for u in data.users)]
    cm_form = CountermeasureForm()
    cm_form.organization.choices = [("", _("the CERT")), *data.organizations]
    return {"case_items": data, "task_form": task_form, "countermeasure_form": cm_form,
            "countermeasure_status_form": CountermeasureStatusForm(), "observable_form": ObservableForm(),
            "observable_edit_form": ObservableEditForm(), "comment_form": CommentForm(),
            "attachment_form": AttachmentForm(), "button_form": ButtonForm()}


@bp.app_template_filter("item_time")
def item_time(moment: datetime | None) -> str:
    """A date and time in the reader's language, with its time zone."""
    if moment is None:
        return "—"
    return f"{format_datetime(tasks.aware(moment), 'medium')} {get_timezone()}"


def _back(case_id: int, anchor: str) -> ResponseReturnValue:
    return redirect(url_for("cases.show", case_id=case_id) + f"#{anchor}", 303)


def _due(text: str | None, zone: str | None) -> datetime | None:
    """A due date typed in the form (``YYYY-MM-DDTHH:MM``) in the time zone named beside it."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        tz = ZoneInfo((zone or "UTC").strip() or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(N_("Unknown time zone %(zone)s (for example UTC or Europe/Paris)."),
                           zone=(zone or "")[:60]) from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(N_("%(value)s is not a date and time."), value=text[:40]) from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


# ---- tasks ----------------------------------------------------------------------------------------

@bp.post("/tasks")
@requires("analyst")
def add_task(case_id: int) -> ResponseReturnValue:
    form = TaskForm()
    require_valid(form)
    with platform().db.session() as s:
        tasks.add_task(s, get_case(s, case_id, organizations=visible_scope().recorded), actor(),
                       form.title.data or "", form.description.data or "", assignee=form.assignee.data or None,
                       due_at=_due(form.due.data, form.timezone.data), remote_addr=remote_addr())
    return _back(case_id, "tasks")


@bp.post("/tasks/<int:task_id>")
@requires("analyst")
def edit_task(case_id: int, task_id: int) -> ResponseReturnValue:
    form = TaskForm()
    require_valid(form)
    with platform().db.session() as s:
        tasks.update_task(s, get_case(s, case_id, organizations=visible_scope().recorded), task_id, actor(),
                          title=form.title.data or "", description=form.description.data or "",
                          assignee=form.assignee.data or None, due_at=_due(form.due.data, form.timezone.data),
                          status=form.status.data or "open", remote_addr=remote_addr())
    return _back(case_id, "tasks")


@bp.post("/tasks/<int:task_id>/move/<direction>")
@requires("analyst")
def move_task(case_id: int, task_id: int, direction: str) -> ResponseReturnValue:
    require_valid(ButtonForm())
    if direction not in ("up", "down"):
        raise InvalidInput(N_("A task moves up or down."))
    with platform().db.session() as s:
        tasks.move_task(s, get_case(s, case_id, organizations=visible_scope().recorded), task_id, actor(),
                        offset=-1 if direction == "up" else 1)
    return _back(case_id, "tasks")


@bp.post("/tasks/<int:task_id>/delete")
@requires("analyst")
def delete_task(case_id: int, task_id: int) -> ResponseReturnValue:
    require_valid(ButtonForm())
    with platform().db.session() as s:
        tasks.delete_task(s, get_case(s, case_id, organizations=visible_scope().recorded), task_id, actor(),
                          remote_addr())
    return _back(case_id, "tasks")


# ---- countermeasures ------------------------------------------------------------------------------

@bp.post("/countermeasures")
@requires("analyst")
def add_countermeasure(case_id: int) -> ResponseReturnValue:
    form = CountermeasureForm()
    require_valid(form)
    with platform().db.session() as s:
        countermeasures.record_countermeasure(
            s, get_case(s, case_id, organizations=visible_scope().recorded), actor(), form.kind.data or "",
            form.target.data or "", constituency=platform().constituency, organization=form.organization.data,
            status=form.status.data or "proposed", comment=form.comment.data or "", remote_addr=remote_addr())
    return _back(case_id, "countermeasures")


@bp.post("/countermeasures/<int:cm_id>")
@requires("analyst")
def update_countermeasure(case_id: int, cm_id: int) -> ResponseReturnValue:
    form = CountermeasureStatusForm()
    require_valid(form)
    with platform().db.session() as s:
        countermeasures.change_status(s, get_case(s, case_id, organizations=visible_scope().recorded), cm_id,
                                      form.status.data or "", actor(), form.comment.data or "", remote_addr())
    return _back(case_id, "countermeasures")


@bp.post("/countermeasures/<int:cm_id>/delete")
@requires("analyst")
def delete_countermeasure(case_id: int, cm_id: int) -> ResponseReturnValue:
    require_valid(ButtonForm())
    with platform().db.session() as s:
        countermeasures.delete_countermeasure(s, get_case(s, case_id, organizations=visible_scope().recorded),
                                              cm_id, actor(), remote_addr())
    return _back(case_id, "countermeasures")


# ---- observables ----------------------------------------------------------------------------------

@bp.post("/observables")
@requires("analyst")
def add_observable(case_id: int) -> ResponseReturnValue:
    form = ObservableForm()
    require_valid(form)
    with platform().db.session() as s:
        observables.add_by_hand(s, get_case(s, case_id, organizations=visible_scope().recorded), actor(),
                                form.type.data or "", form.value.data or "", tlp=form.tlp.data,
                                ioc=bool(form.ioc.data), comment=form.comment.data or "", remote_addr=remote_addr())
    return _back(case_id, "observables")


@bp.post("/observables/<int:observable_id>")
@requires("analyst")
def edit_observable(case_id: int, observable_id: int) -> ResponseReturnValue:
    form = ObservableEditForm()
    require_valid(form)
    with platform().db.session() as s:
        observables.update_observable(s, get_case(s, case_id, organizations=visible_scope().recorded),
                                      observable_id, actor(), tlp=form.tlp.data or KEEP, pap=form.pap.data or KEEP,
                                      ioc=bool(form.ioc.data),
                                      comment=form.comment.data or "", remote_addr=remote_addr())
    return _back(case_id, "observables")


@bp.post("/observables/<int:observable_id>/delete")
@requires("analyst")
def remove_observable(case_id: int, observable_id: int) -> ResponseReturnValue:
    require_valid(ButtonForm())
    with platform().db.session() as s:
        observables.remove_observable(s, get_case(s, case_id, organizations=visible_scope().recorded),
                                      observable_id, actor(), remote_addr())
    return _back(case_id, "observables")


@bp.get("/observables/<int:observable_id>/sightings")
@requires("analyst")
def observable_sightings(case_id: int, observable_id: int) -> ResponseReturnValue:
    """Where else an observable was seen, the stored events counted (read on request: it reads
    the event store)."""
    orgs = visible_scope().recorded
    with platform().db.session() as s:
        case = get_case(s, case_id, organizations=orgs)
        obs = observables.get_observable(s, case, observable_id)
        seen = observables.sightings(s, case, [obs], organizations=orgs)[obs.id]
        counted = observables.event_sightings(platform().events, obs)
    return render_template("case/sightings.html", case=case, observable=obs, seen=seen, counted=counted)


# ---- comments -------------------------------------------------------------------------------------

@bp.post("/comments")
@requires("analyst")
def add_comment(case_id: int) -> ResponseReturnValue:
    form = CommentForm()
    require_valid(form)
    with platform().db.session() as s:
        comments.add_comment(s, get_case(s, case_id, organizations=visible_scope().recorded), actor(),
                             form.text.data or "", remote_addr())
    return _back(case_id, "comments")


@bp.post("/comments/<int:comment_id>")
@requires("analyst")
def edit_comment(case_id: int, comment_id: int) -> ResponseReturnValue:
    form = CommentForm()
    require_valid(form)
    with platform().db.session() as s:
        comments.edit_comment(s, get_case(s, case_id, organizations=visible_scope().recorded), comment_id,
                              actor(), form.text.data or "", remote_addr())
    return _back(case_id, "comments")


@bp.post("/comments/<int:comment_id>/delete")
@requires("analyst")
def delete_comment(case_id: int, comment_id: int) -> ResponseReturnValue:
    require_valid(ButtonForm())
    with platform().db.session() as s:
        comments.delete_comment(s, get_case(s, case_id, organizations=visible_scope().recorded), comment_id,
                                actor(), str(current_user.role), remote_addr())
    return _back(case_id, "comments")


# ---- attachments ----------------------------------------------------------------------------------

@bp.post("/attachments")
@requires("analyst")
def upload_attachment(case_id: int) -> ResponseReturnValue:
    """A file for the incident: stored outside the web root, hashed, scanned with YARA; the result
    on the timeline, its custody started."""
    form = AttachmentForm()
    require_valid(form)
    upload = form.file.data
    done = attachments.attach(platform(), case_id, upload.filename or "", upload.stream, actor(), remote_addr(),
                              tlp=form.tlp.data or None, organizations=visible_scope().recorded)
    r = done.outcome.result
    if r.error:
        flash(_("File stored; the YARA scan failed: %(error)s", error=r.error), "error")
    elif r.matches:
        flash(_("File stored; YARA rules matched: %(rules)s.", rules=", ".join(m.rule for m in r.matches)), "error")
    else:
        flash(_("File stored; no YARA rule matched."), "ok")
    return _back(case_id, "attachments")


@bp.get("/attachments/<int:attachment_id>/download")
@requires("analyst")
def download_attachment(case_id: int, attachment_id: int) -> ResponseReturnValue:
    """The file, as a download; recorded in its chain of custody (refused, and recorded, when its
    SHA-256 no longer matches)."""
    return file_response(attachments.open_download(platform(), case_id, attachment_id, actor(), remote_addr(),
                                                   organizations=visible_scope().recorded))


@bp.post("/attachments/<int:attachment_id>/delete")
@requires("analyst")
def remove_attachment(case_id: int, attachment_id: int) -> ResponseReturnValue:
    require_valid(ButtonForm())
    with platform().db.session() as s:
        attachments.remove_attachment(s, get_case(s, case_id, organizations=visible_scope().recorded),
                                      attachment_id, actor(), remote_addr())
    return _back(case_id, "attachments")
