"""Cases: promotion from alerts, observables, timeline, status; every change leaves an entry."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from cert.accounts.access import has_role
from cert.constituency.directory import Constituency
from cert.core.ecs import Event, get
from cert.core.errors import N_, Conflict, Forbidden, InvalidInput, NotFound
from cert.core.observables import check_observable
from cert.core.tlp import PAP, TLP, highest
from cert.runtime.platform import Platform
from cert.storage import audit
from cert.storage.models import Alert, Case, Observable, TimelineEntry

STATUSES = ("open", "contained", "closed")
OBSERVABLE_TYPES = ("ip", "domain", "url", "user", "hostname", "user-agent", "md5", "sha1", "sha256", "email")


def get_case(s: Session, case_id: int, *, organizations: Collection[str] | None = None) -> Case:
    """The case; NotFound when there is none, or when it is not of ``organizations`` (the same
    answer: whoever may not see a case does not learn that it exists)."""
    case = s.get(Case, case_id)
    if case is None or (organizations is not None and case.organization not in organizations):
        raise NotFound(f"case {case_id} does not exist")
    return case


def _visible(q: Select[Any], organizations: Collection[str] | None) -> Select[Any]:
    """``q`` narrowed to the cases recorded with one of ``organizations`` (None: all cases; a case
    of no organisation is never in a narrowed view)."""
    return q if organizations is None else q.where(Case.organization.in_(sorted(organizations)))


def list_cases(s: Session, limit: int = 200, offset: int = 0, *,
               organizations: Collection[str] | None = None) -> list[Case]:
    """A page of the cases, the most recent first; ``organizations``: only the cases of these
    (``cert.accounts.access.Scope.recorded``); None: all."""
    q = _visible(select(Case), organizations)
    return list(s.scalars(q.order_by(Case.id.desc()).offset(offset).limit(limit)))


def count_cases(s: Session, *, organizations: Collection[str] | None = None) -> int:
    return int(s.scalar(_visible(select(func.count()).select_from(Case), organizations)) or 0)


def add_timeline(
    s: Session, case: Case, actor: str, kind: str, message: str, data: dict[str, Any] | None = None, *,
    params: Mapping[str, object] | None = None,
) -> TimelineEntry:
    """Put an entry on the case's timeline. ``message`` is a message id: English text marked with
    ``N_`` whose ``%(name)s`` placeholders are filled from ``params``; it is stored with its values
    and shown in the reader's language (``web.vocabulary.timeline_message``). Free text someone
    typed (a comment) goes in ``params``, never in the message id."""
    values = {k: v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
              for k, v in (params or {}).items()}
    try:
        text = message % values if values else message
    except (KeyError, ValueError, TypeError):
        text = message
    entry = TimelineEntry(case_id=case.id, actor=actor, kind=kind, message=text, message_id=message,
                          params=values, data=data or {})
    s.add(entry)
    case.timeline.append(entry)
    return entry


def add_observable(
    s: Session, case: Case, type_: str, value: str, tlp: str | None = None, ioc: bool = True, comment: str = ""
) -> Observable | None:
    """Add an observable unless the case has it already. Returns the new one, or None. A value
    that is not one of its type (``check_observable``) is kept as evidence, marked invalid with
    the reason, and is never an indicator."""
    if type_ not in OBSERVABLE_TYPES:
        raise InvalidInput(f"unknown observable type {type_!r} (expected one of {', '.join(OBSERVABLE_TYPES)})")
    value = value.strip()[:2048]
    if not value:
        raise InvalidInput("an observable needs a value")
    tlp_label = TLP.parse(tlp or case.tlp).tag_value
    if any(o.type == type_ and o.value == value for o in case.observables):
        return None
    reason = ""
    try:
        check_observable(type_, value)
    except InvalidInput as exc:
        reason, ioc = str(exc)[:300], False
    obs = Observable(case_id=case.id, type=type_, value=value, tlp=tlp_label, ioc=ioc, comment=comment,
                     valid=not reason, invalid_reason=reason)
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
            ("user_agent.original", "user-agent", True),  # shared, though never as an IDS indicator
            ("url.domain", "domain", False),
        ):
            v = get(ev, field)
            if v:
                found.setdefault((type_, str(v)), ioc)
    return [(t, v, ioc) for (t, v), ioc in found.items()]


def tlp_raisers(alert: Alert, chosen: TLP) -> list[str]:
    """The indicator sources of an alert whose TLP is above ``chosen`` (they raise a case's TLP)."""
    sources = (alert.entities or {}).get("indicator", {}).get("sources", [])
    out: list[str] = []
    for src in sources:
        try:
            if TLP.parse(str(src.get("tlp", "clear"))).value > chosen.value:
                out.append(str(src.get("source", "")))
        except InvalidInput:
            continue
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Promotion:
    """A case opened from an alert, and the TLP it was raised to (None when the chosen one held)
    with the indicator sources that raised it."""

    case_id: int
    raised_to: TLP | None = None
    raised_by: list[str] = dataclasses.field(default_factory=list)


def open_case(platform: Platform, alert_id: int, actor: str, title: str | None = None,
              tlp: str = "amber") -> Promotion:
    """Open a case from an alert with its evidence events (console and API)."""
    chosen = TLP.parse(tlp)
    with platform.db.session() as s:
        alert = s.get(Alert, alert_id)
        if alert is None:
            raise NotFound(N_("Alert #%(id)s does not exist."), id=alert_id)
        evidence = platform.events.get(alert.event_ids)
        case = promote_alert(s, alert, evidence, actor, platform.constituency, title=title, tlp=chosen.tag_value)
        label = TLP.parse(case.tlp)
        raised = label if label is not chosen else None
        return Promotion(case.id, raised, tlp_raisers(alert, chosen) if raised else [])


def promote_alert(
    s: Session,
    alert: Alert,
    evidence: Sequence[Event],
    actor: str,
    constituency: Constituency,
    title: str | None = None,
    tlp: str = "amber",
) -> Case:
    """Open a case from an alert. An alert already in a case raises Conflict naming the case (the
    chosen title and TLP would not apply). The case's TLP is at least the alert's (a partner's
    indicator keeps its TLP; the raise goes on the timeline with the sources that caused it), and
    its title carries the alert's TLP (``title_tlp``), whoever typed it: it was written from the
    alert."""
    if alert.case_id is not None:
        raise Conflict(N_("Alert #%(alert)s is already in case #%(case)s: the title and TLP you chose were not "
                          "applied."), alert=alert.id, case=alert.case_id, case_id=alert.case_id)
    chosen = TLP.parse(tlp)
    alert_tlp = TLP.parse(alert.tlp or "clear")
    shared = (alert.entities or {}).get("indicator", {}).get("tlp")  # a partner's indicator keeps its TLP
    if shared:
        alert_tlp = highest(alert_tlp, TLP.parse(shared))
    label = highest(chosen, alert_tlp)
    case = Case(
        title=(title or alert.rule_title)[:300],
        description=f"Promoted from alert #{alert.id} ({alert.rule_id}).",
        severity=alert.severity,
        tlp=label.tag_value,
        title_tlp=alert_tlp.tag_value,
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
    if label is not chosen:
        sources = tlp_raisers(alert, chosen)
        add_timeline(s, case, actor, "tlp_raised",
                     f"TLP raised from {chosen.label} to {label.label} because of indicator source(s) "
                     f"{', '.join(sources) or '?'}",
                     {"from": chosen.tag_value, "to": label.tag_value, "sources": sources, "alert_id": alert.id})
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


def set_tlp(s: Session, case: Case, tlp: str, actor: str, role: str, reason: str = "",
            remote_addr: str = "") -> tuple[TLP, TLP]:
    """Change a case's TLP; returns (old, new). Raising it is open to every analyst. Lowering it
    widens who may receive the case: only a responder or an admin may, with a reason, and the
    change and its reason are audited. The title's own TLP (``title_tlp``) never goes down."""
    old, new = TLP.parse(case.tlp), TLP.parse(tlp)
    if new is old:
        return old, new
    reason = reason.strip()
    lowering = new.value < old.value
    if lowering and not has_role(role, "responder"):
        raise Forbidden(N_("Lowering a case's TLP needs the responder role."), old=old.label, new=new.label)
    if lowering and not reason:
        raise InvalidInput(N_("Lowering a case's TLP needs a reason."))
    if len(reason) > 1000:
        raise InvalidInput(N_("A reason is at most %(max)s characters."), max=1000)
    case.tlp = new.tag_value
    add_timeline(s, case, actor, "tlp",
                 f"TLP changed from {old.label} to {new.label}" + (f": {reason}" if reason else ""),
                 {"from": old.tag_value, "to": new.tag_value, "reason": reason})
    audit.record(s, actor, "case.tlp.lower" if lowering else "case.tlp", "case", case.id, remote_addr,
                 tlp=new.tag_value, previous=old.tag_value, reason=reason)
    return old, new


def add_note(s: Session, case: Case, actor: str, text: str) -> None:
    text = text.strip()
    if not text:
        raise InvalidInput("a note cannot be empty")
    if len(text) > 20000:
        raise InvalidInput("a note is at most 20,000 characters")
    add_timeline(s, case, actor, "note", text)
    audit.record(s, actor, "case.note", "case", case.id)
