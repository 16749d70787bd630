"""The contact database: the constituency's organisations, network objects and contacts in the
relational store, and the edits an administrator makes to them.

The database is seeded from the constituency file (``seed``) the first time it is read; after
that it is the reference and the file only seeds new installations. Every edit is validated
(``cert.constituency.validation``), audited as ``constituency.<action>`` with what changed, and
moves the version counter that tells every process to reload (``cert.constituency.live``)."""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cert.constituency import validation as check
from cert.constituency.directory import Contact, FocalPoint, Organization
from cert.core.errors import N_, Conflict, InvalidInput, NotFound
from cert.storage import audit
from cert.storage.models import (
    ConstituencyContact,
    ConstituencyNetworkObject,
    ConstituencyOrganization,
    ConstituencyVersion,
    utcnow,
)

SYSTEM = "system"


@dataclass(frozen=True)
class OrganizationDraft:
    """An organisation as an administrator gives it; ``parent`` is an organisation id or None."""

    id: str
    name: str
    parent: str | None = None
    kind: str = ""
    sector: str = ""

    def checked(self) -> OrganizationDraft:
        return OrganizationDraft(id=check.organization_id(self.id), name=check.name(self.name),
                                 parent=check.organization_id(self.parent) if self.parent else None,
                                 kind=check.label(self.kind), sector=check.label(self.sector))


@dataclass(frozen=True)
class ContactDraft:
    name: str
    email: str
    role: str = "focal_point"
    phone: str = ""
    language: str = "fr"
    pgp_key: str = ""
    smime_cert: str = ""

    def checked(self) -> ContactDraft:
        return ContactDraft(name=check.name(self.name), email=check.email(self.email), role=check.role(self.role),
                            phone=check.phone(self.phone), language=check.language(self.language),
                            pgp_key=check.pgp_key(self.pgp_key), smime_cert=check.smime_cert(self.smime_cert))


def network_value(kind: str, value: str) -> str:
    """``value`` checked and in its stored form for a network object of ``kind``."""
    if kind == "cidr":
        return check.cidr(value)
    if kind == "asn":
        return str(check.asn(value))
    if kind == "domain":
        return check.domain(value)
    raise InvalidInput(N_("%(value)s is not a kind of network object (%(known)s)."), value=kind[:50],
                       known=", ".join(check.NETWORK_KINDS))


# -- reading ----------------------------------------------------------------------------------

def version(s: Session) -> int | None:
    """The version counter; None while the database was never seeded."""
    return s.scalar(select(ConstituencyVersion.version).where(ConstituencyVersion.id == 1))


def bump(s: Session) -> None:
    """Move the version counter: every process reloads the constituency."""
    moved = s.execute(update(ConstituencyVersion).where(ConstituencyVersion.id == 1)
                      .values(version=ConstituencyVersion.version + 1, updated_at=utcnow()))
    if not getattr(moved, "rowcount", 0):
        s.add(ConstituencyVersion(id=1, version=1, updated_at=utcnow()))
    s.flush()


def organizations(s: Session) -> list[Organization]:
    """Every organisation with its network objects and contacts, by name."""
    objects: dict[str, list[ConstituencyNetworkObject]] = {}
    for obj in s.scalars(select(ConstituencyNetworkObject).order_by(ConstituencyNetworkObject.id)):
        objects.setdefault(obj.organization_id, []).append(obj)
    contacts: dict[str, list[ConstituencyContact]] = {}
    for c in s.scalars(select(ConstituencyContact).order_by(ConstituencyContact.id)):
        contacts.setdefault(c.organization_id, []).append(c)
    out = []
    for row in s.scalars(select(ConstituencyOrganization)):
        mine = objects.get(row.id, [])
        people = tuple(Contact(name=c.name, email=c.email, role=c.role, phone=c.phone, language=c.language,
                               pgp_key=c.pgp_key, smime_cert=c.smime_cert) for c in contacts.get(row.id, []))
        focal = next((c for c in people if c.role == "focal_point"), None)
        out.append(Organization(
            id=row.id, name=row.name,
            networks=tuple(ipaddress.ip_network(o.value) for o in mine if o.kind == "cidr"),
            focal_point=FocalPoint(focal.name, focal.email, focal.phone) if focal else None,
            parent=row.parent, contacts=people, kind=row.kind, sector=row.sector,
            domains=tuple(o.value for o in mine if o.kind == "domain"),
            asns=tuple(int(o.value) for o in mine if o.kind == "asn")))
    out.sort(key=lambda o: o.name.casefold())
    return out


def get_organization(s: Session, org_id: str) -> ConstituencyOrganization:
    row = s.get(ConstituencyOrganization, org_id)
    if row is None:
        raise NotFound(N_("There is no organisation %(organization)s in the constituency."), organization=org_id[:100])
    return row


