"""The dashboard: charts of alerts per day by severity, open incidents per organisation, SLA
compliance, top rules and ATT&CK techniques seen against those the active rules cover, each with
its table; the incident metrics of the period. Charts are drawn by Chart.js (static files) from a
JSON data element the page carries; labels, titles and numbers are in the reader's language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.numbers import get_group_symbol
from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import format_date, format_datetime, format_decimal, get_locale, get_timezone
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cert.core.config import SLA_SEVERITIES
from cert.core.errors import InvalidInput
from cert.incidents import metrics as figures
from cert.incidents.metrics import PERIODS, SEVERITY_ORDER, Dashboard, MetricsQuery
from cert.incidents.sla import CLOCKS, SlaPolicy, SlaStatus, alert_sla, incident_sla
from cert.storage.models import Alert, Case
from web.access import platform, requires, visible_scope

bp = Blueprint("dashboard", __name__)

#: the ENISA RSIT classes, as incidents record them
RSIT_CLASSES = {
    "abusive-content": _l("Abusive content"), "malicious-code": _l("Malicious code"),
    "information-gathering": _l("Information gathering"), "intrusion-attempts": _l("Intrusion attempts"),
    "intrusions": _l("Intrusions"), "availability": _l("Availability"),
    "information-content-security": _l("Information content security"), "fraud": _l("Fraud"),
    "vulnerable": _l("Vulnerable"), "other": _l("Other"), "test": _l("Test"),
}
CLOCK_LABELS = {"acknowledge": _l("Acknowledgement"), "contain": _l("Containment"), "resolve": _l("Resolution")}
STATE_LABELS = {"met": _l("met"), "breached": _l("breached"), "running": _l("running"), "overdue": _l("overdue")}
DURATION_LABELS = {"detect": _l("Time to detect"), "acknowledge": _l("Time to acknowledge"),
                   "contain": _l("Time to contain"), "resolve": _l("Time to resolve")}
SEVERITY_COLOURS = {"critical": "#7a0916", "high": "#d92d20", "medium": "#f79009", "low": "#98a2b3",
                    "informational": "#53b1fd"}
COVERED_COLOUR, UNCOVERED_COLOUR, ACCENT = "#12b76a", "#d92d20", "#0b5cad"


@lru_cache(maxsize=16)
def _grouping(locale: str) -> str | None:
    """The locale's group separator when it groups digits by threes (fr, en), else None."""
    parsed = Locale.parse(locale)
    pattern = parsed.decimal_formats[None]
    return get_group_symbol(parsed) if pattern is not None and pattern.grouping == (3, 3) else None


def number(value: float | int, separator: str | None = None) -> str:
    """A number in the reader's language; a whole number without going through Babel's pattern
    (the dashboard shows hundreds), with the locale's group ``separator`` if the caller has it."""
    if isinstance(value, int):
        separator = separator or _grouping(str(get_locale() or "fr"))
        if separator is not None:
            return f"{value:,}".replace(",", separator)
    return str(format_decimal(value))


@dataclass(frozen=True)
class DayRow:
    """A row of the alerts-per-day table: the day, its label, the counts per severity and the total."""

    key: str
    label: str
    counts: list[str]
    total: str


def day_rows(d: Dashboard, days: list[date], labels: list[str]) -> list[DayRow]:
    """The alerts-per-day table, formatted once for the reader's language."""
    separator = _grouping(str(get_locale() or "fr"))
    rows = []
    for day, label in zip(days, labels, strict=True):
        key = day.isoformat()
        counts = [by_day.get(key, 0) for by_day in d.alerts_per_day.values()]
        rows.append(DayRow(key, label, [number(n, separator) for n in counts], number(sum(counts), separator)))
    return rows


def date_labels(days: list[date], form: str) -> list[str]:
    """Each day in ``form`` (a Babel date format) in the reader's language."""
    locale = Locale.parse(str(get_locale() or "fr"))
    return [babel_format_date(day, form, locale=locale) for day in days]


def percent(value: float | None) -> str:
    return "—" if value is None else str(_("%(value)s %%", value=format_decimal(value, format="#,##0.0")))


def duration(seconds: float | None) -> str:
    """A duration in days, hours and minutes, in the reader's language."""
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return str(_("%(days)s d %(hours)s h", days=days, hours=hours) if hours else _("%(days)s d", days=days))
    if hours:
        return str(_("%(hours)s h %(minutes)s min", hours=hours, minutes=minutes) if minutes
                   else _("%(hours)s h", hours=hours))
    return str(_("%(minutes)s min", minutes=minutes))


def moment(value: datetime) -> str:
    """A date and time with its time zone."""
    return f"{format_datetime(value, 'medium')} {get_timezone().zone}"


# ---- the SLA partial (templates/_sla.html): its filters and globals, for every page -----------------

@bp.app_template_filter("sla_duration")
def sla_duration(seconds: float | None) -> str:
    return duration(seconds)


@bp.app_template_filter("sla_moment")
def sla_moment(value: datetime) -> str:
    return moment(value)


@bp.app_template_global()
def sla_clock_label(clock: str) -> str:
    return str(CLOCK_LABELS.get(clock, clock))


