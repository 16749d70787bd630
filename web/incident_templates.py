"""Incident templates in the console: the list (staff), and their administration (admins)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _

from cert.core.errors import N_, InvalidInput
from cert.incidents import rsit
from cert.incidents import templates as service
from web.access import actor, platform, remote_addr, requires
from web.incident_forms import ButtonForm, TemplateForm, rsit_choices

bp = Blueprint("incident_templates", __name__, url_prefix="/incident-templates")


def _tasks_text(row_tasks: list[service.TaskSpec]) -> str:
    return "\n".join(f"{t.due_hours if t.due_hours is not None else ''} | {t.title.get('fr', '')} | "
                     f"{t.title.get('en', '')}" for t in row_tasks)


def _parse_tasks(text: str) -> list[service.TaskSpec]:
    """``hours | French title | English title`` per line (hours may be empty)."""
    tasks = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3:
            raise InvalidInput(N_("Task line %(line)s: write due hours | title in French | title in English."),
                               line=number)
        try:
            hours = int(parts[0]) if parts[0] else None
        except ValueError:
            raise InvalidInput(N_("Task line %(line)s: the due time is a whole number of hours."),
                               line=number) from None
        tasks.append(service.TaskSpec({"fr": parts[1], "en": parts[2]}, {}, hours))
    return tasks


def _spec(form: TemplateForm) -> service.TemplateSpec:
    return service.TemplateSpec(
        form.key.data or "", {"fr": form.name_fr.data or "", "en": form.name_en.data or ""}, form.rsit.data or "",
        form.severity.data or "medium", form.tlp.data or "amber", form.pap.data or "amber",
        _parse_tasks(form.tasks.data or ""),
        [b.strip() for b in (form.playbooks.data or "").split(",") if b.strip()])


def _validated(form: TemplateForm) -> None:
    form.rsit.choices = rsit_choices(_("Unclassified"))
    if not form.validate_on_submit():
        problems = "; ".join(f"{getattr(form, str(k)).label.text}: {', '.join(map(str, v))}"
                             for k, v in form.errors.items())
        raise InvalidInput(N_("The form is not valid: %(problems)s"), problems=problems)


@bp.get("/")
@requires("analyst")
def index() -> ResponseReturnValue:
    with platform().db.session() as s:
        rows = service.list_templates(s)
    return render_template("incident_templates.html", templates=rows, lang=str(get_locale() or "fr"),
                           name_in=service.name_in, rsit_label=rsit.label, delete_form=ButtonForm())


@bp.route("/new", methods=["GET", "POST"])
@requires("admin")
def create() -> ResponseReturnValue:
    form = TemplateForm()
    form.rsit.choices = rsit_choices(_("Unclassified"))
    if request.method == "POST":
        _validated(form)
        with platform().db.session() as s:
            service.create_template(s, _spec(form), actor(), remote_addr())
        flash(_("Template %(key)s saved.", key=form.key.data), "ok")
        return redirect(url_for("incident_templates.index"), 303)
    return render_template("incident_template.html", form=form, key=None)


@bp.route("/<key>", methods=["GET", "POST"])
@requires("admin")
def edit(key: str) -> ResponseReturnValue:
    with platform().db.session() as s:
        current = service.spec_of(service.get_template(s, key))
    if request.method == "POST":
        form = TemplateForm()
        form.key.data = current.key
        _validated(form)
        with platform().db.session() as s:
            service.update_template(s, key, _spec(form), actor(), remote_addr())
        flash(_("Template %(key)s saved.", key=key), "ok")
        return redirect(url_for("incident_templates.index"), 303)
    form = TemplateForm(formdata=None, key=current.key, name_fr=current.names.get("fr", ""),
                        name_en=current.names.get("en", ""), rsit=current.rsit_class, severity=current.severity,
                        tlp=current.tlp, pap=current.pap, tasks=_tasks_text(current.tasks),
                        playbooks=", ".join(current.playbooks))
    form.rsit.choices = rsit_choices(_("Unclassified"))
    return render_template("incident_template.html", form=form, key=key)


@bp.post("/<key>/delete")
@requires("admin")
def delete(key: str) -> ResponseReturnValue:
    if not ButtonForm().validate_on_submit():
        raise InvalidInput(N_("The form is not valid: %(problems)s"), problems="csrf_token")
    with platform().db.session() as s:
        service.delete_template(s, key, actor(), remote_addr())
    flash(_("Template %(key)s deleted.", key=key), "ok")
    return redirect(url_for("incident_templates.index"), 303)
