"""The contact database in the console: the organisations as a tree, one organisation's page with
its networks, domains, AS numbers and contacts; analysts read them, admins add, change and delete
them, and export and import them as CSV. Each form posts to the functions the API calls
(``cert.constituency.database``, ``cert.constituency.csv_files``); a refused change is shown on the
page it came from, in the reader's language."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from cert.constituency import csv_files
from cert.constituency import database as contacts_db
from cert.constituency.csv_files import ImportRefused
from cert.constituency.database import ContactDraft, OrganizationDraft
from cert.constituency.validation import MAX_KEY
from cert.core.errors import VigieError
from cert.storage.models import ConstituencyOrganization
from web.access import actor, platform, remote_addr, requires
from web.constituency_api import EXPORTS, csv_download, edit, refused_json
from web.forms import form_problems

bp = Blueprint("constituency", __name__, url_prefix="/constituency")

ROLE_LABELS = {"focal_point": _l("focal point"), "deputy": _l("deputy"), "ciso": _l("CISO"),
               "duty": _l("24/7 duty"), "technical": _l("technical team")}
KIND_LABELS = {"cidr": _l("Networks"), "domain": _l("Domains"), "asn": _l("AS numbers")}


class OrganizationForm(FlaskForm):
    id = StringField(_l("Id"), validators=[Optional(), Length(max=80)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    parent = SelectField(_l("Part of"), choices=[], validate_choice=False)
    kind = StringField(_l("Kind"), validators=[Length(max=80)])
    sector = StringField(_l("Sector"), validators=[Length(max=80)])


class NetworkObjectForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=[("cidr", _l("CIDR range")), ("domain", _l("Domain")),
                                            ("asn", _l("AS number"))])
    value = StringField(_l("Value"), validators=[DataRequired(), Length(max=255)])


class ContactForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    role = SelectField(_l("Role"), choices=list(ROLE_LABELS.items()))
    email = StringField(_l("E-mail"), validators=[DataRequired(), Length(max=320)])
    phone = StringField(_l("Phone"), validators=[Length(max=50)])
    language = SelectField(_l("Language"), choices=[("fr", "français"), ("en", "English")])
    pgp_key = TextAreaField(_l("OpenPGP public key (ASCII-armoured)"), validators=[Length(max=MAX_KEY)])
    smime_cert = TextAreaField(_l("S/MIME certificate (PEM)"), validators=[Length(max=MAX_KEY)])


class ImportForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired()])


class ButtonForm(FlaskForm):
    """A button: the CSRF token only."""


def _parent_choices(exclude: str | None = None) -> list[tuple[str, str]]:
    orgs = platform().constituency.organizations
    return [("", _("none")), *((o.id, o.name) for o in orgs if o.id != exclude)]


def _tree() -> list[tuple[int, Any]]:
    """The organisations in hierarchy order, each with its depth."""
    orgs = platform().constituency.organizations
    known = {o.id for o in orgs}
    children: dict[str | None, list[Any]] = {}
    for o in orgs:
        children.setdefault(o.parent if o.parent in known else None, []).append(o)
    out: list[tuple[int, Any]] = []

    def walk(parent: str | None, depth: int) -> None:
        for o in children.get(parent, []):
            out.append((depth, o))
            walk(o.id, depth + 1)

    walk(None, 0)
    return out


def _attempt(change: Callable[[], object], done: str) -> bool:
    """Run ``change``; flash ``done``, or the reason it was refused, in the reader's language."""
    try:
        change()
    except ImportRefused as exc:
        flash(_(exc.message_id, **exc.params), "error")
        for row in refused_json(exc):
            flash(_("Row %(row)s: %(reason)s", row=row["row"], reason=row["message"]), "error")
        return False
    except VigieError as exc:
        flash(_(exc.message_id, **exc.params) if exc.message_id else str(exc), "error")
        return False
    flash(done, "ok")
    return True


