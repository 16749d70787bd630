"""Response playbooks in the API: list the playbooks, dry-run one on an incident, run it, approve
or refuse a step, resume a failed run, list and undo the actions taken. Reading needs the
``read`` scope, acting ``write``; running, approving and undoing need a responder. A token bound
to an organisation reaches only its organisations' incidents (404 for the others)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.core.errors import N_, NotFound
from cert.incidents.cases import get_case
from cert.response import runs
from cert.response.playbooks import load_playbooks
from cert.storage.models import PlaybookRun, ResponseAction, StepApproval, StepRun
from web.access import actor, platform, remote_addr, requires, visible_scope
from web.api_auth import api_scope
from web.api_spec import Response, body, iso, spec
from web.schemas.playbooks import (
    ActionList,
    ActionOut,
    DecisionIn,
    DryRunOut,
    PlaybookList,
    ResumeIn,
    RunIn,
    RunList,
    RunOut,
    UndoIn,
)

bp = Blueprint("playbooks_api", __name__, url_prefix="/api/v1")
TAGS = ["playbooks"]


def said(item: dict[str, Any] | None) -> str | None:
    """A message id of a plan with its values, in the reader's language."""
    if not item:
        return None
    params = {k: v for k, v in (item.get("params") or {}).items() if isinstance(v, (str, int, float))}
    try:
        return str(_(str(item.get("message", "")), **params))
    except (KeyError, ValueError, TypeError):
        return str(item.get("message", ""))


def plan_json(plan: dict[str, Any]) -> dict[str, Any] | None:
    if not plan:
        return None
    return {"id": plan.get("id", ""), "step": plan.get("step", ""), "kind": plan.get("kind"),
            "approval": plan.get("approval", ""), "skip": said(plan.get("skip")), "refused": said(plan.get("refused")),
            "pending": said(plan.get("pending")), "where": plan.get("where"), "expires_at": plan.get("expires_at"),
            "limit": plan.get("limit"), "undo": _(plan["undo"]) if plan.get("undo") else None,
            "targets": [{"value": t["value"], "text": said(t) or ""} for t in plan.get("targets", [])],
            "excluded": [{"value": e["value"], "reason": said({"message": e["reason"], "params": e.get("params")})
                          or ""} for e in plan.get("excluded", [])]}


def run_json(s: Session, run: PlaybookRun) -> dict[str, Any]:
    rows = list(s.scalars(select(StepRun).where(StepRun.run_id == run.id).order_by(StepRun.position)))
    decisions: dict[int, list[StepApproval]] = {}
    for a in s.scalars(select(StepApproval).where(StepApproval.step_run_id.in_([r.id for r in rows]))
                       .order_by(StepApproval.id)):
        decisions.setdefault(a.step_run_id, []).append(a)
    return {"id": run.id, "case_id": run.case_id, "playbook": run.playbook, "version": run.version,
            "requested_by": run.requested_by, "status": run.status, "error": run.error,
            "created_at": iso(run.created_at), "finished_at": iso(run.finished_at),
            "steps": [{"position": r.position, "id": r.step_id, "step": r.step, "status": r.status,
                       "approval": r.approval_role, "attempts": r.attempts, "plan": plan_json(r.plan or {}),
                       "result": str((r.result or {}).get("text") or ""), "error": r.error,
                       "approvals": [{"actor": a.actor, "approved": a.approved, "reason": a.reason, "at": iso(a.at)}
                                     for a in decisions.get(r.id, [])]} for r in rows]}


def action_json(a: ResponseAction) -> dict[str, Any]:
    return {"id": a.id, "run_id": a.run_id, "step": a.step, "target": a.target, "where": a.where,
            "status": a.status, "applied_at": iso(a.applied_at), "expires_at": iso(a.expires_at),
            "reverted_at": iso(a.reverted_at), "reverted_by": a.reverted_by, "countermeasure_id": a.countermeasure_id}


def _run(s: Session, run_id: int) -> PlaybookRun:
    """The run, if its incident is in the caller's view (404 otherwise)."""
    run = s.get(PlaybookRun, run_id)
    if run is None:
        raise NotFound(N_("Playbook run %(id)s does not exist."), id=run_id)
    try:
        get_case(s, run.case_id, organizations=visible_scope().recorded)
    except NotFound:
        raise NotFound(N_("Playbook run %(id)s does not exist."), id=run_id) from None
    return run


@bp.get("/playbooks")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=PlaybookList), tags=TAGS)
def list_playbooks() -> ResponseReturnValue:
    """The playbooks, their version and steps, titles in the reader's language."""
    locale = str(get_locale() or "fr")
    items = [{"id": b.id, "version": b.version, "phase": b.phase, "title": b.title_for(locale),
              "description": b.description_for(locale),
              "steps": [{"id": p.id, "step": p.step, "kind": "action" if runs.is_action(p.step) else "step",
                         "approval": runs.approval_role(p)} for p in b.steps]}
             for b in load_playbooks(platform().settings.playbooks_dir).values()]
    return jsonify({"items": items})


