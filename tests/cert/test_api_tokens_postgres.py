"""API tokens on a real PostgreSQL server (their migrations on the production database)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect, select

from cert.accounts.tokens import authenticate, create_token, list_tokens, revoke_token
from cert.core.errors import InvalidInput
from cert.storage.db import Database
from cert.storage.models import AuditEntry

pytestmark = pytest.mark.postgres


def test_token_lifecycle_on_postgresql(postgres_server) -> None:  # type: ignore[no-untyped-def]
    url = postgres_server.create_database()
    db = Database(url)
    try:
        db.upgrade()
        assert "api_tokens" in inspect(db.engine).get_table_names()
        with db.session() as s:
            _, secret = create_token(s, "pare-feu-minfin", "noc-minfin", actor="admin")
        with db.session() as s, pytest.raises(InvalidInput, match="already exists"):
            create_token(s, "pare-feu-minfin", "someone", actor="admin")
        with db.session() as s:
            token = authenticate(s, secret, "192.0.2.8")
            assert token is not None and token.name == "pare-feu-minfin" and token.last_used_at is not None
            assert token.scope_list == ("ingest",) and token.last_used_from == "192.0.2.8"
            assert authenticate(s, secret + "x") is None
        with db.session() as s:
            _, short = create_token(s, "lecture", "soc", actor="admin", scopes="read,triage", lifetime="1h")
        with db.session() as s:
            token = authenticate(s, short)
            assert token is not None and token.scope_list == ("read", "triage") and token.expires_at is not None
            assert authenticate(s, short, now=token.expires_at + timedelta(seconds=1)) is None
        with db.session() as s:
            revoke_token(s, "pare-feu-minfin", actor="admin")
        with db.session() as s:
            assert authenticate(s, secret) is None
            assert [(t.name, t.revoked) for t in list_tokens(s)] == [("lecture", False), ("pare-feu-minfin", True)]
            assert [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))] == [
                "token.create", "token.create", "token.revoke"]
    finally:
        db.dispose()
        postgres_server.drop_database(url)
