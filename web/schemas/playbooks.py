"""Response playbooks in the API: the playbooks, dry runs, runs with their steps and approvals,
and the actions taken with their expiry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from web.api_spec import ApiModel


class PlaybookStepOut(ApiModel):
    id: str
    step: str
    kind: str = Field(..., description="`action` (changes a system outside Vigie) or `step`.")
    approval: str = Field(..., description="The role that must approve it (empty: none).")


class PlaybookOut(ApiModel):
    id: str
    version: int
    phase: str
    title: str
    description: str
    steps: list[PlaybookStepOut]


class PlaybookList(ApiModel):
    items: list[PlaybookOut]


class Said(ApiModel):
    """A message in the reader's language, with the values it was made of."""

    text: str
    params: dict[str, Any]


class PlannedTarget(ApiModel):
    value: str
    text: str = Field(..., description="What would be done to it, in the reader's language.")


class ExcludedTarget(ApiModel):
    value: str
    reason: str


class StepPlanOut(ApiModel):
    id: str
    step: str
    kind: str | None = None
    approval: str
    skip: str | None = Field(None, description="Why the step would be skipped (its `when` does not hold).")
    refused: str | None = Field(None, description="Why the step would be refused (more targets than its limit).")
    pending: str | None = Field(None, description="Targets known only when an earlier step has run.")
    where: str | None = None
    expires_at: datetime | None = None
    limit: int | None = None
    undo: str | None = None
    targets: list[PlannedTarget] = Field(default_factory=list)
    excluded: list[ExcludedTarget] = Field(default_factory=list)


class DryRunOut(ApiModel):
    playbook: str
    version: int
    case_id: int
    steps: list[StepPlanOut]


class RunIn(ApiModel):
    playbook: str = Field(..., min_length=1, max_length=100, description="The playbook's id.")


class ApprovalOut(ApiModel):
    actor: str
    approved: bool
    reason: str
    at: datetime


class StepRunOut(ApiModel):
    position: int
    id: str
    step: str
    status: str = Field(..., description="pending, waiting-approval, running, done, failed, skipped or refused.")
    approval: str
    attempts: int
    plan: StepPlanOut | None = None
    result: str
    error: str
    approvals: list[ApprovalOut]


class RunOut(ApiModel):
    id: int
    case_id: int
    playbook: str
    version: int
    requested_by: str
    status: str = Field(..., description="queued, running, waiting-approval, done, failed or refused.")
    error: str
    created_at: datetime
    finished_at: datetime | None
    steps: list[StepRunOut]


class RunList(ApiModel):
    items: list[RunOut]


class DecisionIn(ApiModel):
    reason: str = Field(..., min_length=1, max_length=2000, description="Why (audited).")


class ResumeIn(ApiModel):
    position: int | None = Field(None, ge=1, le=50, description="The step to resume from (the first failed or "
                                                                 "refused one if none).")


class UndoIn(ApiModel):
    reason: str = Field("", max_length=2000, description="Why it is undone before its expiry.")


class ActionOut(ApiModel):
    id: int
    run_id: int
    step: str
    target: str
    where: str
    status: str = Field(..., description="applied, reverted or failed.")
    applied_at: datetime
    expires_at: datetime | None
    reverted_at: datetime | None
    reverted_by: str
    countermeasure_id: int | None


class ActionList(ApiModel):
    items: list[ActionOut]
