"""The relational store on a real PostgreSQL server: Alembic migrations, users, alerts, cases,
timeline and audit (the production path; the embedded tests use SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from cert.accounts.users import authenticate, create_user
from cert.constituency.directory import Constituency
from cert.core.errors import Conflict
from cert.incidents.cases import add_note, get_case, promote_alert
from cert.storage import audit
from cert.storage.db import MIGRATIONS_DIR, Database
from cert.storage.models import Alert, AuditEntry, TimelineEntry

pytestmark = pytest.mark.postgres
HEADS = ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()  # the one head every upgrade must reach

TABLES = {
    "users",
    "alerts",
    "cases",
    "observables",
    "timeline",
    "playbook_runs",
    "detection_runs",
    "dead_letters",
    "audit",
}


@pytest.fixture(scope="module")
def db(postgres_server) -> Iterator[Database]:  # type: ignore[no-untyped-def]
    """A fresh database for this module, migrated to head."""
    url = postgres_server.create_database()
    database = Database(url)
    database.upgrade()
    try:
        yield database
    finally:
        database.dispose()
        postgres_server.drop_database(url)


def test_upgrade_creates_schema_and_is_idempotent(postgres_server) -> None:  # type: ignore[no-untyped-def]
    url = postgres_server.create_database()
    database = Database(url)
    try:
        assert database.engine.dialect.name == "postgresql"
        assert not set(inspect(database.engine).get_table_names()) & TABLES
        database.upgrade()
        with database.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == HEADS
        assert set(inspect(database.engine).get_table_names()) >= TABLES
        # a second run is a no-op: same version, same tables, data kept
        with database.session() as s:
            create_user(s, "kept.user", "a long enough password", "analyst")
        database.upgrade()
        with database.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == HEADS
            assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 1
        assert set(inspect(database.engine).get_table_names()) >= TABLES
    finally:
        database.dispose()
        postgres_server.drop_database(url)


def test_users_and_authentication(db: Database) -> None:
    with db.session() as s:
        user = create_user(s, "awa.analyste", "correct horse battery", "analyst")
        assert user.id is not None
    with db.session() as s:
        ok = authenticate(s, "awa.analyste", "correct horse battery")
        assert ok is not None and ok.username == "awa.analyste" and ok.role == "analyst"
        assert ok.created_at.tzinfo is not None
        assert authenticate(s, "awa.analyste", "wrong password!!") is None
        assert authenticate(s, "nobody.here", "correct horse battery") is None


def test_unique_username_is_enforced(db: Database) -> None:
    from cert.core.errors import InvalidInput

    with db.session() as s:
        create_user(s, "unique.user", "a long enough password", "responder")
    with pytest.raises(InvalidInput), db.session() as s:
        create_user(s, "unique.user", "another long password", "analyst")


def test_alert_to_case_with_timeline_and_audit(db: Database) -> None:
    seen = datetime(2026, 11, 20, 8, 10, tzinfo=UTC)
    with db.session() as s:
        alert = Alert(
            rule_id="test-rule",
            rule_title="SSH Brute Force Against a Government Server",
            detector="sigma",
            severity="high",
            group_key="203.0.113.66",
            source_ip="203.0.113.66",
            organization="Ministère de l'Intérieur",
            attack=["attack.credential_access", "attack.t1110"],
            entities={"source.ip": "203.0.113.66"},
            event_ids=["e1", "e2"],
            count=2,
            first_seen=seen - timedelta(minutes=5),
            last_seen=seen,
        )
        s.add(alert)
        s.flush()
        alert_id = alert.id
        case = promote_alert(s, alert, [], "awa.analyste", Constituency.load(None))
        case_id = case.id
        # promoting again says which case the alert is in
        with pytest.raises(Conflict) as conflict:
            promote_alert(s, alert, [], "awa.analyste", Constituency.load(None))
        assert conflict.value.details["case_id"] == case_id

    with db.session() as s:
        alert = s.get_one(Alert, alert_id)
        assert alert.status == "promoted" and alert.case_id == case_id
        assert alert.attack == ["attack.credential_access", "attack.t1110"]  # JSON round trip
        assert alert.last_seen == seen  # timezone-aware round trip
        case = get_case(s, case_id)
        assert case.rsit_class == "intrusion-attempts:login-attempts"
        assert case.organization == "Ministère de l'Intérieur"
        add_note(s, case, "fatou.intervenante", "Source blocked at the national gateway.")

    with db.session() as s:
        case = get_case(s, case_id)
        entries = case.timeline
        assert [e.kind for e in entries] == ["created", "note"]
        assert entries[0].message.startswith(f"Incident opened from alert #{alert_id}")
        assert entries[0].data == {"alert_id": alert_id, "rule_id": "test-rule", "count": 2}
        assert entries[1].message == "Source blocked at the national gateway."
        assert entries[1].actor == "fatou.intervenante"
        assert entries[0].id < entries[1].id and entries[0].at <= entries[1].at
        # the same order straight from the table
        ids = s.scalars(
            select(TimelineEntry.id)
            .where(TimelineEntry.case_id == case_id)
            .order_by(TimelineEntry.at, TimelineEntry.id)
        )
        assert list(ids) == [e.id for e in entries]

        trail = [
            e for e in reversed(audit.recent(s)) if e.object_type == "case" and e.object_id == str(case_id)
        ]
        assert [(e.actor, e.action) for e in trail] == [
            ("awa.analyste", "case.create"),
            ("fatou.intervenante", "case.note"),
        ]
        assert trail[0].details == {"alert_id": alert_id}
        assert trail[0].at <= trail[1].at
        assert all(isinstance(e, AuditEntry) and e.at.tzinfo is not None for e in trail)
