"""incident handling: incidents get assignee, ATT&CK, resolution, merge and SLA clocks, several
affected organisations, comments, tasks, countermeasures, attachments with their chain of custody;
incident reports and their links; templates; alert triage fields and indexes; saved filters;
timeline entries carry a message id and its values

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("incident_templates",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("key", sa.String(length=80), nullable=False),
    sa.Column("names", sa.JSON(), nullable=False),
    sa.Column("rsit_class", sa.String(length=60), nullable=False),
    sa.Column("severity", sa.String(length=20), nullable=False),
    sa.Column("tlp", sa.String(length=20), nullable=False),
    sa.Column("pap", sa.String(length=10), nullable=False),
    sa.Column("tasks", sa.JSON(), nullable=False),
    sa.Column("playbooks", sa.JSON(), nullable=False),
    sa.Column("updated_by", sa.String(length=80), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("key")
    )
    op.create_table("saved_filters",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("owner", sa.String(length=80), nullable=False),
    sa.Column("view", sa.String(length=20), nullable=False),
    sa.Column("name", sa.String(length=100), nullable=False),
    sa.Column("query", sa.JSON(), nullable=False),
    sa.Column("shared", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("saved_filters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_saved_filters_owner"), ["owner"], unique=False)

    op.create_table("case_attachments",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("case_id", sa.Integer(), nullable=False),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("stored_name", sa.String(length=300), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(length=64), nullable=False),
    sa.Column("content_type", sa.String(length=100), nullable=False),
    sa.Column("tlp", sa.String(length=20), nullable=False),
    sa.Column("uploaded_by", sa.String(length=80), nullable=False),
    sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("scan", sa.JSON(), nullable=False),
    sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("case_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_attachments_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_attachments_sha256"), ["sha256"], unique=False)

    op.create_table("case_comments",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("case_id", sa.Integer(), nullable=False),
    sa.Column("author", sa.String(length=80), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("case_comments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_comments_case_id"), ["case_id"], unique=False)

    op.create_table("case_organizations",
    sa.Column("case_id", sa.Integer(), nullable=False),
    sa.Column("organization", sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("case_id", "organization")
    )
    with op.batch_alter_table("case_organizations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_organizations_organization"), ["organization"], unique=False)

    op.create_table("case_tasks",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("case_id", sa.Integer(), nullable=False),
    sa.Column("title", sa.String(length=300), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("assignee", sa.String(length=80), nullable=True),
    sa.Column("status", sa.String(length=20), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("created_by", sa.String(length=80), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("case_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_tasks_assignee"), ["assignee"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_tasks_case_id"), ["case_id"], unique=False)

    op.create_table("attachment_custody",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("attachment_id", sa.Integer(), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(length=80), nullable=False),
    sa.Column("action", sa.String(length=20), nullable=False),
    sa.Column("remote_addr", sa.String(length=64), nullable=False),
    sa.Column("sha256", sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(["attachment_id"], ["case_attachments.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("attachment_custody", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attachment_custody_attachment_id"), ["attachment_id"], unique=False)

    op.create_table("case_countermeasures",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("case_id", sa.Integer(), nullable=False),
    sa.Column("kind", sa.String(length=30), nullable=False),
    sa.Column("target", sa.String(length=2048), nullable=False),
    sa.Column("organization", sa.String(length=200), nullable=True),
    sa.Column("status", sa.String(length=20), nullable=False),
    sa.Column("comment", sa.Text(), nullable=False),
    sa.Column("playbook_run_id", sa.Integer(), nullable=True),
    sa.Column("created_by", sa.String(length=80), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["playbook_run_id"], ["playbook_runs.id"], ),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("case_countermeasures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_countermeasures_case_id"), ["case_id"], unique=False)

    op.create_table("incident_reports",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("source", sa.String(length=20), nullable=False),
    sa.Column("subject", sa.String(length=300), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("reporter", sa.String(length=300), nullable=False),
    sa.Column("organization", sa.String(length=200), nullable=True),
    sa.Column("tlp", sa.String(length=20), nullable=False),
    sa.Column("status", sa.String(length=20), nullable=False),
    sa.Column("rejection_reason", sa.Text(), nullable=False),
    sa.Column("alert_id", sa.Integer(), nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(length=80), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("incident_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_reports_organization"), ["organization"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_reports_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_reports_status"), ["status"], unique=False)

    op.create_table("incident_report_links",
    sa.Column("report_id", sa.Integer(), nullable=False),
    sa.Column("case_id", sa.Integer(), nullable=False),
    sa.Column("linked_by", sa.String(length=80), nullable=False),
    sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["report_id"], ["incident_reports.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("report_id", "case_id")
    )
    with op.batch_alter_table("incident_report_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_report_links_case_id"), ["case_id"], unique=False)

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_by", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("close_reason", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("close_comment", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("closed_by", sa.String(length=80), nullable=True))
        batch_op.create_index(batch_op.f("ix_alerts_assignee"), ["assignee"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_alerts_organization_created", ["organization", "created_at"], unique=False)
        batch_op.create_index("ix_alerts_severity_created", ["severity", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_source_ip"), ["source_ip"], unique=False)
        batch_op.create_index("ix_alerts_status_created", ["status", "created_at"], unique=False)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("attack", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("template", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("resolution", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("resolution_comment", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("merged_into", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("detected_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("contained_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_cases_assignee"), ["assignee"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_organization"), ["organization"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_severity"), ["severity"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_updated_at"), ["updated_at"], unique=False)
        batch_op.create_foreign_key("fk_cases_merged_into", "cases", ["merged_into"], ["id"])

    with op.batch_alter_table("observables", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", sa.String(length=80), server_default="", nullable=False))
        batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_observables_type_value", ["type", "value"], unique=False)

    with op.batch_alter_table("timeline", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("params", sa.JSON(), server_default="{}", nullable=False))

    op.execute("UPDATE cases SET updated_at = created_at")
    op.execute("INSERT INTO case_organizations (case_id, organization) "
               "SELECT id, organization FROM cases WHERE organization IS NOT NULL")
    op.execute("UPDATE alerts SET acknowledged_at = created_at WHERE status <> 'new'")



def downgrade() -> None:
    with op.batch_alter_table("timeline", schema=None) as batch_op:
        batch_op.drop_column("params")
        batch_op.drop_column("message_id")

    with op.batch_alter_table("observables", schema=None) as batch_op:
        batch_op.drop_index("ix_observables_type_value")
        batch_op.drop_column("created_at")
        batch_op.drop_column("created_by")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint("fk_cases_merged_into", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_cases_updated_at"))
        batch_op.drop_index(batch_op.f("ix_cases_status"))
        batch_op.drop_index(batch_op.f("ix_cases_severity"))
        batch_op.drop_index(batch_op.f("ix_cases_organization"))
        batch_op.drop_index(batch_op.f("ix_cases_created_at"))
        batch_op.drop_index(batch_op.f("ix_cases_assignee"))
        batch_op.drop_column("updated_at")
        batch_op.drop_column("contained_at")
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("detected_at")
        batch_op.drop_column("merged_into")
        batch_op.drop_column("resolution_comment")
        batch_op.drop_column("resolution")
        batch_op.drop_column("template")
        batch_op.drop_column("attack")
        batch_op.drop_column("assignee")

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_status_created")
        batch_op.drop_index(batch_op.f("ix_alerts_source_ip"))
        batch_op.drop_index("ix_alerts_severity_created")
        batch_op.drop_index("ix_alerts_organization_created")
        batch_op.drop_index(batch_op.f("ix_alerts_case_id"))
        batch_op.drop_index(batch_op.f("ix_alerts_assignee"))
        batch_op.drop_column("closed_by")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("close_comment")
        batch_op.drop_column("close_reason")
        batch_op.drop_column("acknowledged_by")
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("assignee")

    with op.batch_alter_table("incident_report_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_report_links_case_id"))

    op.drop_table("incident_report_links")
    with op.batch_alter_table("incident_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_reports_status"))
        batch_op.drop_index(batch_op.f("ix_incident_reports_received_at"))
        batch_op.drop_index(batch_op.f("ix_incident_reports_organization"))

    op.drop_table("incident_reports")
    with op.batch_alter_table("case_countermeasures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_countermeasures_case_id"))

    op.drop_table("case_countermeasures")
    with op.batch_alter_table("attachment_custody", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachment_custody_attachment_id"))

    op.drop_table("attachment_custody")
    with op.batch_alter_table("case_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_tasks_case_id"))
        batch_op.drop_index(batch_op.f("ix_case_tasks_assignee"))

    op.drop_table("case_tasks")
    with op.batch_alter_table("case_organizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_organizations_organization"))

    op.drop_table("case_organizations")
    with op.batch_alter_table("case_comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_comments_case_id"))

    op.drop_table("case_comments")
    with op.batch_alter_table("case_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_attachments_sha256"))
        batch_op.drop_index(batch_op.f("ix_case_attachments_case_id"))

    op.drop_table("case_attachments")
    with op.batch_alter_table("saved_filters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_saved_filters_owner"))

    op.drop_table("saved_filters")
    op.drop_table("incident_templates")
