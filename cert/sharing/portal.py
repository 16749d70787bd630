"""What a focal point sees of an incident in the portal: the sharing policy applied with the
terms of the organisation concerned.

- A focal point (or a token bound to an organisation) sees the incidents recorded with, or
  affecting, an organisation of its scope (its own and those under it); any other is NotFound.
- Its ceiling is the incident's TLP: the organisation concerned may know what the incident is
  marked for. TLP:RED items reach it only when the incident itself is RED and the focal point's
  own organisation is one the incident concerns (the named recipients); a parent ministry's focal
  point reading a RED incident of its directorate gets AMBER+STRICT.
- Title, description and observables go through ``cert.sharing.policy.share_case``; the timeline
  shows only the entries of kinds that concern the organisation (creation, status, severity,
  acknowledgements, comments, its countermeasures; not the files' scans, which name the CERT's
  rules), and none that names an item withheld from it or the incident's real title when a
  neutral one replaces it. Attachments: those whose TLP the reader may receive.
- Countermeasures: those requested of an organisation of its scope (``organization``), once
  requested (a ``proposed`` one is the CERT's draft).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.constituency.directory import Constituency, Organization
from cert.core.errors import N_, NotFound
from cert.core.tlp import TLP
from cert.incidents import acks
from cert.incidents.attachments import list_attachments
from cert.incidents.cases import CaseFilter, count_cases, get_case, list_cases
from cert.incidents.comments import list_comments
from cert.incidents.countermeasures import list_countermeasures
from cert.sharing.policy import Shared, SharedItem, Terms, decide, share_case
from cert.storage.models import Attachment, Case, CaseAcknowledgement, Comment, Countermeasure, TimelineEntry

#: timeline kinds an organisation concerned may read (the others are the CERT's own work: notes,
#: assignments, sharing, playbooks, merges, edits of the title and markings)
TIMELINE_KINDS = frozenset({"created", "status", "severity", "acknowledged", "comment", "countermeasure"})
#: countermeasure statuses an organisation sees (a ``proposed`` one was not requested yet)
VISIBLE_COUNTERMEASURES = frozenset({"requested", "in-progress", "done", "failed", "impossible", "reverted"})


@dataclass(frozen=True)
class Reader:
    """Who reads the portal: the id of its organisation and the ids and names of its scope."""

    organization: Organization
    ids: frozenset[str]
    recorded: frozenset[str]

    @classmethod
    def of(cls, organization_id: str | None, constituency: Constituency) -> Reader:
        """The reader of an account or token bound to ``organization_id``; NotFound when it is bound
        to no organisation of the constituency."""
        org = constituency.by_id(organization_id) if organization_id else None
        if org is None:
            raise NotFound(N_("The portal shows the incidents of an organisation: this account is bound to none."))
        ids = constituency.scope_of(org.id)
        return cls(org, ids, ids | constituency.names_of(ids))


def concerned(case: Case) -> list[str]:
    """The organisations (as recorded: names, or ids) the incident concerns, the primary first."""
    out = [case.organization] if case.organization else []
    out += [a.organization for a in case.affected if a.organization not in out]
    return out


def terms_for(case: Case, reader: Reader) -> Terms:
    """The reader's terms for this incident: its TLP as the ceiling; RED only for a named
    organisation (its own is concerned), AMBER+STRICT for the organisations above it."""
    tlp = TLP.parse(case.tlp)
    own = {reader.organization.id, reader.organization.name}
    if tlp is TLP.RED and not own & set(concerned(case)):
        return Terms(TLP.AMBER_STRICT)
    return Terms(tlp, named=tlp is TLP.RED)


def acting_for(case: Case, reader: Reader, constituency: Constituency) -> Organization:
    """The organisation an acknowledgement is recorded for: the reader's own when the incident
    concerns it, else the first organisation of its scope the incident concerns (a ministry acts
    for its directorate)."""
    for recorded in [reader.organization.name, reader.organization.id, *concerned(case)]:
        if recorded in reader.recorded and recorded in concerned(case):
            org = constituency.by_name(recorded) or constituency.by_id(recorded)
            if org is not None:
                return org
    return reader.organization


@dataclass(frozen=True)
class Summary:
    """An incident in the portal's list."""

    case: Case
    title: str
    title_neutral: bool
    acknowledged: CaseAcknowledgement | None