@bp.post("/incidents/<int:case_id>/playbooks/<playbook>/dry-run")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=DryRunOut), tags=TAGS)
def dry_run(case_id: int, playbook: str) -> ResponseReturnValue:
    """What each step would do on the incident (which address blocked where, which account
    disabled, what is left out and why), nothing done."""
    with platform().db.session() as s:
        get_case(s, case_id, organizations=visible_scope().recorded)
    plan = runs.plan_playbook(platform(), case_id, playbook, actor())
    return jsonify({**plan, "steps": [plan_json(p) for p in plan["steps"]]})


@bp.post("/incidents/<int:case_id>/playbook-runs")
@requires("responder")
@api_scope("write")
@spec.validate(json=RunIn, resp=Response(HTTP_202=RunOut), tags=TAGS)
def run_playbook(case_id: int) -> ResponseReturnValue:
    """Run a playbook on the incident: queued; it stops at a step that waits for approval."""
    wanted = body(RunIn)
    with platform().db.session() as s:
        get_case(s, case_id, organizations=visible_scope().recorded)
    run_id = runs.start_run(platform(), case_id, wanted.playbook, actor())
    with platform().db.session() as s:
        return jsonify(run_json(s, s.get_one(PlaybookRun, run_id))), 202


@bp.get("/incidents/<int:case_id>/playbook-runs")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=RunList), tags=TAGS)
def list_runs(case_id: int) -> ResponseReturnValue:
    """The incident's playbook runs, the newest first."""
    with platform().db.session() as s:
        get_case(s, case_id, organizations=visible_scope().recorded)
        found = s.scalars(select(PlaybookRun).where(PlaybookRun.case_id == case_id).order_by(PlaybookRun.id.desc()))
        return jsonify({"items": [run_json(s, r) for r in found]})


@bp.get("/playbook-runs/<int:run_id>")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=RunOut), tags=TAGS)
def get_run(run_id: int) -> ResponseReturnValue:
    """A run with its steps, their plans, results and approvals."""
    with platform().db.session() as s:
        return jsonify(run_json(s, _run(s, run_id)))


def _decide(run_id: int, position: int, approve: bool) -> ResponseReturnValue:
    wanted = body(DecisionIn)
    with platform().db.session() as s:
        _run(s, run_id)
    role = str(getattr(current_user, "role", "") or "responder")
    runs.decide(platform(), run_id, position, actor(), role, approve, wanted.reason, remote_addr())
    with platform().db.session() as s:
        return jsonify(run_json(s, s.get_one(PlaybookRun, run_id)))


@bp.post("/playbook-runs/<int:run_id>/steps/<int:position>/approve")
@requires("responder")
@api_scope("write")
@spec.validate(json=DecisionIn, resp=Response(HTTP_200=RunOut), tags=TAGS)
def approve_step(run_id: int, position: int) -> ResponseReturnValue:
    """Approve a step that waits for approval (not by the run's requester); the run goes on."""
    return _decide(run_id, position, True)


@bp.post("/playbook-runs/<int:run_id>/steps/<int:position>/refuse")
@requires("responder")
@api_scope("write")
@spec.validate(json=DecisionIn, resp=Response(HTTP_200=RunOut), tags=TAGS)
def refuse_step(run_id: int, position: int) -> ResponseReturnValue:
    """Refuse a step that waits for approval; the run ends, refused."""
    return _decide(run_id, position, False)


@bp.post("/playbook-runs/<int:run_id>/resume")
@requires("responder")
@api_scope("write")
@spec.validate(json=ResumeIn, resp=Response(HTTP_202=RunOut), tags=TAGS)
def resume_run(run_id: int) -> ResponseReturnValue:
    """Resume a failed or refused run from a step (its first failed or refused one by default)."""
    wanted = body(ResumeIn)
    with platform().db.session() as s:
        _run(s, run_id)
    runs.resume(platform(), run_id, actor(), wanted.position, remote_addr())
    with platform().db.session() as s:
        return jsonify(run_json(s, s.get_one(PlaybookRun, run_id))), 202


@bp.get("/incidents/<int:case_id>/response-actions")
@requires("analyst")
@api_scope("read")
@spec.validate(resp=Response(HTTP_200=ActionList), tags=TAGS)
def list_actions(case_id: int) -> ResponseReturnValue:
    """The changes playbooks made for the incident, with their expiry; the active ones first."""
    with platform().db.session() as s:
        get_case(s, case_id, organizations=visible_scope().recorded)
        return jsonify({"items": [action_json(a) for a in runs.case_actions(s, case_id)]})


@bp.post("/response-actions/<int:action_id>/undo")
@requires("responder")
@api_scope("write")
@spec.validate(json=UndoIn, resp=Response(HTTP_200=ActionOut), tags=TAGS)
def undo(action_id: int) -> ResponseReturnValue:
    """Undo a change now (unblock, remove the sinkhole, re-enable), audited."""
    wanted = body(UndoIn)
    with platform().db.session() as s:
        row = s.get(ResponseAction, action_id)
        if row is None:
            raise NotFound(N_("Response action %(id)s does not exist."), id=action_id)
        try:
            get_case(s, row.case_id, organizations=visible_scope().recorded)
        except NotFound:
            raise NotFound(N_("Response action %(id)s does not exist."), id=action_id) from None
    done = runs.undo_action(platform(), action_id, actor(), wanted.reason, remote_addr())
    return jsonify(action_json(done))
