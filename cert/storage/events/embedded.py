"""Embedded event store: one SQLite file in the data directory (see docs/decisions/0001).

Documents are kept as JSON text; ``id`` is unique, so ``INSERT OR IGNORE`` makes writes
idempotent. Rows are appended in rowid order and only the small ``id`` index takes random
inserts: a WITHOUT ROWID table keyed by the (random) event id moved whole documents around its
B-tree and took inserts 3 times slower (bench/ingest/embedded_layout.py); a store created
with that layout keeps working, the queries are the same. ``@timestamp`` and ``event.ingested``
are copied into indexed columns.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from cert.core.ecs import Event, format_ts, get, parse_ts
from cert.core.errors import InvalidInput
from cert.core.event_store import AggregateQuery, EventQuery, EventStore, ResumeKey, WriteResult
from cert.storage.events.aggregation import stream as stream_rows

if TYPE_CHECKING:
    import pandas as pd

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    ts TEXT NOT NULL,
    ingested TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_ingested ON events (ingested);
"""

#: Connection settings of the store (and of the plain-SQLite baseline of bench/ingest): a page cache
#: of 64 MiB for the B-trees of the three indexes (event id, timestamps) that every batch inserts
#: into, and the write-ahead log copied back into the database every 64 MiB.
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA cache_size=-65536",
           "PRAGMA wal_autocheckpoint=16384")


def _json_path(field: str) -> str:
    parts = field.split(".")
    for p in parts:
        if not p or '"' in p:
            raise InvalidInput(f"invalid field name {field!r}")
    return "$." + ".".join(f'"{p}"' for p in parts)


def _iso(dt: datetime) -> str:
    return format_ts(dt)


def _canonical(value: object) -> str:
    """The indexed text of a timestamp: UTC with milliseconds, ``2026-01-31T08:00:00.000Z``. A
    value already in that form (what the pipeline writes) is only checked to be a real date."""
    if isinstance(value, str) and len(value) == 24 and value[23] == "Z" and value[10] == "T" and value[19] == ".":
        datetime.fromisoformat(value)  # ValueError: not a real date
        return value
    return _iso(parse_ts(str(value)))


#: JSON types of a value an aggregation groups by or counts (lists, objects and null are not)
_SCALAR = "('text','integer','real','true','false')"
FETCH = 5000


