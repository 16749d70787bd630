"""REST API (JSON), same authentication and roles as the console."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from cert.core.errors import InvalidInput
from cert.detection import alerts
from cert.incidents import cases as case_service
from cert.storage.models import Alert, Case
from web.access import actor, platform, remote_addr, requires

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_LIMIT = 1000
MAX_OFFSET = 2**63 - 1  # the SQL integer range


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
        "id": a.id, "rule_id": a.rule_id, "rule": a.rule_title, "severity": a.severity, "status": a.status,
        "source_ip": a.source_ip, "organization": a.organization, "count": a.count, "attack": a.attack,
        "first_seen": a.first_seen.isoformat(), "last_seen": a.last_seen.isoformat(),
        "raised_at": a.created_at.isoformat(), "case_id": a.case_id, "event_ids": a.event_ids,
    }


def case_summary_json(c: Case) -> dict[str, Any]:
    return {
        "id": c.id, "title": c.title, "status": c.status, "severity": c.severity, "tlp": c.tlp, "pap": c.pap,
        "rsit": c.rsit_class, "organization": c.organization, "misp_uuid": c.misp_uuid,
        "created_at": c.created_at.isoformat(),
    }


def case_json(c: Case) -> dict[str, Any]:
    return {
        **case_summary_json(c),
        "observables": [{"type": o.type, "value": o.value, "tlp": o.tlp, "ioc": o.ioc} for o in c.observables],
        "timeline": [{"at": t.at.isoformat(), "actor": t.actor, "kind": t.kind, "message": t.message}
                     for t in c.timeline],
    }


def page_json(items: list[dict[str, Any]], total: int, offset: int, limit: int) -> dict[str, Any]:
    """A page of a list: ``{"items": [...], "total": N, "offset": k, "limit": m}``."""
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@bp.get("/alerts")
@requires("analyst")
def list_alerts() -> ResponseReturnValue:
    """The alert queue, the most recently raised first, a page at a time (``limit``, ``offset``;
    ``status`` filters)."""
    limit = int_arg("limit", 100, 1, MAX_LIMIT)
    offset = int_arg("offset", 0, 0, MAX_OFFSET)
    status = request.args.get("status") or None
    with platform().db.session() as s:
        total = alerts.count(s, status)
        items = [alert_json(a) for a in alerts.queue(s, status, limit, offset)]
    return jsonify(page_json(items, total, offset, limit))


@bp.get("/cases")
@requires("analyst")
def list_cases() -> ResponseReturnValue:
    """The cases, the most recent first, a page at a time (``limit``, ``offset``)."""
    limit = int_arg("limit", 100, 1, MAX_LIMIT)
    offset = int_arg("offset", 0, 0, MAX_OFFSET)
    with platform().db.session() as s:
        total = case_service.count_cases(s)
        items = [case_summary_json(c) for c in case_service.list_cases(s, limit, offset)]
    return jsonify(page_json(items, total, offset, limit))


@bp.get("/alerts/<int:alert_id>")
@requires("analyst")
def get_alert(alert_id: int) -> ResponseReturnValue:
    with platform().db.session() as s:
        return jsonify(alert_json(alerts.get_alert(s, alert_id)))


@bp.post("/alerts/<int:alert_id>/acknowledge")
@requires("analyst")
def acknowledge_alert(alert_id: int) -> ResponseReturnValue:
    """A new alert becomes acknowledged (audited); an alert already past ``new`` is left as it is.
    Session-authenticated like the console: the CSRF token goes in the ``X-CSRFToken`` header."""
    with platform().db.session() as s:
        alert = alerts.get_alert(s, alert_id)
        alerts.acknowledge(s, alert, actor(), remote_addr())
        return jsonify(alert_json(alert))


@bp.get("/cases/<int:case_id>")
@requires("analyst")
def get_case(case_id: int) -> ResponseReturnValue:
    with platform().db.session() as s:
        return jsonify(case_json(case_service.get_case(s, case_id)))


@bp.get("/ingest/health")
@requires("analyst")
def ingest_health() -> ResponseReturnValue:
    """Per source: rates, lags, dead letters by reason; the spool (embedded mode)."""
    from cert.pipeline.health import health_json, spool_status
    from cert.pipeline.health import ingest_health as health

    p = platform()
    with p.db.session() as s:
        items = health(s)
    return jsonify(health_json(items, spool_status(p.settings) if p.settings.mode == "embedded" else None))
