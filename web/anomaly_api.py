"""Anomaly detection in the API: mark an anomaly alert as benign, list and delete the marks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from cert.detection import alerts
from cert.detection.anomaly_state import count_marks, expires, mark_alert_benign, marks, remove_mark
from cert.storage.models import AnomalyBenign
from web.access import actor, platform, remote_addr, requires, visible_scope
from web.api_auth import api_scope
from web.api_spec import Response, body, iso, query, spec
from web.schemas.anomaly import BenignIn, BenignOut, BenignPage, BenignQuery

bp = Blueprint("anomaly_api", __name__, url_prefix="/api/v1")
TAGS = ["anomaly"]


def mark_json(m: AnomalyBenign) -> dict[str, Any]:
    return {"id": m.id, "detector": m.detector, "key": m.key, "reason": m.reason, "created_by": m.created_by,
            "created_at": iso(m.created_at), "expires_at": iso(expires(m)), "alert_id": m.alert_id}


@bp.post("/alerts/<int:alert_id>/benign")
@requires("analyst")
@api_scope("triage")
@spec.validate(json=BenignIn, resp=Response(HTTP_201=BenignOut), tags=TAGS)
def mark_benign(alert_id: int) -> ResponseReturnValue:
    """Close an anomaly alert as benign (audited) and keep its detector from reporting the same
    key (pair, domain, behaviour) for ``days``; 400 for an alert no anomaly detector raised, 409
    for one closed or in an incident."""
    wanted = body(BenignIn)
    days = wanted.days or platform().settings.anomaly_benign_days
    with platform().db.session() as s:
        alert = alerts.get_alert(s, alert_id, organizations=visible_scope().recorded)
        mark = mark_alert_benign(s, alert, actor(), wanted.reason, days, remote_addr())
        return jsonify(mark_json(mark)), 201


@bp.get("/anomaly/benign")
@requires("analyst")
@api_scope("read")
@spec.validate(query=BenignQuery, resp=Response(HTTP_200=BenignPage), tags=TAGS)
def list_benign() -> ResponseReturnValue:
    """The benign marks, the newest first (of the reader's organisations' alerts for an
    organisation-bound token)."""
    q = query(BenignQuery)
    filters: dict[str, Any] = {"detector": q.detector, "key": q.key, "organizations": visible_scope().recorded,
                               "active_at": datetime.now(UTC) if q.active else None}
    with platform().db.session() as s:
        items = [mark_json(m) for m in marks(s, limit=q.limit, offset=q.offset, **filters)]
        total = count_marks(s, **filters)
    return jsonify({"items": items, "total": total, "offset": q.offset, "limit": q.limit})


@bp.delete("/anomaly/benign/<int:mark_id>")
@requires("responder")
@api_scope("triage")
@spec.validate(resp=Response("HTTP_204"), tags=TAGS)
def delete_benign(mark_id: int) -> ResponseReturnValue:
    """Delete a benign mark (audited): its detector reports the key again from its next run."""
    with platform().db.session() as s:
        remove_mark(s, mark_id, actor(), remote_addr(), organizations=visible_scope().recorded)
    return "", 204