def _number(text: str | None) -> float | None:
    """A number written as text, read as Python reads it (``cert.core.aggregate``'s rule)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _aggregate_sql(query: AggregateQuery, where: str, params: list[Any]) -> tuple[str, list[Any]]:
    """One GROUP BY over the JSON documents: group and metric fields read with json_extract (the
    JSON type checked apart, so that lists, objects and nulls leave the event out), the bucket
    computed from the ``ts`` column."""
    inner: list[str] = []
    inner_params: list[Any] = []
    keep: list[str] = []
    for i, field in enumerate(query.group):
        inner += [f"json_extract(doc, ?) AS g{i}", f"json_type(doc, ?) AS t{i}"]
        inner_params += [_json_path(field), _json_path(field)]
        keep.append(f"t{i} IN {_SCALAR}")
    keys = [f"g{i}" for i in range(len(query.group))]
    if query.bucket_seconds:
        width = int(query.bucket_seconds)
        inner.append("CAST(strftime('%s', substr(ts, 1, 19)) AS INTEGER) AS at")
        keys.append(f"(at - (((at % {width}) + {width}) % {width}))")
    measures: list[str] = []
    for j, metric in enumerate(query.metrics):
        if metric.op == "count":
            measures.append("COUNT(*)")
            continue
        inner += [f"json_extract(doc, ?) AS v{j}", f"json_type(doc, ?) AS u{j}"]
        inner_params += [_json_path(metric.field or ""), _json_path(metric.field or "")]
        number = f"(CASE u{j} WHEN 'integer' THEN v{j} WHEN 'real' THEN v{j} WHEN 'text' THEN vigie_number(v{j}) END)"
        measures.append({"sum": f"TOTAL({number})", "min": f"MIN({number})", "max": f"MAX({number})",
                         "cardinality": f"COUNT(DISTINCT CASE WHEN u{j} IN {_SCALAR} THEN v{j} END)"}[metric.op])
    # the SQL holds column aliases and validated integers only: fields and values are parameters
    sql = (f"SELECT {', '.join(keys)}, {', '.join(measures)} "  # noqa: S608
           f"FROM (SELECT {', '.join(inner)} FROM events{where}) "
           f"WHERE {' AND '.join(keep)} GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}")
    return sql, [*inner_params, *params]


#: Rows per INSERT statement: one statement inserts many rows, so that SQLite works through them
#: in one call, without the interpreter lock, where ``executemany`` takes the lock back after each
#: row (and, beside a parsing thread, waits for it each time). 4 parameters a row stay far below
#: SQLite's limit on the parameters of a statement (32,766).
ROWS_PER_STATEMENT = 250
_INSERT = "INSERT OR IGNORE INTO events (id, ts, ingested, doc) VALUES "


@functools.cache
def _insert_sql(rows: int) -> str:
    return _INSERT + ",".join(("(?,?,?,?)",) * rows)


def _insert(db: sqlite3.Connection, rows: list[tuple[str, str, str, str]]) -> None:
    for i in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[i:i + ROWS_PER_STATEMENT]
        db.execute(_insert_sql(len(chunk)), [value for row in chunk for value in row])


class EmbeddedEventStore(EventStore):
    backend = "embedded"
    # Serialising the documents and binding them to SQLite holds the interpreter lock; SQLite's own
    # work is a small share of a write: a writer thread made `cert ingest` slower and costlier in
    # CPU (bench/ingest/embedded_end_to_end.py).
    write_beside_parsing = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        for pragma in PRAGMAS:
            self._db.execute(pragma)
        self._db.executescript(SCHEMA)

    def write(self, events: Sequence[Event]) -> WriteResult:
        rows: list[tuple[str, str, str, str]] = []
        failed: list[tuple[Event, str]] = []
        dumps = orjson.dumps
        last: tuple[object, str] = (None, "")  # a batch from the pipeline has one ingestion time
        for ev in events:
            meta = ev.get("event")
            if meta.__class__ is dict and "event.id" not in ev:
                eid, stamp = meta.get("id"), meta.get("ingested")
            else:  # flat dotted keys
                eid, stamp = get(ev, "event.id"), get(ev, "event.ingested")
            ts = get(ev, "@timestamp")
            if not eid or not ts:
                failed.append((ev, "event without event.id or @timestamp"))
                continue
            try:
                norm_ts = _canonical(ts)
                stamp = stamp or ts
                if stamp != last[0]:
                    last = (stamp, _canonical(stamp))
            except ValueError as exc:
                failed.append((ev, f"bad timestamp: {exc}"))
                continue
            rows.append((str(eid), norm_ts, last[1], dumps(ev).decode()))
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            try:
                _insert(self._db, rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            written = self._db.total_changes - before
        return WriteResult(written=written, duplicates=len(rows) - written, failed=failed)

    def get(self, ids: Iterable[str]) -> list[Event]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        found: dict[str, Event] = {}
        with self._lock:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for eid, doc in self._db.execute(f"SELECT id, doc FROM events WHERE id IN ({marks})", chunk):  # noqa: S608
                    found[eid] = orjson.loads(doc)
        return [found[i] for i in wanted if i in found]

    def _where(self, query: EventQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if query.start:
            clauses.append("ts >= ?")
            params.append(_iso(query.start))
        if query.end:
            clauses.append("ts < ?")
            params.append(_iso(query.end))
        if query.ingested_after:
            clauses.append("ingested > ?")
            params.append(_iso(query.ingested_after))
        if query.ingested_until:
            clauses.append("ingested <= ?")
            params.append(_iso(query.ingested_until))
        for field, values in query.terms.items():
            vals = list(values)
            if not vals:
                clauses.append("0")
                continue
            marks = ",".join("?" * len(vals))
            # only placeholders are formatted in; field paths and values are bound parameters
            clauses.append(f"EXISTS (SELECT 1 FROM json_each(doc, ?) WHERE json_each.value IN ({marks}))")  # noqa: S608
            params.append(_json_path(field))
            params.extend(vals)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def search(self, query: EventQuery) -> list[Event]:
        where, params = self._where(query)
        order = "ASC" if query.oldest_first else "DESC"
        sql = f"SELECT doc FROM events{where} ORDER BY ts {order}, id {order} LIMIT ?"  # noqa: S608
        with self._lock:
            rows = self._db.execute(sql, [*params, int(query.limit)]).fetchall()
        return [orjson.loads(r[0]) for r in rows]

    def page(self, query: EventQuery) -> tuple[list[Event], ResumeKey | None]:
        where, params = self._where(query)
        order = "ASC" if query.oldest_first else "DESC"
        if query.after is not None:
            ts, eid = query.after
            after = "(ts, id) > (?, ?)" if query.oldest_first else "(ts, id) < (?, ?)"
            where += (" AND " if where else " WHERE ") + after
            params += [ts, eid]
        sql = f"SELECT ts, id, doc FROM events{where} ORDER BY ts {order}, id {order} LIMIT ?"  # noqa: S608
        with self._lock:
            rows = self._db.execute(sql, [*params, int(query.limit)]).fetchall()
        key = (rows[-1][0], rows[-1][1]) if rows and len(rows) == query.limit else None
        return [orjson.loads(r[2]) for r in rows], key

    def aggregate(self, query: AggregateQuery) -> Iterator[pd.DataFrame]:
        """One SQL GROUP BY (SQLite sorts and groups on disk when the groups outgrow its cache),
        its rows read ``FETCH`` at a time into chunks, on a connection of its own: the caller may
        query the store while it reads the answer."""
        where, params = self._where(EventQuery(start=query.start, end=query.end, terms=dict(query.terms)))
        sql, values = _aggregate_sql(query, where, params)
        return stream_rows(query, self._rows(sql, values))

    def _rows(self, sql: str, values: list[Any]) -> Iterator[tuple[Any, ...]]:
        db = sqlite3.connect(str(self.path), check_same_thread=False)
        try:
            db.create_function("vigie_number", 1, _number, deterministic=True)
            cursor = db.execute(sql, values)
            while rows := cursor.fetchmany(FETCH):
                yield from rows
        finally:
            db.close()

    def count(self, query: EventQuery | None = None) -> int:
        where, params = self._where(query or EventQuery())
        with self._lock:
            (n,) = self._db.execute(f"SELECT COUNT(*) FROM events{where}", params).fetchone()  # noqa: S608
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()
