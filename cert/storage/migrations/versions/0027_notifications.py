"""notifications to the constituency (a queue with states, aggregation, escalation) and advisories

Revision ID: 0027_notifications
Revises: 0026_contacts
Create Date: 2026-12-06
"""

revision = "0027_notifications"
down_revision = "0026_contacts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
