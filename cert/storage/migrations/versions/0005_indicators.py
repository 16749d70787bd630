"""indicator store, its generation counter, YARA file scans

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-21 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "indicators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=2048), nullable=False),
        sa.Column("value_key", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("tlp", sa.String(length=20), nullable=False),
        sa.Column("confidence", sa.Integer(), nullable=False),
        sa.Column("to_ids", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "type", "value_key", name="uq_indicators_source_type_value"),
    )
    op.create_index("ix_indicators_source", "indicators", ["source"])
    op.create_index("ix_indicators_expires_at", "indicators", ["expires_at"])
    op.create_index("ix_indicators_type_value_key", "indicators", ["type", "value_key"])
    op.create_table(
        "indicator_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "file_scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=40), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("matches", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.Column("rules_hash", sa.String(length=64), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_file_scans_path_size_mtime", "file_scans", ["path", "size", "mtime_ns"])
    op.create_index("ix_file_scans_sha256", "file_scans", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_file_scans_sha256", table_name="file_scans")
    op.drop_index("ix_file_scans_path_size_mtime", table_name="file_scans")
    op.drop_table("file_scans")
    op.drop_table("indicator_generation")
    op.drop_index("ix_indicators_type_value_key", table_name="indicators")
    op.drop_index("ix_indicators_expires_at", table_name="indicators")
    op.drop_index("ix_indicators_source", table_name="indicators")
    op.drop_table("indicators")
