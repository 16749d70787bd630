"""Notifications to the constituency in the console and the API: the queue with each message's
state and last error and a button to send a failed one again, the "notify the organisation"
action of an incident, advisories (write, list, read), and the public page a signed
acknowledgement link opens (``/ack/<token>``: GET shows what is acknowledged, POST acknowledges).

Analysts only (a focal point sees none of it); an organisation-bound token sees its
organisation's messages only."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from cert.core.errors import N_, InvalidInput
from cert.incidents.acks import acknowledge, acknowledgement
from cert.incidents.cases import get_case
from cert.notify import (
    AdvisoryDraft,
    create_advisory,
    get_advisory,
    get_notification,
    list_advisories,
    list_notifications,
    notify_incident,
    read_ack_token,
    retry,
)
from cert.notify.queue import STATES
from cert.storage.models import Advisory, Case, Notification
from web.access import actor, platform, remote_addr, requires, visible_scope
from web.api import page_json
from web.api_auth import api_scope
from web.api_spec import Response, body, iso, query, spec
from web.forms import require_valid
from web.incident_forms import ButtonForm
from web.reports_console import when
from web.schemas.notifications import (
    AdvisoryIn,
    AdvisoryOut,
    AdvisoryPage,
    NotificationList,
    NotificationOut,
    NotificationPage,
    NotificationQuery,
)

bp = Blueprint("notifications", __name__)
api = Blueprint("notifications_api", __name__, url_prefix="/api/v1")
ack = Blueprint("ack", __name__)

TAGS = ["notifications"]
PAGE = 50


def notification_json(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "kind": n.kind, "state": n.state, "case_id": n.case_id, "advisory_id": n.advisory_id,
            "ticket": n.ticket, "organization": n.organization, "organization_name": n.organization_name,
            "recipient_name": n.recipient_name, "recipient_email": n.recipient_email,
            "recipient_role": n.recipient_role, "language": n.language, "tlp": n.tlp, "subject": n.subject,
            "escalation_step": n.escalation_step, "attempts": n.attempts, "last_error": n.last_error,
            "next_attempt_at": iso(n.next_attempt_at), "created_at": iso(n.created_at), "sent_at": iso(n.sent_at)}


def advisory_json(a: Advisory) -> dict[str, Any]:
    return {"id": a.id, "title_fr": a.title_fr, "title_en": a.title_en, "body_fr": a.body_fr, "body_en": a.body_en,
            "tlp": a.tlp, "organizations": list(a.organizations), "sectors": list(a.sectors),
            "recipients": a.recipients, "created_by": a.created_by, "created_at": iso(a.created_at)}


class AdvisoryForm(FlaskForm):
    title_fr = StringField(_l("Title (French)"), validators=[DataRequired(), Length(max=300)])
    title_en = StringField(_l("Title (English)"), validators=[DataRequired(), Length(max=300)])
    body_fr = TextAreaField(_l("Text (French)"), validators=[DataRequired(), Length(max=100_000)])
    body_en = TextAreaField(_l("Text (English)"), validators=[DataRequired(), Length(max=100_000)])
    tlp = SelectField(_l("TLP"), choices=[("clear", "TLP:CLEAR"), ("green", "TLP:GREEN"), ("amber", "TLP:AMBER"),
                                          ("amber+strict", "TLP:AMBER+STRICT")], default="clear")
    organizations = SelectMultipleField(_l("Organisations"), choices=[], validate_choice=True)
    sectors = SelectMultipleField(_l("Sectors"), choices=[], validate_choice=True)


def advisory_form() -> AdvisoryForm:
    form = AdvisoryForm()
    orgs = platform().constituency.organizations
    form.organizations.choices = [(o.id, o.name) for o in orgs]
    form.sectors.choices = [(x, x) for x in sorted({o.sector for o in orgs if o.sector})]
    return form


# ---- console -----------------------------------------------------------------------------------

@bp.get("/notifications")
@requires("analyst")
def index() -> ResponseReturnValue:
    state = request.args.get("state") or None
    if state not in (None, *STATES):
        raise InvalidInput(N_("Unknown notification state %(state)s."), state=str(state)[:20])
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    with platform().db.session() as s:
        total, rows = list_notifications(s, state=state, limit=PAGE, offset=(page - 1) * PAGE)
        items = [notification_json(r) | {"created": when(r.created_at), "next": when(r.next_attempt_at)}
                 for r in rows]
    return render_template("notifications.html", items=items, total=total, state=state, states=STATES, page=page,
                           pages=max((total + PAGE - 1) // PAGE, 1), button=ButtonForm())


@bp.post("/notifications/<int:notification_id>/retry")
@requires("analyst")
def retry_one(notification_id: int) -> ResponseReturnValue:
    require_valid(ButtonForm())
    with platform().db.session() as s:
        retry(s, notification_id, actor(), remote_addr())
    flash(_("Notification %(id)s will be sent again.", id=notification_id), "ok")
    return redirect(url_for("notifications.index"))


@bp.post("/cases/<int:case_id>/notify")
@requires("responder")
def notify_case(case_id: int) -> ResponseReturnValue:
    require_valid(ButtonForm())
    with platform().db.session() as s:
        rows = notify_incident(s, platform(), get_case(s, case_id, organizations=visible_scope().recorded), actor(),
                               remote_addr=remote_addr())
        count = len(rows)
    flash(_("%(count)s notification(s) queued for the organisation's focal points.", count=count), "ok")
    return redirect(url_for("cases.show", case_id=case_id))


@bp.get("/advisories")
@requires("analyst")
def advisories() -> ResponseReturnValue:
    with platform().db.session() as s:
        total, rows = list_advisories(s, limit=200)
        items = [advisory_json(a) | {"created": when(a.created_at)} for a in rows]
    return render_template("advisories.html", items=items, total=total)


@bp.route("/advisories/new", methods=["GET", "POST"])
@requires("analyst")
def new_advisory() -> ResponseReturnValue:
    form = advisory_form()
    if request.method == "POST":
        require_valid(form)
        draft = AdvisoryDraft(form.title_fr.data or "", form.title_en.data or "", form.body_fr.data or "",
                              form.body_en.data or "", form.tlp.data or "clear",
                              tuple(form.organizations.data or ()), tuple(form.sectors.data or ()))
        with platform().db.session() as s:
            advisory, rows = create_advisory(s, platform(), draft, actor(), remote_addr())
            advisory_id = advisory.id
        flash(_("Advisory queued for %(count)s contact(s).", count=len(rows)), "ok")
        return redirect(url_for("notifications.show_advisory", advisory_id=advisory_id))
    return render_template("advisory_new.html", form=form)


@bp.get("/advisories/<int:advisory_id>")
@requires("analyst")
def show_advisory(advisory_id: int) -> ResponseReturnValue:
    with platform().db.session() as s:
        row = get_advisory(s, advisory_id)
        advisory, created = advisory_json(row), when(row.created_at)
        sent = [notification_json(r) for r in s.scalars(
            select(Notification).where(Notification.advisory_id == advisory_id).order_by(Notification.id))]
    return render_template("advisory.html", advisory=advisory, created=created, notifications=sent)


# ---- API ---------------------------------------------------------------------------------------

@api.get("/notifications")
@requires("analyst")
@api_scope("read")
@spec.validate(query=NotificationQuery, resp=Response(HTTP_200=NotificationPage), tags=TAGS)
def api_list() -> ResponseReturnValue:
    """Notifications, the most recent first: each message with its recipient, state, attempts,
    last error and next attempt; filters ``state`` and ``case_id``."""
    q = query(NotificationQuery)
    with platform().db.session() as s:
        total, rows = list_notifications(s, state=q.state, case_id=q.case_id,
                                         organizations=visible_scope().recorded, limit=q.limit, offset=q.offset)
        return jsonify(page_json([notification_json(r) for r in rows], total, q.offset, q.limit))


@api.post("/notifications/<int:notification_id>/retry")
@requires("analyst")
@api_scope("write")
@spec.validate(resp=Response(HTTP_200=NotificationOut), tags=TAGS)
def api_retry(notification_id: int) -> ResponseReturnValue:
    """Send a failed or dead message again now (409 for a message queued, sending or sent)."""
    with platform().db.session() as s:
        get_notification(s, notification_id, visible_scope().recorded)
        return jsonify(notification_json(retry(s, notification_id, actor(), remote_addr())))


@api.post("/incidents/<int:case_id>/notify")
@requires("responder")
@api_scope("write")
@spec.validate(resp=Response(HTTP_201=NotificationList), tags=TAGS)
def api_notify(case_id: int) -> ResponseReturnValue:
    """Notify the incident's organisation: a message to each of its focal points, queued; 201 with them."""
    with platform().db.session() as s:
        case: Case = get_case(s, case_id, organizations=visible_scope().recorded)
        rows = notify_incident(s, platform(), case, actor(), remote_addr=remote_addr())
        return jsonify({"items": [notification_json(r) for r in rows]}), 201


