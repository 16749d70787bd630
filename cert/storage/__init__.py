"""What is kept: the SQL database (SQLAlchemy, Alembic migrations), its tables one module per area, the
audit trail, and the event stores (embedded SQLite, Elasticsearch)."""