def _valid(form: FlaskForm) -> bool:
    if form.validate_on_submit():
        return True
    flash(_("The form is not valid: %(problems)s", problems=form_problems(form)), "error")
    return False


@bp.get("/")
@requires("analyst")
def index() -> ResponseReturnValue:
    form = OrganizationForm()
    form.parent.choices = _parent_choices()
    return render_template("constituency/index.html", tree=_tree(), form=form, import_form=ImportForm(),
                           partners=platform().constituency.partners)


@bp.post("/organizations")
@requires("admin")
def create_organization() -> ResponseReturnValue:
    form = OrganizationForm()
    form.parent.choices = _parent_choices()
    if _valid(form):
        draft = OrganizationDraft(form.id.data or "", form.name.data or "", form.parent.data or None,
                                  form.kind.data or "", form.sector.data or "")
        if _attempt(lambda: edit(lambda s: contacts_db.create_organization(s, draft, actor(), remote_addr())),
                    _("Organisation %(name)s added.", name=draft.name)):
            return redirect(url_for("constituency.organization", org_id=draft.id.strip()), 303)
    return redirect(url_for("constituency.index"), 303)


def _page(org_id: str, form: OrganizationForm | None = None) -> ResponseReturnValue:
    platform().constituency  # noqa: B018 - the first read seeds an empty database
    with platform().db.session() as s:
        row = contacts_db.get_organization(s, org_id)
        objects = contacts_db.network_objects(s, org_id)
        people = contacts_db.contacts(s, org_id)
        children = list(s.scalars(select(ConstituencyOrganization).where(ConstituencyOrganization.parent == org_id)
                                  .order_by(ConstituencyOrganization.name)))
        parent = s.get(ConstituencyOrganization, row.parent) if row.parent else None
    if form is None:
        form = OrganizationForm(data={"name": row.name, "parent": row.parent or "", "kind": row.kind,
                                      "sector": row.sector})
    form.parent.choices = _parent_choices(exclude=org_id)
    grouped = {kind: [o for o in objects if o.kind == kind] for kind in ("cidr", "domain", "asn")}
    return render_template("constituency/organization.html", org=row, parent=parent, children=children,
                           grouped=grouped, contacts=people, form=form, object_form=NetworkObjectForm(),
                           contact_form=ContactForm(), button=ButtonForm(), role_labels=ROLE_LABELS,
                           kind_labels=KIND_LABELS)


@bp.get("/organizations/<org_id>")
@requires("analyst")
def organization(org_id: str) -> ResponseReturnValue:
    return _page(org_id)


def _back(org_id: str) -> ResponseReturnValue:
    return redirect(url_for("constituency.organization", org_id=org_id), 303)


@bp.post("/organizations/<org_id>")
@requires("admin")
def update_organization(org_id: str) -> ResponseReturnValue:
    form = OrganizationForm()
    form.parent.choices = _parent_choices(exclude=org_id)
    if _valid(form):
        draft = OrganizationDraft(org_id, form.name.data or "", form.parent.data or None, form.kind.data or "",
                                  form.sector.data or "")
        _attempt(lambda: edit(lambda s: contacts_db.update_organization(s, org_id, draft, actor(), remote_addr())),
                 _("Organisation %(name)s saved.", name=draft.name))
    return _back(org_id)


@bp.post("/organizations/<org_id>/delete")
@requires("admin")
def delete_organization(org_id: str) -> ResponseReturnValue:
    if _valid(ButtonForm()) and _attempt(
            lambda: edit(lambda s: contacts_db.delete_organization(s, org_id, actor(), remote_addr())),
            _("Organisation %(id)s deleted.", id=org_id)):
        return redirect(url_for("constituency.index"), 303)
    return _back(org_id)


