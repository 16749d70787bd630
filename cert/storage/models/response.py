"""Playbook runs, their steps, the approvals they wait for, and the actions they took on
constituents' systems (each with its compensating action and its expiry)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cert.storage.db import Base
from cert.storage.models.base import utcnow


class PlaybookRun(Base):
    __tablename__ = "playbook_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    playbook: Mapped[str] = mapped_column(String(100))
    #: the playbook's ``version`` when the run was requested
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    requested_by: Mapped[str] = mapped_column(String(80))
    #: queued | running | waiting-approval | done | failed | refused
    status: Mapped[str] = mapped_column(String(20), default="queued")
    job_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: last sign of life of the job running it: a run whose job died is failed, never running for good
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StepRun(Base):
    """One step of a run: its plan (the targets and what would be done to each, frozen when the
    run is requested: that is what approvers approve), its state, its outcome."""

    __tablename__ = "playbook_step_runs"
    __table_args__ = (UniqueConstraint("run_id", "position", name="uq_playbook_step_runs_run_position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("playbook_runs.id", ondelete="CASCADE"), index=True)
    #: 1-based, in the playbook's order
    position: Mapped[int] = mapped_column(Integer)
    step_id: Mapped[str] = mapped_column(String(80))
    step: Mapped[str] = mapped_column(String(80))
    #: pending | waiting-approval | running | done | failed | skipped | refused
    status: Mapped[str] = mapped_column(String(20), default="pending")
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: the role an approver needs ("" when the step needs no approval)
    approval_role: Mapped[str] = mapped_column(String(20), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StepApproval(Base):
    """An approval or a refusal of a step, by someone other than the run's requester."""

    __tablename__ = "playbook_step_approvals"
    id: Mapped[int] = mapped_column(primary_key=True)
    step_run_id: Mapped[int] = mapped_column(ForeignKey("playbook_step_runs.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(80))
    approved: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ResponseAction(Base):
    """A change an action made to one target (an address blocked on a gateway...), found again
    by its idempotency key: a step run twice acts once. ``expires_at``: when it is undone on its
    own."""

    __tablename__ = "response_actions"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("playbook_runs.id", ondelete="CASCADE"), index=True)
    step_run_id: Mapped[int] = mapped_column(ForeignKey("playbook_step_runs.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(80))
    #: the step's parameters, so that its compensating action runs against the same system
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    target: Mapped[str] = mapped_column(String(2048))
    #: applied | reverted | failed
    status: Mapped[str] = mapped_column(String(20), default="applied")
    where: Mapped[str] = mapped_column(String(300), default="")
    countermeasure_id: Mapped[int | None] = mapped_column(ForeignKey("case_countermeasures.id", ondelete="SET NULL"),
                                                          nullable=True)
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    reverted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reverted_by: Mapped[str] = mapped_column(String(80), default="")
    error: Mapped[str] = mapped_column(Text, default="")
