"""REST API of the contact database (``/api/v1/constituency/...``): organisations with their
network objects and contacts, and CSV export and import.

Reading needs the analyst role (a token: ``read``; an organisation-bound token reads its own
organisations only); every change, the exports and the import need the admin role (a token:
``admin``). Each change is audited and reaches every process (``cert.constituency.live``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.constituency import csv_files
from cert.constituency import database as contacts_db
from cert.constituency.csv_files import ImportRefused
from cert.constituency.database import ContactDraft, OrganizationDraft
from cert.core.errors import N_, InvalidInput, NotFound
from cert.storage.models import ConstituencyContact, ConstituencyNetworkObject, ConstituencyOrganization
from web.access import actor, api_error, platform, remote_addr, requires, visible_scope
from web.api_auth import api_scope
from web.api_spec import Response as ApiResponse
from web.api_spec import body, raw_answer, raw_body, spec
from web.schemas.constituency import (
    ContactIn,
    ContactOut,
    ImportOut,
    NetworkObjectIn,
    NetworkObjectOut,
    NewOrganizationIn,
    OrganizationIn,
    OrganizationList,
    OrganizationOut,
)

bp = Blueprint("constituency_api", __name__, url_prefix="/api/v1/constituency")
TAGS = ["constituency"]
T = TypeVar("T")


def edit(change: Callable[[Session], T]) -> T:
    """Run ``change`` on the contact database (seeded first if it is empty); this process sees the
    result at once, the others within ``constituency_refresh_seconds``."""
    p = platform()
    p.constituency  # noqa: B018 - the first read seeds an empty database
    with p.db.session() as s:
        result = change(s)
    p.live_constituency.changed()
    return result


def contact_json(c: ConstituencyContact) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "email": c.email, "role": c.role, "phone": c.phone, "language": c.language,
            "pgp_key": c.pgp_key, "smime_cert": c.smime_cert}


def object_json(o: ConstituencyNetworkObject) -> dict[str, Any]:
    return {"id": o.id, "kind": o.kind, "value": o.value}


def summary_json(row: ConstituencyOrganization, objects: list[ConstituencyNetworkObject]) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "parent": row.parent, "kind": row.kind, "sector": row.sector,
            "networks": [o.value for o in objects if o.kind == "cidr"],
            "domains": [o.value for o in objects if o.kind == "domain"],
            "asns": [int(o.value) for o in objects if o.kind == "asn"]}


def organization_json(s: Session, row: ConstituencyOrganization) -> dict[str, Any]:
    objects = contacts_db.network_objects(s, row.id)
    return {**summary_json(row, objects), "network_objects": [object_json(o) for o in objects],
            "contacts": [contact_json(c) for c in contacts_db.contacts(s, row.id)]}


def visible_organization(s: Session, org_id: str) -> ConstituencyOrganization:
    """The organisation, or 404 when it is not one the caller may read."""
    row = contacts_db.get_organization(s, org_id)
    recorded = visible_scope().recorded
    if recorded is not None and row.name not in recorded:
        raise NotFound(N_("There is no organisation %(organization)s in the constituency."), organization=org_id)
    return row


def refused_json(exc: ImportRefused) -> list[dict[str, Any]]:
    """Each bad row of a refused file with its reason in the reader's language."""
    return [{"row": number, "message": str(_(e.message_id, **e.params)) if e.message_id else str(e)}
            for number, e in exc.problems]


@bp.get("/organizations")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=ApiResponse(HTTP_200=OrganizationList), tags=TAGS)
def list_organizations() -> ResponseReturnValue:
    """Every organisation with its networks, domains and AS numbers, by id."""
    platform().constituency  # noqa: B018 - the first read seeds an empty database
    recorded = visible_scope().recorded
    with platform().db.session() as s:
        objects: dict[str, list[ConstituencyNetworkObject]] = {}
        for o in s.scalars(select(ConstituencyNetworkObject).order_by(ConstituencyNetworkObject.id)):
            objects.setdefault(o.organization_id, []).append(o)
        rows = s.scalars(select(ConstituencyOrganization).order_by(ConstituencyOrganization.id))
        items = [summary_json(r, objects.get(r.id, [])) for r in rows if recorded is None or r.name in recorded]
        return jsonify(items=items, version=contacts_db.version(s))


@bp.get("/organizations/<org_id>")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=ApiResponse(HTTP_200=OrganizationOut), tags=TAGS)
def get_organization(org_id: str) -> ResponseReturnValue:
    """An organisation with its network objects and contacts (their keys and certificates)."""
    platform().constituency  # noqa: B018 - the first read seeds an empty database
    with platform().db.session() as s:
        return jsonify(organization_json(s, visible_organization(s, org_id)))


@bp.post("/organizations")
@requires("admin")
@api_scope("admin")
@spec.validate(json=NewOrganizationIn, resp=ApiResponse(HTTP_201=OrganizationOut), tags=TAGS)
def create_organization() -> ResponseReturnValue:
    """Add an organisation; 409 when its id or name is taken."""
    given = body(NewOrganizationIn)
    draft = OrganizationDraft(given.id, given.name, given.parent, given.kind, given.sector)
    return jsonify(edit(lambda s: organization_json(s, contacts_db.create_organization(
        s, draft, actor(), remote_addr())))), 201


@bp.put("/organizations/<org_id>")
@requires("admin")
@api_scope("admin")
@spec.validate(json=OrganizationIn, resp=ApiResponse(HTTP_200=OrganizationOut), tags=TAGS)
def update_organization(org_id: str) -> ResponseReturnValue:
    """Replace an organisation's name, parent, kind and sector."""
    given = body(OrganizationIn)
    draft = OrganizationDraft(org_id, given.name, given.parent, given.kind, given.sector)
    return jsonify(edit(lambda s: organization_json(s, contacts_db.update_organization(
        s, org_id, draft, actor(), remote_addr()))))


