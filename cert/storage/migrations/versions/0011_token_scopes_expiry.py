"""api tokens hold several scopes, an expiry and the address of their last use

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("scopes", sa.String(length=120), nullable=False, server_default="ingest"))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_used_from", sa.String(length=45), nullable=True))
    # the tokens made before scopes were several keep their one scope, and no expiry (they were
    # issued without one: expiring them now would silently cut off the shippers that use them)
    op.execute("UPDATE api_tokens SET scopes = scope")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("scope")


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("scope", sa.String(length=20), nullable=False, server_default="ingest"))
    # the schema before knew only the ingest scope: a token without it is revoked rather than
    # given a right it did not have
    op.execute("UPDATE api_tokens SET scope = 'ingest'")
    op.execute("UPDATE api_tokens SET revoked = true WHERE scopes NOT LIKE '%ingest%'")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_used_from")
        batch.drop_column("expires_at")
        batch.drop_column("scopes")
