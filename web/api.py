"""REST API (JSON): a session user is authorised by role as in the console (POSTs need the CSRF
token in the ``X-CSRFToken`` header); a bearer API token by the scope each route declares
(``api_scope``, see ``web.api_auth``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from cert.core.errors import N_, InvalidInput, NotFound
from cert.detection import alerts, triage
from cert.incidents import cases as case_service
from cert.sharing.actions import change_case_tlp
from cert.storage.models import Alert, User
from web.access import actor, platform, remote_addr, requires, visible_scope
from web.api_auth import api_scope, session_only
from web.api_spec import Response, body, iso, query, spec
from web.incidents_api import case_json, case_summary_json
from web.schemas.accounts import Me
from web.schemas.alerts import AlertOut, AlertPage, AlertQuery
from web.schemas.common import PageQuery
from web.schemas.incidents import CaseOut, CasePage, PromoteIn, TlpIn
from web.schemas.ingest import IngestHealth
from web.vocabulary import alert_title

bp = Blueprint("api", __name__, url_prefix="/api/v1")



def int_arg(name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter within [low, high]; anything else is a 400 that says so."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise InvalidInput(_("%(name)s must be a whole number.", name=name)) from None
    if not low <= value <= high:
        raise InvalidInput(_("%(name)s must be between %(low)s and %(high)s.", name=name, low=low, high=high))
    return value


def alert_json(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id, "rule_id": a.rule_id, "rule": alert_title(a.detector, a.rule_title), "severity": a.severity,
        "status": a.status,
        "source_ip": a.source_ip, "organization": a.organization, "count": a.count, "attack": a.attack,
        "tlp": a.tlp, "first_seen": iso(a.first_seen), "last_seen": iso(a.last_seen),
        "raised_at": iso(a.created_at), "case_id": a.case_id, "event_ids": a.event_ids,
        "assignee": a.assignee, "acknowledged_by": a.acknowledged_by, "close_reason": a.close_reason,
        "close_comment": a.close_comment or "", "closed_by": a.closed_by,
        "acknowledged_at": iso(a.acknowledged_at) if a.acknowledged_at else None,
        "closed_at": iso(a.closed_at) if a.closed_at else None,
        "explanation": a.explanation or {},
    }


def page_json(items: list[dict[str, Any]], total: int, offset: int, limit: int) -> dict[str, Any]:
    """A page of a list: ``{"items": [...], "total": N, "offset": k, "limit": m}``."""
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@bp.get("/me")
@session_only
@spec.validate(resp=Response(HTTP_200=Me), tags=["accounts"])
def me() -> ResponseReturnValue:
    """Who the caller is: username, role, organisation and how the account logs in."""
    with platform().db.session() as s:
        user = s.get(User, int(current_user.id))
        if user is None:
            raise NotFound(N_("This account no longer exists."))
        return jsonify(username=user.username, role=user.role, organization=user.organization,
                       auth_source=user.auth_source)


@bp.get("/alerts")
@requires("analyst")
@api_scope("read")
@spec.validate(query=AlertQuery, resp=Response(HTTP_200=AlertPage), tags=["alerts"])
def list_alerts() -> ResponseReturnValue:
    """The alert queue, a page at a time (``limit``, ``offset``), filtered and sorted on the
    server (the most recently raised first by default). A focal point, and a token with an
    organisation, get only the alerts of their organisations."""
    q = query(AlertQuery)
    orgs = visible_scope().recorded
    wanted = triage.AlertFilter.from_args(q.args(), me=actor())
    with platform().db.session() as s:
        total = triage.count(s, wanted, organizations=orgs)
        items = [alert_json(a) for a in triage.search(s, wanted, limit=q.limit, offset=q.offset, organizations=orgs,
                                                      total=total)]
    return jsonify(page_json(items, total, q.offset, q.limit))


@bp.get("/cases")
@requires("analyst")
@api_scope("read")
@spec.validate(query=PageQuery, resp=Response(HTTP_200=CasePage), tags=["incidents"])
def list_cases() -> ResponseReturnValue:
    """The cases, the most recent first, a page at a time (``limit``, ``offset``); of their
    organisations only for a focal point and a token with an organisation."""
    q = query(PageQuery)
    limit, offset = q.limit, q.offset
    orgs = visible_scope().recorded
    with platform().db.session() as s:
        total = case_service.count_cases(s, organizations=orgs)
        items = [case_summary_json(c) for c in case_service.list_cases(s, limit, offset, organizations=orgs)]
    return jsonify(page_json(items, total, offset, limit))


@bp.get("/alerts/<int:alert_id>")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=AlertOut), tags=["alerts"])
def get_alert(alert_id: int) -> ResponseReturnValue:
    """The alert; 404 for an alert of another organisation than a focal point's (or a token's)."""
    with platform().db.session() as s:
        return jsonify(alert_json(alerts.get_alert(s, alert_id, organizations=visible_scope().recorded)))


@bp.post("/alerts/<int:alert_id>/acknowledge")
@requires("analyst")
@api_scope("triage")
@spec.validate(resp=Response(HTTP_200=AlertOut), tags=["alerts"])
def acknowledge_alert(alert_id: int) -> ResponseReturnValue:
    """A new alert becomes acknowledged (audited); an alert already past ``new`` is left as it is.
    Session-authenticated like the console: the CSRF token goes in the ``X-CSRFToken`` header."""
    with platform().db.session() as s:
        alert = alerts.get_alert(s, alert_id, organizations=visible_scope().recorded)
        alerts.acknowledge(s, alert, actor(), remote_addr())
        return jsonify(alert_json(alert))


@bp.get("/cases/<int:case_id>")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=CaseOut), tags=["incidents"])
def get_case(case_id: int) -> ResponseReturnValue:
    """The case; 404 for a case of another organisation than a focal point's (or a token's)."""
    with platform().db.session() as s:
        return jsonify(case_json(case_service.get_case(s, case_id, organizations=visible_scope().recorded)))


def _json_body(*fields: str) -> dict[str, str]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput(_("The body must be a JSON object with: %(fields)s.", fields=", ".join(fields)))
    out: dict[str, str] = {}
    for name in fields:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidInput(_("%(field)s must be text.", field=name))
        out[name] = value or ""
    return out


@bp.post("/alerts/<int:alert_id>/promote")
@requires("analyst")
@api_scope("triage")
@spec.validate(json=PromoteIn, resp=Response(HTTP_201=CaseOut), tags=["alerts"])
def promote(alert_id: int) -> ResponseReturnValue:
    """Open a case from an alert: ``{"title": ..., "tlp": ...}``; 201 with the case, 409 with the
    case id when the alert is already in one."""
    wanted = body(PromoteIn)
    with platform().db.session() as s:
        alerts.get_alert(s, alert_id, organizations=visible_scope().recorded)  # 404 outside a token's organisation
    opened = case_service.open_case(platform(), alert_id, actor(), wanted.title or None, wanted.tlp or "amber")
    with platform().db.session() as s:
        answer = case_json(case_service.get_case(s, opened.case_id))
    if opened.raised_to is not None:
        answer["tlp_raised"] = {"to": opened.raised_to.tag_value, "sources": opened.raised_by,
                                "message": _("TLP raised to %(tlp)s because of the indicator from %(sources)s.",
                                             tlp=opened.raised_to.label, sources=", ".join(opened.raised_by))}
    return jsonify(answer), 201


@bp.post("/cases/<int:case_id>/tlp")
@requires("analyst")
@api_scope("write")
@spec.validate(json=TlpIn, resp=Response(HTTP_200=CaseOut), tags=["incidents"])
def set_tlp(case_id: int) -> ResponseReturnValue:
    """Change a case's TLP: ``{"tlp": ..., "reason": ...}``; lowering it needs the responder role
    and a reason (403, 400)."""
    wanted = body(TlpIn)
    with platform().db.session() as s:
        case_service.get_case(s, case_id, organizations=visible_scope().recorded)  # 404 outside a token's organisation
    change = change_case_tlp(platform(), case_id, wanted.tlp, actor(), current_user.role, wanted.reason,
                             remote_addr())
    with platform().db.session() as s:
        answer = case_json(case_service.get_case(s, case_id))
    return jsonify({**answer, "withdrawn_from_feed": bool(change.withdrawn_from)})


@bp.get("/ingest/health")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=IngestHealth), tags=["ingest"])
def ingest_health() -> ResponseReturnValue:
    """Per source: rates, lags, dead letters by reason; the spool (embedded mode)."""
    from cert.pipeline.health import health_json, spool_status
    from cert.pipeline.health import ingest_health as health

    p = platform()
    with p.db.session() as s:
        items = health(s)
    return jsonify(health_json(items, spool_status(p.settings) if p.settings.mode == "embedded" else None))
