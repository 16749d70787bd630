"""Cases: promotion from alerts, observables, timeline, status; every change leaves an entry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cert.constituency.directory import Constituency
from cert.core.ecs import Event, get
from cert.core.errors import InvalidInput, NotFound
from cert.core.tlp import PAP, TLP
from cert.storage import audit
from cert.storage.models import Alert, Case, Observable, TimelineEntry

STATUSES = ("open", "contained", "closed")
OBSERVABLE_TYPES = ("ip", "domain", "url", "user", "hostname", "user-agent", "md5", "sha1", "sha256", "email")


def get_case(s: Session, case_id: int) -> Case:
    case = s.get(Case, case_id)
    if case is None:
        raise NotFound(f"case {case_id} does not exist")
    return case


def list_cases(s: Session, limit: int = 200, offset: int = 0) -> list[Case]:
    """A page of the cases, the most recent first."""
    return list(s.scalars(select(Case).order_by(Case.id.desc()).offset(offset).limit(limit)))


def count_cases(s: Session) -> int:
    return int(s.scalar(select(func.count()).select_from(Case)) or 0)


def add_timeline(
    s: Session, case: Case, actor: str, kind: str, message: str, data: dict[str, Any] | None = None
) -> TimelineEntry:
    entry = TimelineEntry(case_id=case.id, actor=actor, kind=kind, message=message, data=data or {})
    s.add(entry)
    case.timeline.append(entry)
    return entry


def add_observable(
    s: Session, case: Case, type_: str, value: str, tlp: str | None = None, ioc: bool = True, comment: str = ""
) -> Observable | None:
    """Add an observable unless the case has it already. Returns the new one, or None."""
    if type_ not in OBSERVABLE_TYPES:
        raise InvalidInput(f"unknown observable type {type_!r} (expected one of {', '.join(OBSERVABLE_TYPES)})")
    value = value.strip()
    if not value:
        raise InvalidInput("an observable needs a value")
    tlp_label = TLP.parse(tlp or case.tlp).tag_value
    if any(o.type == type_ and o.value == value for o in case.observables):
        return None
    obs = Observable(case_id=case.id, type=type_, value=value[:2048], tlp=tlp_label, ioc=ioc, comment=comment)
    s.add(obs)
    case.observables.append(obs)
    return obs


def observables_from_events(events: Sequence[Event], constituency: Constituency) -> list[tuple[str, str, bool]]:
    """(type, value, is_ioc) seen in evidence events. Our own addresses are not indicators."""
    found: dict[tuple[str, str], bool] = {}
    for ev in events:
        for side in ("source", "destination"):
            ip = get(ev, f"{side}.ip")
            if ip:
                found.setdefault(("ip", str(ip)), constituency.lookup(str(ip)) is None)
        for field, type_, ioc in (
            ("user.name", "user", False),
            ("host.name", "hostname", False),
            ("user_agent.original", "user-agent", True),
            ("url.domain", "domain", False),
        ):
            v = get(ev, field)
            if v:
                found.setdefault((type_, str(v)), ioc)
    return [(t, v, ioc) for (t, v), ioc in found.items()]


def promote_alert(
    s: Session,
    alert: Alert,
    evidence: Sequence[Event],
    actor: str,
    constituency: Constituency,
    title: str | None = None,
    tlp: str = "amber",
) -> Case:
    """Open a case from an alert (or return the case it was already promoted to)."""
    if alert.case_id is not None:
        return get_case(s, alert.case_id)
    label = TLP.parse(tlp)
    shared = (alert.entities or {}).get("indicator", {}).get("tlp")  # a partner's indicator keeps its TLP
    if shared and TLP.parse(shared).value > label.value:
        label = TLP.parse(shared)
    case = Case(
        title=(title or alert.rule_title)[:300],
        description=f"Promoted from alert #{alert.id} ({alert.rule_id}).",
        severity=alert.severity,
        tlp=label.tag_value,
        pap=PAP.AMBER.name.lower(),
        rsit_class=rsit_for(alert),
        organization=alert.organization,
        created_by=actor,
    )
    s.add(case)
    s.flush()
    alert.case_id = case.id
    alert.status = "promoted"
    add_timeline(s, case, actor, "created", f"Case opened from alert #{alert.id}: {alert.rule_title}",
                 {"alert_id": alert.id, "rule_id": alert.rule_id, "count": alert.count})
    for type_, value, ioc in observables_from_events(evidence, constituency):
        add_observable(s, case, type_, value, ioc=ioc, comment=f"from alert #{alert.id}")
    audit.record(s, actor, "case.create", "case", case.id, alert_id=alert.id)
    return case


# A first RSIT class from ATT&CK: techniques (the more precise) first, then tactics.
_RSIT_BY_TECHNIQUE = (
    ("t1110", "intrusion-attempts:login-attempts"),  # brute force
    ("t1078", "intrusions:unprivileged-account-compromise"),  # valid accounts
    ("t1190", "intrusion-attempts:exploit-known-vuln"),  # exploit public-facing application
)
_RSIT_BY_TACTIC = (
    ("credential-access", "intrusion-attempts:login-attempts"),
    ("initial-access", "intrusion-attempts:exploit-known-vuln"),
    ("reconnaissance", "information-gathering:scanner"),
    ("discovery", "information-gathering:scanner"),
)


def attack_tag(tag: str) -> str:
    """An ATT&CK tag in one spelling: ``attack.Credential_Access`` and ``credential access`` give
    ``credential-access``; a sub-technique gives its technique (``attack.t1110.001``: ``t1110``)."""
    name = tag.strip().lower().removeprefix("attack.").replace("_", "-").replace(" ", "-")
    if len(name) >= 5 and name[0] == "t" and name[1:5].isdigit():
        return name[:5]
    return name


def rsit_for(alert: Alert) -> str:
    """A first RSIT classification from the rule's ATT&CK tags; the analyst refines it."""
    tags = {attack_tag(t) for t in alert.attack}
    for key, rsit in _RSIT_BY_TECHNIQUE + _RSIT_BY_TACTIC:
        if key in tags:
            return rsit
    return ""


def set_status(s: Session, case: Case, status: str, actor: str) -> None:
    if status not in STATUSES:
        raise InvalidInput(f"unknown case status {status!r} (expected one of {', '.join(STATUSES)})")
    if status == case.status:
        return
    old, case.status = case.status, status
    case.closed_at = datetime.now(UTC) if status == "closed" else None
    add_timeline(s, case, actor, "status", f"Status changed from {old} to {status}", {"from": old, "to": status})
    audit.record(s, actor, "case.status", "case", case.id, status=status)


def set_tlp(s: Session, case: Case, tlp: str, actor: str) -> None:
    label = TLP.parse(tlp).tag_value
    if label == case.tlp:
        return
    old, case.tlp = case.tlp, label
    add_timeline(s, case, actor, "tlp", f"TLP changed from {old.upper()} to {label.upper()}")
    audit.record(s, actor, "case.tlp", "case", case.id, tlp=label)


def add_note(s: Session, case: Case, actor: str, text: str) -> None:
    text = text.strip()
    if not text:
        raise InvalidInput("a note cannot be empty")
    if len(text) > 20000:
        raise InvalidInput("a note is at most 20,000 characters")
    add_timeline(s, case, actor, "note", text)
    audit.record(s, actor, "case.note", "case", case.id)
