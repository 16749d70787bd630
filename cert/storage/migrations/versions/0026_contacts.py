"""the contact database (organisations, their networks and domains, contacts with roles, languages and keys)

Revision ID: 0026_contacts
Revises: 0025_acks
Create Date: 2026-12-06
"""

revision = "0026_contacts"
down_revision = "0025_acks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
