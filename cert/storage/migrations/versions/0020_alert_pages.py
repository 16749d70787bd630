"""alert pages: an index of alerts by raised time and id, the queue's order, so that a deep page
of the queue reads the ids it skips from the index alone (PostgreSQL's index-only scan)

Revision ID: 0020_alert_pages
Revises: 0019_incident_metrics
Create Date: 2026-12-06
"""

from alembic import op

revision = "0020_alert_pages"
down_revision = "0019_incident_metrics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alerts_created_id", "alerts", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_created_id", table_name="alerts")
