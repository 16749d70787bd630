"""acknowledgements of incidents by the organisations concerned (their focal point, in the portal
or by a signed link)

Revision ID: 0025_acks
Revises: 0024_sharing
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_acks"
down_revision = "0024_sharing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_acknowledgements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("organization", sa.String(80), nullable=False),
        sa.Column("acknowledged_by", sa.String(200), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.UniqueConstraint("case_id", "organization", name="uq_case_acknowledgements_case_org"),
    )


def downgrade() -> None:
    op.drop_table("case_acknowledgements")
