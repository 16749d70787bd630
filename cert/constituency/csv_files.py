"""CSV export and import of the contact database.

Two files, told apart by their header row:

- organisations: ``id,name,parent,kind,sector,networks,domains,asns``; the last three hold
  their values separated by spaces;
- contacts: ``organization,name,role,email,phone,language,pgp_key,smime_cert``.

An import checks every row before it changes anything: one bad row refuses the whole file, with
each bad row's number (the header is row 1) and reason. An organisation of the file gets the
file's fields and network objects (organisations absent from the file are kept); an organisation
named in a contacts file gets exactly the file's contacts. Importing an export therefore changes
nothing. A cell that a spreadsheet would run as a formula (starting with ``= + - @``, a tab or a
carriage return) is exported behind a ``'``, which the import removes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cert.constituency import database
from cert.constituency.database import ContactDraft, OrganizationDraft, network_value
from cert.core.errors import N_, InvalidInput, VigieError
from cert.storage import audit
from cert.storage.models import (
    ConstituencyContact,
    ConstituencyNetworkObject,
    ConstituencyOrganization,
    utcnow,
)

ORGANIZATION_COLUMNS = ("id", "name", "parent", "kind", "sector", "networks", "domains", "asns")
CONTACT_COLUMNS = ("organization", "name", "role", "email", "phone", "language", "pgp_key", "smime_cert")
MAX_ROWS = 50_000
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


class ImportRefused(InvalidInput):
    """A CSV file with bad rows: ``problems`` holds (row number, the error of that row)."""

    def __init__(self, problems: list[tuple[int, VigieError]]) -> None:
        self.problems = problems
        super().__init__(N_("The file was not imported: %(count)s row(s) are not valid (%(rows)s)."),
                         count=len(problems), rows=", ".join(str(n) for n, _ in problems[:20]))


def _safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA) else value


def _unsafe(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:2] and value[1:2] in _FORMULA else value


def _write(columns: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_safe(v) for v in row])
    return out.getvalue()


def export_organizations(s: Session) -> str:
    objects: dict[str, dict[str, list[str]]] = {}
    for obj in s.scalars(select(ConstituencyNetworkObject).order_by(ConstituencyNetworkObject.id)):
        objects.setdefault(obj.organization_id, {}).setdefault(obj.kind, []).append(obj.value)
    orgs = s.scalars(select(ConstituencyOrganization).order_by(ConstituencyOrganization.id))
    return _write(ORGANIZATION_COLUMNS, (
        [o.id, o.name, o.parent or "", o.kind, o.sector,
         *(" ".join(objects.get(o.id, {}).get(kind, [])) for kind in ("cidr", "domain", "asn"))] for o in orgs))


def export_contacts(s: Session) -> str:
    people = s.scalars(select(ConstituencyContact)
                       .order_by(ConstituencyContact.organization_id, ConstituencyContact.id))
    return _write(CONTACT_COLUMNS, ([c.organization_id, c.name, c.role, c.email, c.phone, c.language, c.pgp_key,
                                     c.smime_cert] for c in people))


@dataclass
class ImportSummary:
    kind: str  # "organizations" or "contacts"
    rows: int = 0
    organizations: list[str] = field(default_factory=list)


def _read(text: str) -> tuple[str, list[tuple[int, dict[str, str]]]]:
    """The kind of file and its rows (number, cells by column)."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    try:
        header = tuple(h.strip().lower() for h in next(reader))
    except StopIteration:
        raise InvalidInput(N_("The file is empty.")) from None
    except csv.Error:
        raise InvalidInput(N_("The file is not CSV.")) from None
    if header == ORGANIZATION_COLUMNS:
        kind = "organizations"
    elif header == CONTACT_COLUMNS:
        kind = "contacts"
    else:
        raise InvalidInput(N_("The first row names the columns: either %(organizations)s or %(contacts)s."),
                           organizations=",".join(ORGANIZATION_COLUMNS), contacts=",".join(CONTACT_COLUMNS))
    rows: list[tuple[int, dict[str, str]]] = []
    number = 1
    try:
        for cells in reader:
            number += 1
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                rows.append((number, {"": str(len(cells))}))
                continue
            rows.append((number, {k: _unsafe(v) for k, v in zip(header, cells, strict=True)}))
            if len(rows) > MAX_ROWS:
                raise InvalidInput(N_("The file has more than %(max)s rows."), max=MAX_ROWS)
    except csv.Error:
        raise InvalidInput(N_("Row %(row)s is not valid CSV."), row=number) from None
    return kind, rows


def _width(cells: dict[str, str], expected: int) -> None:
    if "" in cells:
        raise InvalidInput(N_("The row has %(found)s cells instead of %(expected)s."), found=cells[""],
                           expected=expected)


@dataclass
class _Org:
    draft: OrganizationDraft
    objects: list[tuple[str, str]]


def _check_organizations(s: Session, rows: list[tuple[int, dict[str, str]]],
                         problems: list[tuple[int, VigieError]]) -> dict[str, tuple[int, _Org]]:
    wanted: dict[str, tuple[int, _Org]] = {}
    names: dict[str, str] = {}
    owners: dict[tuple[str, str], str] = {}
    for number, cells in rows:
        try:
            _width(cells, len(ORGANIZATION_COLUMNS))
            draft = OrganizationDraft(cells["id"], cells["name"], cells["parent"] or None, cells["kind"],
                                      cells["sector"]).checked()
            objects = [(kind, network_value(kind, v)) for kind, column in (("cidr", "networks"),
                                                                           ("domain", "domains"), ("asn", "asns"))
                       for v in cells[column].split()]
            if draft.id in wanted:
                raise InvalidInput(N_("The organisation %(organization)s is on row %(row)s already."),
                                   organization=draft.id, row=wanted[draft.id][0])
            if draft.name in names:
                raise InvalidInput(N_("The name %(name)s is the organisation %(organization)s's already."),
                                   name=draft.name, organization=names[draft.name])
            for obj in objects:
                if obj in owners:
                    raise InvalidInput(N_("%(value)s already belongs to the organisation %(organization)s."),
                                       value=obj[1], organization=owners[obj])
                owners[obj] = draft.id
        except VigieError as exc:
            problems.append((number, exc))
            continue
        names[draft.name] = draft.id
        wanted[draft.id] = (number, _Org(draft, objects))
    _check_against_database(s, wanted, owners, problems)
    return wanted


