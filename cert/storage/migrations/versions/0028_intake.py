"""incident reports from outside (e-mail intake and its threads, the public form)

Revision ID: 0028_intake
Revises: 0027_notifications
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0028_intake"
down_revision = "0027_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("incident_reports.id", ondelete="CASCADE"),
                  nullable=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=True),
        sa.Column("from_address", sa.String(320), nullable=False),
        sa.Column("from_name", sa.String(300), nullable=False),
        sa.Column("envelope_from", sa.String(320), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("ticket", sa.String(40), nullable=False),
        sa.Column("ticket_refused", sa.Boolean(), nullable=False),
        sa.Column("peer", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stored_name", sa.String(300), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("message_id", name="uq_intake_messages_message_id"),
    )
    op.create_index("ix_intake_messages_report_id", "intake_messages", ["report_id"])
    op.create_index("ix_intake_messages_case_id", "intake_messages", ["case_id"])
    op.create_index("ix_intake_messages_received_at", "intake_messages", ["received_at"])
    op.create_table(
        "report_attachments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("incident_reports.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("intake_messages.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("stored_name", sa.String(300), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_report_attachments_report_id", "report_attachments", ["report_id"])
    op.create_index("ix_report_attachments_sha256", "report_attachments", ["sha256"])


def downgrade() -> None:
    op.drop_table("report_attachments")
    op.drop_table("intake_messages")
