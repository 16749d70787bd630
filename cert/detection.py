"""The detector contract, the hit every detector produces, and the detection run.

A detector plug-in subclasses ``Detector``, sets ``name`` and registers with
``@detectors.register``. ``run_detection`` feeds it the events ingested since the last run
and turns its hits into alerts (with suppression, see :mod:`cert.alerts`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import select

from cert import alerts, rules
from cert.config import Settings
from cert.ecs import Event, get, parse_ts
from cert.errors import InvalidInput
from cert.indicators import check_observable
from cert.models import DetectionRun
from cert.registry import Registry
from cert.rules import RuleOverrides
from cert.stores import EventQuery, EventStore

if TYPE_CHECKING:
    from cert.platform import Platform

SEVERITIES = ("informational", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class Hit:
    """One detection: a rule matched one event, or a correlation matched a group of events."""

    rule_id: str
    title: str
    severity: str
    detector: str
    event_ids: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    group_key: str = ""
    attack: tuple[str, ...] = ()
    entities: dict[str, Any] = field(default_factory=dict)
    organization: str | None = None
    count: int = 1
    #: the TLP of the hit's title and evidence: an indicator hit carries its indicator's
    tlp: str = "clear"

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"hit of rule {self.rule_id}: unknown severity {self.severity!r}")
        if not self.event_ids:
            raise ValueError(f"hit of rule {self.rule_id}: no evidence event")


ENTITY_FIELDS = ("source.ip", "destination.ip", "user.name", "host.name", "url.original", "url.domain")
#: The observable type of each entity field, whose values are checked (``entities["invalid"]``).
ENTITY_TYPES = {"source.ip": "ip", "destination.ip": "ip", "user.name": "user", "host.name": "hostname",
                "url.domain": "domain"}


def hit_for_events(
    events: Sequence[Event],
    *,
    rule_id: str,
    title: str,
    severity: str,
    detector: str,
    group_key: str = "",
    attack: Sequence[str] = (),
) -> Hit:
    """A hit whose entities, organisation and time span are taken from its evidence events. An
    entity whose value is not one of its type stays (it is evidence), named with the reason
    under ``entities["invalid"]``."""
    times = [parse_ts(str(get(e, "@timestamp"))) for e in events]
    entities: dict[str, Any] = {}
    invalid: dict[str, str] = {}
    for f in ENTITY_FIELDS:
        for e in events:
            v = get(e, f)
            if v not in (None, ""):
                entities[f] = v
                if f in ENTITY_TYPES:
                    try:
                        check_observable(ENTITY_TYPES[f], str(v))
                    except InvalidInput as exc:
                        invalid[f] = str(exc)[:300]
                break
    if invalid:
        entities["invalid"] = invalid
    org = next((get(e, "organization.name") for e in events if get(e, "organization.name")), None)
    return Hit(
        rule_id=rule_id,
        title=title,
        severity=severity,
        detector=detector,
        event_ids=tuple(str(get(e, "event.id")) for e in events),
        first_seen=min(times),
        last_seen=max(times),
        group_key=group_key,
        attack=tuple(attack),
        entities=entities,
        organization=org,
        count=len(events),
    )


class Detector(ABC):
    name: ClassVar[str]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def detect(self, events: Sequence[Event]) -> list[Hit]:
        """Hits for a batch of events, oldest first. May keep state across batches."""

    def summary(self) -> dict[str, Any]:
        """What the detector has loaded, for ``cert rules`` and the console."""
        return {}

    # Parallel detection (``cert detect --workers N``, see cert.detection_pool): a detector whose
    # per-event work is pure splits ``detect`` in two. ``match`` runs in a worker process, over a
    # batch the worker already holds, and returns a picklable result that names events by their
    # position in the batch, never by reference; ``conclude`` runs in the main process, in batch
    # order, with the detector's state (correlation windows, provenance, dead letters).
    parallel: ClassVar[bool] = False

    def match(self, events: Sequence[Event]) -> Any:
        """The pure part of ``detect`` (only called when ``parallel`` is set)."""
        raise NotImplementedError

    def conclude(self, events: Sequence[Event], matched: Any) -> list[Hit]:
        """The hits of a batch from what ``match`` returned for it."""
        raise NotImplementedError

    # Analysts' rule settings (cert.rules): disabled rules and severity overrides apply to every
    # detector's hits; a detector that applies exceptions itself (before correlating) says so.
    handles_exceptions: ClassVar[bool] = False

    def configure(self, overrides: RuleOverrides) -> None:  # noqa: B027 - optional hook
        """Called before each batch with the analysts' current rule settings."""

    def catalogue(self) -> list[dict[str, Any]]:
        """The detector's rules for the console (id, title, level, provenance, tags, source...)."""
        return []

    def hunt(self, store: EventStore, start: datetime, end: datetime) -> list[Hit] | None:
        """Scheduled hunts (cert.hunts): the rules over the stored events of [start, end).
        None when the detector has no such mode."""
        return None


detectors: Registry[Detector] = Registry("detector")


@dataclass
class DetectionSummary:
    events: int
    hits: int
    alerts_new: int
    alerts_updated: int
    window_start: datetime | None
    window_end: datetime


def build_detectors(settings: Settings) -> list[Detector]:
    return [cls(settings) for cls in detectors]


def detect_batch(platform: Platform, engines: Sequence[Detector], events: Sequence[Event]) -> list[Hit]:
    overrides = rules.current_overrides(platform.db)
    hits: list[Hit] = []
    for engine in engines:
        engine.configure(overrides)
        hits.extend(engine.detect(events))
    own = {e.name for e in engines if e.handles_exceptions}
    return rules.apply_overrides(hits, overrides, events, own)


def run_detection(platform: Platform, batch_size: int = 5000, workers: int = 1) -> DetectionSummary:
    """Run every detector over the events ingested since the previous run; record the run.
    With ``workers`` > 1, the pure matching of parallel detectors runs in that many processes
    (``cert.detection_pool``); the hits are the same."""
    now = datetime.now(UTC)
    with platform.db.session() as s:
        last = s.scalar(
            select(DetectionRun).where(DetectionRun.status == "done").order_by(DetectionRun.id.desc()).limit(1)
        )
        start = last.window_end if last else None
        run = DetectionRun(window_start=start, window_end=now)
        s.add(run)
        s.flush()
        run_id = run.id
    platform.events.refresh()
    engines = build_detectors(platform.settings)
    events = platform.events.search(
        EventQuery(ingested_after=start, ingested_until=now, limit=10_000_000, oldest_first=True)
    )
    events.sort(key=lambda e: (str(get(e, "@timestamp")), str(get(e, "event.id"))))
    hits: list[Hit] = []
    if workers > 1 and len(events) > batch_size:
        from cert.detection_pool import detect_parallel

        hits = detect_parallel(engines, events, rules.current_overrides(platform.db), batch_size, workers)
    else:
        for i in range(0, len(events), batch_size):
            hits.extend(detect_batch(platform, engines, events[i : i + batch_size]))
    with platform.db.session() as s:
        new, updated = alerts.upsert_hits(s, hits, platform.settings.alert_suppression_minutes)
        run = s.get_one(DetectionRun, run_id)
        run.events, run.hits, run.alerts_new = len(events), len(hits), new
        run.finished_at = datetime.now(UTC)
        run.status = "done"
    return DetectionSummary(len(events), len(hits), new, updated, start, now)