def _check_against_database(s: Session, wanted: dict[str, tuple[int, _Org]], owners: dict[tuple[str, str], str],
                            problems: list[tuple[int, VigieError]]) -> None:
    """Parents exist and form no cycle; names and network objects of organisations outside the
    file stay theirs."""
    existing = {o.id: (o.name, o.parent) for o in s.scalars(select(ConstituencyOrganization))}
    parents = {oid: parent for oid, (_, parent) in existing.items()}
    parents.update({oid: org.draft.parent for oid, (_, org) in wanted.items()})
    outside_names = {name: oid for oid, (name, _) in existing.items() if oid not in wanted}
    for obj in s.scalars(select(ConstituencyNetworkObject)):
        key = (obj.kind, obj.value)
        if obj.organization_id not in wanted and key in owners:
            number = wanted[owners[key]][0]
            problems.append((number, InvalidInput(N_("%(value)s already belongs to the organisation "
                                                     "%(organization)s."), value=obj.value,
                                                  organization=obj.organization_id)))
    for oid, (number, org) in wanted.items():
        if org.draft.name in outside_names:
            problems.append((number, InvalidInput(N_("The name %(name)s is the organisation %(organization)s's "
                                                     "already."), name=org.draft.name,
                                                  organization=outside_names[org.draft.name])))
        seen, current = {oid}, org.draft.parent
        while current is not None:
            if current not in parents:
                problems.append((number, InvalidInput(N_("There is no organisation %(organization)s in the "
                                                         "constituency."), organization=current)))
                break
            if current in seen:
                problems.append((number, InvalidInput(N_("%(parent)s cannot be the parent of %(organization)s: "
                                                         "it is part of it."), parent=org.draft.parent,
                                                      organization=oid)))
                break
            seen.add(current)
            current = parents[current]


def _apply_organizations(s: Session, wanted: dict[str, tuple[int, _Org]]) -> None:
    ids = list(wanted)
    s.execute(delete(ConstituencyNetworkObject).where(ConstituencyNetworkObject.organization_id.in_(ids)))
    for oid, (_, org) in wanted.items():  # parents are set once every organisation exists
        row = s.get(ConstituencyOrganization, oid)
        d = org.draft
        if row is None:
            s.add(ConstituencyOrganization(id=oid, name=f"~import~{oid}", parent=None, kind=d.kind, sector=d.sector,
                                           updated_at=utcnow()))
        else:
            row.name = f"~import~{oid}"  # names may move between organisations of the file
    s.flush()
    for oid, (_, org) in wanted.items():
        row = s.get(ConstituencyOrganization, oid)
        assert row is not None
        d = org.draft
        row.name, row.parent, row.kind, row.sector, row.updated_at = d.name, d.parent, d.kind, d.sector, utcnow()
        for kind, value in org.objects:
            s.add(ConstituencyNetworkObject(organization_id=oid, kind=kind, value=value))
    s.flush()


def _check_contacts(s: Session, rows: list[tuple[int, dict[str, str]]],
                    problems: list[tuple[int, VigieError]]) -> dict[str, list[ContactDraft]]:
    known = set(s.scalars(select(ConstituencyOrganization.id)))
    wanted: dict[str, list[ContactDraft]] = {}
    for number, cells in rows:
        try:
            _width(cells, len(CONTACT_COLUMNS))
            org = cells["organization"].strip()
            if org not in known:
                raise InvalidInput(N_("There is no organisation %(organization)s in the constituency."),
                                   organization=org[:100])
            draft = ContactDraft(cells["name"], cells["email"], cells["role"].strip(), cells["phone"],
                                 cells["language"].strip() or "fr", cells["pgp_key"], cells["smime_cert"]).checked()
        except VigieError as exc:
            problems.append((number, exc))
            continue
        wanted.setdefault(org, []).append(draft)
    return wanted


def import_csv(s: Session, text: str, actor: str, remote_addr: str = "") -> ImportSummary:
    """Import an organisations or a contacts file (told by its header); ``ImportRefused`` with
    every bad row, nothing changed, when one is bad."""
    kind, rows = _read(text)
    problems: list[tuple[int, VigieError]] = []
    summary = ImportSummary(kind, len(rows))
    if kind == "organizations":
        orgs = _check_organizations(s, rows, problems)
        if problems:
            raise ImportRefused(sorted(problems, key=lambda p: p[0]))
        _apply_organizations(s, orgs)
        summary.organizations = list(orgs)
    else:
        people = _check_contacts(s, rows, problems)
        if problems:
            raise ImportRefused(problems)
        s.execute(delete(ConstituencyContact).where(ConstituencyContact.organization_id.in_(list(people))))
        for org_id, drafts in people.items():
            for d in drafts:
                s.add(ConstituencyContact(organization_id=org_id, **asdict(d)))
        s.flush()
        summary.organizations = list(people)
    audit.record(s, actor, "constituency.import", "constituency", "", remote_addr, kind=kind, rows=len(rows),
                 organizations=summary.organizations)
    database.bump(s)
    return summary
