"""The running platform: settings plus the stores and the job queue they select.

The CLI, the web console and the workers each build one ``Platform`` from the settings.
"""

from __future__ import annotations

from functools import cached_property

from cert.constituency.directory import Constituency
from cert.constituency.live import LiveConstituency
from cert.core.config import Settings, load_settings
from cert.core.registry import load_plugins
from cert.enrichment.geoip import GeoIP
from cert.runtime.embedded_jobs import EmbeddedQueue
from cert.runtime.jobs import JobQueue, RqQueue
from cert.storage.db import Database
from cert.storage.events import EventStore, open_event_store


def make_queue(settings: Settings) -> JobQueue:
    """rq on Redis when ``redis_url`` is set, else the durable queue of the data directory."""
    if settings.redis_url:
        return RqQueue(settings.redis_url, settings.rq_queue, settings.job_modules)
    return EmbeddedQueue(settings.data_dir / "jobs.sqlite3", settings)


class Platform:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        load_plugins(self.settings.plugins)

    @cached_property
    def db(self) -> Database:
        return Database.from_settings(self.settings)

    @cached_property
    def events(self) -> EventStore:
        return open_event_store(self.settings)

    @cached_property
    def jobs(self) -> JobQueue:
        queue = make_queue(self.settings)
        queue.bind(self)
        return queue

    def upgrade(self) -> None:
        """Migrate the database, then seed an empty contact database from ``constituency_file``."""
        self.db.upgrade()
        self.live_constituency.seed()

    @cached_property
    def live_constituency(self) -> LiveConstituency:
        """The contact database as every part of the platform reads it (``seed`` fills it from
        ``constituency_file``)."""
        return LiveConstituency(self.db, self.settings.constituency_file, self.settings.constituency_refresh_seconds)

    @property
    def constituency(self) -> Constituency:
        """The constituency as the contact database holds it now (re-read at most every
        ``constituency_refresh_seconds`` when an edit moved its version)."""
        return self.live_constituency.current()

    @cached_property
    def geoip(self) -> GeoIP | None:
        """GeoIP/ASN enrichment from the configured MMDB files; None when none is configured."""
        return GeoIP.from_files(self.settings.geoip_city_file, self.settings.geoip_asn_file)

    def close(self) -> None:
        self.__dict__.pop("live_constituency", None)
        jobs = self.__dict__.pop("jobs", None)
        if jobs is not None:
            jobs.close()
        for name in ("events", "db"):
            obj = self.__dict__.pop(name, None)
            if obj is not None:
                obj.close() if name == "events" else obj.dispose()
