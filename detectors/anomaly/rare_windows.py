"""Rare behaviour on Windows hosts: what a host or a user has never shown before.

Four kinds of behaviour, each read from the store as hourly aggregates:

- ``pair``: a process started by a parent it was never started by on that host
  (``process.parent.name`` -> ``process.name``, Sysmon 1 and Security 4688);
- ``shape``: a command line whose shape (the command line with its paths, numbers, GUIDs and
  encoded blobs generalised, ``generalise``) the host never ran;
- ``logon_source``: a user logging on (Security 4624/4625) from a source address never seen for
  them;
- ``logon_type``: a user logging on with a logon type (``winlog.logon.type``) never seen for them.

The baseline, kept in the detector's state, holds per entity (host or user) and kind the
behaviours seen with the first and last hour they were seen and in how many distinct hours, and
per kind the same constituency-wide with the number of entities showing each behaviour. Counting
hours, not events, keeps it idempotent: the overlapping windows of successive hunts count an hour
once. What has not been seen for ``anomaly_rare_windows_retention_days`` is forgotten, so old
behaviour ages out and becomes new again.

For ``anomaly_rare_windows_learning_hours`` after the first window the detector sees, nothing is
raised: the baseline builds. Afterwards a behaviour is raised when it is new for its entity (absent
from the baseline, or first seen within the window being hunted, so a re-run reports it again)
and at most ``anomaly_rare_windows_max_prevalence_percent`` of the other entities of the
constituency showed it. The score is one minus that share.

The decision functions (``behaviours``, ``learn``, ``novel``) work on pandas frames and plain
dicts, so the evaluation (``bench/anomaly/eval_rare_windows.py``) runs the code the detector runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from cert.core.aggregate import BUCKET, AggregateQuery, Metric
from cert.core.anomaly import AnomalyDetector, AnomalyState, Finding
from cert.core.contracts import detectors
from cert.core.errors import N_
from cert.core.event_store import EventStore

if TYPE_CHECKING:
    import pandas as pd

HOUR = 3600
#: longest behaviour value kept (a shape, an address), in characters
MAX_VALUE = 300
#: kept constituency-wide per kind: this many times the per-entity cap
GLOBAL_FACTOR = 20

PROCESS_TERMS = {"event.category": ["process"], "event.type": ["start"]}
LOGON_TERMS = {"event.code": ["4624", "4625"], "event.dataset": ["windows.security"]}


@dataclass(frozen=True)
class Kind:
    """A kind of behaviour: the entity it belongs to, the fields it is read from, how it is named."""

    name: str
    entity: str
    fields: tuple[str, ...]
    terms: dict[str, list[str]]
    label: str
    entity_label: str


KINDS: tuple[Kind, ...] = (
    Kind("pair", "host.name", ("process.parent.name", "process.name"), PROCESS_TERMS,
         N_("Parent and child process"), N_("hosts")),
    Kind("shape", "host.name", ("process.name", "process.command_line"), PROCESS_TERMS,
         N_("Command line shape"), N_("hosts")),
    Kind("logon_source", "user.name", ("host.name", "source.ip"), LOGON_TERMS,
         N_("Logon source address"), N_("users")),
    Kind("logon_type", "user.name", ("host.name", "winlog.logon.type"), LOGON_TERMS,
         N_("Logon type"), N_("users")),
)
KIND = {k.name: k for k in KINDS}

_GUID = re.compile(r"\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?", re.I)
_B64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")
_HEX = re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{16,}\b", re.I)
_PATH = re.compile(r"(?:[a-z]:|\\\\[^\\\s\"']+|%[a-z_]+%)\\(?:(?:program files(?: \(x86\))?|[^\\\s\"']*)\\)*",
                   re.I)
_NUMBER = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


def generalise(command_line: str) -> str:
    """The shape of a command line: lower case, GUIDs, encoded blobs, hexadecimal values, the
    directories of paths and numbers replaced by placeholders, spaces collapsed, at most
    ``MAX_VALUE`` characters."""
    text = command_line[:4 * MAX_VALUE * 4]
    text = _GUID.sub("<guid>", text)
    text = _B64.sub("<blob>", text)
    text = _HEX.sub("<hex>", text)
    text = _PATH.sub(r"<dir>\\", text.lower())
    text = _NUMBER.sub("<n>", text)
    text = text.replace('"', "").replace("'", "")
    return _SPACE.sub(" ", text).strip()[:MAX_VALUE]


def _text(value: Any) -> str:
    return str(value)[:MAX_VALUE]


def behaviours(kind: Kind, frame: pd.DataFrame) -> pd.DataFrame:
    """One chunk of the kind's aggregate (entity, fields, bucket, events) as behaviours:
    columns entity, value, host, bucket, events and example (an original value that selects
    evidence events: the command line of a shape)."""
    import pandas as pd

    columns = ["entity", "value", "host", "bucket", "events", "example"]
    if frame.empty:
        return pd.DataFrame({c: [] for c in columns})
    a, b = kind.fields
    out = pd.DataFrame({"entity": frame[kind.entity].map(_text), "bucket": frame[BUCKET],
                        "events": pd.to_numeric(frame["events"], errors="coerce").fillna(0).astype("int64")})
    if kind.name == "pair":
        out["value"] = frame[a].map(_text) + " -> " + frame[b].map(_text)
        out["host"] = out["entity"]
        out["example"] = ""
    elif kind.name == "shape":
        out["value"] = frame[b].map(lambda v: generalise(str(v)))
        out["host"] = out["entity"]
        out["example"] = frame[b].map(lambda v: str(v)[:4096])
    else:
        out["value"] = frame[b].map(_text)
        out["host"] = frame[a].map(_text)
        out["example"] = ""
    out = out[out["entity"].str.strip().astype(bool) & out["value"].str.strip().astype(bool)]
    if kind.name == "logon_source" or kind.name == "logon_type":
        out = out[~out["entity"].str.endswith("$") & ~out["value"].isin(["-", "::1", "127.0.0.1"])]
    grouped = out.groupby(["entity", "value", "bucket"], sort=True).agg(
        events=("events", "sum"), host=("host", "first"), example=("example", "first")).reset_index()
    return grouped[columns]


def read(store: EventStore, kind: Kind, start: datetime, end: datetime) -> pd.DataFrame:
    """The kind's behaviours in ``[start, end)``, from the store's hourly aggregates, reduced chunk
    by chunk (a shape's command lines never come into memory all at once)."""
    import pandas as pd

    query = AggregateQuery(start=start, end=end, group=(kind.entity, *kind.fields), bucket_seconds=HOUR,
                           metrics=(Metric("events", "count"),), terms=kind.terms)
    parts = [behaviours(kind, chunk) for chunk in store.aggregate(query)]
    if not parts:
        return behaviours(kind, pd.DataFrame())
    frame = pd.concat(parts, ignore_index=True)
    return frame.groupby(["entity", "value", "bucket"], sort=True).agg(
        events=("events", "sum"), host=("host", "first"), example=("example", "first")).reset_index()


def _hour(at: Any) -> int:
    import pandas as pd

    return int(pd.Timestamp(at).timestamp()) // HOUR


def _see(entry: list[int] | None, hour: int) -> tuple[list[int], bool]:
    """An entry [first hour, last hour, distinct hours] after seeing ``hour``; and whether it is new."""
    if entry is None:
        return [hour, hour, 1], True
    first, last, hours = entry[:3]
    if hour > last:
        return [first, hour, hours + 1], False
    if hour < first:
        return [hour, last, hours + 1], False
    return [first, last, hours], False


@dataclass
class Baseline:
    """What a kind's baseline holds, as loaded from and saved to the state:
    ``entities[entity][value] = [first, last, hours]``; ``shared[value] = [first, last, hours,
    entities]``; ``known[entity] = last hour seen``."""

    entities: dict[str, dict[str, list[int]]]
    shared: dict[str, list[int]]
    known: dict[str, int]


def learn(baseline: Baseline, frame: pd.DataFrame, now_hour: int, retention_hours: int, max_entries: int) -> None:
    """Add a window's behaviours to the baseline, then forget what was last seen before
    ``now_hour - retention_hours`` and keep the ``max_entries`` most recently seen per entity."""
    rows = frame.sort_values("bucket", kind="stable").itertuples(index=False) if len(frame) else iter(())
    for row in rows:
        hour = _hour(row.bucket)
        entity, value = str(row.entity), str(row.value)
        mine = baseline.entities.setdefault(entity, {})
        mine[value], created = _see(mine.get(value), hour)
        shared = baseline.shared.get(value)
        seen, _ = _see(shared[:3] if shared else None, hour)
        baseline.shared[value] = [*seen, (shared[3] if shared else 0) + (1 if created else 0)]
        baseline.known[entity] = max(baseline.known.get(entity, hour), hour)
    oldest = now_hour - retention_hours
    for entity in list(baseline.entities):
        values = baseline.entities[entity]
        keep = dict(sorted(((v, e) for v, e in values.items() if e[1] >= oldest),
                           key=lambda ve: ve[1][1], reverse=True)[:max_entries])
        for value in values.keys() - keep.keys():
            shared = baseline.shared.get(value)
            if shared is not None:
                shared[3] = max(0, shared[3] - 1)
        baseline.entities[entity] = keep
        if not baseline.entities[entity]:
            del baseline.entities[entity]
    baseline.known = {e: h for e, h in baseline.known.items() if h >= oldest}
    shared_kept = sorted(((v, e) for v, e in baseline.shared.items() if e[1] >= oldest),
                         key=lambda ve: ve[1][1], reverse=True)
    baseline.shared = dict(shared_kept[:max_entries * GLOBAL_FACTOR])


@dataclass(frozen=True)
class Novelty:
    """A behaviour new for its entity in a window, and how common it is elsewhere."""

    kind: str
    entity: str
    value: str
    host: str
    example: str
    first: datetime
    last: datetime
    events: int
    #: other entities that showed it / other entities known
    elsewhere: int
    others: int
    #: distinct hours it was seen in the constituency (this entity included)
    hours: int
    score: float


def novel(kind: Kind, baseline_before: Baseline, baseline_after: Baseline, frame: pd.DataFrame,
          start: datetime, raise_from: datetime, max_prevalence: float) -> list[Novelty]:
    """The behaviours of ``frame`` (a window starting at ``start``) that the entity had not shown
    before ``start`` (per ``baseline_before``), seen from ``raise_from`` on, shown by at most
    ``max_prevalence`` (0..1) of the other entities (per ``baseline_after``); best first."""
    import pandas as pd

    if frame.empty:
        return []
    start_hour = _hour(start)
    frame = frame[frame["bucket"] >= pd.Timestamp(raise_from).floor("h")]
    out: list[Novelty] = []
    others = max(0, len(baseline_after.known) - 1)
    for (entity, value), rows in frame.groupby(["entity", "value"], sort=False):
        entry = baseline_before.entities.get(str(entity), {}).get(str(value))
        if entry is not None and entry[0] < start_hour:
            continue
        shared = baseline_after.shared.get(str(value), [0, 0, 0, 1])
        elsewhere = max(0, shared[3] - 1)
        prevalence = elsewhere / others if others else 0.0
        if prevalence > max_prevalence:
            continue
        first = rows["bucket"].min().to_pydatetime()
        out.append(Novelty(kind=kind.name, entity=str(entity), value=str(value), host=str(rows["host"].iloc[0]),
                           example=str(rows["example"].iloc[0]), first=first,
                           last=rows["bucket"].max().to_pydatetime() + timedelta(seconds=HOUR - 1),
                           events=int(rows["events"].sum()), elsewhere=elsewhere, others=others,
                           hours=int(shared[2]), score=round(1.0 - prevalence, 4)))
    out.sort(key=lambda n: (-n.score, n.events, n.entity, n.value))
    return out


def load(state: AnomalyState, detector: str, kind: Kind, entities: Iterable[str]) -> Baseline:
    shared = state.baseline(detector, f"{kind.name}:*") or {}
    baseline = Baseline(entities={}, shared=dict(shared.get("values", {})), known=dict(shared.get("entities", {})))
    for entity in entities:
        saved = state.baseline(detector, f"{kind.name}:{entity}")
        if saved:
            baseline.entities[entity] = dict(saved.get("values", {}))
    return baseline


def save(state: AnomalyState, detector: str, kind: Kind, baseline: Baseline, entities: Iterable[str]) -> None:
    for entity in entities:
        state.save_baseline(detector, f"{kind.name}:{entity}", {"values": baseline.entities.get(entity, {})})
    state.save_baseline(detector, f"{kind.name}:*", {"values": baseline.shared, "entities": baseline.known})


def copy(baseline: Baseline) -> Baseline:
    return Baseline(entities={e: {v: list(x) for v, x in vs.items()} for e, vs in baseline.entities.items()},
                    shared={v: list(x) for v, x in baseline.shared.items()}, known=dict(baseline.known))


def explain(n: Novelty) -> dict[str, Any]:
    kind = KIND[n.kind]
    return {"features": [
        {"name": n.kind, "label": kind.label, "value": n.value, "baseline": N_("never seen"), "unit": ""},
        {"name": "entity", "label": N_("Seen on") if kind.entity == "host.name" else N_("User"),
         "value": n.entity, "baseline": "", "unit": ""},
        {"name": "elsewhere", "label": N_("Others showing it"), "value": n.elsewhere, "baseline": n.others,
         "unit": kind.entity_label},
        {"name": "hours", "label": N_("Hours seen in the constituency"), "value": n.hours, "baseline": "",
         "unit": N_("hours")},
        {"name": "events", "label": N_("Events in the window"), "value": n.events, "baseline": "", "unit": ""},
    ], "chart": {"kind": "bar", "title": N_("Entities showing this behaviour"),
                 "labels": [N_("this one"), N_("others"), N_("others that never did")],
                 "values": [1, n.elsewhere, max(0, n.others - n.elsewhere)]}}


def terms(n: Novelty) -> dict[str, str | int]:
    kind = KIND[n.kind]
    if n.kind == "pair":
        parent, _, child = n.value.partition(" -> ")
        return {"host.name": n.entity, "process.parent.name": parent, "process.name": child}
    if n.kind == "shape":
        return {"host.name": n.entity, "process.command_line": n.example}
    return {"user.name": n.entity, "host.name": n.host, kind.fields[1]: n.value}


@detectors.register
class RareWindowsBehaviour(AnomalyDetector):
    name = "anomaly.rare_windows"
    rule_id = "vigie-anomaly-rare-windows"
    title = N_("Behaviour never seen before on a Windows host")
    severity = "medium"
    attack: ClassVar[tuple[str, ...]] = ("attack.execution", "attack.lateral_movement", "attack.t1059", "attack.t1078")
    lookback = timedelta(hours=24)
    description = N_("Process parent-child pairs and command-line shapes never seen on a host, and logons of a "
                     "user from a source address or with a logon type never seen for them, after a learning "
                     "period; rare across the constituency.")

    def find(self, store: EventStore, start: datetime, end: datetime) -> list[Finding]:
        s = self.settings
        meta = self.state.baseline(self.name, "meta") or {}
        since = datetime.fromisoformat(meta["since"]) if isinstance(meta.get("since"), str) else start
        self.state.save_baseline(self.name, "meta", {"since": since.isoformat()})
        raise_from = since + timedelta(hours=int(s.anomaly_rare_windows_learning_hours))
        found: list[Finding] = []
        for kind in KINDS:
            frame = read(store, kind, start, end)
            entities = sorted(set(frame["entity"]))
            before = load(self.state, self.name, kind, entities)
            after = copy(before)
            learn(after, frame, _hour(end), int(s.anomaly_rare_windows_retention_days) * 24,
                  int(s.anomaly_rare_windows_max_entries))
            save(self.state, self.name, kind, after, entities)
            if end <= raise_from:
                continue
            found.extend(finding(n, end) for n in novel(
                kind, before, after, frame, start, max(start, raise_from),
                int(s.anomaly_rare_windows_max_prevalence_percent) / 100))
        return found


def finding(n: Novelty, end: datetime) -> Finding:
    first = n.first if n.first.tzinfo else n.first.replace(tzinfo=UTC)
    last = min(n.last if n.last.tzinfo else n.last.replace(tzinfo=UTC), end)
    return Finding(key=f"{n.kind}|{n.entity}|{n.value}", score=n.score, first_seen=first, last_seen=last,
                   terms=terms(n), explanation=explain(n), subject=f"{n.entity}: {n.value}"[:200])

