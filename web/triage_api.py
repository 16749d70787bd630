"""REST API of alert triage: the queue grouped by source or rule, actions on one alert or many
(acknowledge, assign, close with a reason, reopen), incidents opened from alerts or given more of
them, saved filters. Reads need the ``read`` scope; every change to alerts, and opening an
incident from alerts or adding alerts to one, the ``triage`` scope: they are the same act as
promoting an alert (``POST /alerts/<id>/promote``), which is a triage action."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from cert.accounts.access import has_role
from cert.detection import saved_filters, triage, triage_actions
from cert.incidents import cases as case_service
from cert.incidents import from_alerts
from cert.storage.models import SavedFilter
from web.access import actor, platform, remote_addr, requires, visible_scope
from web.api import alert_json
from web.api_auth import api_scope
from web.api_spec import Response, body, iso, query, spec
from web.incidents_api import case_json
from web.schemas.alerts import (
    AlertOut,
    AssignIn,
    BulkIn,
    BulkOut,
    CloseIn,
    FromAlertsIn,
    GroupPage,
    GroupQuery,
    LinkIn,
    LinkOut,
    SavedFilterIn,
    SavedFilterList,
    SavedFilterOut,
)
from web.schemas.incidents import CaseOut

bp = Blueprint("triage_api", __name__, url_prefix="/api/v1")


def group_json(g: triage.Group) -> dict[str, Any]:
    return {"key": g.key, "label": g.label, "alerts": g.alerts, "events": g.events, "severity": g.severity,
            "first_seen": iso(g.first_seen), "last_seen": iso(g.last_seen), "statuses": g.statuses,
            "expand": g.expand.to_args() if g.expand is not None else None}


def saved_json(f: SavedFilter) -> dict[str, Any]:
    query = {str(k): [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in (f.query or {}).items()}
    return {"id": f.id, "name": f.name, "owner": f.owner, "shared": f.shared, "query": query}


@bp.get("/alerts/groups")
@requires("analyst")
@api_scope("read")
@spec.validate(query=GroupQuery, resp=Response(HTTP_200=GroupPage), tags=["alerts"])
def alert_groups() -> ResponseReturnValue:
    """The alerts the filters select within at most 7 days (by default the last 7 days), one row
    per source address or per rule (``by``), the group seen last first: how many alerts and
    events, the highest severity, first and last seen, the statuses, and the queue's filter
    narrowed to the group (``expand``). A longer time range is a 400."""
    q = query(GroupQuery)
    orgs = visible_scope().recorded
    wanted = triage.group_window(triage.AlertFilter.from_args(q.args(), me=actor()), q.window)
    with platform().db.session() as s:
        found, total = triage.groups(s, wanted, q.by, limit=q.limit, offset=q.offset, organizations=orgs)
    return jsonify({"by": q.by, "items": [group_json(g) for g in found], "total": total, "offset": q.offset,
                    "limit": q.limit, "since": iso(wanted.since), "until": iso(wanted.until)})


def _bulk_json(action: str, result: triage_actions.BulkResult) -> dict[str, Any]:
    return {"action": action, "changed": result.changed,
            "skipped": [{"id": i, "reason": _(reason)} for i, reason in result.skipped.items()]}


@bp.post("/alerts/bulk")
@requires("analyst")
@api_scope("triage")
@spec.validate(json=BulkIn, resp=Response(HTTP_200=BulkOut), tags=["alerts"])
def bulk() -> ResponseReturnValue:
    """One action on several alerts, in one transaction: ``acknowledge``, ``assign`` (to
    ``assignee``, or to nobody), ``close`` (with a ``reason`` and an optional ``comment``) or
    ``reopen``. Answers the alerts changed and those left, with why. An alert that does not exist
    or is of another organisation is a 404 and nothing changes."""
    wanted = body(BulkIn)
    who, addr = actor(), remote_addr()
    with platform().db.session() as s:
        chosen = triage.by_ids(s, wanted.ids, visible_scope().recorded)
        if wanted.action == "acknowledge":
            result = triage_actions.acknowledge(s, chosen, who, addr)
        elif wanted.action == "assign":
            result = triage_actions.assign(s, chosen, wanted.assignee, who, addr)
        elif wanted.action == "close":
            result = triage_actions.close(s, chosen, wanted.reason or "", who, wanted.comment, addr)
        else:
            result = triage_actions.reopen(s, chosen, who, addr)
        return jsonify(_bulk_json(wanted.action, result))


@bp.post("/alerts/<int:alert_id>/close")
@requires("analyst")
@api_scope("triage")
@spec.validate(json=CloseIn, resp=Response(HTTP_200=AlertOut), tags=["alerts"])
def close_alert(alert_id: int) -> ResponseReturnValue:
    """Close an alert with a reason (false-positive, benign, duplicate, true-positive) and an
    optional comment; audited. An alert in an incident, or closed already, is left as it is."""
    wanted = body(CloseIn)
    with platform().db.session() as s:
        chosen = triage.by_ids(s, [alert_id], visible_scope().recorded)
        triage_actions.close(s, chosen, wanted.reason, actor(), wanted.comment, remote_addr())
        return jsonify(alert_json(chosen[0]))


@bp.post("/alerts/<int:alert_id>/assign")
@requires("analyst")
@api_scope("triage")
@spec.validate(json=AssignIn, resp=Response(HTTP_200=AlertOut), tags=["alerts"])
def assign_alert(alert_id: int) -> ResponseReturnValue:
    """Assign an alert to an active user (``assignee``), or to nobody (null); audited. An unknown
    or disabled user is a 400."""
    wanted = body(AssignIn)
    with platform().db.session() as s:
        chosen = triage.by_ids(s, [alert_id], visible_scope().recorded)
        triage_actions.assign(s, chosen, wanted.assignee, actor(), remote_addr())
        return jsonify(alert_json(chosen[0]))


@bp.post("/alerts/<int:alert_id>/reopen")
@requires("analyst")
@api_scope("triage")
@spec.validate(resp=Response(HTTP_200=AlertOut), tags=["alerts"])
def reopen_alert(alert_id: int) -> ResponseReturnValue:
    """A closed alert goes back to the queue (acknowledged if it had been, else new); audited."""
    with platform().db.session() as s:
        chosen = triage.by_ids(s, [alert_id], visible_scope().recorded)
        triage_actions.reopen(s, chosen, actor(), remote_addr())
        return jsonify(alert_json(chosen[0]))


@bp.post("/incidents/from-alerts")
@requires("analyst")
@api_scope("triage")
@spec.validate(json=FromAlertsIn, resp=Response(HTTP_201=CaseOut), tags=["incidents"])
def incident_from_alerts() -> ResponseReturnValue:
    """Open one incident from several alerts (``ids``, ``title``, ``tlp``): the highest severity
    of theirs, every organisation concerned, all alerts linked, their evidence's observables.
    409 naming the alerts already in an incident (nothing is opened)."""
    wanted = body(FromAlertsIn)
    p = platform()
    with p.db.session() as s:
        chosen = triage.by_ids(s, wanted.ids, visible_scope().recorded)
        case = from_alerts.open_incident(s, chosen, actor(), p.events.get, p.constituency, title=wanted.title,
                                         tlp=wanted.tlp, remote_addr=remote_addr(), template=wanted.template,
                                         lang=str(get_locale() or "fr"))
        case_id = case.id
    with p.db.session() as s:
        return jsonify(case_json(case_service.get_case(s, case_id))), 201


@bp.post("/incidents/<int:case_id>/alerts")
@requires("analyst")
@api_scope("triage")
@spec.validate(json=LinkIn, resp=Response(HTTP_200=LinkOut), tags=["incidents"])
def link_alerts(case_id: int) -> ResponseReturnValue:
    """Add alerts (``ids``) to an existing incident; those already in an incident are left and
    listed with theirs."""
    wanted = body(LinkIn)
    p = platform()
    orgs = visible_scope().recorded
    with p.db.session() as s:
        case = case_service.get_case(s, case_id, organizations=orgs)
        chosen = triage.by_ids(s, wanted.ids, orgs)
        linked = from_alerts.add_to_incident(s, case, chosen, actor(), p.events.get, p.constituency,
                                             remote_addr=remote_addr())
        return jsonify({"case_id": case.id, "added": linked.added,
                        "skipped": [{"id": i, "case_id": c} for i, c in linked.skipped.items()]})


@bp.get("/alerts/filters")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=SavedFilterList), tags=["alerts"])
def list_filters() -> ResponseReturnValue:
    """The caller's saved filters of the queue and the shared ones; ``query`` is what to pass to
    ``GET /alerts`` to apply one."""
    with platform().db.session() as s:
        return jsonify({"items": [saved_json(f) for f in saved_filters.visible(s, actor())]})


@bp.post("/alerts/filters")
@requires("analyst")
@api_scope("triage")
@spec.validate(json=SavedFilterIn, resp=Response(HTTP_201=SavedFilterOut), tags=["alerts"])
def save_filter() -> ResponseReturnValue:
    """Save a filter of the queue under a name (the caller's filter of that name is replaced),
    for oneself or shared; an invalid filter is a 400."""
    wanted = body(SavedFilterIn)
    alert_filter = triage.AlertFilter.from_args(wanted.query)
    with platform().db.session() as s:
        saved = saved_filters.save(s, actor(), wanted.name, alert_filter, shared=wanted.shared,
                                   remote_addr=remote_addr())
        return jsonify(saved_json(saved)), 201


@bp.delete("/alerts/filters/<int:filter_id>")
@requires("analyst")
@api_scope("triage")
@spec.validate(resp=Response("HTTP_204"), tags=["alerts"])
def delete_filter(filter_id: int) -> ResponseReturnValue:
    """Delete a saved filter: one's own (an admin: any); 403 for someone else's shared filter."""
    with platform().db.session() as s:
        saved_filters.delete(s, filter_id, actor(), admin=has_role(str(current_user.role), "admin"),
                             remote_addr=remote_addr())
    return "", 204
