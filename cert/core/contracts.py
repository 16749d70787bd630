"""The contracts that the core, the detectors and the console share: the event, the hit every
detector produces, the analysts' rule overrides detectors apply, the detector plug-in base, and the
file scanner plug-in base (files from a watched folder or uploaded to a case).

This module imports nothing of Vigie above ``cert.core``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from cert.core.config import Settings
from cert.core.ecs import Event, get, parse_ts
from cert.core.errors import InvalidInput
from cert.core.event_store import EventStore
from cert.core.observables import check_observable
from cert.core.registry import Registry

__all__ = ["ENTITY_FIELDS", "ENTITY_TYPES", "SEVERITIES", "Detector", "Event", "ExceptionSpec", "FileMatch",
           "FileScanner", "Hit", "RuleOverrides", "ScanReport", "detectors", "file_scanners", "hit_for_events"]


@dataclass(frozen=True)
class ExceptionSpec:
    id: int
    field: str
    operator: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class RuleOverrides:
    """What analysts changed, as detectors apply it."""

    version: int = 0
    disabled: frozenset[str] = frozenset()
    severity: dict[str, str] = field(default_factory=dict)
    exceptions: dict[str, tuple[ExceptionSpec, ...]] = field(default_factory=dict)


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
    #: why an anomaly detector raised it (``cert.core.anomaly.Finding.explanation``); {} for a rule
    explanation: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"hit of rule {self.rule_id}: unknown severity {self.severity!r}")
        if not self.event_ids:
            raise ValueError(f"hit of rule {self.rule_id}: no evidence event")


ENTITY_FIELDS = ("source.ip", "destination.ip", "user.name", "host.name", "url.original", "url.domain")
#: The observable type of each entity field, whose values are checked (``entities["invalid"]``).
ENTITY_TYPES = {"source.ip": "ip", "destination.ip": "ip", "user.name": "user", "host.name": "hostname",
                "url.domain": "domain"}
#: Every field ``hit_for_events`` reads from an evidence event.
EVIDENCE_FIELDS = ("@timestamp", "event.id", *ENTITY_FIELDS, "organization.name")


def evidence_of(event: Event) -> Event:
    """What a hit takes from an event, as flat dotted keys (``get`` reads them): the same hit
    from it as from the whole event, for a detector that keeps evidence over time (a
    correlation window) without keeping whole events."""
    out: Event = {}
    for f in EVIDENCE_FIELDS:
        v = get(event, f)
        if v is not None:
            out[f] = v
    return out


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
    """A hit whose entities, organisation and time span are taken from its evidence events (the
    ``EVIDENCE_FIELDS`` of each: ``evidence_of`` gives the same hit). An entity whose value is
    not one of its type stays (it is evidence), named with the reason under ``entities["invalid"]``."""
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

    # Parallel detection (``cert detect --workers N``, see cert.detection.pool): a detector whose
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

    # Analysts' rule settings (cert.detection.overrides): disabled rules and severity overrides apply to every
    # detector's hits; a detector that applies exceptions itself (before correlating) says so.
    handles_exceptions: ClassVar[bool] = False

    def configure(self, overrides: RuleOverrides) -> None:  # noqa: B027 - optional hook
        """Called before each batch with the analysts' current rule settings."""

    def catalogue(self) -> list[dict[str, Any]]:
        """The detector's rules for the console (id, title, level, provenance, tags, source...)."""
        return []

    def hunt(self, store: EventStore, start: datetime, end: datetime) -> list[Hit] | None:
        """Scheduled hunts (cert.detection.hunts): the rules over the stored events of [start, end).
        None when the detector has no such mode."""
        return None


detectors: Registry[Detector] = Registry("detector")


@dataclass(frozen=True)
class FileMatch:
    """One rule of a file scanner that matched: its identity for alerts and analysts' settings
    (``rule_id``), severity, metadata and the matched fragments (``{"id", "offset", "length",
    "data"}``, the data as printable text)."""

    rule: str
    namespace: str
    rule_id: str
    severity: str
    tags: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    strings: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The match as stored (scan record, case timeline) and shown."""
        return {"rule": self.rule, "namespace": self.namespace, "tags": list(self.tags), "meta": self.meta,
                "strings": list(self.strings)}


@dataclass
class ScanReport:
    """The outcome of scanning one file or buffer. ``error`` is set when the scan could not finish
    (timeout, unreadable, too large); the hashes name the evidence when they were computed."""

    target: str
    size: int
    matches: list[FileMatch] = field(default_factory=list)
    error: str = ""
    sha256: str = ""
    md5: str = ""

    @property
    def timed_out(self) -> bool:
        return self.error.startswith("timeout")


class FileScanner(ABC):
    """A file scanning engine (YARA). An instance holds the rules loaded when it was built: build
    one per pass (a folder poll, an upload) to pick up edited rules."""

    name: ClassVar[str]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    @abstractmethod
    def rules_hash(self) -> str:
        """Identifies the loaded rules (stored with each scan)."""

    @property
    def rejected(self) -> tuple[tuple[str, str], ...]:
        """Rule files that were not loaded, with the reason: (path, reason)."""
        return ()

    @abstractmethod
    def scan_file(self, path: Path, *, max_bytes: int | None = None, size: int | None = None,
                  hash_always: bool = False) -> ScanReport:
        """Scan a file; never raises for an unreadable, oversized or slow file (``error`` says why).
        ``size`` when the caller stat'ed the file already; hashes are computed when a rule matched,
        or with ``hash_always``."""

    @abstractmethod
    def file_event(self, report: ScanReport, dataset: str, fields: dict[str, Any] | None = None) -> Event:
        """The ECS event recording the scan: the evidence of the alerts its matches raise."""

    @abstractmethod
    def hits_for(self, report: ScanReport, event: Event, group: str) -> list[Hit]:
        """One hit per matching rule, with ``event`` as evidence; ``group`` (the file's origin)
        goes into the group key."""


file_scanners: Registry[FileScanner] = Registry("file scanner")
