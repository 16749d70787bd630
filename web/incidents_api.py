"""REST API of incidents: list with filters, open by hand (from a template), read, change fields
and status (close with a resolution, reopen), merge; the RSIT taxonomy; incident templates."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from cert.incidents import cases as case_service
from cert.incidents import lifecycle, rsit
from cert.incidents import templates as template_service
from cert.incidents.merge import merge
from cert.sharing.actions import change_case_tlp
from cert.storage.models import Case, IncidentTemplate
from web.access import actor, platform, remote_addr, requires, visible_scope
from web.api_auth import api_scope
from web.api_spec import Response, body, iso, query, spec
from web.schemas.incidents import (
    CaseOut,
    CasePage,
    IncidentIn,
    IncidentPatch,
    IncidentQuery,
    MergeIn,
    MergeOut,
    RsitOut,
    TemplateIn,
    TemplateList,
    TemplateOut,
    TemplatePatch,
    TemplateTask,
)
from web.vocabulary import timeline_message

bp = Blueprint("incidents_api", __name__, url_prefix="/api/v1")


def _at(value: Any) -> str | None:
    return iso(value) if value is not None else None


def case_summary_json(c: Case) -> dict[str, Any]:
    """An incident without its observables and timeline (``CaseSummaryOut``)."""
    return {
        "id": c.id, "title": c.title, "title_tlp": c.title_tlp, "status": c.status, "severity": c.severity,
        "tlp": c.tlp, "pap": c.pap, "rsit": c.rsit_class, "rsit_label": _(rsit.label(c.rsit_class)) if c.rsit_class
        else "", "organization": c.organization, "organizations": [a.organization for a in c.affected],
        "assignee": c.assignee, "attack": list(c.attack or []), "resolution": c.resolution,
        "resolution_comment": c.resolution_comment or "", "merged_into": c.merged_into, "template": c.template,
        "misp_uuid": c.misp_uuid, "created_at": iso(c.created_at), "acknowledged_at": _at(c.acknowledged_at),
        "contained_at": _at(c.contained_at), "closed_at": _at(c.closed_at), "updated_at": _at(c.updated_at),
    }


def case_json(c: Case) -> dict[str, Any]:
    """An incident with its observables and its timeline in the reader's language (``CaseOut``)."""
    return {
        **case_summary_json(c),
        "observables": [{"type": o.type, "value": o.value, "tlp": o.tlp, "ioc": o.ioc, "valid": o.valid,
                         "invalid_reason": o.invalid_reason} for o in c.observables],
        "timeline": [{"at": iso(t.at), "actor": t.actor, "kind": t.kind,
                      "message": timeline_message(t.kind, t.message, t.data, t.message_id, t.params),
                      "message_id": t.message_id or "", "params": dict(t.params or {})} for t in c.timeline],
    }


def _lang() -> str:
    return str(get_locale() or "fr")


@bp.get("/incidents")
@requires("analyst")
@api_scope("read")
@spec.validate(query=IncidentQuery, resp=Response(HTTP_200=CasePage), tags=["incidents"])
def list_incidents() -> ResponseReturnValue:
    """The incidents, filtered (status, severity, organisation, assignee, RSIT, TLP, text in the
    title), sorted and a page at a time; of their organisations only for a focal point and a
    token with an organisation."""
    q = query(IncidentQuery)
    filters = case_service.CaseFilter(status=q.status or "", severity=q.severity or "",
                                      organization=q.organization or "", assignee=q.assignee or "",
                                      rsit=(q.rsit or "").strip().lower(), tlp=q.tlp or "", text=q.q or "",
                                      sort=q.sort)
    orgs = visible_scope().recorded
    with platform().db.session() as s:
        total = case_service.count_cases(s, organizations=orgs, filters=filters)
        items = [case_summary_json(c)
                 for c in case_service.list_cases(s, q.limit, q.offset, organizations=orgs, filters=filters)]
    return jsonify({"items": items, "total": total, "offset": q.offset, "limit": q.limit})


@bp.post("/incidents")
@requires("analyst")
@api_scope("write")
@spec.validate(json=IncidentIn, resp=Response(HTTP_201=CaseOut), tags=["incidents"])
def create_incident() -> ResponseReturnValue:
    """Open an incident by hand, from a template (``template``) or none; 201 with the incident."""
    b = body(IncidentIn)
    new = lifecycle.NewIncident(title=b.title, description=b.description, severity=b.severity or "",
                                tlp=b.tlp or "", pap=b.pap or "", rsit=b.rsit or "", attack=b.attack,
                                organizations=b.organizations, assignee=b.assignee or "", template=b.template or "")
    p = platform()
    with p.db.session() as s:
        case = lifecycle.open_incident(s, new, actor(), p.constituency, _lang(), remote_addr())
        s.flush()
        return jsonify(case_json(case)), 201


@bp.get("/incidents/<int:case_id>")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=CaseOut), tags=["incidents"])
def get_incident(case_id: int) -> ResponseReturnValue:
    """The incident; 404 for one that a focal point (or a token) of another organisation asks for."""
    with platform().db.session() as s:
        return jsonify(case_json(case_service.get_case(s, case_id, organizations=visible_scope().recorded)))


