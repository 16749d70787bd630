"""notifications to the constituency (a queue with states, aggregation, escalation) and advisories

Revision ID: 0027_notifications
Revises: 0026_contacts
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_notifications"
down_revision = "0026_contacts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "advisories",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("title_fr", sa.String(300), nullable=False),
        sa.Column("title_en", sa.String(300), nullable=False),
        sa.Column("body_fr", sa.Text(), nullable=False),
        sa.Column("body_en", sa.Text(), nullable=False),
        sa.Column("tlp", sa.String(20), nullable=False),
        sa.Column("organizations", sa.JSON(), nullable=False),
        sa.Column("sectors", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_advisories_created_at", "advisories", ["created_at"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="SET NULL"), nullable=True),
        sa.Column("advisory_id", sa.Integer(), sa.ForeignKey("advisories.id", ondelete="SET NULL"), nullable=True),
        sa.Column("organization", sa.String(80), nullable=False),
        sa.Column("organization_name", sa.String(200), nullable=False),
        sa.Column("recipient_name", sa.String(200), nullable=False),
        sa.Column("recipient_email", sa.String(320), nullable=False),
        sa.Column("recipient_role", sa.String(20), nullable=False),
        sa.Column("recipient_pgp_key", sa.Text(), nullable=False),
        sa.Column("recipient_smime_cert", sa.Text(), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("tlp", sa.String(20), nullable=False),
        sa.Column("ticket", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachment_name", sa.String(200), nullable=False),
        sa.Column("attachment", sa.Text(), nullable=False),
        sa.Column("escalation_step", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.String(200), nullable=False),
    )
    op.create_index("ix_notifications_state_next", "notifications", ["state", "next_attempt_at"])
    op.create_index("ix_notifications_case_org", "notifications", ["case_id", "organization"])
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"])
    op.create_table(
        "notified_findings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("organization", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(200), nullable=False),
        sa.Column("key", sa.String(500), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notification_id", sa.Integer(), sa.ForeignKey("notifications.id", ondelete="SET NULL"),
                  nullable=True),
        sa.UniqueConstraint("organization", "kind", "key", name="uq_notified_findings"),
    )


def downgrade() -> None:
    op.drop_table("notified_findings")
    op.drop_table("notifications")
    op.drop_table("advisories")
