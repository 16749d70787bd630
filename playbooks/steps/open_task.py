"""Step ``open_task``: open a task on the incident for the organisation that must act (the
incident's organisation, else the first affected one), as an analyst does in the console
(``cert.incidents.tasks.add_task``: the same timeline entry and audit record). Internal to Vigie:
permitted under any PAP.

Parameters (``with:``):

- ``title``: text, or text per language (``{fr: ..., en: ...}``); required.
- ``description``: the same, optional.
- ``due_hours``: the task is due this many hours after it is opened (1 to 8760), optional.

A task has one title and one description. The title is stored in French (the console's default
language; the English one when no French is given), followed by the organisation; the
description names the organisation and holds the French text, then the English title and text.
Nobody is assigned. A task of the same title still open or in progress on the incident is not
opened twice (a run resumed or retried opens one).

``data``: ``task_id``, ``organization``, ``created`` (false when the task was already open),
``due_at``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cert.core.errors import N_, InvalidInput
from cert.core.tlp import PAP
from cert.incidents.tasks import MAX_DESCRIPTION, MAX_TITLE, PENDING, add_task, aware, list_tasks
from cert.response.playbooks import Step, StepContext, StepResult, steps

MAX_DUE_HOURS = 8760


def _texts(ctx: StepContext, name: str, required: bool) -> dict[str, str]:
    """A ``with:`` text as ``{language: text}`` (a plain string is the same in every language)."""
    raw = ctx.params.get(name)
    if isinstance(raw, str):
        texts = {"fr": raw.strip(), "en": raw.strip()}
    elif isinstance(raw, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        texts = {k: v.strip() for k, v in raw.items() if v.strip()}
    elif raw is None:
        texts = {}
    else:
        raise InvalidInput(N_("[%(step)s] the parameter %(name)s must be text, or text per language "
                              "({fr: ..., en: ...})."), step=OpenTask.name, name=name)
    if required and not (texts.get("fr") or texts.get("en")):
        raise InvalidInput(N_("[%(step)s] the parameter %(name)s needs a French or English text."),
                           step=OpenTask.name, name=name)
    return texts


def _due(ctx: StepContext) -> datetime | None:
    raw = ctx.params.get("due_hours")
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_DUE_HOURS:
        raise InvalidInput(N_("[%(step)s] the parameter %(name)s must be a whole number from 1 to %(max)s."),
                           step=OpenTask.name, name="due_hours", max=MAX_DUE_HOURS)
    return datetime.now(UTC).replace(microsecond=0) + timedelta(hours=raw)


def organisation(ctx: StepContext) -> str:
    case = ctx.case
    org = case.organization or next((a.organization for a in case.affected), None)
    if not org:
        raise InvalidInput(N_("[%(step)s] the incident names no organisation: there is nobody to open the task "
                              "for."), step=OpenTask.name)
    return org


@steps.register
class OpenTask(Step):
    name = "open_task"
    needs_pap = PAP.RED  # a task inside Vigie, nothing done to the adversary

    def run(self, ctx: StepContext) -> StepResult:
        title, description = _texts(ctx, "title", True), _texts(ctx, "description", False)
        due_at = _due(ctx)
        org = organisation(ctx)
        fr_title = title.get("fr") or title["en"]
        stored_title = f"{fr_title} — {org}"
        if len(stored_title) > MAX_TITLE:
            raise InvalidInput(N_("[%(step)s] the title and the organisation make more than %(max)s characters."),
                               step=self.name, max=MAX_TITLE)
        body = [f"Organisation qui doit agir : {org}"]
        if description.get("fr"):
            body += ["", description["fr"]]
        if title.get("en") or description.get("en"):
            body += ["", "---", f"Organisation that must act: {org}"]
            body += [title["en"]] if title.get("en") else []
            body += ["", description["en"]] if description.get("en") else []
        text = "\n".join(body)
        if len(text) > MAX_DESCRIPTION:
            raise InvalidInput(N_("[%(step)s] the description makes more than %(max)s characters."),
                               step=self.name, max=MAX_DESCRIPTION)
        shown: dict[str, Any] = {"fr": fr_title, "en": title.get("en") or fr_title}
        existing = next((t for t in list_tasks(ctx.session, ctx.case.id)
                         if t.title == stored_title and t.status in PENDING), None)
        if existing is not None:
            return StepResult(N_("[%(step)s] Task #%(id)s for %(organization)s is already open: %(title)s."),
                              {"task_id": existing.id, "organization": org, "created": False,
                               "due_at": due.isoformat() if (due := aware(existing.due_at)) else None},
                              {"id": existing.id, "organization": org, "title": shown})
        task = add_task(ctx.session, ctx.case, ctx.actor, stored_title, text, due_at=due_at)
        data = {"task_id": task.id, "organization": org, "created": True,
                "due_at": due_at.isoformat() if due_at else None}
        if due_at is None:
            return StepResult(N_("[%(step)s] Task #%(id)s opened for %(organization)s: %(title)s."), data,
                              {"id": task.id, "organization": org, "title": shown})
        return StepResult(N_("[%(step)s] Task #%(id)s opened for %(organization)s: %(title)s, due %(due)s."), data,
                          {"id": task.id, "organization": org, "title": shown,
                           "due": due_at.strftime("%Y-%m-%d %H:%M UTC")})
