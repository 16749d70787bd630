"""incident reports from outside (e-mail intake and its threads, the public form)

Revision ID: 0028_intake
Revises: 0027_notifications
Create Date: 2026-12-06
"""

revision = "0028_intake"
down_revision = "0027_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
