"""Countermeasures of an incident: an address blocked, a domain sinkholed, an account disabled...
with the organisation that acts (a ministry of the constituency, or the CERT itself) and where it
stands. The target is checked against its kind (an IP address to block, a domain to sinkhole);
a status changes only along ``TRANSITIONS``, and a failed or impossible one says why.

``record_countermeasure`` and ``change_status`` are what the console, the API and the playbooks
call; each change goes on the incident's timeline and into the audit trail."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.constituency.directory import Constituency
from cert.core.errors import N_, Conflict, InvalidInput, NotFound
from cert.core.observables import check_observable, normalize, normalize_domain
from cert.incidents.cases import add_timeline
from cert.storage import audit
from cert.storage.models import Case, Countermeasure

KINDS = ("block-ip", "block-domain", "sinkhole", "disable-account", "reset-password", "isolate-host", "takedown",
         "patch", "other")
STATUSES = ("proposed", "requested", "in-progress", "done", "failed", "impossible", "reverted")
#: the statuses each status may change to
TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"requested", "in-progress", "done", "impossible"}),
    "requested": frozenset({"in-progress", "done", "failed", "impossible"}),
    "in-progress": frozenset({"done", "failed", "impossible"}),
    "done": frozenset({"reverted"}),
    "failed": frozenset({"requested", "in-progress"}),
    "impossible": frozenset(),
    "reverted": frozenset({"requested"}),
}
#: statuses that need a comment saying why
NEEDS_REASON = frozenset({"failed", "impossible"})
#: what the organisation a countermeasure was requested of may answer, and from which statuses
ANSWERS = ("done", "impossible")
ANSWERABLE = frozenset({"requested", "in-progress"})
MAX_COMMENT = 5000


def _invalid_target(kind: str, target: str) -> InvalidInput:
    messages = {
        "block-ip": N_("A block-ip countermeasure needs an IP address or network: %(target)s is not one."),
        "block-domain": N_("A %(kind)s countermeasure needs a domain name: %(target)s is not one."),
        "sinkhole": N_("A %(kind)s countermeasure needs a domain name: %(target)s is not one."),
        "disable-account": N_("A %(kind)s countermeasure needs an account name: %(target)s is not one."),
        "reset-password": N_("A %(kind)s countermeasure needs an account name: %(target)s is not one."),
        "isolate-host": N_("An isolate-host countermeasure needs a host name or an IP address: %(target)s is not "
                           "one."),
        "takedown": N_("A takedown countermeasure needs a URL or a domain name: %(target)s is not one."),
    }
    return InvalidInput(messages.get(kind, N_("%(target)s is not a valid target.")), kind=kind,
                        target=target[:200])


def _domain(text: str) -> str:
    """A domain name, normalised; an IP address is not one (though its labels look like one's)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return normalize_domain(text)
    raise InvalidInput(N_("%(target)s is not a valid target."), target=text[:200])


def check_target(kind: str, target: str) -> str:
    """The target in its stored form, checked against ``kind`` (InvalidInput saying what it needs)."""
    if kind not in KINDS:
        raise InvalidInput(N_("Unknown countermeasure kind %(kind)s (expected one of %(expected)s)."),
                           kind=kind[:40], expected=", ".join(KINDS))
    target = target.strip()
    if not target:
        if kind == "other":
            return ""
        raise InvalidInput(N_("A %(kind)s countermeasure needs a target."), kind=kind)
    if len(target) > 2048 or not target.isprintable():
        raise _invalid_target(kind, target)
    try:
        if kind == "block-ip":
            return normalize("ip", target)[1]
        if kind in ("block-domain", "sinkhole"):
            return _domain(target)
        if kind in ("disable-account", "reset-password"):
            check_observable("user", target)
        elif kind == "isolate-host":
            try:
                return str(ipaddress.ip_address(target))
            except ValueError:
                check_observable("hostname", target)
        elif kind == "takedown":
            if "/" in target or ":" in target:
                check_observable("url", target)
            else:
                return _domain(target)
    except InvalidInput:
        raise _invalid_target(kind, target) from None
    return target


def check_organization(constituency: Constituency, ref: str | None) -> str | None:
    """The name of the organisation that acts (by id or name); None: the CERT itself."""
    ref = (ref or "").strip()
    if not ref:
        return None
    org = constituency.by_id(ref) or constituency.by_name(ref)
    if org is None:
        raise InvalidInput(N_("%(organization)s is not an organisation of the constituency."),
                           organization=ref[:200])
    return org.name


def _comment(comment: str) -> str:
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(N_("A comment is at most %(max)s characters."), max=MAX_COMMENT)
    return comment.strip()


def list_countermeasures(s: Session, case_id: int) -> list[Countermeasure]:
    return list(s.scalars(select(Countermeasure).where(Countermeasure.case_id == case_id)
                          .order_by(Countermeasure.id)))


def get_countermeasure(s: Session, case: Case, cm_id: int) -> Countermeasure:
    cm = s.get(Countermeasure, cm_id)
    if cm is None or cm.case_id != case.id:
        raise NotFound(N_("Incident #%(case)s has no countermeasure #%(id)s."), case=case.id, id=cm_id)
    return cm


def record_countermeasure(s: Session, case: Case, actor: str, kind: str, target: str, *,
                          constituency: Constituency, organization: str | None = None, status: str = "proposed",
                          comment: str = "", playbook_run_id: int | None = None,
                          remote_addr: str = "") -> Countermeasure:
    """Record a countermeasure on an incident (by hand, or from a playbook run)."""
    target = check_target(kind, target)
    if status not in STATUSES:
        raise InvalidInput(N_("Unknown countermeasure status %(status)s (expected one of %(expected)s)."),
                           status=status[:40], expected=", ".join(STATUSES))
    comment = _comment(comment)
    if status in NEEDS_REASON and not comment:
        raise InvalidInput(N_("A countermeasure that is %(status)s needs a comment saying why."), status=status)
    cm = Countermeasure(case_id=case.id, kind=kind, target=target,
                        organization=check_organization(constituency, organization), status=status,
                        comment=comment, playbook_run_id=playbook_run_id, created_by=actor,
                        done_at=datetime.now(UTC) if status == "done" else None)
    s.add(cm)
    s.flush()
    add_timeline(s, case, actor, "countermeasure", N_("Countermeasure #%(id)s (%(kind)s %(target)s): %(status)s"),
                 {"countermeasure_id": cm.id, "playbook_run_id": playbook_run_id},
                 params={"id": cm.id, "kind": kind, "target": target, "status": status})
    audit.record(s, actor, "case.countermeasure.add", "case", case.id, remote_addr, countermeasure_id=cm.id,
                 kind=kind, target=target, organization=cm.organization, status=status)
    return cm


def change_status(s: Session, case: Case, cm_id: int, status: str, actor: str, comment: str = "",
                  remote_addr: str = "") -> Countermeasure:
    """Move a countermeasure to ``status`` along ``TRANSITIONS`` (Conflict otherwise); ``failed``
    and ``impossible`` need a comment. The comment, if any, replaces the previous one."""
    cm = get_countermeasure(s, case, cm_id)
    if status not in STATUSES:
        raise InvalidInput(N_("Unknown countermeasure status %(status)s (expected one of %(expected)s)."),
                           status=status[:40], expected=", ".join(STATUSES))
    comment = _comment(comment)
    if status == cm.status:
        if comment and comment != cm.comment:
            cm.comment = comment
            audit.record(s, actor, "case.countermeasure.comment", "case", case.id, remote_addr,
                         countermeasure_id=cm.id)
        return cm
    if status not in TRANSITIONS[cm.status]:
        allowed = ", ".join(sorted(TRANSITIONS[cm.status])) or "—"
        raise Conflict(N_("Countermeasure #%(id)s cannot go from %(old)s to %(new)s (allowed: %(allowed)s)."),
                       id=cm.id, old=cm.status, new=status, allowed=allowed)
    if status in NEEDS_REASON and not comment:
        raise InvalidInput(N_("A countermeasure that is %(status)s needs a comment saying why."), status=status)
    old, cm.status = cm.status, status
    if comment:
        cm.comment = comment
    cm.done_at = datetime.now(UTC) if status == "done" else cm.done_at if status == "reverted" else None
    cm.updated_at = datetime.now(UTC)
    message = (N_("Countermeasure #%(id)s (%(kind)s %(target)s): %(old)s → %(new)s. %(comment)s") if comment
               else N_("Countermeasure #%(id)s (%(kind)s %(target)s): %(old)s → %(new)s"))
    add_timeline(s, case, actor, "countermeasure", message,
                 {"countermeasure_id": cm.id, "from": old, "to": status},
                 params={"id": cm.id, "kind": cm.kind, "target": cm.target, "old": old, "new": status,
                         "comment": comment})
    audit.record(s, actor, "case.countermeasure.status", "case", case.id, remote_addr, countermeasure_id=cm.id,
                 previous=old, status=status, comment=comment)
    return cm


def answer_request(s: Session, case: Case, cm: Countermeasure, status: str, actor: str, reason: str = "",
                   remote_addr: str = "") -> Countermeasure:
    """The organisation a countermeasure was requested of answers: ``done`` (the reason optional)
    or ``impossible`` (with a reason). Only a requested or in-progress one may be answered
    (Conflict otherwise: it was answered already, or withdrawn)."""
    if status not in ANSWERS:
        raise InvalidInput(N_("Answer %(status)s is not one of %(expected)s."), status=status[:40],
                           expected=", ".join(ANSWERS))
    if cm.status not in ANSWERABLE:
        raise Conflict(N_("Countermeasure #%(id)s is %(status)s: it no longer awaits an answer."), id=cm.id,
                       status=cm.status)
    return change_status(s, case, cm.id, status, actor, reason, remote_addr)


def set_organization(s: Session, case: Case, cm_id: int, organization: str | None, actor: str, *,
                     constituency: Constituency, remote_addr: str = "") -> Countermeasure:
    cm = get_countermeasure(s, case, cm_id)
    name = check_organization(constituency, organization)
    if name != cm.organization:
        cm.organization = name
        audit.record(s, actor, "case.countermeasure.organization", "case", case.id, remote_addr,
                     countermeasure_id=cm.id, organization=name)
    return cm


def delete_countermeasure(s: Session, case: Case, cm_id: int, actor: str, remote_addr: str = "") -> None:
    """Remove a countermeasure still only proposed (one that was acted upon stays on record)."""
    cm = get_countermeasure(s, case, cm_id)
    if cm.status != "proposed":
        raise Conflict(N_("Countermeasure #%(id)s was %(status)s: it stays on record (change its status "
                          "instead)."), id=cm.id, status=cm.status)
    add_timeline(s, case, actor, "countermeasure", N_("Countermeasure #%(id)s (%(kind)s %(target)s) withdrawn"),
                 {"countermeasure_id": cm.id}, params={"id": cm.id, "kind": cm.kind, "target": cm.target})
    audit.record(s, actor, "case.countermeasure.delete", "case", case.id, remote_addr, countermeasure_id=cm.id)
    s.delete(cm)
