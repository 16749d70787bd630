"""rule management: settings, exceptions, change history; scheduled hunts

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-21 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_settings",
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=True),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rule_id"),
    )
    op.create_table(
        "rule_exceptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("field", sa.String(length=200), nullable=False),
        sa.Column("operator", sa.String(length=20), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rule_exceptions_rule_id", "rule_exceptions", ["rule_id"])
    op.create_table(
        "rule_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rule_changes_rule_id", "rule_changes", ["rule_id"])
    op.create_index("ix_rule_changes_at", "rule_changes", ["at"])
    op.create_table(
        "hunt_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("detector", sa.String(length=40), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("rules", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("alerts_new", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_hunt_runs_window_start", "hunt_runs", ["window_start"])
    op.create_index("ix_hunt_runs_window_end", "hunt_runs", ["window_end"])
    op.create_table(
        "hunt_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule_id", "event_id", name="uq_hunt_matches_rule_event"),
    )
    op.create_index("ix_hunt_matches_seen_at", "hunt_matches", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_hunt_matches_seen_at", table_name="hunt_matches")
    op.drop_table("hunt_matches")
    op.drop_index("ix_hunt_runs_window_end", table_name="hunt_runs")
    op.drop_index("ix_hunt_runs_window_start", table_name="hunt_runs")
    op.drop_table("hunt_runs")
    op.drop_index("ix_rule_changes_at", table_name="rule_changes")
    op.drop_index("ix_rule_changes_rule_id", table_name="rule_changes")
    op.drop_table("rule_changes")
    op.drop_index("ix_rule_exceptions_rule_id", table_name="rule_exceptions")
    op.drop_table("rule_exceptions")
    op.drop_table("rule_settings")