def network_objects(s: Session, org_id: str) -> list[ConstituencyNetworkObject]:
    return list(s.scalars(select(ConstituencyNetworkObject).where(ConstituencyNetworkObject.organization_id == org_id)
                          .order_by(ConstituencyNetworkObject.kind, ConstituencyNetworkObject.id)))


def contacts(s: Session, org_id: str) -> list[ConstituencyContact]:
    return list(s.scalars(select(ConstituencyContact).where(ConstituencyContact.organization_id == org_id)
                          .order_by(ConstituencyContact.id)))


# -- seeding ----------------------------------------------------------------------------------

def parents_first(orgs: list[Organization]) -> list[Organization]:
    """``orgs`` ordered so that each comes after its parent (the file's hierarchy has no cycle)."""
    done: set[str] = set()
    ordered: list[Organization] = []
    todo = list(orgs)
    while todo:
        ready = [o for o in todo if o.parent is None or o.parent in done or o.parent not in {x.id for x in orgs}]
        if not ready:
            raise InvalidInput(N_("The organisations' parents form a cycle."))
        for o in ready:
            done.add(o.id)
            ordered.append(o)
        todo = [o for o in todo if o.id not in done]
    return ordered


def seed(s: Session, orgs: list[Organization], source: str) -> None:
    """Fill the empty database with ``orgs`` (the constituency file's) and start the version
    counter at 1; IntegrityError when another process seeded it first."""
    s.add(ConstituencyVersion(id=1, version=1, updated_at=utcnow()))
    s.flush()
    for org in parents_first(orgs):
        s.add(ConstituencyOrganization(id=org.id, name=org.name, parent=org.parent, kind=org.kind, sector=org.sector,
                                       updated_at=utcnow()))
        s.flush()
        _add_objects(s, org.id, [("cidr", str(n)) for n in org.networks] + [("domain", d) for d in org.domains]
                     + [("asn", str(a)) for a in org.asns])
        for c in org.contacts:
            s.add(ConstituencyContact(organization_id=org.id, **asdict(c)))
    s.flush()
    audit.record(s, SYSTEM, "constituency.seed", "constituency", "", source=source, organizations=len(orgs))


def _add_objects(s: Session, org_id: str, objects: list[tuple[str, str]]) -> None:
    for kind, value in objects:
        s.add(ConstituencyNetworkObject(organization_id=org_id, kind=kind, value=value))


# -- organisations ----------------------------------------------------------------------------

def _check_parent(s: Session, org_id: str, parent: str | None) -> None:
    """``parent`` exists and is neither ``org_id`` nor one of its descendants."""
    seen = {org_id}
    current = parent
    while current is not None:
        if current in seen:
            raise InvalidInput(N_("%(parent)s cannot be the parent of %(organization)s: it is part of it."),
                               parent=parent, organization=org_id)
        row = s.get(ConstituencyOrganization, current)
        if row is None:
            raise InvalidInput(N_("There is no organisation %(organization)s in the constituency."),
                               organization=current[:100])
        seen.add(current)
        current = row.parent


def _check_name_free(s: Session, name: str, org_id: str) -> None:
    other = s.scalar(select(ConstituencyOrganization.id).where(ConstituencyOrganization.name == name,
                                                              ConstituencyOrganization.id != org_id))
    if other is not None:
        raise Conflict(N_("The organisation %(organization)s already has the name %(name)s."), organization=other,
                       name=name)


def _fields(row: ConstituencyOrganization) -> dict[str, Any]:
    return {"name": row.name, "parent": row.parent, "kind": row.kind, "sector": row.sector}


def create_organization(s: Session, draft: OrganizationDraft, actor: str,
                        remote_addr: str = "") -> ConstituencyOrganization:
    d = draft.checked()
    if s.get(ConstituencyOrganization, d.id) is not None:
        raise Conflict(N_("The organisation %(organization)s already exists."), organization=d.id)
    _check_name_free(s, d.name, d.id)
    if d.parent is not None:
        _check_parent(s, d.id, d.parent)
    row = ConstituencyOrganization(id=d.id, name=d.name, parent=d.parent, kind=d.kind, sector=d.sector,
                                   updated_at=utcnow())
    s.add(row)
    s.flush()
    audit.record(s, actor, "constituency.organization_create", "organization", d.id, remote_addr, **_fields(row))
    bump(s)
    return row


def update_organization(s: Session, org_id: str, draft: OrganizationDraft, actor: str,
                        remote_addr: str = "") -> ConstituencyOrganization:
    """Change an organisation's name, parent, kind and sector (its id stays)."""
    row = get_organization(s, org_id)
    d = OrganizationDraft(org_id, draft.name, draft.parent, draft.kind, draft.sector).checked()
    _check_name_free(s, d.name, org_id)
    if d.parent is not None:
        _check_parent(s, org_id, d.parent)
    before = _fields(row)
    row.name, row.parent, row.kind, row.sector, row.updated_at = d.name, d.parent, d.kind, d.sector, utcnow()
    after = _fields(row)
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    s.flush()
    audit.record(s, actor, "constituency.organization_update", "organization", org_id, remote_addr, changes=changes)
    bump(s)
    return row


