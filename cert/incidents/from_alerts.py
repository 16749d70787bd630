"""Incidents and alerts together: one incident opened from many alerts, and alerts added to an
existing incident. Both take the alerts' evidence events (observables), raise the incident's TLP
to the alerts' (a partner's indicator keeps its TLP; the raise goes on the timeline with the
sources that caused it), and record every organisation concerned (``Case.affected``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from cert.constituency.directory import Constituency
from cert.core.ecs import Event
from cert.core.errors import N_, Conflict, InvalidInput
from cert.core.tlp import PAP, TLP, highest
from cert.detection.triage import SEVERITY_RANK
from cert.incidents.cases import (
    add_observable,
    add_timeline,
    attack_tag,
    observables_from_events,
    rsit_for,
    tlp_raisers,
)
from cert.incidents.lifecycle import add_template_tasks
from cert.incidents.templates import get_template
from cert.storage import audit
from cert.storage.models import Alert, Case, CaseOrganization

#: the evidence events of a list of event ids (``Platform.events.get``)
Evidence = Callable[[Sequence[str]], Sequence[Event]]


def alert_tlp(alert: Alert) -> TLP:
    """The TLP of what an alert carries: its own, or its partner indicator's if higher."""
    label = TLP.parse(alert.tlp or "clear")
    shared = (alert.entities or {}).get("indicator", {}).get("tlp")
    return highest(label, TLP.parse(str(shared))) if shared else label


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _techniques(alerts: Sequence[Alert], known: Sequence[str] = ()) -> list[str]:
    """The ATT&CK technique ids of the alerts' tags (``T1110``), after those already ``known``."""
    found = list(known)
    for alert in alerts:
        for tag in alert.attack or ():
            name = attack_tag(str(tag))
            if name[:1] == "t" and name[1:5].isdigit() and name.upper() not in found:
                found.append(name.upper())
    return found


def _affect(case: Case, organizations: Collection[str | None]) -> None:
    have = {a.organization for a in case.affected}
    for org in organizations:
        if org and org not in have:
            case.affected.append(CaseOrganization(organization=org))
            have.add(org)


def _raise_tlp(s: Session, case: Case, alerts: Sequence[Alert], actor: str) -> None:
    """The case's TLP raised to the alerts' when theirs is higher, with a timeline entry naming the
    indicator sources that caused it."""
    before = TLP.parse(case.tlp)
    label = before
    for alert in alerts:
        label = highest(label, alert_tlp(alert))
    if label is before:
        return
    sources = list(dict.fromkeys(src for a in alerts for src in tlp_raisers(a, before)))
    case.tlp = label.tag_value
    add_timeline(s, case, actor, "tlp_raised",
                 N_("TLP raised from %(old)s to %(new)s because of the indicator from %(sources)s."),
                 {"from": before.tag_value, "to": label.tag_value, "sources": sources,
                  "alert_ids": [a.id for a in alerts]},
                 params={"old": before.label, "new": label.label, "sources": ", ".join(sources) or "?"})


def _link(s: Session, case: Case, alerts: Sequence[Alert], evidence: Evidence, constituency: Constituency,
          actor: str, remote_addr: str) -> None:
    """Put the alerts in the case: linked, promoted, their observables added, audited."""
    for alert in alerts:
        alert.case_id, alert.status = case.id, "promoted"
        for type_, value, ioc in observables_from_events(evidence(list(alert.event_ids)), constituency):
            add_observable(s, case, type_, value, ioc=ioc, comment=f"alert #{alert.id}")
        audit.record(s, actor, "alert.link", "alert", alert.id, remote_addr, case_id=case.id)
    _affect(case, [a.organization for a in alerts])
    _raise_tlp(s, case, alerts, actor)
    first = min(_aware(a.first_seen) for a in alerts)
    if case.detected_at is None or first < _aware(case.detected_at):
        case.detected_at = first


