"""Console actions of alert triage, each an explicit POST with its CSRF token: one action on the
alerts ticked in the queue (acknowledge, assign, unassign, close with a reason, reopen, add to an
incident, open one incident from them), and saving or deleting a filter of the queue. Each
answers with a redirect to the queue as it was filtered."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime, get_locale, get_timezone
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from cert.accounts.access import has_role
from cert.core.errors import N_, InvalidInput
from cert.detection import saved_filters, triage, triage_actions
from cert.incidents import cases as case_service
from cert.incidents import from_alerts
from cert.incidents.templates import list_templates, name_in
from web.access import actor, platform, remote_addr, requires, visible_scope
from web.forms import TLP_CHOICES

bp = Blueprint("triage", __name__, url_prefix="/alerts")

CLOSE_CHOICES = [("false-positive", _l("false positive")), ("benign", _l("benign")), ("duplicate", _l("duplicate")),
                 ("true-positive", _l("true positive"))]
#: the buttons of the bulk form: the action each one names
ACTIONS = ("acknowledge", "assign", "unassign", "close", "reopen", "link", "open")
MAX_SELECTED = 500
#: the ATT&CK Enterprise tactics, as the filter offers them
TACTICS = [("reconnaissance", _l("Reconnaissance")), ("resource_development", _l("Resource Development")),
           ("initial_access", _l("Initial Access")), ("execution", _l("Execution")),
           ("persistence", _l("Persistence")), ("privilege_escalation", _l("Privilege Escalation")),
           ("defense_evasion", _l("Defense Evasion")), ("credential_access", _l("Credential Access")),
           ("discovery", _l("Discovery")), ("lateral_movement", _l("Lateral Movement")),
           ("collection", _l("Collection")), ("command_and_control", _l("Command and Control")),
           ("exfiltration", _l("Exfiltration")), ("impact", _l("Impact"))]


class BulkForm(FlaskForm):
    """The action buttons under the queue; the ticked alerts come as ``ids``."""

    back = HiddenField()
    assignee = StringField(_l("Assign to"), validators=[Length(max=80)])
    reason = SelectField(_l("Reason"), choices=CLOSE_CHOICES, default="false-positive")
    comment = StringField(_l("Comment"), validators=[Length(max=2000)])
    case_id = IntegerField(_l("Incident #"), validators=[Optional(), NumberRange(min=1, max=2**63 - 1)])
    title = StringField(_l("Incident title"), validators=[Length(max=300)])
    tlp = SelectField("TLP", choices=TLP_CHOICES, default="amber")
    # the incident templates (set by the view; the service checks the key)
    template = SelectField(_l("Template"), choices=[("", "—")], default="", validate_choice=False)

    def fill_templates(self, s: Session, lang: str) -> BulkForm:
        self.template.choices = [("", "—")] + [(t.key, name_in(t, lang)) for t in list_templates(s)]
        return self


class SaveFilterForm(FlaskForm):
    back = HiddenField()
    name = StringField(_l("Filter name"), validators=[DataRequired(), Length(max=100)])
    shared = BooleanField(_l("Shared with every analyst"))


class DeleteFilterForm(FlaskForm):
    back = HiddenField()


@bp.app_template_filter("when")
def when(value: datetime | None) -> str:
    """A date and time in the reader's format, with its time zone."""
    if value is None:
        return "—"
    return f"{format_datetime(value, 'short')} {get_timezone()}"


def queue_args(back: str) -> MultiDict[str, str]:
    """The queue's filter parameters carried by a form (its query string), without the page."""
    args: MultiDict[str, str] = MultiDict(parse_qsl(back[:4000].lstrip("?"), keep_blank_values=False))
    args.poplist("page")
    return args


def back_to_queue(back: str) -> ResponseReturnValue:
    """Back to the queue as it was filtered; to the alert's page when the action came from there."""
    origin = request.form.get("from_alert", "")
    if origin.isdigit() and len(origin) <= 18:
        return redirect(url_for("alerts.show", alert_id=int(origin)), 303)
    args: dict[str, Any] = queue_args(back).to_dict(flat=False)
    return redirect(url_for("alerts.queue", **args), 303)


def _selected() -> list[int]:
    ids: list[int] = []
    for raw in request.form.getlist("ids"):
        if not raw.strip().isdigit() or len(raw.strip()) > 18:
            raise InvalidInput(N_("%(name)s must be a whole number."), name="ids")
        ids.append(int(raw))
    if len(ids) > MAX_SELECTED:
        raise InvalidInput(N_("Select at most %(max)s alerts."), max=MAX_SELECTED)
    return ids


