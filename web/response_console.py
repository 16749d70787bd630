"""Response playbooks in the console: the dry run of a playbook on an incident, a run's page with
its steps, their plans and the approval forms, resuming a failed run, and undoing an action.
Each is a form posting to the same functions the API calls (``cert.response.runs``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from cert.core.errors import N_, NotFound
from cert.incidents.cases import get_case
from cert.response import runs
from cert.response.playbooks import load_playbooks
from cert.storage.models import PlaybookRun, ResponseAction
from web.access import actor, platform, remote_addr, requires
from web.forms import DecisionForm, PlaybookForm, ReasonForm, require_valid
from web.playbooks_api import plan_json, run_json

bp = Blueprint("response", __name__, url_prefix="/cases/<int:case_id>")


def _run(case_id: int, run_id: int) -> dict[str, Any]:
    with platform().db.session() as s:
        get_case(s, case_id)
        run = s.get(PlaybookRun, run_id)
        if run is None or run.case_id != case_id:
            raise NotFound(N_("Playbook run %(id)s does not exist."), id=run_id)
        return run_json(s, run)


@bp.post("/dry-run")
@requires("analyst")
def dry_run(case_id: int) -> ResponseReturnValue:
    """What the chosen playbook would do on the incident, nothing done."""
    form = PlaybookForm()
    lang = str(get_locale() or "fr")
    form.playbook.choices = [(b.id, b.title_for(lang))
                             for b in load_playbooks(platform().settings.playbooks_dir).values()]
    require_valid(form)
    plan = runs.plan_playbook(platform(), case_id, form.playbook.data or "", actor())
    return render_template("response/dry_run.html", case_id=case_id, plan=plan,
                           steps=[plan_json(p) for p in plan["steps"]], run_form=form)


@bp.get("/runs/<int:run_id>")
@requires("analyst")
def show_run(case_id: int, run_id: int) -> ResponseReturnValue:
    run = _run(case_id, run_id)
    may_decide = current_user.can("responder") and run["requested_by"] != actor()
    return render_template("response/run.html", case_id=case_id, run=run, may_decide=may_decide,
                           decision_form=DecisionForm(), reason_form=ReasonForm())


def _decide(case_id: int, run_id: int, position: int, approve: bool) -> ResponseReturnValue:
    form = DecisionForm()
    require_valid(form)
    _run(case_id, run_id)
    runs.decide(platform(), run_id, position, actor(), str(current_user.role), approve, form.reason.data or "",
                remote_addr())
    flash(_("Step approved: the run goes on.") if approve else _("Step refused: the run ends."), "ok")
    return redirect(url_for("response.show_run", case_id=case_id, run_id=run_id), 303)


@bp.post("/runs/<int:run_id>/steps/<int:position>/approve")
@requires("responder")
def approve(case_id: int, run_id: int, position: int) -> ResponseReturnValue:
    return _decide(case_id, run_id, position, True)


@bp.post("/runs/<int:run_id>/steps/<int:position>/refuse")
@requires("responder")
def refuse(case_id: int, run_id: int, position: int) -> ResponseReturnValue:
    return _decide(case_id, run_id, position, False)


@bp.post("/runs/<int:run_id>/resume")
@requires("responder")
def resume(case_id: int, run_id: int) -> ResponseReturnValue:
    require_valid(ReasonForm())
    _run(case_id, run_id)
    position = runs.resume(platform(), run_id, actor(), None, remote_addr())
    flash(_("Run resumed from step %(position)s.", position=position), "ok")
    return redirect(url_for("response.show_run", case_id=case_id, run_id=run_id), 303)


@bp.post("/response-actions/<int:action_id>/undo")
@requires("responder")
def undo(case_id: int, action_id: int) -> ResponseReturnValue:
    form = ReasonForm()
    require_valid(form)
    with platform().db.session() as s:
        get_case(s, case_id)
    done = runs.undo_action(platform(), action_id, actor(), form.reason.data or "", remote_addr(),
                            case_ids=frozenset({case_id}))
    flash(_("%(target)s: undone.", target=done.target), "ok")
    return redirect(url_for("cases.show", case_id=case_id) + "#response-actions", 303)


def case_actions(case_id: int) -> list[ResponseAction]:
    """The incident's response actions for its page, the active ones first."""
    with platform().db.session() as s:
        found = runs.case_actions(s, case_id)
        for row in found:
            s.expunge(row)
        return found
