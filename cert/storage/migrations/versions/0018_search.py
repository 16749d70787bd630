"""search: an index of the alerts' text for the queue's search, and each alert's ATT&CK tactics
and techniques in a table of their own for the tactic filter, both kept in step by the database

SQLite: an FTS5 table with the trigram tokenizer over the alert's rule title, rule id, source
address, organisation and entities (external content: the text stays in ``alerts``), written by
triggers on the alerts' insert, update and delete. PostgreSQL: a trigram (``pg_trgm``) GIN index
on the same text, lowered; ``pg_trgm`` is a trusted extension (PostgreSQL 13 and later: a role
that may create objects in the database may create it); where it cannot be created the index is
left out and the search reads the rows, with the same results. ``alert_tactics``: one row per
tag of ``alerts.attack``, lowered, ``-`` and spaces as ``_``, without the ``attack.`` prefix
(a sub-technique's technique listed too), written by a trigger on the alerts' insert and update;
existing alerts are indexed here.

Revision ID: 0018_search
Revises: 0017_rollup
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_search"
down_revision = "0017_rollup"
branch_labels = None
depends_on = None

SEARCHED = ("rule_title", "rule_id", "source_ip", "organization", "entities")

#: the tags of the alerts ``{a}`` (the table's alias, or ``new`` in a trigger), lowered, ``-`` and
#: spaces as ``_``, without the ``attack.`` prefix (SQLite)
SQLITE_TAGS = ("SELECT id, CASE WHEN substr(t, 1, 7) = 'attack.' THEN substr(t, 8) ELSE t END, created_at "
               "FROM (SELECT {a}.id AS id, {a}.created_at AS created_at, "
               "lower(replace(replace(CAST(j.value AS TEXT), '-', '_'), ' ', '_')) AS t "
               "FROM {source}json_each(CASE WHEN json_valid({a}.attack) AND json_type({a}.attack) = 'array' "
               "THEN {a}.attack ELSE '[]' END) AS j)")
#: the technique of each sub-technique listed (``t1110`` of ``t1110.001``)
SQLITE_TECHNIQUES = ("SELECT alert_id, substr(tactic, 1, 5), created_at FROM alert_tactics "
                     "WHERE tactic GLOB 't[0-9][0-9][0-9][0-9].*'")


#: the same for PostgreSQL
PG_TAGS = ("SELECT tag FROM n UNION SELECT substr(tag, 1, 5) FROM n WHERE tag ~ '^t[0-9]{{4}}\\.'")
PG_NORMALISED = ("SELECT regexp_replace(lower(replace(replace(t, '-', '_'), ' ', '_')), '^attack\\.', '') AS tag "
                 "FROM json_array_elements_text(CASE WHEN json_typeof({attack}) = 'array' THEN {attack} "
                 "ELSE '[]'::json END) AS t")


def _pg_tags(attack: str) -> str:
    return f"WITH n AS ({PG_NORMALISED.format(attack=attack)}) {PG_TAGS.format()}"


#: the text the PostgreSQL index holds, the same expression as ``cert.detection.triage``'s search
PG_TEXT = ("lower(coalesce(rule_title, '') || E'\\n' || coalesce(rule_id, '') || E'\\n' || "
           "coalesce(source_ip, '') || E'\\n' || coalesce(organization, '') || E'\\n' || "
           "coalesce(CAST(entities AS TEXT), ''))")


def _sqlite_upgrade() -> None:
    columns = ", ".join(SEARCHED)
    new = ", ".join(f"new.{c}" for c in SEARCHED)
    old = ", ".join(f"old.{c}" for c in SEARCHED)
    op.execute(f"CREATE VIRTUAL TABLE alert_search USING fts5({columns}, content='alerts', "
               "content_rowid='id', tokenize='trigram')")
    op.execute(f"CREATE TRIGGER alerts_search_insert AFTER INSERT ON alerts BEGIN "  # noqa: S608 - this module's constants
               f"INSERT INTO alert_search(rowid, {columns}) VALUES (new.id, {new}); END")
    op.execute(f"CREATE TRIGGER alerts_search_delete AFTER DELETE ON alerts BEGIN "  # noqa: S608 - this module's constants
               f"INSERT INTO alert_search(alert_search, rowid, {columns}) VALUES ('delete', old.id, {old}); END")
    op.execute(f"CREATE TRIGGER alerts_search_update AFTER UPDATE OF {columns} ON alerts BEGIN "  # noqa: S608 - this module's constants
               f"INSERT INTO alert_search(alert_search, rowid, {columns}) VALUES ('delete', old.id, {old}); "
               f"INSERT INTO alert_search(rowid, {columns}) VALUES (new.id, {new}); END")
    op.execute("INSERT INTO alert_search(alert_search) VALUES ('rebuild')")
    _sqlite_tactics()


def _sqlite_tactics() -> None:
    insert = "INSERT OR IGNORE INTO alert_tactics(alert_id, tactic, created_at)"
    tags = SQLITE_TAGS.format(a="new", source="")
    techniques = f"{insert} {SQLITE_TECHNIQUES} AND alert_id = new.id;"
    op.execute(f"CREATE TRIGGER alerts_tactics_insert AFTER INSERT ON alerts BEGIN "
               f"{insert} {tags}; {techniques} END")
    op.execute(f"CREATE TRIGGER alerts_tactics_update AFTER UPDATE OF attack, created_at ON alerts BEGIN "  # noqa: S608 - this module's constants
               f"DELETE FROM alert_tactics WHERE alert_id = old.id; {insert} {tags}; {techniques} END")
    op.execute(f"{insert} {SQLITE_TAGS.format(a='a', source='alerts AS a, ')}")
    op.execute(f"{insert} {SQLITE_TECHNIQUES}")


def _postgresql_upgrade() -> None:
    bind = op.get_bind()
    nested = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        nested.rollback()
    else:
        nested.commit()
        op.execute(f"CREATE INDEX ix_alerts_search_trgm ON alerts USING gin (({PG_TEXT}) gin_trgm_ops)")
    op.execute(f"""
