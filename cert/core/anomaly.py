"""The contract of anomaly detectors: detectors that find what no rule names by comparing
aggregated behaviour with what is usual, over stored events, on a schedule.

An ``AnomalyDetector`` is a plug-in of the detector registry. It does nothing per ingested batch
(``detect`` returns no hit); the hunt scheduler (``cert.detection.hunts``) calls ``hunt`` with a
window of stored events, and the detector reads aggregates of that window from the store
(``EventStore.aggregate``: the heavy work stays in Elasticsearch or SQL), decides in Python
(pandas, scikit-learn), and returns ``Finding``s. The base class turns them into hits with their
evidence events and explanation, leaving out what analysts marked as benign.

What a detector learns (a baseline, a model's state) and the analysts' benign marks live in an
``AnomalyState``: in memory by default (tests, one-off runs), in the database when the scheduler
runs it (``cert.detection.anomaly_state``), so a restart forgets nothing.

The explanation of a finding, shown by the console and kept on the alert::

    {"score": 0.93,                       # 0..1, higher is more anomalous
     "features": [{"name": "interval_regularity", "label": "Regularity of the intervals",
                   "value": 0.97, "baseline": 0.4, "unit": ""}],
     "chart": {"kind": "bar", "title": "Intervals between connections (s)",
               "labels": ["0-10", "10-20"], "values": [3, 240]},   # optional
     "first_seen": "...", "last_seen": "..."}

``label``, ``title`` and ``unit`` are English, marked for translation with ``N_`` in the detector's
module (the console shows them in the reader's language); values are numbers or short strings
taken from the data (attacker-controlled: shown escaped, never trusted).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

from cert.core.contracts import Detector, Hit, hit_for_events
from cert.core.ecs import Event
from cert.core.event_store import EventQuery, EventStore

#: evidence events kept per finding
EVIDENCE = 20


@dataclass(frozen=True)
class Finding:
    """One anomaly: ``key`` names what is anomalous, stably across runs (a source-destination
    pair, a domain, a host's process pair): benign marks and alert grouping use it. ``terms``
    select its evidence events (ECS field: value), within ``[first_seen, last_seen]``."""

    key: str
    score: float
    first_seen: datetime
    last_seen: datetime
    terms: Mapping[str, str | int]
    explanation: dict[str, Any] = field(default_factory=dict)
    severity: str | None = None
    #: a short subject appended to the detector's title (an address, a domain), data
    subject: str = ""


class AnomalyState(Protocol):
    """Where a detector keeps what it learnt, and reads the analysts' benign marks."""

    def baseline(self, detector: str, key: str) -> dict[str, Any] | None:
        """What was saved for ``key``, or None."""

    def save_baseline(self, detector: str, key: str, data: dict[str, Any]) -> None:
        """Keep ``data`` (JSON-serialisable) for ``key``, replacing what was there."""

    def benign(self, detector: str, at: datetime) -> set[str]:
        """The keys analysts marked as benign for the detector, still valid at ``at``."""


@dataclass
class MemoryState:
    """An ``AnomalyState`` held in memory: for tests and one-off runs."""

    baselines: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: {(detector, key): expiry, None: never}
    marks: dict[tuple[str, str], datetime | None] = field(default_factory=dict)

    def baseline(self, detector: str, key: str) -> dict[str, Any] | None:
        return self.baselines.get((detector, key))

    def save_baseline(self, detector: str, key: str, data: dict[str, Any]) -> None:
        self.baselines[(detector, key)] = data

    def benign(self, detector: str, at: datetime) -> set[str]:
        return {k for (d, k), until in self.marks.items() if d == detector and (until is None or until > at)}

    def mark_benign(self, detector: str, key: str, until: datetime | None = None) -> None:
        self.marks[(detector, key)] = until


class AnomalyDetector(Detector):
    """The base of anomaly detectors: subclasses set the class attributes and write ``find``."""

    #: the id its alerts carry (analysts' rule settings apply to it like to a rule's)
    rule_id: ClassVar[str]
    #: English title of its alerts
    title: ClassVar[str]
    severity: ClassVar[str] = "medium"
    attack: ClassVar[tuple[str, ...]] = ()
    #: the span of events each run looks at, ending at the hunt window's end
    lookback: ClassVar[timedelta] = timedelta(hours=24)
    #: a sentence on what it finds and how, for the rules page
    description: ClassVar[str] = ""

    state: AnomalyState

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.state = MemoryState()

    def detect(self, events: Sequence[Event]) -> list[Hit]:
        return []

    @abstractmethod
    def find(self, store: EventStore, start: datetime, end: datetime) -> list[Finding]:
        """The anomalies among the events of ``[start, end)``, read through ``store.aggregate``
        (and ``self.state`` for baselines)."""

    def hunt(self, store: EventStore, start: datetime, end: datetime) -> list[Hit]:
        now = datetime.now(UTC)
        benign = self.state.benign(self.name, now)
        hits = []
        for finding in self.find(store, min(start, end - self.lookback), end):
            if finding.key in benign:
                continue
            hit = self.hit(store, finding)
            if hit is not None:
                hits.append(hit)
        return hits

    def hit(self, store: EventStore, finding: Finding) -> Hit | None:
        """The hit of a finding, with up to ``EVIDENCE`` of its events (None when none is found:
        a hit always names its evidence)."""
        query = EventQuery(start=finding.first_seen, end=finding.last_seen + timedelta(microseconds=1),
                           terms={k: [v] for k, v in finding.terms.items()}, limit=EVIDENCE, oldest_first=True)
        events = store.search(query)
        if not events:
            return None
        title = f"{self.title}: {finding.subject}" if finding.subject else self.title
        hit = hit_for_events(events, rule_id=self.rule_id, title=title[:300],
                             severity=finding.severity or self.severity, detector=self.name,
                             group_key=finding.key[:300], attack=self.attack)
        explanation = {"score": round(float(finding.score), 4), **finding.explanation,
                       "first_seen": finding.first_seen.isoformat(), "last_seen": finding.last_seen.isoformat()}
        return Hit(rule_id=hit.rule_id, title=hit.title, severity=hit.severity, detector=hit.detector,
                   event_ids=hit.event_ids, first_seen=finding.first_seen, last_seen=finding.last_seen,
                   group_key=hit.group_key, attack=hit.attack, entities=hit.entities, organization=hit.organization,
                   count=hit.count, tlp=hit.tlp, explanation=explanation)

    def catalogue(self) -> list[dict[str, Any]]:
        return [{"id": self.rule_id, "title": self.title, "level": self.severity, "tags": list(self.attack),
                 "source": "anomaly", "description": self.description}]
