"""The alert queue, an alert with its evidence, promotion to a case."""

from __future__ import annotations

import json

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from cert.core.errors import Conflict
from cert.detection import alerts
from cert.incidents.cases import open_case
from web.access import actor, platform, remote_addr, requires
from web.forms import AcknowledgeForm, PromoteForm
from web.paging import Pager

bp = Blueprint("alerts", __name__, url_prefix="/alerts")


@bp.get("/")
@requires("analyst")
def queue() -> ResponseReturnValue:
    status = request.args.get("status") or None
    with platform().db.session() as s:
        pager = Pager.from_request(alerts.count(s, status))
        items = alerts.queue(s, status=status, limit=pager.per_page, offset=pager.offset)
    return render_template("alerts.html", alerts=items, status=status, pager=pager)


@bp.get("/<int:alert_id>")
@requires("analyst")
def show(alert_id: int) -> ResponseReturnValue:
    p = platform()
    with p.db.session() as s:
        alert = alerts.get_alert(s, alert_id)
    evidence = p.events.get(alert.event_ids)
    pretty = [json.dumps(e, indent=2, ensure_ascii=False, sort_keys=True) for e in evidence]
    return render_template("alert.html", alert=alert, evidence=zip(evidence, pretty, strict=True),
                           form=PromoteForm(title=alert.rule_title), ack_form=AcknowledgeForm())


@bp.post("/<int:alert_id>/acknowledge")
@requires("analyst")
def acknowledge(alert_id: int) -> ResponseReturnValue:
    form = AcknowledgeForm()
    if not form.validate_on_submit():
        flash(_("Invalid form: %(errors)s", errors=form.errors), "error")
        return redirect(url_for("alerts.show", alert_id=alert_id)), 303
    with platform().db.session() as s:
        changed = alerts.acknowledge(s, alerts.get_alert(s, alert_id), actor(), remote_addr())
    flash(_("Alert acknowledged.") if changed else _("This alert was no longer new: nothing changed."), "ok")
    return redirect(url_for("alerts.show", alert_id=alert_id)), 303


@bp.post("/<int:alert_id>/promote")
@requires("analyst")
def promote(alert_id: int) -> ResponseReturnValue:
    form = PromoteForm()
    if not form.validate_on_submit():
        flash(_("Invalid form: %(errors)s", errors=form.errors), "error")
        return redirect(url_for("alerts.show", alert_id=alert_id)), 303
    try:
        opened = open_case(platform(), alert_id, actor(), form.title.data or None, form.tlp.data or "amber")
    except Conflict as exc:
        case_id = int(str(exc.details["case_id"]))
        flash(_("Alert #%(alert)s is already in case #%(case)s: the title and TLP you chose were not applied.",
                alert=alert_id, case=case_id), "warning")
        return redirect(url_for("cases.show", case_id=case_id), 303)
    flash(_("Case #%(id)s opened.", id=opened.case_id), "ok")
    if opened.raised_to is not None:
        flash(_("TLP raised to %(tlp)s because of the indicator from %(sources)s.", tlp=opened.raised_to.label,
                sources=", ".join(opened.raised_by)), "warning")
    return redirect(url_for("cases.show", case_id=opened.case_id), 303)
