"""The alert queue, an alert with its evidence, promotion to a case."""

from __future__ import annotations

import json

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from cert.core.errors import Conflict
from cert.core.tlp import TLP
from cert.detection import alerts
from cert.incidents.cases import promote_alert, tlp_raisers
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
        case_id, raised_to, sources = open_case(alert_id, form.title.data or None, form.tlp.data or "amber")
    except Conflict as exc:
        case_id = int(str(exc.details["case_id"]))
        flash(_("Alert #%(alert)s is already in case #%(case)s: the title and TLP you chose were not applied.",
                alert=alert_id, case=case_id), "warning")
        return redirect(url_for("cases.show", case_id=case_id), 303)
    flash(_("Case #%(id)s opened.", id=case_id), "ok")
    if raised_to is not None:
        flash(_("TLP raised to %(tlp)s because of the indicator from %(sources)s.", tlp=raised_to.label,
                sources=", ".join(sources)), "warning")
    return redirect(url_for("cases.show", case_id=case_id), 303)


def open_case(alert_id: int, title: str | None, tlp: str) -> tuple[int, TLP | None, list[str]]:
    """Open a case from an alert (console and API): (case id, the TLP it was raised to or None,
    the indicator sources that raised it). Conflict when the alert is already in a case."""
    p = platform()
    chosen = TLP.parse(tlp)
    with p.db.session() as s:
        alert = alerts.get_alert(s, alert_id)
        evidence = p.events.get(alert.event_ids)
        case = promote_alert(s, alert, evidence, actor(), p.constituency, title=title, tlp=chosen.tag_value)
        label = TLP.parse(case.tlp)
        raised = label if label is not chosen else None
        return case.id, raised, tlp_raisers(alert, chosen) if raised else []
