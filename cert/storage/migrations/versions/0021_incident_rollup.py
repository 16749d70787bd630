"""incident roll-up: the dashboard's figures of the incidents opened on each UTC day, in all and
per organisation, and when they were last checked against the incidents' changes

Revision ID: 0021_incident_rollup
Revises: 0020_alert_pages
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_incident_rollup"
down_revision = "0020_alert_pages"
branch_labels = None
depends_on = None


def _figures() -> list[sa.Column[object]]:
    return [
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("detect", sa.LargeBinary(), nullable=False),
        sa.Column("acknowledge", sa.LargeBinary(), nullable=False),
        sa.Column("contain", sa.LargeBinary(), nullable=False),
        sa.Column("resolve", sa.LargeBinary(), nullable=False),
        sa.Column("decided", sa.JSON(), nullable=False),
        sa.Column("techniques", sa.JSON(), nullable=False),
        sa.Column("rolled_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table("incident_day_figures", sa.Column("day", sa.String(10), primary_key=True), *_figures())
    op.create_table("incident_day_org_figures", sa.Column("day", sa.String(10), primary_key=True),
                    sa.Column("organization", sa.String(200), primary_key=True), *_figures())
    op.create_table(
        "incident_rollup_mark",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("incident_rollup_mark")
    op.drop_table("incident_day_org_figures")
    op.drop_table("incident_day_figures")