CREATE FUNCTION alert_tactics_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    DELETE FROM alert_tactics WHERE alert_id = OLD.id;
  END IF;
  INSERT INTO alert_tactics (alert_id, tactic, created_at)
  SELECT NEW.id, x.tag, NEW.created_at FROM ({_pg_tags("NEW.attack")}) AS x
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END
$$""")  # noqa: S608 - SQL of this module's constants
    op.execute("CREATE TRIGGER alerts_tactics AFTER INSERT OR UPDATE OF attack, created_at ON alerts "
               "FOR EACH ROW EXECUTE FUNCTION alert_tactics_write()")
    op.execute(f"INSERT INTO alert_tactics (alert_id, tactic, created_at) SELECT a.id, x.tag, a.created_at "  # noqa: S608 - this module's constants
               f"FROM alerts AS a CROSS JOIN LATERAL ({_pg_tags('a.attack')}) AS x ON CONFLICT DO NOTHING")


def upgrade() -> None:
    op.create_table(
        "alert_tactics",
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tactic", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alert_tactics_tactic_created", "alert_tactics", ["tactic", "created_at", "alert_id"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_upgrade()
    elif dialect == "postgresql":
        _postgresql_upgrade()
    op.execute("ANALYZE alert_tactics")  # the planner's figures of the table just filled


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("alerts_search_insert", "alerts_search_delete", "alerts_search_update",
                        "alerts_tactics_insert", "alerts_tactics_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS alert_search")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS alerts_tactics ON alerts")
        op.execute("DROP FUNCTION IF EXISTS alert_tactics_write()")
        op.execute("DROP INDEX IF EXISTS ix_alerts_search_trgm")
    op.drop_index("ix_alert_tactics_tactic_created", table_name="alert_tactics")
    op.drop_table("alert_tactics")
