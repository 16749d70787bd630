"""anomaly detection: the detectors' baselines, the analysts' benign marks, and the explanation
an anomaly alert carries

Revision ID: 0022_anomaly
Revises: 0021_incident_rollup
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_anomaly"
down_revision = "0021_incident_rollup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "anomaly_baselines",
        sa.Column("detector", sa.String(80), primary_key=True),
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "anomaly_benign",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("detector", sa.String(80), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_anomaly_benign_detector_key", "anomaly_benign", ["detector", "key"])
    op.create_index("ix_anomaly_benign_expires_at", "anomaly_benign", ["expires_at"])
    op.create_index("ix_anomaly_benign_alert_id", "anomaly_benign", ["alert_id"])
    # a plain ALTER TABLE: a batch copy of ``alerts`` would drop its search and tactic triggers
    op.add_column("alerts", sa.Column("explanation", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    op.drop_column("alerts", "explanation")
    op.drop_index("ix_anomaly_benign_alert_id", table_name="anomaly_benign")
    op.drop_index("ix_anomaly_benign_expires_at", table_name="anomaly_benign")
    op.drop_index("ix_anomaly_benign_detector_key", table_name="anomaly_benign")
    op.drop_table("anomaly_benign")
    op.drop_table("anomaly_baselines")
