"""ingest reliability: per-source checkpoints and totals, per-minute rates, dead-letter counters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 13:31:11.296586
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("parser", sa.String(length=60), nullable=False),
        sa.Column("file_inode", sa.BigInteger(), nullable=True),
        sa.Column("file_offset", sa.BigInteger(), nullable=False),
        sa.Column("file_line", sa.BigInteger(), nullable=False),
        sa.Column("file_fingerprint", sa.String(length=80), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("duplicates", sa.BigInteger(), nullable=False),
        sa.Column("skipped", sa.BigInteger(), nullable=False),
        sa.Column("dead_letters", sa.BigInteger(), nullable=False),
        sa.Column("spooled", sa.BigInteger(), nullable=False),
        sa.Column("newest_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_ingest_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ingest_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "parser", name="uq_ingest_sources_source_parser"),
    )
    op.create_table(
        "dead_letter_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["source_id"], ["ingest_sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id", "reason", name="uq_dead_letter_counts_source_reason"),
    )
    with op.batch_alter_table("dead_letter_counts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dead_letter_counts_source_id"), ["source_id"], unique=False)
    op.create_table(
        "ingest_minutes",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("dead_letters", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["ingest_sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("source_id", "minute"),
    )


def downgrade() -> None:
    op.drop_table("ingest_minutes")
    with op.batch_alter_table("dead_letter_counts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dead_letter_counts_source_id"))
    op.drop_table("dead_letter_counts")
    op.drop_table("ingest_sources")
