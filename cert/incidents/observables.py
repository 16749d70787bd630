"""Observables an analyst adds, edits and removes by hand, and where else they were seen.

Unlike what comes from evidence (``cases.add_observable`` keeps an invalid value, marked so), a
value typed by hand that is not one of its type is refused. Sightings: the other incidents that
hold the same (type, value) and the alerts from that address, both read in one grouped query per
kind for all the observables of an incident; the events that carry it are counted on request
(``event_sightings``), one observable at a time, since that reads the event store."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from cert.core.errors import N_, Conflict, InvalidInput, NotFound
from cert.core.event_store import EventQuery, EventStore
from cert.core.observables import check_observable, normalize
from cert.core.tlp import PAP, TLP
from cert.incidents.cases import OBSERVABLE_TYPES, add_observable, add_timeline
from cert.incidents.edits import KEEP, Keep
from cert.storage import audit
from cert.storage.models import Alert, Case, Observable

MAX_COMMENT = 5000
#: how many other incidents a sighting links to (the count covers them all)
MAX_LINKS = 20
#: the ECS fields that carry an observable of each type in events
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "ip": ("related.ip",),
    "domain": ("url.domain", "dns.question.name", "destination.domain"),
    "url": ("url.original", "url.full"),
    "user": ("related.user",),
    "hostname": ("related.hosts",),
    "user-agent": ("user_agent.original",),
    "md5": ("file.hash.md5",),
    "sha1": ("file.hash.sha1",),
    "sha256": ("file.hash.sha256",),
    "email": ("user.email", "email.from.address", "email.to.address"),
}


def canonical(type_: str, value: str) -> str:
    """The stored form of a value typed by hand (InvalidInput when it is not one of ``type_``):
    addresses in their canonical form, domains, e-mail addresses and hashes in lower case."""
    if type_ not in OBSERVABLE_TYPES:
        raise InvalidInput(N_("Unknown observable type %(type)s (expected one of %(expected)s)."),
                           type=type_[:40], expected=", ".join(OBSERVABLE_TYPES))
    value = value.strip()
    if not value:
        raise InvalidInput(N_("An observable needs a value."))
    try:
        check_observable(type_, value)
    except InvalidInput:
        raise InvalidInput(N_("%(value)s is not a valid value of type %(type)s."), value=value[:200],
                           type=type_) from None
    if type_ == "ip":
        return str(ipaddress.ip_address(value))
    if type_ in ("domain", "email", "md5", "sha1", "sha256"):
        return normalize(type_, value)[1]
    return value


def get_observable(s: Session, case: Case, observable_id: int) -> Observable:
    obs = s.get(Observable, observable_id)
    if obs is None or obs.case_id != case.id:
        raise NotFound(N_("Incident #%(case)s has no observable #%(id)s."), case=case.id, id=observable_id)
    return obs


def _comment(comment: str) -> str:
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(N_("A comment is at most %(max)s characters."), max=MAX_COMMENT)
    return comment.strip()


def add_by_hand(s: Session, case: Case, actor: str, type_: str, value: str, *, tlp: str | None = None,
                ioc: bool = True, comment: str = "", remote_addr: str = "") -> Observable:
    """Add an observable typed by an analyst; a value not of its type, or one the incident already
    holds, is refused."""
    value = canonical(type_, value)
    obs = add_observable(s, case, type_, value, tlp=tlp, ioc=ioc, comment=_comment(comment))
    if obs is None:
        raise Conflict(N_("Incident #%(case)s already holds the observable %(type)s %(value)s."),
                       case=case.id, type=type_, value=value[:200])
    obs.created_by = actor
    s.flush()
    add_timeline(s, case, actor, "observable", N_("Observable added: %(type)s %(value)s"),
                 {"observable_id": obs.id}, params={"type": type_, "value": value})
    audit.record(s, actor, "case.observable.add", "case", case.id, remote_addr, observable_id=obs.id,
                 type=type_, value=value, tlp=obs.tlp, ioc=obs.ioc)
    return obs


def update_observable(s: Session, case: Case, observable_id: int, actor: str, *, tlp: str | Keep = KEEP,
                      ioc: bool | Keep = KEEP, comment: str | Keep = KEEP, pap: str | Keep = KEEP,
                      remote_addr: str = "") -> Observable:
    """Change an observable's TLP, PAP (``incident``: the incident's), IOC flag or comment. A value
    that is not one of its type is evidence only: it cannot become an indicator."""
    obs = get_observable(s, case, observable_id)
    changed: dict[str, object] = {}
    if not isinstance(tlp, Keep):
        label = TLP.parse(tlp).tag_value
        if label != obs.tlp:
            obs.tlp = changed["tlp"] = label
    if not isinstance(pap, Keep):
        own = None if pap.strip().lower() in ("", "incident") else PAP.parse(pap).name.lower()
        if own != obs.pap:
            obs.pap = changed["pap"] = own
    if not isinstance(ioc, Keep) and ioc != obs.ioc:
        if ioc and not obs.valid:
            raise InvalidInput(N_("%(value)s is not a valid %(type)s: it cannot be an indicator."),
                               value=obs.value[:200], type=obs.type)
        obs.ioc = changed["ioc"] = ioc
    if not isinstance(comment, Keep) and _comment(comment) != obs.comment:
        obs.comment = _comment(comment)
        changed["comment"] = True
    if changed:
        add_timeline(s, case, actor, "observable", N_("Observable edited: %(type)s %(value)s"),
                     {"observable_id": obs.id, **{k: v for k, v in changed.items() if k != "comment"}},
                     params={"type": obs.type, "value": obs.value})
        audit.record(s, actor, "case.observable.update", "case", case.id, remote_addr, observable_id=obs.id,
                     **changed)
    return obs


def remove_observable(s: Session, case: Case, observable_id: int, actor: str, remote_addr: str = "") -> None:
    obs = get_observable(s, case, observable_id)
    add_timeline(s, case, actor, "observable", N_("Observable removed: %(type)s %(value)s"),
                 {"observable_id": obs.id}, params={"type": obs.type, "value": obs.value})
    audit.record(s, actor, "case.observable.remove", "case", case.id, remote_addr, observable_id=obs.id,
                 type=obs.type, value=obs.value)
    case.observables.remove(obs)
    s.delete(obs)


@dataclass
class Sighting:
    """Where else an observable was seen: the other incidents (their count, and the first
    ``MAX_LINKS`` ids) and the alerts raised from that source address."""

    incidents: int = 0
    incident_ids: list[int] = field(default_factory=list)
    alerts: int = 0


def sightings(s: Session, case: Case, observables: Sequence[Observable], *,
              organizations: Collection[str] | None = None) -> dict[int, Sighting]:
    """Per observable id, where else it was seen; ``organizations``: only the incidents and alerts
    of these (None: all). Two queries whatever the number of observables."""
    out = {o.id: Sighting() for o in observables}
    if not observables:
        return out
    by_key: dict[tuple[str, str], list[int]] = {}
    for o in observables:
        by_key.setdefault((o.type, o.value), []).append(o.id)
    q = (select(Observable.type, Observable.value, Observable.case_id)
         .join(Case, Case.id == Observable.case_id)
         .where(tuple_(Observable.type, Observable.value).in_(list(by_key)), Observable.case_id != case.id)
         .order_by(Observable.case_id.desc()))
    if organizations is not None:
        q = q.where(Case.organization.in_(sorted(organizations)))
    for type_, value, case_id in s.execute(q):
        for oid in by_key.get((type_, value), []):
            seen = out[oid]
            seen.incidents += 1
            if len(seen.incident_ids) < MAX_LINKS:
                seen.incident_ids.append(case_id)
    ips = sorted({o.value for o in observables if o.type == "ip"})
    if ips:
        aq = select(Alert.source_ip, func.count()).where(Alert.source_ip.in_(ips)).group_by(Alert.source_ip)
        if organizations is not None:
            aq = aq.where(Alert.organization.in_(sorted(organizations)))
        counts = {ip: int(n) for ip, n in s.execute(aq)}
        for o in observables:
            if o.type == "ip":
                out[o.id].alerts = counts.get(o.value, 0)
    return out


@dataclass(frozen=True)
class EventSightings:
    """How many stored events carry an observable, per ECS field (an event that holds it in two
    of these fields counts under each)."""

    by_field: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_field.values())


def event_sightings(events: EventStore, observable: Observable) -> EventSightings:
    """Count the events that carry ``observable``: one count per ECS field of its type. Events are
    not narrowed by organisation: only the numbers are given, never the events."""
    fields = EVENT_FIELDS.get(observable.type, ())
    return EventSightings({f: events.count(EventQuery(terms={f: [observable.value]})) for f in fields})
