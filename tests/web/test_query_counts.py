"""No N+1 queries: the main pages run the same number of SQL statements whether they show a few
items or many (each page is requested with a small and a large dataset, and the statements its
request runs are counted on the engine)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from support import login

from cert.accounts.users import create_user
from cert.incidents.cases import add_observable, add_timeline
from cert.runtime.platform import Platform
from cert.storage.models import Alert, Case, CaseOrganization, Comment, IncidentReport, Task
from web.app import create_app

PASSWORD = "a long analyst passphrase"


@contextmanager
def counted(platform: Platform) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(platform.db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(platform.db.engine, "before_cursor_execute", count)


ORGS = ("Ministère de l'Intérieur", "Ministère de la Justice", "Ministère de la Santé")
SEVERITIES = ("critical", "high", "medium", "low", "informational")


def seed(platform: Platform, n: int) -> int:
    """``n`` alerts (of ``n`` rules and addresses, over a few days), ``n`` incidents of several
    organisations, ``n`` incident reports, and one incident with ``n`` of each of its items; its id."""
    now = datetime.now(UTC)
    with platform.db.session() as s:
        big = Case(title="big", organization=ORGS[0], created_by="test")
        s.add(big)
        s.flush()
        for i in range(n):
            org = ORGS[i % len(ORGS)]
            opened = now - timedelta(days=i % 10, hours=1)
            case = Case(title=f"case {i}", organization=org, created_by="test", severity=SEVERITIES[i % 5],
                        assignee=f"analyst{i}", attack=[f"T{1000 + i}"], created_at=opened,
                        acknowledged_at=opened + timedelta(minutes=i + 1),
                        closed_at=opened + timedelta(minutes=30 + i) if i % 2 else None,
                        status="closed" if i % 2 else "open")
            s.add(case)
            s.flush()
            s.add(CaseOrganization(case_id=case.id, organization=ORGS[(i + 1) % len(ORGS)]))
            s.add(Alert(rule_id=f"r{i}", rule_title=f"rule {i}", detector="sigma", severity=SEVERITIES[i % 5],
                        source_ip=f"203.0.113.{i + 1}", organization=org, case_id=big.id,
                        attack=[f"attack.t{1000 + i}"], created_at=now - timedelta(days=i % 10),
                        first_seen=now - timedelta(minutes=i), last_seen=now, status="promoted"))
            s.add(IncidentReport(source="email", subject=f"report {i}", reporter=f"pf{i}@gouv.example",
                                 organization=org, created_by="test"))
            add_observable(s, big, "ip", f"198.51.100.{i + 1}")
            add_timeline(s, big, "test", "note", "%(text)s", params={"text": f"note {i}"})
            s.add(Task(case_id=big.id, title=f"task {i}", created_by="test"))
            s.add(Comment(case_id=big.id, author="test", body=f"comment {i}"))
        return big.id


PAGES = ("/alerts/", "/alerts/?view=rule", "/alerts/?view=source", "/cases/", "/cases/{big}", "/intake/",
         "/dashboard", "/api/v1/alerts", "/api/v1/cases", "/api/v1/cases/{big}")


@pytest.mark.parametrize("page", PAGES)
def test_a_page_runs_as_many_queries_for_many_items_as_for_few(page: str, platform: Platform,
                                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
    app = create_app(platform=platform)
    client = app.test_client()
    assert login(client, "ana", PASSWORD).status_code == 302
    counts = []
    for n in (3, 30):
        big = seed(platform, n)
        client.get(page.format(big=big))  # warm (first-request work is not what the page costs)
        with counted(platform) as statements:
            answer = client.get(page.format(big=big))
        assert answer.status_code == 200, page
        counts.append(len(statements))
    assert counts[0] == counts[1], f"{page}: {counts[0]} statements for a few items, {counts[1]} for ten times more"
