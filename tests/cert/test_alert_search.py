"""The queue's text search and ATT&CK tactic filter read indexes the database keeps in step with
the alerts (SQLite: FTS5 trigram and ``alert_tactics``; PostgreSQL: pg_trgm and
``alert_tactics``): they select the same alerts as a case-blind substring match of the alert's
text and an exact match of its tags, on both databases, whether the matches are few (looked up
by id) or many (read while walking the queue), after alerts are raised, closed, reopened,
retagged or deleted; a count can stop early and say so."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import delete, func, select, text

from cert.core.contracts import Hit
from cert.detection import triage, triage_actions
from cert.detection.alerts import upsert_hits
from cert.detection.triage import AlertFilter
from cert.storage.db import MIGRATIONS_DIR, Database
from cert.storage.models import Alert

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

#: (rule id, title, organisation, attack tags, entities) of the alerts, raised in this order
ALERTS: list[tuple[str, str, str | None, tuple[str, ...], dict[str, Any]]] = [
    ("mimi-1", "Mimikatz sur le poste", "Ministère de l'Intérieur", ("attack.credential_access", "attack.t1003.001"),
     {"source.ip": "203.0.113.7", "host.name": "PC-COMPTA-01"}),
    ("brute-ssh", "Brute force SSH", "DGPN", ("attack.credential_access", "attack.t1110"),
     {"source.ip": "203.0.113.70", "user.name": "root"}),
    ("sqli", "Injection SQL sur portail", "Justice", ("attack.initial-access", "T1190"),
     {"source.ip": "192.0.2.10", "url.original": "https://portail.example/login?id=1%27"}),
    ("beacon", "Beaconing 100% régulier", None, ("Command and Control", "attack.t1071"),
     {"destination.ip": "198.51.100.4", "url.domain": "evil.example"}),
    ("scan-v6", "Balayage de ports", "Police nationale", ("attack.discovery",),
     {"source.ip": "2001:db8::1"}),
    ("quote", 'Fichier "invoice.pdf" suspect', "DGPN", ("attack.execution", "attack.t1204.002"),
     {"file.name": "invoice_final.pdf"}),
    ("mimi-2", "mimikatz (variante)", "Justice", ("attack.credential-access",),
     {"source.ip": "10.0.0.5"}),
]

QUERIES = ("Mimikatz", "MIMIKATZ", "mimi", "203.0.113.7", "203.0.113", "portail", "Portail.Example", "sql",
           "dgpn", "Police", "evil.example", "2001:db8", "root", '"invoice', "invoice_final", "100%", "_", "%",
           "ssh", "pc-compta", "ab", "zz", "nothing-like-this", "brute-ssh", "source.ip")


@pytest.fixture
def db(either_db: Database) -> Database:
    """A fresh migrated database of each kind with the alerts of ``ALERTS``, raised as detections are."""
    with either_db.session() as s:
        raise_all(s, ALERTS, START)
    return either_db


def raise_all(s: Any, alerts: list[tuple[str, str, str | None, tuple[str, ...], dict[str, Any]]],
              start: datetime) -> None:
    hits = [Hit(rule_id=rule, title=title, severity="high", detector="sigma", event_ids=(f"{rule}-{n}",),
                first_seen=start + timedelta(minutes=n), last_seen=start + timedelta(minutes=n),
                group_key=f"{rule}-{n}", attack=attack, entities=entities, organization=org)
            for n, (rule, title, org, attack, entities) in enumerate(alerts)]
    upsert_hits(s, hits, suppression_minutes=0)


def substring_match(s: Any, q: str) -> set[int]:
    """The alerts whose rule title or id, source address, organisation or entities (as the JSON
    the database holds) contain ``q``, whatever its case: what the search promises."""
    out = set()
    for a in s.scalars(select(Alert)):
        entities = s.scalar(select(text("CAST(entities AS TEXT)")).select_from(Alert).where(Alert.id == a.id))
        fields = (a.rule_title, a.rule_id, a.source_ip or "", a.organization or "", entities or "")
        if any(q.lower() in f.lower() for f in fields):
            out.add(a.id)
    return out


def found(s: Any, **args: str) -> list[int]:
    """The ids a filter selects, in the queue's order; the count (exact, or stopped past them) agrees."""
    wanted = AlertFilter.from_args({k: [v] for k, v in args.items()})
    page = [a.id for a in triage.search(s, wanted, limit=100)]
    assert triage.count(s, wanted) == len(page)
    assert triage.count(s, wanted, at_most=len(page)) == len(page)
    if page:
        assert triage.count(s, wanted, at_most=len(page) - 1) == len(page)  # "more than len - 1"
    return page


