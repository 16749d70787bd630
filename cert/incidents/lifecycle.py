"""An incident's fields and life: title, description, severity, PAP, RSIT class, ATT&CK
techniques, affected organisations, assignee; status with its SLA clocks (acknowledged, contained,
closed), closing with a resolution, reopening. Every change goes on the timeline (a message id and
its values) and in the audit.

Timeline values under a key ending in ``_term`` are vocabulary words (an ``N_``-marked English
word: a severity, a status, a resolution, an RSIT label), shown translated."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.accounts.access import is_staff
from cert.constituency.directory import Constituency
from cert.core.errors import N_, Conflict, InvalidInput
from cert.core.tlp import PAP, TLP
from cert.incidents import rsit
from cert.incidents.cases import SEVERITIES, STATUSES, add_timeline
from cert.incidents.templates import get_template, name_in
from cert.storage import audit
from cert.storage.models import Case, CaseOrganization, IncidentTemplate, Task, User

#: how an incident ends, and its label (a message id)
RESOLUTIONS = {
    "true-positive": N_("true positive"),
    "false-positive": N_("false positive"),
    "benign": N_("benign"),
    "duplicate": N_("duplicate"),
}
_TECHNIQUE = re.compile(r"^T\d{4}(?:\.\d{3})?$")
MAX_TECHNIQUES = 50
MAX_ORGANIZATIONS = 50


def now() -> datetime:
    return datetime.now(UTC)


def validate_attack(values: Sequence[str]) -> list[str]:
    """ATT&CK technique ids in upper case (``t1059.001``: ``T1059.001``), once each, in order;
    InvalidInput naming the first that is not a technique id."""
    out: list[str] = []
    for raw in values:
        value = raw.strip().upper().removeprefix("ATTACK.")
        if not value:
            continue
        if not _TECHNIQUE.match(value):
            raise InvalidInput(N_("%(value)s is not an ATT&CK technique id (T1110, T1059.001)."), value=raw[:40])
        if value not in out:
            out.append(value)
    if len(out) > MAX_TECHNIQUES:
        raise InvalidInput(N_("At most %(max)s ATT&CK techniques."), max=MAX_TECHNIQUES)
    return out


def validate_organizations(constituency: Constituency, refs: Sequence[str]) -> list[str]:
    """The names of the organisations of the constituency named (by id or name) in ``refs``, once
    each, in order; InvalidInput naming one that is not of the constituency."""
    out: list[str] = []
    for ref in refs:
        ref = ref.strip()
        if not ref:
            continue
        org = constituency.by_id(ref) or constituency.by_name(ref)
        if org is None:
            raise InvalidInput(N_("%(organization)s is not an organisation of the constituency."),
                               organization=ref[:200])
        if org.name not in out:
            out.append(org.name)
    if len(out) > MAX_ORGANIZATIONS:
        raise InvalidInput(N_("At most %(max)s organisations."), max=MAX_ORGANIZATIONS)
    return out


def check_assignee(s: Session, username: str) -> str:
    """The username of an active staff account; InvalidInput otherwise."""
    user = s.scalar(select(User).where(User.username == username.strip()))
    if user is None or not user.active or user.deleted_at is not None or not is_staff(user.role):
        raise InvalidInput(N_("%(user)s is not an active analyst account."), user=username.strip()[:80])
    return user.username


def acknowledge(s: Session, case: Case, actor: str, *, explicit: bool = False, remote_addr: str = "") -> bool:
    """Start the acknowledge clock at the first analyst action (or an explicit acknowledgement);
    True when it was started now."""
    if case.acknowledged_at is not None:
        return False
    case.acknowledged_at = now()
    if explicit:
        add_timeline(s, case, actor, "acknowledged", N_("Incident acknowledged"))
        audit.record(s, actor, "case.acknowledge", "case", case.id, remote_addr)
    return True


@dataclass(frozen=True)
class Changes:
    """The fields to change; None leaves a field as it is."""

    title: str | None = None
    description: str | None = None
    severity: str | None = None
    pap: str | None = None
    rsit: str | None = None
    attack: Sequence[str] | None = None
    organizations: Sequence[str] | None = None  # the first one is the primary organisation
    assignee: str | None = None  # "" unassigns


def update_case(s: Session, case: Case, changes: Changes, actor: str, constituency: Constituency,
                remote_addr: str = "") -> list[str]:
    """Apply ``changes`` (each validated before anything is written); the names of the fields
    that changed."""
    title = _title(changes.title) if changes.title is not None else None
    if changes.description is not None and len(changes.description) > 100_000:
        raise InvalidInput(N_("A description is at most %(max)s characters."), max=100_000)
    if changes.severity is not None and changes.severity not in SEVERITIES:
        raise InvalidInput(N_("Unknown severity %(value)s (expected one of %(values)s)."),
                           value=changes.severity[:40], values=", ".join(SEVERITIES))
    pap = PAP.parse(changes.pap).name.lower() if changes.pap is not None else None
    rsit_value = rsit.validate(changes.rsit) if changes.rsit is not None else None
    attack = validate_attack(changes.attack) if changes.attack is not None else None
    orgs = validate_organizations(constituency, changes.organizations) if changes.organizations is not None else None
    assignee = (check_assignee(s, changes.assignee) if changes.assignee else "") \
        if changes.assignee is not None else None

    changed: list[str] = []
    if title is not None and title != case.title:
        add_timeline(s, case, actor, "title", N_("Title changed from “%(old)s” to “%(new)s”"),
                     {"from": case.title, "to": title}, params={"old": case.title, "new": title})
        case.title = title
        changed.append("title")
    if changes.description is not None and changes.description.strip() != case.description:
        case.description = changes.description.strip()
        add_timeline(s, case, actor, "description", N_("Description changed"))
        changed.append("description")
    if changes.severity is not None and changes.severity != case.severity:
        add_timeline(s, case, actor, "severity", N_("Severity changed from %(old_term)s to %(new_term)s"),
                     {"from": case.severity, "to": changes.severity},
                     params={"old_term": case.severity, "new_term": changes.severity})
        case.severity = changes.severity
        changed.append("severity")
    if pap is not None and pap != case.pap:
        add_timeline(s, case, actor, "pap", N_("PAP changed from %(old)s to %(new)s"), {"from": case.pap, "to": pap},
                     params={"old": PAP.parse(case.pap or "amber").label, "new": PAP.parse(pap).label})
        case.pap = pap
        changed.append("pap")
    if rsit_value is not None and rsit_value != case.rsit_class:
        if rsit_value:
            add_timeline(s, case, actor, "rsit", N_("RSIT class set to %(rsit_term)s (%(rsit)s)"),
                         {"from": case.rsit_class, "to": rsit_value},
                         params={"rsit_term": rsit.label(rsit_value), "rsit": rsit_value})
        else:
            add_timeline(s, case, actor, "rsit", N_("RSIT class removed"), {"from": case.rsit_class, "to": ""})
        case.rsit_class = rsit_value
        changed.append("rsit")
    if attack is not None and attack != list(case.attack or []):
        if attack:
            add_timeline(s, case, actor, "attack", N_("ATT&CK techniques: %(techniques)s"),
                         {"from": list(case.attack or []), "to": attack}, params={"techniques": ", ".join(attack)})
        else:
            add_timeline(s, case, actor, "attack", N_("ATT&CK techniques removed"), {"from": list(case.attack or [])})
        case.attack = attack
        changed.append("attack")
    if orgs is not None and set_organizations(s, case, orgs, actor):
        changed.append("organizations")
    if assignee is not None and assignee != (case.assignee or ""):
        assign(s, case, assignee, actor)
        changed.append("assignee")
    if changed:
        acknowledge(s, case, actor)
        audit.record(s, actor, "case.update", "case", case.id, remote_addr, fields=changed)
    return changed


def _title(value: str) -> str:
    title = value.strip()
    if not title:
        raise InvalidInput(N_("An incident needs a title."))
    if len(title) > 300:
        raise InvalidInput(N_("A title is at most %(max)s characters."), max=300)
    return title


def set_organizations(s: Session, case: Case, names: list[str], actor: str) -> bool:
    """The affected organisations (names of the constituency's), the first one primary; True when
    they changed."""
    before = (case.organization, sorted(a.organization for a in case.affected))
    primary = names[0] if names else None
    if before == (primary, sorted(names)):
        return False
    keep = set(names)
    for link in list(case.affected):
        if link.organization not in keep:
            case.affected.remove(link)
    present = {a.organization for a in case.affected}
    for name in names:
        if name not in present:
            case.affected.append(CaseOrganization(organization=name))
    case.organization = primary
    if names:
        add_timeline(s, case, actor, "organizations",
                     N_("Affected organisations: %(organizations)s (primary: %(primary)s)"),
                     {"from": before[1], "to": names}, params={"organizations": ", ".join(names), "primary": primary})
    else:
        add_timeline(s, case, actor, "organizations", N_("No affected organisation"), {"from": before[1], "to": []})
    return True


def assign(s: Session, case: Case, assignee: str, actor: str) -> None:
    """Give the incident to ``assignee`` (checked by the caller), or to nobody (""); the first
    assignment starts the acknowledge clock."""
    case.assignee = assignee or None
    if assignee:
        add_timeline(s, case, actor, "assignee", N_("Assigned to %(assignee)s"), {"assignee": assignee},
                     params={"assignee": assignee})
    else:
        add_timeline(s, case, actor, "assignee", N_("Unassigned"), {"assignee": None})
    acknowledge(s, case, actor)


def set_status(s: Session, case: Case, status: str, actor: str, *, resolution: str = "", comment: str = "",
               remote_addr: str = "") -> None:
    """Move the incident to ``status`` (open | contained | closed). Closing needs a resolution
    (``RESOLUTIONS``) and takes an optional comment; a closed incident set to open is reopened."""
    if status not in STATUSES:
        raise InvalidInput(N_("Unknown incident status %(value)s (expected one of %(values)s)."),
                           value=status[:40], values=", ".join(STATUSES))
    if status == "closed":
        close(s, case, resolution, actor, comment, remote_addr)
        return
    if case.status == "closed":
        reopen(s, case, actor, remote_addr)
    if status == case.status:
        return
    old, case.status = case.status, status
    if status == "contained" and case.contained_at is None:
        case.contained_at = now()
    add_timeline(s, case, actor, "status", N_("Status changed from %(old_term)s to %(new_term)s"),
                 {"from": old, "to": status}, params={"old_term": old, "new_term": status})
    acknowledge(s, case, actor)
    audit.record(s, actor, "case.status", "case", case.id, remote_addr, status=status)


def close(s: Session, case: Case, resolution: str, actor: str, comment: str = "", remote_addr: str = "",
          *, merged_into: int | None = None) -> None:
    """Close the incident with a resolution and an optional comment."""
    if resolution not in RESOLUTIONS:
        raise InvalidInput(N_("Closing an incident needs a resolution: true positive, false positive, benign or "
                              "duplicate."))
    comment = comment.strip()
    if len(comment) > 10_000:
        raise InvalidInput(N_("A comment is at most %(max)s characters."), max=10_000)
    if case.status == "closed":
        raise Conflict(N_("Incident #%(id)s is already closed."), id=case.id)
    old = case.status
    case.status, case.resolution, case.resolution_comment = "closed", resolution, comment
    case.closed_at = now()
    case.merged_into = merged_into
    data = {"from": old, "to": "closed", "resolution": resolution, "comment": comment}
    if comment:
        add_timeline(s, case, actor, "status", N_("Closed as %(resolution_term)s: %(comment)s"), data,
                     params={"resolution_term": RESOLUTIONS[resolution], "comment": comment})
    else:
        add_timeline(s, case, actor, "status", N_("Closed as %(resolution_term)s"), data,
                     params={"resolution_term": RESOLUTIONS[resolution]})
    acknowledge(s, case, actor)
    audit.record(s, actor, "case.close", "case", case.id, remote_addr, resolution=resolution)


def reopen(s: Session, case: Case, actor: str, remote_addr: str = "") -> None:
    """Open a closed incident again: its resolution, closing time and merge target are cleared."""
    if case.status != "closed":
        raise Conflict(N_("Incident #%(id)s is not closed."), id=case.id)
    previous = case.resolution or ""
    case.status, case.closed_at, case.resolution, case.resolution_comment = "open", None, None, ""
    case.merged_into = None
    add_timeline(s, case, actor, "status", N_("Reopened (it was closed as %(resolution_term)s)"),
                 {"from": "closed", "to": "open", "resolution": previous},
                 params={"resolution_term": RESOLUTIONS.get(previous, previous)})
    audit.record(s, actor, "case.reopen", "case", case.id, remote_addr, previous=previous)


def add_template_tasks(s: Session, case: Case, tpl: IncidentTemplate, actor: str, lang: str,
                       stamp: datetime) -> None:
    """The template's tasks on the incident, written in ``lang`` (the opener's language), each due
    its ``due_hours`` after ``stamp``."""
    for position, task in enumerate(tpl.tasks):
        texts, details = task.get("title") or {}, task.get("description") or {}
        hours = task.get("due_hours")
        s.add(Task(case_id=case.id, title=str(texts.get(lang) or texts.get("en") or texts.get("fr") or "?")[:300],
                   description=str(details.get(lang) or details.get("en") or details.get("fr") or ""),
                   due_at=stamp + timedelta(hours=int(hours)) if hours is not None else None,
                   created_by=actor, position=position))


@dataclass(frozen=True)
class NewIncident:
    """An incident opened by hand: what the analyst chose; a template fills what is left empty."""

    title: str
    description: str = ""
    severity: str = ""
    tlp: str = ""
    pap: str = ""
    rsit: str = ""
    attack: Sequence[str] = ()
    organizations: Sequence[str] = ()
    assignee: str = ""
    template: str = ""


def open_incident(s: Session, new: NewIncident, actor: str, constituency: Constituency, lang: str = "fr",
                  remote_addr: str = "") -> Case:
    """Open an incident by hand, from a template or none. A template's severity, TLP, PAP and RSIT
    class fill the fields left empty, and its tasks become the incident's, written in ``lang``
    (the opener's language), due ``due_hours`` after now."""
    tpl = get_template(s, new.template) if new.template else None
    title = _title(new.title)
    severity = new.severity or (tpl.severity if tpl else "medium")
    if severity not in SEVERITIES:
        raise InvalidInput(N_("Unknown severity %(value)s (expected one of %(values)s)."),
                           value=severity[:40], values=", ".join(SEVERITIES))
    label = TLP.parse(new.tlp or (tpl.tlp if tpl else "amber"))
    pap = PAP.parse(new.pap or (tpl.pap if tpl else "amber")).name.lower()
    rsit_value = rsit.validate(new.rsit or (tpl.rsit_class if tpl else ""))
    attack = validate_attack(new.attack)
    orgs = validate_organizations(constituency, new.organizations)
    assignee = check_assignee(s, new.assignee) if new.assignee else None
    if len(new.description) > 100_000:
        raise InvalidInput(N_("A description is at most %(max)s characters."), max=100_000)
    stamp = now()
    case = Case(title=title, description=new.description.strip(), severity=severity, tlp=label.tag_value,
                title_tlp=label.tag_value, pap=pap, rsit_class=rsit_value, attack=attack,
                organization=orgs[0] if orgs else None, created_by=actor, assignee=assignee,
                template=tpl.key if tpl else None, detected_at=stamp, acknowledged_at=stamp)
    case.affected = [CaseOrganization(organization=name) for name in orgs]
    s.add(case)
    s.flush()
    if tpl is not None:
        add_timeline(s, case, actor, "created", N_("Incident opened by hand from the template “%(template)s”"),
                     {"template": tpl.key}, params={"template": {lng: name_in(tpl, lng) for lng in ("fr", "en")}})
    else:
        add_timeline(s, case, actor, "created", N_("Incident opened by hand"))
    if assignee:
        add_timeline(s, case, actor, "assignee", N_("Assigned to %(assignee)s"), {"assignee": assignee},
                     params={"assignee": assignee})
    if tpl is not None:
        add_template_tasks(s, case, tpl, actor, lang, stamp)
    audit.record(s, actor, "case.create", "case", case.id, remote_addr, template=case.template)
    return case