def delete_organization(s: Session, org_id: str, actor: str, remote_addr: str = "") -> None:
    """Delete an organisation with its network objects and contacts; Conflict while it has
    sub-organisations."""
    row = get_organization(s, org_id)
    child = s.scalar(select(ConstituencyOrganization.id).where(ConstituencyOrganization.parent == org_id).limit(1))
    if child is not None:
        raise Conflict(N_("%(organization)s has sub-organisations (%(child)s): move or delete them first."),
                       organization=org_id, child=child)
    objects = [f"{o.kind}:{o.value}" for o in network_objects(s, org_id)]
    people = [c.email for c in contacts(s, org_id)]
    s.execute(delete(ConstituencyNetworkObject).where(ConstituencyNetworkObject.organization_id == org_id))
    s.execute(delete(ConstituencyContact).where(ConstituencyContact.organization_id == org_id))
    s.delete(row)
    s.flush()
    audit.record(s, actor, "constituency.organization_delete", "organization", org_id, remote_addr,
                 **_fields(row), network_objects=objects, contacts=people)
    bump(s)


# -- network objects --------------------------------------------------------------------------

def add_network_object(s: Session, org_id: str, kind: str, value: str, actor: str,
                       remote_addr: str = "") -> ConstituencyNetworkObject:
    """Add a CIDR range, an AS number or a domain to an organisation; Conflict when it already
    belongs to one."""
    get_organization(s, org_id)
    stored = network_value(kind, value)
    owner = s.scalar(select(ConstituencyNetworkObject.organization_id)
                     .where(ConstituencyNetworkObject.kind == kind, ConstituencyNetworkObject.value == stored))
    if owner is not None:
        raise Conflict(N_("%(value)s already belongs to the organisation %(organization)s."), value=stored,
                       organization=owner)
    row = ConstituencyNetworkObject(organization_id=org_id, kind=kind, value=stored)
    s.add(row)
    s.flush()
    audit.record(s, actor, "constituency.network_add", "organization", org_id, remote_addr, kind=kind, value=stored)
    bump(s)
    return row


def delete_network_object(s: Session, org_id: str, object_id: int, actor: str, remote_addr: str = "") -> None:
    row = s.get(ConstituencyNetworkObject, object_id)
    if row is None or row.organization_id != org_id:
        raise NotFound(N_("Network object %(id)s does not exist."), id=object_id)
    s.delete(row)
    s.flush()
    audit.record(s, actor, "constituency.network_delete", "organization", org_id, remote_addr, kind=row.kind,
                 value=row.value)
    bump(s)


# -- contacts ---------------------------------------------------------------------------------

def _contact_fields(row: ConstituencyContact) -> dict[str, str]:
    """What the audit trail keeps of a contact (of a key or a certificate, its SHA-256)."""
    return {"name": row.name, "role": row.role, "email": row.email, "phone": row.phone, "language": row.language,
            "pgp_key": _digest(row.pgp_key), "smime_cert": _digest(row.smime_cert)}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest() if text else ""


def get_contact(s: Session, org_id: str, contact_id: int) -> ConstituencyContact:
    row = s.get(ConstituencyContact, contact_id)
    if row is None or row.organization_id != org_id:
        raise NotFound(N_("Contact %(id)s does not exist."), id=contact_id)
    return row


def add_contact(s: Session, org_id: str, draft: ContactDraft, actor: str, remote_addr: str = "") -> ConstituencyContact:
    get_organization(s, org_id)
    d = draft.checked()
    row = ConstituencyContact(organization_id=org_id, **asdict(d))
    s.add(row)
    s.flush()
    audit.record(s, actor, "constituency.contact_add", "contact", row.id, remote_addr, organization=org_id,
                 **_contact_fields(row))
    bump(s)
    return row


def update_contact(s: Session, org_id: str, contact_id: int, draft: ContactDraft, actor: str,
                   remote_addr: str = "") -> ConstituencyContact:
    row = get_contact(s, org_id, contact_id)
    d = draft.checked()
    before = _contact_fields(row)
    for key, value in asdict(d).items():
        setattr(row, key, value)
    after = _contact_fields(row)
    s.flush()
    audit.record(s, actor, "constituency.contact_update", "contact", contact_id, remote_addr, organization=org_id,
                 changes={k: [before[k], after[k]] for k in after if before[k] != after[k]})
    bump(s)
    return row


def delete_contact(s: Session, org_id: str, contact_id: int, actor: str, remote_addr: str = "") -> None:
    row = get_contact(s, org_id, contact_id)
    fields = _contact_fields(row)
    s.delete(row)
    s.flush()
    audit.record(s, actor, "constituency.contact_delete", "contact", contact_id, remote_addr, organization=org_id,
                 **fields)
    bump(s)
