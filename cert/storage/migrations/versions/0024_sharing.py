"""sharing with partner CERTs: API tokens bound to a partner (its served MISP feed and TAXII
collections), the incidents published to each partner, partners' sightings of indicators

Revision ID: 0024_sharing
Revises: 0023_response
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_sharing"
down_revision = "0023_response"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("partner", sa.String(80), nullable=True))
    op.create_table(
        "partner_sightings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("value", sa.String(2048), nullable=False),
        sa.Column("value_key", sa.String(40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("organization", sa.String(200), nullable=False, server_default=""),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("source", "reference", name="uq_partner_sightings_source_reference"),
    )
    op.create_index("ix_partner_sightings_type_value_key", "partner_sightings", ["type", "value_key"])
    op.create_table(
        "case_publications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("partner", sa.String(80), nullable=False),
        sa.Column("published_by", sa.String(80), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(80), nullable=True),
        sa.UniqueConstraint("case_id", "partner", name="uq_case_publications_case_partner"),
    )
    op.create_index("ix_case_publications_partner_updated", "case_publications", ["partner", "updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_case_publications_partner_updated", table_name="case_publications")
    op.drop_table("case_publications")
    op.drop_index("ix_partner_sightings_type_value_key", table_name="partner_sightings")
    op.drop_table("partner_sightings")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("partner")
