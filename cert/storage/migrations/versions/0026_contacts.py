"""the contact database (organisations, their networks and domains, contacts with roles, languages and keys)

Revision ID: 0026_contacts
Revises: 0025_acks
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0026_contacts"
down_revision = "0025_acks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "constituency_organizations",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("parent", sa.String(80), sa.ForeignKey("constituency_organizations.id", ondelete="RESTRICT"),
                  nullable=True),
        sa.Column("kind", sa.String(80), nullable=False),
        sa.Column("sector", sa.String(80), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", name="uq_constituency_organizations_name"),
    )
    op.create_index("ix_constituency_organizations_parent", "constituency_organizations", ["parent"])
    op.create_table(
        "constituency_network_objects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("organization_id", sa.String(80),
                  sa.ForeignKey("constituency_organizations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.UniqueConstraint("kind", "value", name="uq_constituency_network_objects_kind_value"),
    )
    op.create_index("ix_constituency_network_objects_org", "constituency_network_objects", ["organization_id"])
    op.create_table(
        "constituency_contacts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("organization_id", sa.String(80),
                  sa.ForeignKey("constituency_organizations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("phone", sa.String(50), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("pgp_key", sa.Text(), nullable=False),
        sa.Column("smime_cert", sa.Text(), nullable=False),
    )
    op.create_index("ix_constituency_contacts_org", "constituency_contacts", ["organization_id"])
    op.create_table(
        "constituency_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("constituency_version")
    op.drop_index("ix_constituency_contacts_org", table_name="constituency_contacts")
    op.drop_table("constituency_contacts")
    op.drop_index("ix_constituency_network_objects_org", table_name="constituency_network_objects")
    op.drop_table("constituency_network_objects")
    op.drop_index("ix_constituency_organizations_parent", table_name="constituency_organizations")
    op.drop_table("constituency_organizations")
