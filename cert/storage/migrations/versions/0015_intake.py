"""an alert has one incident report at most: unique index on incident_reports.alert_id

Revision ID: 0015_intake
Revises: 0014
Create Date: 2026-12-20
"""

from alembic import op

revision = "0015_intake"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incident_reports") as batch:
        batch.create_index("uq_incident_reports_alert_id", ["alert_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("incident_reports") as batch:
        batch.drop_index("uq_incident_reports_alert_id")
