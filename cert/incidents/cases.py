"""Incidents (cases): lookup and lists with their filters, promotion from alerts, observables,
timeline, TLP and notes; every change leaves a timeline entry. Editing the other fields, closing
and reopening: ``cert.incidents.lifecycle``; merging: ``cert.incidents.merge``."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from cert.accounts.access import has_role
from cert.constituency.directory import Constituency
from cert.core.ecs import Event, get
from cert.core.errors import N_, Conflict, Forbidden, InvalidInput, NotFound
from cert.core.observables import check_observable
from cert.core.tlp import PAP, TLP, highest
from cert.runtime.platform import Platform
from cert.storage import audit
from cert.storage.models import Alert, Case, CaseOrganization, Observable, TimelineEntry

STATUSES = ("open", "contained", "closed")
SEVERITIES = ("informational", "low", "medium", "high", "critical")
#: the orders an incident list may be sorted in (a leading ``-``: descending)
SORTS = ("id", "-id", "severity", "-severity", "status", "-status", "updated", "-updated", "title", "-title")
OBSERVABLE_TYPES = ("ip", "domain", "url", "user", "hostname", "user-agent", "md5", "sha1", "sha256", "email")


def get_case(s: Session, case_id: int, *, organizations: Collection[str] | None = None) -> Case:
    """The case; NotFound when there is none, or when neither its organisation nor one of the
    organisations it affects is of ``organizations`` (the same answer: whoever may not see a case
    does not learn that it exists)."""
    case = s.get(Case, case_id)
    if case is None or not visible_to(case, organizations):
        raise NotFound(N_("Incident #%(id)s does not exist."), id=case_id)
    return case


def visible_to(case: Case, organizations: Collection[str] | None) -> bool:
    """Whether a case is in the view of ``organizations`` (None: everything)."""
    if organizations is None:
        return True
    return case.organization in organizations or any(a.organization in organizations for a in case.affected)


def _visible(q: Select[Any], organizations: Collection[str] | None) -> Select[Any]:
    """``q`` narrowed to the cases recorded with, or affecting, one of ``organizations`` (None: all
    cases; a case of no organisation is never in a narrowed view)."""
    if organizations is None:
        return q
    orgs = sorted(organizations)
    affecting = select(CaseOrganization.case_id).where(CaseOrganization.organization.in_(orgs))
    return q.where(or_(Case.organization.in_(orgs), Case.id.in_(affecting)))


@dataclass(frozen=True)
class CaseFilter:
    """What an incident list is narrowed to; an empty field does not narrow it."""

    status: str = ""
    severity: str = ""
    organization: str = ""
    assignee: str = ""
    rsit: str = ""
    tlp: str = ""
    text: str = ""
    sort: str = "-id"

    def apply(self, q: Select[Any]) -> Select[Any]:
        if self.status:
            q = q.where(Case.status == self.status)
        if self.severity:
            q = q.where(Case.severity == self.severity)
        if self.organization:
            affecting = select(CaseOrganization.case_id).where(CaseOrganization.organization == self.organization)
            q = q.where(or_(Case.organization == self.organization, Case.id.in_(affecting)))
        if self.assignee:
            q = q.where(Case.assignee == self.assignee)
        if self.rsit:  # a type, or a whole class
            q = q.where(Case.rsit_class == self.rsit if ":" in self.rsit
                        else Case.rsit_class.startswith(self.rsit + ":", autoescape=True))
        if self.tlp:
            q = q.where(Case.tlp == TLP.parse(self.tlp).tag_value)
        if self.text.strip():
            q = q.where(Case.title.icontains(self.text.strip()[:200], autoescape=True))
        return q

    def order(self, q: Select[Any]) -> Select[Any]:
        sort = self.sort if self.sort in SORTS else "-id"
        column: Any = {"id": Case.id, "severity": _severity_rank(), "status": Case.status,
                       "updated": Case.updated_at, "title": Case.title}[sort.lstrip("-")]
        return q.order_by(column.desc() if sort.startswith("-") else column.asc(), Case.id.desc())


def _severity_rank() -> Any:
    from sqlalchemy import case as sql_case

    return sql_case({name: rank for rank, name in enumerate(SEVERITIES)}, value=Case.severity, else_=-1)


def list_cases(s: Session, limit: int = 200, offset: int = 0, *,
               organizations: Collection[str] | None = None, filters: CaseFilter | None = None) -> list[Case]:
    """A page of the cases, the most recent first unless ``filters`` sorts them otherwise, with
    their affected organisations (read in one statement for the page);
    ``organizations``: only the cases of these (``cert.accounts.access.Scope.recorded``); None: all."""
    f = filters or CaseFilter()
    q = f.order(f.apply(_visible(select(Case), organizations))).options(selectinload(Case.affected))
    return list(s.scalars(q.offset(offset).limit(limit)))


def count_cases(s: Session, *, organizations: Collection[str] | None = None,
                filters: CaseFilter | None = None) -> int:
    f = filters or CaseFilter()
    return int(s.scalar(f.apply(_visible(select(func.count()).select_from(Case), organizations))) or 0)


def add_timeline(
    s: Session, case: Case, actor: str, kind: str, message: str, data: dict[str, Any] | None = None, *,
    params: Mapping[str, object] | None = None,
) -> TimelineEntry:
    """Put an entry on the case's timeline. ``message`` is a message id: English text marked with
    ``N_`` whose ``%(name)s`` placeholders are filled from ``params``; it is stored with its values
    and shown in the reader's language (``web.vocabulary.timeline_message``). Free text someone
    typed (a comment) goes in ``params``, never in the message id. A value may be text in each
    language (``{"fr": ..., "en": ...}``), or a message of its own (``{"message": id, "params":
    {...}}``, a reason made of a message id and its values): it is shown in the reader's."""
    values: dict[str, Any] = {}
    for k, v in (params or {}).items():
        if isinstance(v, Mapping) and "message" in v:
            inner = v.get("params") if isinstance(v.get("params"), Mapping) else {}
            values[k] = {"message": str(v["message"]),
                         "params": {str(pk): pv if isinstance(pv, (str, int, float, bool)) else str(pv)
                                    for pk, pv in (inner or {}).items()}}
        elif isinstance(v, Mapping):
            values[k] = {str(lang): str(text) for lang, text in v.items()}
        else:
            values[k] = v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
    english = {k: _english(v) for k, v in values.items()}
    try:
        text = message % english if english else message
    except (KeyError, ValueError, TypeError):
        text = message
    entry = TimelineEntry(actor=actor, kind=kind, message=text, message_id=message, params=values, data=data or {})
    case.timeline.append(entry)  # loads the timeline first when it was not; saved with the case
    s.add(entry)
    return entry