def open_incident(s: Session, alerts: Sequence[Alert], actor: str, evidence: Evidence, constituency: Constituency,
                  *, title: str = "", tlp: str = "amber", remote_addr: str = "", template: str = "",
                  lang: str = "fr") -> Case:
    """One incident from many alerts: severity the highest of theirs, the organisation theirs if
    they share one (else the most frequent, every one of them affected), detected when the first
    of them was first seen. From a ``template``: its PAP and RSIT class, its TLP if higher than
    ``tlp``, and its tasks (in ``lang``). An alert already in an incident is a Conflict naming them
    all (the incident is not opened)."""
    if not alerts:
        raise InvalidInput(N_("Select at least one alert."))
    taken = [a for a in alerts if a.case_id is not None]
    if taken:
        raise Conflict(N_("These alerts are already in an incident: %(alerts)s."),
                       alerts=", ".join(f"#{a.id} (#{a.case_id})" for a in taken),
                       alert_ids=[a.id for a in taken])
    title = title.strip() or alerts[0].rule_title
    if len(title) > 300:
        raise InvalidInput(N_("A title is at most %(max)s characters."), max=300)
    tpl = get_template(s, template) if template else None
    chosen = highest(TLP.parse(tlp), TLP.parse(tpl.tlp)) if tpl else TLP.parse(tlp)
    severity = max((a.severity for a in alerts), key=lambda sev: SEVERITY_RANK.get(sev, 0))
    orgs = Counter(a.organization for a in alerts if a.organization)
    primary = sorted(orgs.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] if orgs else None
    derived = TLP.CLEAR
    for alert in alerts:
        derived = highest(derived, alert_tlp(alert))
    case = Case(
        title=title, description="", severity=severity, tlp=chosen.tag_value, title_tlp=derived.tag_value,
        pap=PAP.parse(tpl.pap).name.lower() if tpl else PAP.AMBER.name.lower(),
        rsit_class=(tpl.rsit_class if tpl and tpl.rsit_class else next((r for r in map(rsit_for, alerts) if r), "")),
        organization=primary, created_by=actor, attack=_techniques(alerts), template=tpl.key if tpl else None,
    )
    s.add(case)
    s.flush()
    if tpl is not None:
        add_template_tasks(s, case, tpl, actor, lang, datetime.now(UTC))
    ids = ", ".join(f"#{a.id}" for a in alerts)
    add_timeline(s, case, actor, "created", N_("Incident opened from %(count)s alert(s): %(alerts)s."),
                 {"alert_ids": [a.id for a in alerts]}, params={"count": len(alerts), "alerts": ids})
    _link(s, case, alerts, evidence, constituency, actor, remote_addr)
    audit.record(s, actor, "case.create", "case", case.id, remote_addr, alert_ids=[a.id for a in alerts])
    return case


@dataclass
class Linked:
    """The alerts added to an incident, and those left because they were in one already."""

    added: list[int] = field(default_factory=list)
    skipped: dict[int, int] = field(default_factory=dict)  # alert id: its incident


def add_to_incident(s: Session, case: Case, alerts: Sequence[Alert], actor: str, evidence: Evidence,
                    constituency: Constituency, *, remote_addr: str = "") -> Linked:
    """Add alerts to an existing incident, each with a timeline entry; an alert already in an
    incident (this one or another) is left and reported."""
    result = Linked()
    fresh = []
    for alert in alerts:
        if alert.case_id is not None:
            result.skipped[alert.id] = alert.case_id
        else:
            fresh.append(alert)
    if not fresh:
        return result
    for alert in fresh:
        add_timeline(s, case, actor, "alert", N_("Alert #%(alert)s added: %(rule)s (%(count)s event(s))."),
                     {"alert_id": alert.id, "rule_id": alert.rule_id},
                     params={"alert": alert.id, "rule": alert.rule_title, "count": alert.count})
    _link(s, case, fresh, evidence, constituency, actor, remote_addr)
    case.attack = _techniques(fresh, case.attack or [])
    audit.record(s, actor, "case.alerts", "case", case.id, remote_addr, alert_ids=[a.id for a in fresh])
    result.added = [a.id for a in fresh]
    return result
