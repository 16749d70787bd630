"""incident metrics: indexes that hold what the dashboard reads of the incidents opened, and
closed, in a period (their times, severity, organisation and RSIT class)

Revision ID: 0019_incident_metrics
Revises: 0018_search
Create Date: 2026-12-06
"""

from alembic import op

revision = "0019_incident_metrics"
down_revision = "0018_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_opened_metrics", "cases",
                    ["created_at", "severity", "organization", "rsit_class", "detected_at", "acknowledged_at",
                     "contained_at", "closed_at"])
    op.create_index("ix_cases_closed_metrics", "cases", ["closed_at", "severity", "organization", "rsit_class"])


def downgrade() -> None:
    op.drop_index("ix_cases_closed_metrics", table_name="cases")
    op.drop_index("ix_cases_opened_metrics", table_name="cases")
