"""The alert queue, an alert with its evidence, promotion to a case."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import Session

from cert.accounts.access import has_role
from cert.core.errors import Conflict, InvalidInput
from cert.detection import alerts, saved_filters, triage
from cert.detection.anomaly_state import mark_alert_benign
from cert.incidents.cases import open_case
from web.access import actor, platform, remote_addr, requires, visible_scope
from web.forms import AcknowledgeForm, BenignForm, PromoteForm
from web.paging import PER_PAGE, Pager
from web.reports_console import FromAlertForm
from web.triage import TACTICS, BulkForm, DeleteFilterForm, SaveFilterForm

bp = Blueprint("alerts", __name__, url_prefix="/alerts")


@bp.get("/")
@requires("analyst")
def queue() -> ResponseReturnValue:
    """The triage queue: filtered, sorted and paged on the server, or grouped by source address or
    by rule (``view=source`` / ``view=rule``); ``saved=<id>`` applies a saved filter."""
    me = actor()
    orgs = visible_scope().recorded
    with platform().db.session() as s:
        if request.args.get("saved", "").isdigit():
            saved = saved_filters.get(s, int(request.args["saved"]), me)
            args: dict[str, Any] = saved_filters.as_filter(saved).to_args()
            return redirect(url_for("alerts.queue", **args), 303)
        wanted = triage.AlertFilter.from_args(request.args.to_dict(flat=False), me=me)
        view = request.args.get("view", "")
        groups: list[triage.Group] = []
        items = []
        window = request.args.get("window", "")
        grouped = wanted
        window_error = ""
        if view in triage.GROUPINGS:
            try:
                grouped = triage.group_window(wanted, window)
            except InvalidInput as exc:
                window_error = str(_(exc.message_id, **exc.params))
                pager = Pager.from_request(0)
            else:
                pager, groups = _group_page(s, grouped, view, orgs)
        else:
            view = ""
            at_most = None if triage.count_is_cheap(wanted) else Pager.counted_to(at_least=triage.COUNT_LIMIT)
            counted = triage.count(s, wanted, organizations=orgs, at_most=at_most)
            pager = Pager.from_request(counted, at_most=at_most)
            exact = counted if at_most is None or counted <= at_most else None
            items = triage.search(s, wanted, limit=pager.per_page, offset=pager.offset, organizations=orgs,
                                  total=exact)
        mine = saved_filters.visible(s, me)
        back = urlencode(wanted.to_args(), doseq=True)
        return render_template(
            "alerts.html", alerts=items, groups=groups, view=view, pager=pager, f=wanted, saved=mine,
            grouped=grouped, window=window, windows=triage.GROUP_WINDOWS, window_error=window_error,
            max_days=triage.MAX_GROUP_SPAN.days,
            back=back, severities=triage.SEVERITIES, statuses=triage.STATUSES, tactics=TACTICS,
            bulk_form=BulkForm(back=back).fill_templates(s, str(get_locale() or "fr")),
            save_form=SaveFilterForm(back=back),
            delete_form=DeleteFilterForm(back=back), is_admin=has_role(str(current_user.role), "admin"),
            sort_url=lambda key: _sort_url(wanted, key, view),
        ), 400 if window_error else 200


def _group_page(s: Session, f: triage.AlertFilter, view: str, orgs: frozenset[str] | None,
                ) -> tuple[Pager, list[triage.Group]]:
    """The page of groups ``?page=N`` asks for; past the last page, the last page."""
    asked = Pager(max(request.args.get("page", 1, type=int) or 1, 1), PER_PAGE, 0)
    groups, total = triage.groups(s, f, view, limit=asked.per_page, offset=asked.offset, organizations=orgs)
    pager = Pager.from_request(total)
    if pager.offset != asked.offset:
        groups, total = triage.groups(s, f, view, limit=pager.per_page, offset=pager.offset, organizations=orgs)
    return pager, groups


def _sort_url(wanted: triage.AlertFilter, key: str, view: str) -> str:
    """The queue sorted by ``key``: descending first, ascending when it is already so sorted."""
    args: dict[str, Any] = wanted.to_args()
    descending = not (wanted.sort == key and wanted.descending)
    args["sort"] = ("-" if descending else "") + key
    if view:
        args["view"] = view
    return url_for("alerts.queue", **args)


@bp.get("/<int:alert_id>")
@requires("analyst")
def show(alert_id: int) -> ResponseReturnValue:
    p = platform()
    with p.db.session() as s:
        alert = alerts.get_alert(s, alert_id)
    evidence = p.events.get(alert.event_ids)
    pretty = [json.dumps(e, indent=2, ensure_ascii=False, sort_keys=True) for e in evidence]
    return render_template("alert.html", alert=alert, evidence=zip(evidence, pretty, strict=True),
                           form=PromoteForm(title=alert.rule_title), ack_form=AcknowledgeForm(),
                           bulk_form=BulkForm(), report_form=FromAlertForm(),
                           benign_form=BenignForm(days=p.settings.anomaly_benign_days),
                           chart=_chart(alert.explanation or {}), features=_features(alert.explanation or {}))


def _features(explanation: dict[str, Any]) -> list[dict[str, Any]]:
    """The explanation's features with their label and unit in the reader's language: translated
    here as plain text (a template's ``_`` would mark the detector's text safe)."""
    out = []
    for f in explanation.get("features") or []:
        if isinstance(f, dict):
            label, unit = str(f.get("label") or f.get("name") or ""), str(f.get("unit") or "")
            out.append({"label": _(label) if label else "", "unit": _(unit) if unit else "",
                        "value": f.get("value"), "baseline": f.get("baseline")})
    return out


@bp.app_template_filter("anomaly_number")
def anomaly_number(value: float) -> str:
    """A feature's value in the reader's language (at most four decimals)."""
    return str(format_decimal(value, format="#,##0.####"))


def _chart(explanation: dict[str, Any]) -> dict[str, Any] | None:
    """The explanation's chart for the page's script: the title in the reader's language, the
    labels and values as the detector gave them (data, drawn as text)."""
    chart = explanation.get("chart")
    if not isinstance(chart, dict) or not isinstance(chart.get("values"), list):
        return None
    values = _numbers(chart["values"])
    labels = [str(v)[:80] for v in chart.get("labels") or []][: len(values)]
    out: dict[str, Any] = {"kind": "line" if chart.get("kind") == "line" else "bar",
                           "title": _(str(chart.get("title") or "")), "labels": labels, "values": values,
                           "locale": str(get_locale() or "fr")}
    low, high = chart.get("band_low"), chart.get("band_high")
    if isinstance(low, list) and isinstance(high, list) and values:
        # the baseline band the values are compared with, drawn as two dashed lines
        out["band"] = {"low": _numbers(low)[: len(values)], "high": _numbers(high)[: len(values)],
                       "low_label": _("Baseline band, low"), "high_label": _("Baseline band, high")}
    return out


def _numbers(values: list[Any]) -> list[float | int]:
    """A chart's series: numbers as they are, anything else 0, at most 500."""
    return [v if isinstance(v, (int, float)) and not isinstance(v, bool) else 0 for v in values][:500]


@bp.post("/<int:alert_id>/benign")
@requires("analyst")
def benign(alert_id: int) -> ResponseReturnValue:
    form = BenignForm()
    if not form.validate_on_submit():
        flash(_("Invalid form: %(errors)s", errors=form.errors), "error")
        return redirect(url_for("alerts.show", alert_id=alert_id)), 303
    p = platform()
    days = form.days.data or p.settings.anomaly_benign_days
    with p.db.session() as s:
        mark = mark_alert_benign(s, alerts.get_alert(s, alert_id), actor(), form.reason.data or "", days,
                                 remote_addr())
        detector, key = mark.detector, mark.key
    flash(_("Alert closed as benign: %(detector)s will not report %(key)s for %(days)s days.",
            detector=detector, key=key, days=days), "ok")
    return redirect(url_for("alerts.show", alert_id=alert_id)), 303


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