def ids_of(s: Any, *rules: str) -> set[int]:
    return set(s.scalars(select(Alert.id).where(Alert.rule_id.in_(rules))))


@pytest.mark.parametrize(("few", "walked"), [(triage.FEW_MATCHES, triage.WALKED_ROWS), (1, triage.WALKED_ROWS), (1, 0)],
                         ids=["few-matches", "many-matches-walked", "many-matches-deep-page"])
def test_search_finds_what_a_substring_match_finds(db: Database, few: int, walked: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With the index's matches looked up by id; many matches found while walking the queue (a
    first page), and read from the index (a deep page); counted from the index."""
    monkeypatch.setattr(triage, "FEW_MATCHES", few)
    monkeypatch.setattr(triage, "WALKED_ROWS", walked)
    with db.session() as s:
        for q in QUERIES:
            assert set(found(s, q=q)) == substring_match(s, q), q
        # what an analyst expects, spelled out
        assert set(found(s, q="mimikatz")) == ids_of(s, "mimi-1", "mimi-2")
        assert set(found(s, q="203.0.113.7")) == ids_of(s, "mimi-1", "brute-ssh")
        assert set(found(s, q='"invoice.pdf"')) == ids_of(s, "quote")
        assert set(found(s, q="100%")) == ids_of(s, "beacon")
        assert found(s, q="nothing-like-this") == []
        # the search narrows the other filters, in the queue's order
        assert found(s, q="mimikatz", organization="Justice") == sorted(ids_of(s, "mimi-2"))
        assert found(s, q="mimikatz", sort="raised") == sorted(ids_of(s, "mimi-1", "mimi-2"))
        assert found(s, q="mimikatz") == sorted(ids_of(s, "mimi-1", "mimi-2"), reverse=True)


def test_tactics_and_techniques_in_any_spelling(db: Database) -> None:
    with db.session() as s:
        access = ids_of(s, "mimi-1", "brute-ssh", "mimi-2")
        for spelling in ("credential-access", "Credential Access", "attack.credential_access", "CREDENTIAL_ACCESS"):
            assert set(found(s, tactic=spelling)) == access, spelling
        assert set(found(s, tactic="initial_access")) == ids_of(s, "sqli")
        assert set(found(s, tactic="command-and-control")) == ids_of(s, "beacon")
        # a technique: its sub-techniques too; a sub-technique: only itself
        assert set(found(s, tactic="T1003")) == ids_of(s, "mimi-1")
        assert set(found(s, tactic="t1003.001")) == ids_of(s, "mimi-1")
        assert found(s, tactic="t1003.002") == []
        assert set(found(s, tactic="T1204")) == ids_of(s, "quote")
        assert set(found(s, tactic="t1190")) == ids_of(s, "sqli")
        assert found(s, tactic="exfiltration") == []
        # in the queue's order, either way, and with the other filters and orders
        assert found(s, tactic="credential-access") == sorted(access, reverse=True)
        assert found(s, tactic="credential-access", sort="raised") == sorted(access)
        assert found(s, tactic="credential-access", organization="DGPN") == sorted(ids_of(s, "brute-ssh"))
        assert found(s, tactic="credential-access", q="mimikatz") == sorted(ids_of(s, "mimi-1", "mimi-2"),
                                                                               reverse=True)
        for order in ("rule", "-rule", "severity", "-last_seen"):
            assert found(s, tactic="credential-access", sort=order) == \
                [i for i in found(s, sort=order) if i in access], order
        latest = s.scalar(select(func.max(Alert.created_at)))
        assert latest is not None
        window = triage.group_window(AlertFilter(tactic="credential_access"), now=latest + timedelta(minutes=1))
        assert triage.groups(s, window, "rule")[0][0].alerts == 1


def test_the_indexes_follow_raise_close_reopen_retag_and_delete(db: Database) -> None:
    with db.session() as s:
        raise_all(s, [("late", "Exfiltration DNS tardive", "DGPN", ("attack.exfiltration",),
                       {"source.ip": "203.0.113.99"})], START + timedelta(days=1))
        late = ids_of(s, "late")
        assert set(found(s, q="exfiltration dns")) == late
        assert set(found(s, tactic="exfiltration")) == late
        alert = s.get(Alert, min(late))
        assert alert is not None
        # closed and reopened: still found, by status too
        triage_actions.close(s, [alert], "benign", "ana", "test")
        assert set(found(s, q="exfiltration dns", status="closed")) == late
        assert found(s, q="exfiltration dns", status="new") == []
        triage_actions.reopen(s, [alert], "ana")
        assert set(found(s, q="exfiltration dns", status="new")) == late
        assert set(found(s, tactic="exfiltration", status="new")) == late
        # retagged and retitled: the indexes follow
        alert.attack = ["attack.impact", "attack.t1485"]
        alert.rule_title = "Destruction de données"
        s.flush()
        assert found(s, tactic="exfiltration") == []
        assert set(found(s, tactic="impact")) == late
        assert set(found(s, tactic="t1485")) == late
        assert found(s, q="exfiltration dns") == []
        assert set(found(s, q="destruction")) == late
        # deleted: gone from both
        s.execute(delete(Alert).where(Alert.id.in_(late)))
        s.flush()
        assert found(s, q="destruction") == []
        assert found(s, tactic="impact") == []
        assert set(found(s, q="mimikatz")) == ids_of(s, "mimi-1", "mimi-2")


def test_existing_alerts_are_indexed_by_the_migration(tmp_path: Path) -> None:
    """Alerts written before migration 0018 are found once it has run."""
    database = Database(f"sqlite:///{tmp_path / 'before.sqlite3'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = database.engine
    command.upgrade(cfg, "0017_rollup")
    # the alerts table as it was then (the model has columns of later migrations)
    then = sa.Table("alerts", sa.MetaData(), autoload_with=database.engine)
    with database.session() as s:
        s.execute(then.insert(), [{
            "rule_id": "old", "rule_title": "Ancienne alerte Mimikatz", "detector": "sigma", "severity": "low",
            "group_key": "", "source_ip": "192.0.2.1", "organization": "DGPN",
            "attack": json.loads('["attack.credential_access", "attack.t1003.001"]'), "entities": {},
            "event_ids": ["e"], "count": 1, "first_seen": START, "last_seen": START, "created_at": START,
            "status": "new", "tlp": "clear", "close_comment": ""}])
    database.upgrade()
    with database.session() as s:
        old = ids_of(s, "old")
        assert set(found(s, q="ancienne alerte")) == old
        assert set(found(s, tactic="credential-access")) == old
        assert set(found(s, tactic="t1003")) == old
    database.dispose()


def test_a_count_stops_past_its_limit(db: Database) -> None:
    with db.session() as s:
        everything = AlertFilter()
        assert triage.count(s, everything) == len(ALERTS)
        assert triage.count(s, everything, at_most=3) == 4  # "more than 3"
        assert triage.count(s, everything, at_most=len(ALERTS)) == len(ALERTS)
        assert triage.count_is_cheap(everything)
        assert not triage.count_is_cheap(AlertFilter(q="mimikatz"))
        assert not triage.count_is_cheap(AlertFilter(tactic="discovery"))


@pytest.mark.postgres
def test_postgresql_answers_the_search_from_its_trigram_index(postgres_server: Any) -> None:
    url = postgres_server.create_database()
    database = Database(url)
    try:
        database.upgrade()
        with database.session() as s:
            raise_all(s, ALERTS, START)
            assert s.scalar(text("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_alerts_search_trgm'")) == 1
            s.execute(text("SET LOCAL enable_seqscan = off"))
            wanted = AlertFilter(q="mimikatz")
            query = select(Alert.id).where(*triage.where(s, wanted, None))
            compiled = query.compile(dialect=s.get_bind().dialect, compile_kwargs={"literal_binds": True})
            plan = "\n".join(s.scalars(text(f"EXPLAIN {compiled}")))
            assert "ix_alerts_search_trgm" in plan, plan
    finally:
        database.dispose()
        postgres_server.drop_database(url)


@pytest.mark.postgres
def test_without_pg_trgm_the_migration_goes_on_and_the_search_reads_the_rows(postgres_server: Any) -> None:
    """A role that may not create the extension (no CREATE on its database): the migration leaves
    the trigram index out, and the search finds the same alerts."""
    url = postgres_server.create_database()
    database = Database(url)
    try:
        with database.engine.begin() as c:
            name = url.rsplit("/", 1)[-1]
            c.execute(text(f'REVOKE CREATE ON DATABASE "{name}" FROM PUBLIC, vigie'))
            assert not c.execute(text("SELECT has_database_privilege(current_database(), 'CREATE')")).scalar()
        database.upgrade()
        with database.session() as s:
            assert s.scalar(text("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_alerts_search_trgm'")) == 0
            raise_all(s, ALERTS, START)
            for q in QUERIES:
                assert set(found(s, q=q)) == substring_match(s, q), q
            assert set(found(s, tactic="credential-access")) == ids_of(s, "mimi-1", "brute-ssh", "mimi-2")
    finally:
        database.dispose()
        postgres_server.drop_database(url)
