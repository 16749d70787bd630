"""REST API of the metrics, the dashboard's figures and the SLA clocks of an incident or alert.
A focal point, and a token with an organisation, get the figures of their organisations only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from cert.detection import alerts
from cert.incidents import cases as case_service
from cert.incidents import metrics as figures
from cert.incidents.metrics import Dashboard, Metrics, MetricsQuery
from cert.incidents.sla import SlaPolicy, SlaStatus, alert_sla, incident_sla
from web.access import platform, requires, visible_scope
from web.api_auth import api_scope
from web.api_spec import Response, iso, query, spec
from web.schemas.dashboard import DashboardOut, MetricsOut, MetricsQueryIn, SlaOut

bp = Blueprint("dashboard_api", __name__, url_prefix="/api/v1")


def metrics_query(q: MetricsQueryIn, now: datetime | None = None) -> MetricsQuery:
    """The period and filters asked, within what the reader may see."""
    return MetricsQuery.last_days(q.period, now, scope=visible_scope().recorded, organization=q.organization or None,
                                  rsit=q.rsit or None, severity=q.severity or None)


def metrics_json(m: Metrics) -> dict[str, Any]:
    q = m.query
    return {
        "start": q.start.isoformat(), "end": q.end.isoformat(), "organization": q.organization, "rsit": q.rsit,
        "severity": q.severity, "opened": m.opened, "closed": m.closed,
        "durations": {name: {"count": d.count, "mean_seconds": d.mean, "median_seconds": d.median}
                      for name, d in m.durations.items()},
        "sla_compliance": {clock: {"met": c.met, "breached": c.breached, "overdue": c.overdue, "running": c.running,
                                   "percent": c.percent} for clock, c in m.compliance.items()},
    }


def dashboard_json(d: Dashboard) -> dict[str, Any]:
    days = [day.isoformat() for day in d.metrics.query.days]
    return {
        "metrics": metrics_json(d.metrics),
        "alerts_per_day": {"days": days, "series": [
            {"severity": sev, "label": _(sev), "counts": [per_day.get(day, 0) for day in days]}
            for sev, per_day in d.alerts_per_day.items()]},
        "open_incidents_by_organization": [{"organization": org, "open": n} for org, n in d.open_by_organization],
        "top_rules": [{"rule_id": r.rule_id, "title": r.title, "alerts": r.alerts} for r in d.alerts.top_rules],
        "alerts_total": d.alerts.total,
        "techniques_seen": [{"technique": t.technique, "alerts": t.alerts, "incidents": t.incidents,
                             "covered": t.covered} for t in d.techniques],
        "techniques_covered": sorted(d.covered),
    }


def sla_json(sla: SlaStatus) -> dict[str, Any]:
    return {
        "severity": sla.severity, "now": iso(sla.now), "overdue": sla.overdue, "breached": sla.breached,
        "clocks": [{"clock": c.clock, "state": c.state, "target_seconds": c.target.total_seconds(),
                    "started_at": iso(c.started_at), "due_at": iso(c.due_at),
                    "stopped_at": iso(c.stopped_at) if c.stopped_at else None,
                    "elapsed_seconds": c.elapsed.total_seconds(),
                    "remaining_seconds": None if c.remaining is None else c.remaining.total_seconds()}
                   for c in sla.clocks],
    }


@bp.get("/metrics")
@requires("analyst", focal_points=True)
@api_scope("read")
@spec.validate(query=MetricsQueryIn, resp=Response(HTTP_200=MetricsOut), tags=["metrics"])
def get_metrics() -> ResponseReturnValue:
    """Incident metrics over the ``period`` days up to now: incidents opened and closed, mean and
    median times to detect, acknowledge, contain and resolve (seconds), SLA compliance per clock;
    filtered by ``organization``, ``rsit`` class and ``severity``."""
    p = platform()
    q = metrics_query(query(MetricsQueryIn))
    with p.db.session() as s:
        found = figures.metrics(s, q, SlaPolicy.from_settings(p.settings))
    return jsonify(metrics_json(found))


@bp.get("/dashboard")
@requires("analyst", focal_points=True)
@api_scope("read")
@spec.validate(query=MetricsQueryIn, resp=Response(HTTP_200=DashboardOut), tags=["metrics"])
def get_dashboard() -> ResponseReturnValue:
    """The dashboard's figures: the metrics, alerts per day by severity, open incidents per
    organisation, the rules with the most alerts, and the ATT&CK techniques seen in alerts and
    incidents against those the active rules cover."""
    p = platform()
    q = metrics_query(query(MetricsQueryIn))
    with p.db.session() as s:
        found = figures.dashboard(s, q, p.settings)
    return jsonify(dashboard_json(found))


@bp.get("/incidents/<int:case_id>/sla")
@requires("analyst", focal_points=True)
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=SlaOut), tags=["incidents"])
def incident_sla_clocks(case_id: int) -> ResponseReturnValue:
    """The incident's SLA clocks now (acknowledge, contain, resolve): due time, elapsed, state."""
    p = platform()
    with p.db.session() as s:
        case = case_service.get_case(s, case_id, organizations=visible_scope().recorded)
        sla = incident_sla(case, SlaPolicy.from_settings(p.settings), datetime.now(UTC))
    return jsonify(sla_json(sla))


@bp.get("/alerts/<int:alert_id>/sla")
@requires("analyst", focal_points=True)
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=SlaOut), tags=["alerts"])
def alert_sla_clocks(alert_id: int) -> ResponseReturnValue:
    """The alert's SLA clocks now (acknowledge, resolve): due time, elapsed, state."""
    p = platform()
    with p.db.session() as s:
        alert = alerts.get_alert(s, alert_id, organizations=visible_scope().recorded)
        sla = alert_sla(alert, SlaPolicy.from_settings(p.settings), datetime.now(UTC))
    return jsonify(sla_json(sla))