def _done(action: str, n: int) -> str:
    texts = {
        "acknowledge": _("Alerts acknowledged: %(num)s.", num=n),
        "assign": _("Alerts assigned: %(num)s.", num=n),
        "unassign": _("Alerts unassigned: %(num)s.", num=n),
        "close": _("Alerts closed: %(num)s.", num=n),
        "reopen": _("Alerts reopened: %(num)s.", num=n),
    }
    return str(texts[action])


@bp.post("/bulk")
@requires("analyst")
def bulk() -> ResponseReturnValue:
    form = BulkForm()
    back = form.back.data or ""
    if not form.validate_on_submit():
        flash(_("Invalid form: %(errors)s", errors=form.errors), "error")
        return back_to_queue(back)
    action = request.form.get("action", "")
    if action not in ACTIONS:
        raise InvalidInput(N_("Unknown action %(action)s."), action=action[:40])
    ids = _selected()
    if not ids:
        flash(_("Select at least one alert."), "warning")
        return back_to_queue(back)
    p, who, addr, orgs = platform(), actor(), remote_addr(), visible_scope().recorded
    with p.db.session() as s:
        chosen = triage.by_ids(s, ids, orgs)
        if action == "open":
            case = from_alerts.open_incident(s, chosen, who, p.events.get, p.constituency,
                                             title=form.title.data or "", tlp=form.tlp.data or "amber",
                                             template=form.template.data or "", lang=str(get_locale() or "fr"),
                                             remote_addr=addr)
            flash(_("Incident #%(id)s opened from %(num)s alerts.", id=case.id, num=len(chosen)), "ok")
            return redirect(url_for("cases.show", case_id=case.id), 303)
        if action == "link":
            if not form.case_id.data:
                raise InvalidInput(N_("Give the number of the incident to add the alerts to."))
            case = case_service.get_case(s, int(form.case_id.data), organizations=orgs)
            linked = from_alerts.add_to_incident(s, case, chosen, who, p.events.get, p.constituency,
                                                 remote_addr=addr)
            flash(_("%(num)s alert(s) added to incident #%(id)s.", num=len(linked.added), id=case.id), "ok")
            if linked.skipped:
                flash(_("Already in an incident, left out: %(alerts)s.",
                        alerts=", ".join(f"#{a} (#{c})" for a, c in linked.skipped.items())), "warning")
            return redirect(url_for("cases.show", case_id=case.id), 303)
        if action == "acknowledge":
            result = triage_actions.acknowledge(s, chosen, who, addr)
        elif action == "assign":
            result = triage_actions.assign(s, chosen, (form.assignee.data or "").strip(), who, addr)
        elif action == "unassign":
            result = triage_actions.assign(s, chosen, None, who, addr)
        elif action == "close":
            result = triage_actions.close(s, chosen, form.reason.data or "", who, form.comment.data or "", addr)
        else:
            result = triage_actions.reopen(s, chosen, who, addr)
    flash(_done(action, len(result.changed)), "ok")
    if result.skipped:
        left = ", ".join(f"#{i} ({_(reason)})" for i, reason in result.skipped.items())
        flash(_("Left as they were: %(alerts)s.", alerts=left), "warning")
    return back_to_queue(back)


@bp.post("/filters")
@requires("analyst")
def save_filter() -> ResponseReturnValue:
    form = SaveFilterForm()
    back = form.back.data or ""
    if not form.validate_on_submit():
        flash(_("Invalid form: %(errors)s", errors=form.errors), "error")
        return back_to_queue(back)
    wanted = triage.AlertFilter.from_args(queue_args(back).to_dict(flat=False))
    with platform().db.session() as s:
        saved = saved_filters.save(s, actor(), form.name.data or "", wanted, shared=bool(form.shared.data),
                                   remote_addr=remote_addr())
        flash(_("Filter %(name)s saved.", name=saved.name), "ok")
    return back_to_queue(back)


@bp.post("/filters/<int:filter_id>/delete")
@requires("analyst")
def delete_filter(filter_id: int) -> ResponseReturnValue:
    form = DeleteFilterForm()
    back = form.back.data or ""
    if not form.validate_on_submit():
        flash(_("Invalid form: %(errors)s", errors=form.errors), "error")
        return back_to_queue(back)
    with platform().db.session() as s:
        saved_filters.delete(s, filter_id, actor(), admin=has_role(str(current_user.role), "admin"),
                             remote_addr=remote_addr())
    flash(_("Saved filter deleted."), "ok")
    return back_to_queue(back)