@dataclass(frozen=True)
class PortalIncident:
    """One incident as the reader may see it."""

    case: Case
    shared: Shared
    terms: Terms
    acting_for: Organization
    acknowledged: CaseAcknowledgement | None
    timeline: tuple[TimelineEntry, ...]
    comments: tuple[Comment, ...]
    countermeasures: tuple[Countermeasure, ...]
    attachments: tuple[Attachment, ...]

    @property
    def items(self) -> tuple[SharedItem, ...]:
        return self.shared.items


def incidents(s: Session, reader: Reader, constituency: Constituency, *, limit: int = 50, offset: int = 0,
              status: str = "") -> tuple[list[Summary], int]:
    """The incidents of the reader's scope, most recent first, with what the list may show; and
    how many there are."""
    filters = CaseFilter(status=status, sort="-id")
    total = count_cases(s, organizations=reader.recorded, filters=filters)
    out = []
    for case in list_cases(s, limit, offset, organizations=reader.recorded, filters=filters):
        shared = share_case(case, terms_for(case, reader), organization=case.organization, only_indicators=False,
                            to_organization=True)
        org = acting_for(case, reader, constituency)
        out.append(Summary(case, shared.title, shared.title_neutral, acks.acknowledgement(s, case.id, org.id)))
    return out, total


def get_incident(s: Session, case_id: int, reader: Reader) -> Case:
    """The incident, NotFound unless it is of the reader's scope."""
    return get_case(s, case_id, organizations=reader.recorded)


def _mentions(values: Iterable[Any], secrets: Collection[str]) -> bool:
    for value in values:
        if isinstance(value, dict):
            if _mentions(value.values(), secrets):
                return True
        elif isinstance(value, (list, tuple)):
            if _mentions(value, secrets):
                return True
        elif value is not None and any(secret in str(value) for secret in secrets):
            return True
    return False


def view(s: Session, case_id: int, reader: Reader, constituency: Constituency) -> PortalIncident:
    """The incident as the reader may see it (NotFound outside its scope)."""
    case = get_incident(s, case_id, reader)
    terms = terms_for(case, reader)
    shared = share_case(case, terms, organization=case.organization, only_indicators=False, to_organization=True)
    text_allowed = decide(terms, TLP.parse(case.tlp)).allowed
    cms = [c for c in list_countermeasures(s, case.id)
           if c.organization in reader.recorded and c.status in VISIBLE_COUNTERMEASURES]
    files = [a for a in list_attachments(s, case.id) if decide(terms, TLP.parse(a.tlp)).allowed]
    secrets = {w.value for w in shared.withheld if w.value}
    if shared.title_neutral and case.title:
        secrets.add(case.title)
    cm_ids, file_ids = {c.id for c in cms}, {a.id for a in files}
    entries = []
    for entry in case.timeline:
        data = entry.data or {}
        if entry.kind not in TIMELINE_KINDS or not text_allowed:
            continue
        if entry.kind == "countermeasure" and data.get("countermeasure_id") not in cm_ids:
            continue
        if entry.kind == "file" and data.get("attachment_id") not in file_ids:
            continue
        if _mentions([entry.message, *(entry.params or {}).values()], secrets):
            continue
        entries.append(entry)
    notes = [c for c in list_comments(s, case.id) if text_allowed and not _mentions([c.body], secrets)]
    org = acting_for(case, reader, constituency)
    return PortalIncident(case=case, shared=shared, terms=terms, acting_for=org,
                          acknowledged=acks.acknowledgement(s, case.id, org.id), timeline=tuple(entries),
                          comments=tuple(notes), countermeasures=tuple(cms), attachments=tuple(files))


def requested_countermeasure(s: Session, case: Case, cm_id: int, reader: Reader) -> Countermeasure:
    """A countermeasure of the incident requested of an organisation of the reader's scope;
    NotFound otherwise (another organisation's, or still only proposed)."""
    cm = s.scalar(select(Countermeasure).where(Countermeasure.id == cm_id, Countermeasure.case_id == case.id))
    if cm is None or cm.organization not in reader.recorded or cm.status not in VISIBLE_COUNTERMEASURES:
        raise NotFound(N_("Incident #%(case)s has no countermeasure #%(id)s."), case=case.id, id=cm_id)
    return cm