@bp.delete("/organizations/<org_id>")
@requires("admin")
@api_scope("admin")
@spec.validate(resp=ApiResponse("HTTP_204"), tags=TAGS)
def delete_organization(org_id: str) -> ResponseReturnValue:
    """Delete an organisation with its network objects and contacts; 409 while it has
    sub-organisations."""
    edit(lambda s: contacts_db.delete_organization(s, org_id, actor(), remote_addr()))
    return "", 204


@bp.post("/organizations/<org_id>/network-objects")
@requires("admin")
@api_scope("admin")
@spec.validate(json=NetworkObjectIn, resp=ApiResponse(HTTP_201=NetworkObjectOut), tags=TAGS)
def add_network_object(org_id: str) -> ResponseReturnValue:
    """Add a CIDR range, an AS number or a domain; 409 when another organisation has it."""
    given = body(NetworkObjectIn)
    return jsonify(edit(lambda s: object_json(contacts_db.add_network_object(
        s, org_id, given.kind, given.value, actor(), remote_addr())))), 201


@bp.delete("/organizations/<org_id>/network-objects/<int:object_id>")
@requires("admin")
@api_scope("admin")
@spec.validate(resp=ApiResponse("HTTP_204"), tags=TAGS)
def delete_network_object(org_id: str, object_id: int) -> ResponseReturnValue:
    edit(lambda s: contacts_db.delete_network_object(s, org_id, object_id, actor(), remote_addr()))
    return "", 204


def _contact_draft(given: ContactIn) -> ContactDraft:
    return ContactDraft(given.name, given.email, given.role, given.phone, given.language, given.pgp_key,
                        given.smime_cert)


@bp.post("/organizations/<org_id>/contacts")
@requires("admin")
@api_scope("admin")
@spec.validate(json=ContactIn, resp=ApiResponse(HTTP_201=ContactOut), tags=TAGS)
def add_contact(org_id: str) -> ResponseReturnValue:
    """Add a contact: e-mail checked, an OpenPGP key must be readable by GnuPG, an S/MIME
    certificate must be PEM X.509."""
    draft = _contact_draft(body(ContactIn))
    return jsonify(edit(lambda s: contact_json(contacts_db.add_contact(s, org_id, draft, actor(),
                                                                        remote_addr())))), 201


@bp.put("/organizations/<org_id>/contacts/<int:contact_id>")
@requires("admin")
@api_scope("admin")
@spec.validate(json=ContactIn, resp=ApiResponse(HTTP_200=ContactOut), tags=TAGS)
def update_contact(org_id: str, contact_id: int) -> ResponseReturnValue:
    draft = _contact_draft(body(ContactIn))
    return jsonify(edit(lambda s: contact_json(contacts_db.update_contact(s, org_id, contact_id, draft, actor(),
                                                                           remote_addr()))))


@bp.delete("/organizations/<org_id>/contacts/<int:contact_id>")
@requires("admin")
@api_scope("admin")
@spec.validate(resp=ApiResponse("HTTP_204"), tags=TAGS)
def delete_contact(org_id: str, contact_id: int) -> ResponseReturnValue:
    edit(lambda s: contacts_db.delete_contact(s, org_id, contact_id, actor(), remote_addr()))
    return "", 204


def csv_download(text: str, name: str) -> Response:
    resp = Response(text, mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return resp


EXPORTS: dict[str, Callable[[Session], str]] = {"organizations": csv_files.export_organizations,
                                                "contacts": csv_files.export_contacts}


@bp.get("/export/<kind>.csv")
@requires("admin")
@api_scope("admin")
@raw_answer("text/csv", description="The organisations (id, name, parent, kind, sector, networks, domains, asns) "
            "or the contacts (organization, name, role, email, phone, language, pgp_key, smime_cert) as CSV.")
def export_csv(kind: str) -> ResponseReturnValue:
    """``organizations.csv`` or ``contacts.csv``: the file ``import`` reads back."""
    if kind not in EXPORTS:
        raise NotFound(N_("There is no export %(name)s."), name=kind[:50])
    platform().constituency  # noqa: B018 - the first read seeds an empty database
    with platform().db.session() as s:
        return csv_download(EXPORTS[kind](s), f"vigie-{kind}.csv")


@bp.post("/import")
@requires("admin")
@api_scope("admin")
@raw_body("text/csv", description="An organisations or a contacts file, as exported (UTF-8).",
          example="id,name,parent,kind,sector,networks,domains,asns\r\nmin-sante,Ministère de la Santé,,ministry,"
                  "health,10.20.0.0/16,sante.gouv.example,\r\n")
@spec.validate(resp=ApiResponse(HTTP_200=ImportOut), tags=TAGS)
def import_csv() -> ResponseReturnValue:
    """Import a CSV file (the body): checked whole first; 400 with ``rows`` (each bad row's number
    and reason) and nothing changed when a row is bad."""
    try:
        text = request.get_data(cache=True).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(N_("The file is not UTF-8 text.")) from None
    try:
        summary = edit(lambda s: csv_files.import_csv(s, text, actor(), remote_addr()))
    except ImportRefused as exc:
        resp, status = api_error(400, _(exc.message_id, **exc.params))
        data = resp.get_json()
        return jsonify({**data, "rows": refused_json(exc)}), status
    return jsonify(kind=summary.kind, rows=summary.rows, organizations=summary.organizations)

