"""The constituency every process reads (``Platform.constituency``), kept in step with the contact
database.

``current`` answers the last constituency built from the database; at most every
``refresh_seconds`` it reads the version counter (one small query) and rebuilds the constituency
when an edit moved it, so web workers, ingest and job workers see an edit without a restart.
Ingest calls ``lookup`` on the constituency it got, per event, from memory.

``seed`` writes the organisations of the constituency file (the bundled one without
``constituency_file``) to an empty database; ``Platform.upgrade`` calls it after the migrations,
and the web console when it starts. Reading never writes: while the database was never seeded,
the constituency is the file's. Partner CERTs always come from that file. While the database has
no contact tables (not migrated yet) or cannot be read, the last constituency read is kept, or
the file's when there is none."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cert.constituency import database
from cert.constituency.directory import BUNDLED, Constituency
from cert.storage.db import Database

log = logging.getLogger(__name__)


class LiveConstituency:
    def __init__(self, db: Database, seed_file: Path | None, refresh_seconds: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.seed_file = seed_file or BUNDLED
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._file: Constituency | None = None
        self._current: Constituency | None = None
        self._version: int | None = None
        self._next_check = 0.0
        self._warned = False

    @property
    def file(self) -> Constituency:
        """The constituency file: the seed of the database, and the partners."""
        if self._file is None:
            self._file = Constituency.load(self.seed_file)
        return self._file

    def current(self) -> Constituency:
        with self._lock:
            now = self.clock()
            if self._current is not None and now < self._next_check:
                return self._current
            self._next_check = now + self.refresh_seconds
            try:
                self._refresh()
            except SQLAlchemyError as exc:
                if not self._warned:
                    log.warning("contact database not readable (%s): the constituency %s",
                                type(exc).__name__, "stays as last read" if self._current else "file is used")
                    self._warned = True
                if self._current is None:
                    self._current = self.file
            assert self._current is not None
            return self._current

    def seed(self) -> bool:
        """Fill the contact database from the constituency file when it was never seeded; True
        when this call seeded it. Call it outside any open session (SQLite has one writer)."""
        with self.db.session() as s:
            if database.version(s) is not None:
                return False
        try:
            with self.db.session() as s:
                database.seed(s, self.file.organizations, str(self.seed_file))
        except IntegrityError:
            return False  # another process seeded it first
        self.changed()
        return True

    def changed(self) -> None:
        """This process edited the database: the next ``current`` reads it again."""
        with self._lock:
            self._next_check = 0.0

    def _refresh(self) -> None:
        with self.db.session() as s:
            found = database.version(s)
        if found is None:
            self._current, self._version = self.file, None
            return
        if found == self._version and self._current is not None:
            return
        with self.db.session() as s:
            found = database.version(s)
            orgs = database.organizations(s)
        self._current = Constituency(orgs, self.file.partners)
        self._version = found