def _english(value: Any) -> Any:
    if isinstance(value, dict) and "message" in value:
        try:
            return value["message"] % value["params"]
        except (KeyError, ValueError, TypeError):
            return value["message"]
    return value.get("en", "") if isinstance(value, dict) else value


def add_observable(
    s: Session, case: Case, type_: str, value: str, tlp: str | None = None, ioc: bool = True, comment: str = ""
) -> Observable | None:
    """Add an observable unless the case has it already. Returns the new one, or None. A value
    that is not one of its type (``check_observable``) is kept as evidence, marked invalid with
    the reason, and is never an indicator."""
    if type_ not in OBSERVABLE_TYPES:
        raise InvalidInput(N_("Unknown observable type %(type)s (expected one of %(types)s)."), type=type_[:40],
                           types=", ".join(OBSERVABLE_TYPES))
    value = value.strip()[:2048]
    if not value:
        raise InvalidInput(N_("An observable needs a value."))
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
        description="",
        severity=alert.severity,
        tlp=label.tag_value,
        title_tlp=alert_tlp.tag_value,
        pap=PAP.AMBER.name.lower(),
        rsit_class=rsit_for(alert),
        organization=alert.organization,
        created_by=actor,
        detected_at=alert.first_seen,
        acknowledged_at=datetime.now(UTC),  # promoting an alert is an analyst's action on it
    )
    if alert.organization:
        case.affected.append(CaseOrganization(organization=alert.organization))
    s.add(case)
    s.flush()
    alert.case_id = case.id
    alert.status = "promoted"
    add_timeline(s, case, actor, "created", N_("Incident opened from alert #%(alert)s: %(rule)s"),
                 {"alert_id": alert.id, "rule_id": alert.rule_id, "count": alert.count},
                 params={"alert": alert.id, "rule": alert.rule_title})
    if label is not chosen:
        sources = tlp_raisers(alert, chosen)
        add_timeline(s, case, actor, "tlp_raised",
                     N_("TLP raised from %(old)s to %(new)s because of the indicator from %(sources)s."),
                     {"from": chosen.tag_value, "to": label.tag_value, "sources": sources, "alert_id": alert.id},
                     params={"old": chosen.label, "new": label.label, "sources": ", ".join(sources) or "?"})
    for type_, value, ioc in observables_from_events(evidence, constituency):
        add_observable(s, case, type_, value, ioc=ioc, comment=f"alert #{alert.id}")
    audit.record(s, actor, "case.create", "case", case.id, alert_id=alert.id)
    return case


# A first RSIT class from ATT&CK: techniques (the more precise) first, then tactics.
_RSIT_BY_TECHNIQUE = (
    ("t1110", "intrusion-attempts:login-attempts"),  # brute force
    ("t1078", "intrusions:unprivileged-account-compromise"),  # valid accounts
    ("t1190", "intrusion-attempts:exploit-known-vuln"),  # exploit public-facing application
    ("t1595", "information-gathering:scanner"),  # active scanning
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
    data = {"from": old.tag_value, "to": new.tag_value, "reason": reason}
    if reason:
        add_timeline(s, case, actor, "tlp", N_("TLP changed from %(old)s to %(new)s. Reason: %(reason)s"), data,
                     params={"old": old.label, "new": new.label, "reason": reason})
    else:
        add_timeline(s, case, actor, "tlp", N_("TLP changed from %(old)s to %(new)s"), data,
                     params={"old": old.label, "new": new.label})
    audit.record(s, actor, "case.tlp.lower" if lowering else "case.tlp", "case", case.id, remote_addr,
                 tlp=new.tag_value, previous=old.tag_value, reason=reason)
    return old, new


def add_note(s: Session, case: Case, actor: str, text: str) -> None:
    """A note on the timeline: the text as typed, in every language."""
    text = text.strip()
    if not text:
        raise InvalidInput(N_("A note cannot be empty."))
    if len(text) > 20000:
        raise InvalidInput(N_("A note is at most %(max)s characters."), max=20000)
    add_timeline(s, case, actor, "note", N_("%(text)s"), params={"text": text})
    audit.record(s, actor, "case.note", "case", case.id)
