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
from cert.storage.models import Alert, Case, Comment, Task
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


def seed(platform: Platform, n: int) -> int:
    """``n`` alerts, ``n`` incidents, and one incident with ``n`` of each of its items; its id."""
    now = datetime.now(UTC)
    with platform.db.session() as s:
        big = Case(title="big", organization="Ministère de l'Intérieur", created_by="test")
        s.add(big)
        s.flush()
        for i in range(n):
            s.add(Case(title=f"case {i}", organization="Ministère de l'Intérieur", created_by="test"))
            s.add(Alert(rule_id=f"r{i % 7}", rule_title=f"rule {i % 7}", detector="sigma", severity="high",
                        source_ip=f"203.0.113.{i + 1}", organization="Ministère de l'Intérieur", case_id=big.id,
                        first_seen=now - timedelta(minutes=i), last_seen=now, status="promoted"))
            add_observable(s, big, "ip", f"198.51.100.{i + 1}")
            add_timeline(s, big, "test", "note", "%(text)s", params={"text": f"note {i}"})
            s.add(Task(case_id=big.id, title=f"task {i}", created_by="test"))
            s.add(Comment(case_id=big.id, author="test", body=f"comment {i}"))
        return big.id


PAGES = ("/alerts/", "/cases/", "/cases/{big}", "/api/v1/alerts", "/api/v1/cases", "/api/v1/cases/{big}")


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
