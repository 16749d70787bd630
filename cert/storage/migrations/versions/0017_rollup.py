"""rollup: an index of incidents by status and organisation; alerts counted per finished UTC day,
severity, organisation and rule (and per day, severity and rule), the days counted, and the alert
id they were checked against

Revision ID: 0017_rollup
Revises: 0016_metrics
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_rollup"
down_revision = "0016_metrics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_status_organization", "cases", ["status", "organization"])
    op.create_table(
        "alert_day_counts",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("severity", sa.String(20), primary_key=True),
        sa.Column("organization", sa.String(200), primary_key=True),
        sa.Column("rule_id", sa.String(100), primary_key=True),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
    )
    op.create_index("ix_alert_day_counts_organization_day", "alert_day_counts", ["organization", "day"])
    op.create_table(
        "alert_day_rule_counts",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("severity", sa.String(20), primary_key=True),
        sa.Column("rule_id", sa.String(100), primary_key=True),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
    )
    op.create_table(
        "alert_rollup_days",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("rolled_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "alert_rollup_mark",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("through_id", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_rollup_mark")
    op.drop_table("alert_rollup_days")
    op.drop_index("ix_alert_day_counts_organization_day", table_name="alert_day_counts")
    op.drop_table("alert_day_counts")
    op.drop_table("alert_day_rule_counts")
    op.drop_index("ix_cases_status_organization", table_name="cases")
