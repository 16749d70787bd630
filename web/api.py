"""REST API (JSON), same authentication and roles as the console."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from cert import alerts
from cert import cases as case_service
from cert.errors import InvalidInput
from cert.models import Alert, Case
from web.access import platform, requires

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def alert_json(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id, "rule_id": a.rule_id, "rule": a.rule_title, "severity": a.severity, "status": a.status,
        "source_ip": a.source_ip, "organization": a.organization, "count": a.count, "attack": a.attack,
        "first_seen": a.first_seen.isoformat(), "last_seen": a.last_seen.isoformat(), "case_id": a.case_id,
        "event_ids": a.event_ids,
    }


def case_json(c: Case) -> dict[str, Any]:
    return {
        "id": c.id, "title": c.title, "status": c.status, "severity": c.severity, "tlp": c.tlp, "pap": c.pap,
        "rsit": c.rsit_class, "organization": c.organization, "misp_uuid": c.misp_uuid,
        "observables": [{"type": o.type, "value": o.value, "tlp": o.tlp, "ioc": o.ioc, "valid": o.valid,
                         "invalid_reason": o.invalid_reason} for o in c.observables],
        "timeline": [{"at": t.at.isoformat(), "actor": t.actor, "kind": t.kind, "message": t.message}
                     for t in c.timeline],
    }


@bp.get("/alerts")
@requires("analyst")
def list_alerts() -> ResponseReturnValue:
    try:
        limit = min(int(request.args.get("limit", 100)), 1000)
    except ValueError:
        raise InvalidInput("limit must be a whole number") from None
    with platform().db.session() as s:
        return jsonify([alert_json(a) for a in alerts.queue(s, request.args.get("status"), limit)])


@bp.get("/alerts/<int:alert_id>")
@requires("analyst")
def get_alert(alert_id: int) -> ResponseReturnValue:
    with platform().db.session() as s:
        return jsonify(alert_json(alerts.get_alert(s, alert_id)))


@bp.get("/cases/<int:case_id>")
@requires("analyst")
def get_case(case_id: int) -> ResponseReturnValue:
    with platform().db.session() as s:
        return jsonify(case_json(case_service.get_case(s, case_id)))


@bp.get("/ingest/health")
@requires("analyst")
def ingest_health() -> ResponseReturnValue:
    """Per source: rates, lags, dead letters by reason; the spool (embedded mode)."""
    from cert.ingest_health import health_json, spool_status
    from cert.ingest_health import ingest_health as health

    p = platform()
    with p.db.session() as s:
        items = health(s)
    return jsonify(health_json(items, spool_status(p.settings) if p.settings.mode == "embedded" else None))