@api.get("/advisories")
@requires("analyst")
@api_scope("read")
@spec.validate(query=NotificationQuery, resp=Response(HTTP_200=AdvisoryPage), tags=TAGS)
def api_advisories() -> ResponseReturnValue:
    """Advisories sent, the most recent first."""
    q = query(NotificationQuery)
    with platform().db.session() as s:
        total, rows = list_advisories(s, limit=q.limit, offset=q.offset)
        return jsonify(page_json([advisory_json(a) for a in rows], total, q.offset, q.limit))


@api.get("/advisories/<int:advisory_id>")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=AdvisoryOut), tags=TAGS)
def api_advisory(advisory_id: int) -> ResponseReturnValue:
    """An advisory with its texts, TLP and audience."""
    with platform().db.session() as s:
        return jsonify(advisory_json(get_advisory(s, advisory_id)))


@api.post("/advisories")
@requires("analyst")
@api_scope("write")
@spec.validate(json=AdvisoryIn, resp=Response(HTTP_201=AdvisoryOut), tags=TAGS)
def api_create_advisory() -> ResponseReturnValue:
    """Write an advisory: it is kept and queued to the contacts of the organisations and sectors
    named, each in their language; 201 with it."""
    given = body(AdvisoryIn)
    draft = AdvisoryDraft(given.title_fr, given.title_en, given.body_fr, given.body_en, given.tlp,
                          tuple(given.organizations), tuple(given.sectors))
    with platform().db.session() as s:
        advisory, _rows = create_advisory(s, platform(), draft, actor(), remote_addr())
        return jsonify(advisory_json(advisory)), 201


# ---- the signed acknowledgement link (public) --------------------------------------------------

@ack.route("/ack/<token>", methods=["GET", "POST"])
def acknowledge_link(token: str) -> ResponseReturnValue:
    """The page a notification's link opens: GET shows the incident and organisation, POST (the
    confirmation form) acknowledges for that organisation."""
    claim = read_ack_token(platform().settings, token)
    org = platform().constituency.by_id(claim.organization)
    form = ButtonForm()
    with platform().db.session() as s:
        case = s.get(Case, claim.case_id)
        if case is None or org is None:
            raise InvalidInput(N_("This acknowledgement link is not valid."))
        done = acknowledgement(s, case.id, org.id) is not None
        if request.method == "POST":
            require_valid(form)
            acknowledge(s, case, org.id, f"link:{org.id}", "link", organization_name=org.name,
                        remote_addr=remote_addr())
            done = True
        ticket = f"VIGIE#{case.id}"
    return render_template("ack.html", ticket=ticket, organization=org.name, done=done, form=form)
