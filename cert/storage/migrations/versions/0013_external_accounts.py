"""users may come from an OpenID Connect provider: auth source, subject, organisation

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("auth_source", sa.String(length=20), nullable=False, server_default="local"))
        batch.add_column(sa.Column("external_subject", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("organization", sa.String(length=80), nullable=True))
        batch.create_unique_constraint("uq_users_external_subject", ["auth_source", "external_subject"])


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_external_subject", type_="unique")
        batch.drop_column("organization")
        batch.drop_column("external_subject")
        batch.drop_column("auth_source")