@bp.app_template_global()
def sla_state_label(state: str) -> str:
    return str(STATE_LABELS.get(state, state))


@bp.app_template_global()
def sla_of_incident(case: Case) -> SlaStatus:
    """The incident's SLA clocks now, with the deployment's targets."""
    return incident_sla(case, SlaPolicy.from_settings(platform().settings))


@bp.app_template_global()
def sla_of_alert(alert: Alert) -> SlaStatus:
    """The alert's SLA clocks now, with the deployment's targets."""
    return alert_sla(alert, SlaPolicy.from_settings(platform().settings))


def _choice(name: str, allowed: Any) -> str:
    value = (request.args.get(name) or "").strip()
    if value and value not in allowed:
        raise InvalidInput(_("%(name)s: unknown value.", name=name))
    return value


def _period() -> int:
    raw = (request.args.get("period") or "30").strip()
    if not raw.isdigit() or int(raw) not in PERIODS:
        raise InvalidInput(_("The period is one of: %(periods)s days.", periods=", ".join(map(str, PERIODS))))
    return int(raw)


def _organizations() -> list[str]:
    """The organisations the reader may filter on, by the name incidents and alerts record."""
    scope = visible_scope().recorded
    names = sorted(o.name for o in platform().constituency.organizations)
    return names if scope is None else [n for n in names if n in scope]


def _bar(chart_id: str, title: str, labels: list[str], datasets: list[dict[str, Any]], *,
         stacked: bool = False, horizontal: bool = False, axis: str = "", maximum: int | None = None
         ) -> dict[str, Any]:
    return {"id": chart_id, "title": title, "labels": labels, "datasets": datasets, "stacked": stacked,
            "horizontal": horizontal, "axis": axis, "max": maximum}


def charts(d: Dashboard, days: list[date]) -> list[dict[str, Any]]:
    """The charts' data: labels and titles in the reader's language, the values as numbers."""
    keys = [day.isoformat() for day in days]
    per_day = _bar("alerts-per-day", _("Alerts per day by severity"), date_labels(days, "d MMM"),
                   [{"label": _(sev), "data": [d.alerts_per_day[sev].get(k, 0) for k in keys],
                     "color": SEVERITY_COLOURS.get(sev, ACCENT)} for sev in d.alerts_per_day],
                   stacked=True, axis=_("Alerts"))
    orgs = _bar("open-by-organization", _("Open incidents per organisation"),
                [org or _("No organisation") for org, _n in d.open_by_organization],
                [{"label": _("Open incidents"), "data": [n for _o, n in d.open_by_organization], "color": ACCENT}],
                horizontal=True, axis=_("Incidents"))
    compliance = d.metrics.compliance
    sla = _bar("sla-compliance", _("SLA compliance"), [str(CLOCK_LABELS[c]) for c in CLOCKS],
               [{"label": _("Met (%)"), "data": [compliance[c].percent for c in CLOCKS], "color": COVERED_COLOUR}],
               axis=_("% met"), maximum=100)
    rules = _bar("top-rules", _("Rules with the most alerts"), [r.title for r in d.alerts.top_rules],
                 [{"label": _("Alerts"), "data": [r.alerts for r in d.alerts.top_rules], "color": ACCENT}],
                 horizontal=True, axis=_("Alerts"))
    shown = d.techniques[:20]
    attack = _bar("attack", _("ATT&CK techniques seen"), [t.technique for t in shown], [
        {"label": _("Covered by an active rule"), "data": [t.alerts + t.incidents if t.covered else 0 for t in shown],
         "color": COVERED_COLOUR},
        {"label": _("Not covered by an active rule"),
         "data": [0 if t.covered else t.alerts + t.incidents for t in shown], "color": UNCOVERED_COLOUR},
    ], stacked=True, horizontal=True, axis=_("Alerts and incidents"))
    return [per_day, orgs, sla, rules, attack]


@bp.get("/dashboard")
@requires("analyst")
def show() -> ResponseReturnValue:
    period = _period()
    organizations = _organizations()
    chosen = {"period": period, "organization": _choice("organization", organizations),
              "rsit": _choice("rsit", RSIT_CLASSES), "severity": _choice("severity", SLA_SEVERITIES)}
    q = MetricsQuery.last_days(period, scope=visible_scope().recorded, organization=chosen["organization"] or None,
                               rsit=chosen["rsit"] or None, severity=chosen["severity"] or None)
    p = platform()
    with p.db.session() as s:
        found = figures.dashboard(s, q, p.settings)
    days = q.days
    data = {"locale": str(get_locale() or "fr"), "charts": charts(found, days)}
    return render_template(
        "dashboard.html", d=found, q=q, days=days, data=data, chosen=chosen, periods=PERIODS,
        day_rows=day_rows(found, days, date_labels(days, "medium")), separator=_grouping(str(get_locale() or "fr")),
        organizations=organizations, rsit_classes=RSIT_CLASSES, severities=SEVERITY_ORDER, clocks=CLOCKS,
        clock_labels=CLOCK_LABELS, duration_labels=DURATION_LABELS, number=number, percent=percent,
        duration=duration, moment=moment, format_date=format_date, sla_policy=SlaPolicy.from_settings(p.settings))
