"""Alembic environment: the engine comes from cert.storage.db.Database.upgrade (or CERT_DATABASE_URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from cert.core.config import load_settings
from cert.storage import models  # noqa: F401 - registers the tables on Base.metadata
from cert.storage.db import Base, make_engine

config = context.config
engine: Engine | None = config.attributes.get("engine")
if engine is None:
    engine = make_engine(load_settings().effective_database_url)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
