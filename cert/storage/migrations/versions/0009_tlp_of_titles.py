"""alerts record the TLP of their title and evidence; cases the TLP of their title and description

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ORDER = ("clear", "green", "amber", "amber+strict", "red")


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("tlp", sa.String(length=20), nullable=False, server_default="clear"))
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("title_tlp", sa.String(length=20), nullable=False, server_default="clear"))
    conn = op.get_bind()
    # an indicator alert's title names the indicator and its sources: it carries the indicator's TLP
    rows = conn.execute(sa.text("SELECT id, entities FROM alerts WHERE detector = 'indicators'")).fetchall()
    for alert_id, entities in rows:
        data = json.loads(entities) if isinstance(entities, str) else entities or {}
        tlp = str((data.get("indicator") or {}).get("tlp") or "clear")
        if tlp in ORDER and tlp != "clear":
            conn.execute(sa.text("UPDATE alerts SET tlp = :tlp WHERE id = :id"), {"tlp": tlp, "id": alert_id})
    # a case promoted before titles were labelled: its title is taken to be as restricted as the
    # case, or as its most restricted alert, whichever is higher
    conn.execute(sa.text("UPDATE cases SET title_tlp = tlp"))
    for case_id, alert_tlp in conn.execute(sa.text("SELECT case_id, tlp FROM alerts WHERE case_id IS NOT NULL")):
        current = conn.execute(sa.text("SELECT title_tlp FROM cases WHERE id = :id"), {"id": case_id}).scalar()
        if alert_tlp in ORDER and current in ORDER and ORDER.index(alert_tlp) > ORDER.index(current):
            conn.execute(sa.text("UPDATE cases SET title_tlp = :tlp WHERE id = :id"), {"tlp": alert_tlp, "id": case_id})


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("title_tlp")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("tlp")
