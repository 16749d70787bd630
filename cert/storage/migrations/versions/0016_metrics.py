"""metrics: a covering index of alerts by creation time with severity, organisation and rule, so
the dashboard's counts per day and per rule over a period read the index alone

Revision ID: 0016_metrics
Revises: 0015_intake
Create Date: 2026-12-06
"""

from alembic import op

revision = "0016_metrics"
down_revision = "0015_intake"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alerts_created_metrics", "alerts", ["created_at", "severity", "organization", "rule_id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_created_metrics", table_name="alerts")