@bp.post("/organizations/<org_id>/network-objects")
@requires("admin")
def add_network_object(org_id: str) -> ResponseReturnValue:
    form = NetworkObjectForm()
    if _valid(form):
        kind, value = form.kind.data or "", form.value.data or ""
        _attempt(lambda: edit(lambda s: contacts_db.add_network_object(s, org_id, kind, value, actor(),
                                                                       remote_addr())),
                 _("%(value)s added.", value=value.strip()))
    return _back(org_id)


@bp.post("/organizations/<org_id>/network-objects/<int:object_id>/delete")
@requires("admin")
def delete_network_object(org_id: str, object_id: int) -> ResponseReturnValue:
    if _valid(ButtonForm()):
        _attempt(lambda: edit(lambda s: contacts_db.delete_network_object(s, org_id, object_id, actor(),
                                                                          remote_addr())),
                 _("Network object removed."))
    return _back(org_id)


def _contact_draft(form: ContactForm) -> ContactDraft:
    return ContactDraft(form.name.data or "", form.email.data or "", form.role.data or "focal_point",
                        form.phone.data or "", form.language.data or "fr", form.pgp_key.data or "",
                        form.smime_cert.data or "")


@bp.post("/organizations/<org_id>/contacts")
@requires("admin")
def add_contact(org_id: str) -> ResponseReturnValue:
    form = ContactForm()
    if _valid(form):
        draft = _contact_draft(form)
        _attempt(lambda: edit(lambda s: contacts_db.add_contact(s, org_id, draft, actor(), remote_addr())),
                 _("Contact %(name)s added.", name=draft.name.strip()))
    return _back(org_id)


@bp.get("/organizations/<org_id>/contacts/<int:contact_id>")
@requires("admin")
def contact(org_id: str, contact_id: int) -> ResponseReturnValue:
    with platform().db.session() as s:
        org = contacts_db.get_organization(s, org_id)
        row = contacts_db.get_contact(s, org_id, contact_id)
    form = ContactForm(data={"name": row.name, "role": row.role, "email": row.email, "phone": row.phone,
                             "language": row.language, "pgp_key": row.pgp_key, "smime_cert": row.smime_cert})
    return render_template("constituency/contact.html", org=org, contact=row, form=form, role_labels=ROLE_LABELS)


@bp.post("/organizations/<org_id>/contacts/<int:contact_id>")
@requires("admin")
def update_contact(org_id: str, contact_id: int) -> ResponseReturnValue:
    form = ContactForm()
    if _valid(form):
        draft = _contact_draft(form)
        if _attempt(lambda: edit(lambda s: contacts_db.update_contact(s, org_id, contact_id, draft, actor(),
                                                                      remote_addr())),
                    _("Contact %(name)s saved.", name=draft.name.strip())):
            return _back(org_id)
    return redirect(url_for("constituency.contact", org_id=org_id, contact_id=contact_id), 303)


@bp.post("/organizations/<org_id>/contacts/<int:contact_id>/delete")
@requires("admin")
def delete_contact(org_id: str, contact_id: int) -> ResponseReturnValue:
    if _valid(ButtonForm()):
        _attempt(lambda: edit(lambda s: contacts_db.delete_contact(s, org_id, contact_id, actor(), remote_addr())),
                 _("Contact removed."))
    return _back(org_id)


@bp.get("/export/<kind>.csv")
@requires("admin")
def export_csv(kind: str) -> ResponseReturnValue:
    if kind not in EXPORTS:
        return redirect(url_for("constituency.index"), 303)
    platform().constituency  # noqa: B018 - the first read seeds an empty database
    with platform().db.session() as s:
        return csv_download(EXPORTS[kind](s), f"vigie-{kind}.csv")


@bp.post("/import")
@requires("admin")
def import_csv() -> ResponseReturnValue:
    form = ImportForm()
    if _valid(form):
        data = form.file.data.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            flash(_("The file is not UTF-8 text."), "error")
            return redirect(url_for("constituency.index"), 303)
        _attempt(lambda: edit(lambda s: csv_files.import_csv(s, text, actor(), remote_addr())), _("File imported."))
    return redirect(url_for("constituency.index"), 303)