@bp.patch("/incidents/<int:case_id>")
@requires("analyst")
@api_scope("write")
@spec.validate(json=IncidentPatch, resp=Response(HTTP_200=CaseOut), tags=["incidents"])
def patch_incident(case_id: int) -> ResponseReturnValue:
    """Change an incident's fields and status; what is left out stays. Every change goes on the
    timeline."""
    b = body(IncidentPatch)
    p = platform()
    orgs = visible_scope().recorded
    changes = lifecycle.Changes(title=b.title, description=b.description, severity=b.severity, pap=b.pap,
                                rsit=b.rsit, attack=b.attack, organizations=b.organizations, assignee=b.assignee)
    with p.db.session() as s:
        case = case_service.get_case(s, case_id, organizations=orgs)
        if b.status == "closed" and case.status != "closed" and not b.resolution:
            lifecycle.close(s, case, "", actor())  # refused: a resolution is needed
        lifecycle.update_case(s, case, changes, actor(), p.constituency, remote_addr())
        if b.status is not None and not (b.status == "closed" and case.status == "closed"):
            lifecycle.set_status(s, case, b.status, actor(), resolution=b.resolution or "",
                                 comment=b.resolution_comment, remote_addr=remote_addr())
    if b.tlp is not None:
        change_case_tlp(p, case_id, b.tlp, actor(), str(current_user.role), b.tlp_reason, remote_addr())
    with p.db.session() as s:
        return jsonify(case_json(case_service.get_case(s, case_id)))


@bp.post("/incidents/<int:case_id>/merge")
@requires("analyst")
@api_scope("write")
@spec.validate(json=MergeIn, resp=Response(HTTP_200=MergeOut), tags=["incidents"])
def merge_incident(case_id: int) -> ResponseReturnValue:
    """Merge the incident ``from`` into this one: its alerts, observables, tasks, countermeasures,
    comments, attachments, reports and organisations move here; it is closed as a duplicate."""
    b = body(MergeIn)
    with platform().db.session() as s:
        done = merge(s, case_id, b.source, actor(), organizations=visible_scope().recorded,
                     remote_addr=remote_addr())
        moved = {k: v for k, v in done.__dict__.items() if isinstance(v, int) and not isinstance(v, bool)
                 and k not in ("target", "source")}
    with platform().db.session() as s:
        return jsonify({"incident": case_json(case_service.get_case(s, case_id)), "moved": moved})


@bp.get("/rsit")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=RsitOut), tags=["incidents"])
def rsit_taxonomy() -> ResponseReturnValue:
    """The RSIT taxonomy (classes and their types), labelled in the reader's language."""
    return jsonify({"classes": [{"value": c.value, "label": _(c.label),
                                 "types": [{"value": t.value, "label": _(t.label)} for t in c.types]}
                                for c in rsit.TAXONOMY]})


def template_json(row: IncidentTemplate) -> dict[str, Any]:
    names = row.names or {}
    return {
        "key": row.key, "name": template_service.name_in(row, _lang()),
        "names": {"fr": names.get("fr", ""), "en": names.get("en", "")}, "rsit_class": row.rsit_class,
        "severity": row.severity, "tlp": row.tlp, "pap": row.pap,
        "tasks": [{"title": {"fr": (t.get("title") or {}).get("fr", ""), "en": (t.get("title") or {}).get("en", "")},
                   "description": {"fr": (t.get("description") or {}).get("fr", ""),
                                   "en": (t.get("description") or {}).get("en", "")},
                   "due_hours": t.get("due_hours")} for t in row.tasks or []],
        "playbooks": list(row.playbooks or []), "updated_by": row.updated_by, "updated_at": _at(row.updated_at),
    }


def _tasks(tasks: list[TemplateTask]) -> list[template_service.TaskSpec]:
    return [template_service.TaskSpec(t.title.model_dump(), t.description.model_dump(), t.due_hours) for t in tasks]


@bp.get("/incident-templates")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=TemplateList), tags=["incidents"])
def list_templates() -> ResponseReturnValue:
    """The incident templates, by key."""
    with platform().db.session() as s:
        return jsonify({"items": [template_json(t) for t in template_service.list_templates(s)]})


@bp.post("/incident-templates")
@requires("admin")
@api_scope("admin")
@spec.validate(json=TemplateIn, resp=Response(HTTP_201=TemplateOut), tags=["incidents"])
def create_template() -> ResponseReturnValue:
    """Add an incident template; 409 when its key is taken."""
    b = body(TemplateIn)
    spec_ = template_service.TemplateSpec(b.key, b.names.model_dump(), b.rsit_class, b.severity, b.tlp, b.pap,
                                          _tasks(b.tasks), b.playbooks)
    with platform().db.session() as s:
        row = template_service.create_template(s, spec_, actor(), remote_addr())
        return jsonify(template_json(row)), 201


@bp.patch("/incident-templates/<key>")
@requires("admin")
@api_scope("admin")
@spec.validate(json=TemplatePatch, resp=Response(HTTP_200=TemplateOut), tags=["incidents"])
def patch_template(key: str) -> ResponseReturnValue:
    """Change an incident template; what is left out stays."""
    b = body(TemplatePatch)
    with platform().db.session() as s:
        cur = template_service.spec_of(template_service.get_template(s, key))
        spec_ = template_service.TemplateSpec(
            cur.key, b.names.model_dump() if b.names else cur.names,
            cur.rsit_class if b.rsit_class is None else b.rsit_class, b.severity or cur.severity, b.tlp or cur.tlp,
            b.pap or cur.pap, cur.tasks if b.tasks is None else _tasks(b.tasks),
            cur.playbooks if b.playbooks is None else b.playbooks)
        return jsonify(template_json(template_service.update_template(s, key, spec_, actor(), remote_addr())))


@bp.delete("/incident-templates/<key>")
@requires("admin")
@api_scope("admin")
@spec.validate(resp=Response(HTTP_204=None), tags=["incidents"])
def delete_template(key: str) -> ResponseReturnValue:
    """Remove an incident template (incidents opened from it keep their tasks); 204."""
    with platform().db.session() as s:
        template_service.delete_template(s, key, actor(), remote_addr())
    return "", 204
