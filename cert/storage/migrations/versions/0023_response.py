"""response playbooks that act: each run's steps with their plan and approvals, the actions
taken on constituents' systems with their expiry, a PAP per observable

Revision ID: 0023_response
Revises: 0022_anomaly
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_response"
down_revision = "0022_anomaly"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("playbook_runs") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("observables", sa.Column("pap", sa.String(20), nullable=True))
    op.add_column("case_countermeasures", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "playbook_step_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("playbook_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(80), nullable=False),
        sa.Column("step", sa.String(80), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("approval_role", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("run_id", "position", name="uq_playbook_step_runs_run_position"),
    )
    op.create_index("ix_playbook_step_runs_run_id", "playbook_step_runs", ["run_id"])
    op.create_table(
        "playbook_step_approvals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("step_run_id", sa.Integer(), sa.ForeignKey("playbook_step_runs.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_playbook_step_approvals_step_run_id", "playbook_step_approvals", ["step_run_id"])
    op.create_table(
        "response_actions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(300), nullable=False, unique=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("playbook_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("step_run_id", sa.Integer(), sa.ForeignKey("playbook_step_runs.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("step", sa.String(80), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("target", sa.String(2048), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("where", sa.String(300), nullable=False),
        sa.Column("countermeasure_id", sa.Integer(),
                  sa.ForeignKey("case_countermeasures.id", ondelete="SET NULL"), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reverted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reverted_by", sa.String(80), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
    )
    op.create_index("ix_response_actions_run_id", "response_actions", ["run_id"])
    op.create_index("ix_response_actions_case_id", "response_actions", ["case_id"])
    op.create_index("ix_response_actions_expires_at", "response_actions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("response_actions")
    op.drop_table("playbook_step_approvals")
    op.drop_table("playbook_step_runs")
    op.drop_column("case_countermeasures", "expires_at")
    op.drop_column("observables", "pap")
    with op.batch_alter_table("playbook_runs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("version")
