"""The focal-point portal (``/portal/``): a ministry's focal point (or deputy) reads the incidents
that concern its organisation and those under it, each as far as its TLP allows
(``cert.sharing.portal``), and acknowledges, comments, sends evidence and answers the
countermeasures requested of it. CERT staff work in the console and are refused here (403); an
incident outside the reader's organisations does not exist for it (404). The same actions are
in the REST API (``web.portal_api``)."""

from __future__ import annotations

from typing import IO

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from cert.accounts.access import FOCAL_POINT, TOKEN_ROLE
from cert.constituency.directory import Organization
from cert.core.errors import N_, Forbidden
from cert.incidents import acks, attachments, comments, countermeasures
from cert.incidents.cases import STATUSES
from cert.sharing import portal
from cert.storage.models import CaseAcknowledgement, Comment, Countermeasure
from web.access import actor, platform, remote_addr, requires
from web.forms import require_valid

bp = Blueprint("portal", __name__, url_prefix="/portal")

PAGE = 50


class CommentForm(FlaskForm):
    text = TextAreaField(_l("Comment"), validators=[DataRequired(), Length(max=comments.MAX_BODY)])


class EvidenceForm(FlaskForm):
    file = FileField(_l("File"), validators=[FileRequired()])


class AnswerForm(FlaskForm):
    status = SelectField(_l("Answer"), choices=[("done", _l("done")), ("impossible", _l("impossible"))])
    reason = TextAreaField(_l("Reason (required when impossible)"),
                           validators=[Length(max=countermeasures.MAX_COMMENT)])


class ButtonForm(FlaskForm):
    """A button: the CSRF token only."""


# ---- what the console and the API share ----------------------------------------------------------

def reader() -> portal.Reader:
    """The portal's reader: a focal point, or an API token bound to an organisation (NotFound when
    bound to none); CERT staff and partners are refused."""
    role = str(getattr(current_user, "role", ""))
    if role == FOCAL_POINT or (role == TOKEN_ROLE and not getattr(current_user, "partner", None)):
        return portal.Reader.of(getattr(current_user, "organization", None), platform().constituency)
    raise Forbidden(N_("The portal is for the focal points of the constituency's organisations; CERT staff work "
                       "in the console."))


def acknowledge(case_id: int, via: str) -> tuple[CaseAcknowledgement, bool, Organization]:
    """The reader's organisation acknowledges the incident: (the acknowledgement, whether it is new,
    the organisation it is recorded for)."""
    who, p = reader(), platform()
    with p.db.session() as s:
        case = portal.get_incident(s, case_id, who)
        org = portal.acting_for(case, who, p.constituency)
        row, new = acks.acknowledge(s, case, org.id, actor(), via, organization_name=org.name,
                                    remote_addr=remote_addr())
        s.flush()
        s.expunge(row)
        return row, new, org


def comment(case_id: int, text: str) -> Comment:
    who = reader()
    with platform().db.session() as s:
        case = portal.get_incident(s, case_id, who)
        found = comments.add_organization_comment(s, case, actor(), who.organization.name, text, remote_addr())
        s.flush()
        s.expunge(found)
        return found


def upload(case_id: int, filename: str, stream: IO[bytes]) -> attachments.Upload:
    """Evidence from the organisation: kept as an attachment (SHA-256, chain of custody) with the
    incident's TLP, scanned with YARA; a match is an alert on the incident for the analysts."""
    return attachments.attach(platform(), case_id, filename, stream, actor(), remote_addr(),
                              organizations=reader().recorded)


def answer(case_id: int, cm_id: int, status: str, reason: str) -> Countermeasure:
    who = reader()
    with platform().db.session() as s:
        case = portal.get_incident(s, case_id, who)
        cm = portal.requested_countermeasure(s, case, cm_id, who)
        countermeasures.answer_request(s, case, cm, status, actor(), reason, remote_addr())
        s.flush()
        s.expunge(cm)
        return cm


# ---- pages -----------------------------------------------------------------------------------------

@bp.get("/")
@requires("admin", focal_points=True)
def index() -> ResponseReturnValue:
    """The incidents of the reader's organisations: status, severity, TLP, acknowledged or not."""
    who = reader()
    status = request.args.get("status", "")
    if status not in STATUSES:
        status = ""
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    with platform().db.session() as s:
        items, total = portal.incidents(s, who, platform().constituency, limit=PAGE, offset=(page - 1) * PAGE,
                                        status=status)
        return render_template("portal/index.html", items=items, total=total, page=page, pages=-(-total // PAGE),
                               status=status, statuses=STATUSES, organization=who.organization)


@bp.get("/incidents/<int:case_id>")
@requires("admin", focal_points=True)
def incident(case_id: int) -> ResponseReturnValue:
    """One incident, as far as each item's TLP allows, with the forms of what the reader may do."""
    who = reader()
    with platform().db.session() as s:
        seen = portal.view(s, case_id, who, platform().constituency)
        return render_template("portal/incident.html", seen=seen, case=seen.case, organization=who.organization,
                               comment_form=CommentForm(), evidence_form=EvidenceForm(), answer_form=AnswerForm(),
                               button_form=ButtonForm(), answerable=countermeasures.ANSWERABLE)


def _back(case_id: int, anchor: str = "") -> ResponseReturnValue:
    return redirect(url_for("portal.incident", case_id=case_id) + (f"#{anchor}" if anchor else ""), 303)


@bp.post("/incidents/<int:case_id>/acknowledge")
@requires("admin", focal_points=True)
def acknowledge_incident(case_id: int) -> ResponseReturnValue:
    require_valid(ButtonForm())
    row, new, org = acknowledge(case_id, "portal")
    if new:
        flash(_("Incident #%(id)s acknowledged for %(organization)s.", id=case_id, organization=org.name), "ok")
    else:
        flash(_("Incident #%(id)s was already acknowledged for %(organization)s by %(who)s.", id=case_id,
                organization=org.name, who=row.acknowledged_by), "ok")
    return _back(case_id)


@bp.post("/incidents/<int:case_id>/comments")
@requires("admin", focal_points=True)
def add_comment(case_id: int) -> ResponseReturnValue:
    form = CommentForm()
    require_valid(form)
    comment(case_id, form.text.data or "")
    flash(_("Your comment is on the incident's timeline."), "ok")
    return _back(case_id, "portal-timeline")


@bp.post("/incidents/<int:case_id>/evidence")
@requires("admin", focal_points=True)
def add_evidence(case_id: int) -> ResponseReturnValue:
    form = EvidenceForm()
    require_valid(form)
    sent = form.file.data
    done = upload(case_id, sent.filename or "", sent.stream)
    flash(_("Evidence received (SHA-256 %(sha256)s): the CERT's analysts will examine it.",
            sha256=done.outcome.result.sha256), "ok")
    return _back(case_id, "portal-evidence")


@bp.post("/incidents/<int:case_id>/countermeasures/<int:cm_id>/answer")
@requires("admin", focal_points=True)
def answer_countermeasure(case_id: int, cm_id: int) -> ResponseReturnValue:
    form = AnswerForm()
    require_valid(form)
    status = form.status.data or ""
    answer(case_id, cm_id, status, form.reason.data or "")
    flash(_("Countermeasure #%(id)s marked %(status)s.", id=cm_id, status=_(status)), "ok")
    return _back(case_id, "portal-countermeasures")
