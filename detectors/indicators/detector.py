"""Indicator detector: every event's addresses, names, URLs, hashes, e-mail addresses and TLS
fingerprints looked up in the indicator store (exact values, parent domains, CIDR networks).

The store is loaded into memory once per process and store generation (see
``detectors.indicators.index.current_index``); a detector re-checks the generation at most
every ``refresh_seconds``. A hit carries the indicator's provenance (sources, references, TLP,
confidence, tags) in the alert's entities under ``indicator``; one alert per indicator and
entity (the other side of the traffic, or the host) within the suppression window.

With the native module (``vigie_native``, ``native/``) the scan is pre-filtered in Rust: the
filter (built once per index, see ``native_filter``) gives the event values that might be
indicators and only those are looked up here, for the same matches in the same order;
``VIGIE_NATIVE=0`` in the environment turns it off.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar
from weakref import WeakKeyDictionary

from sqlalchemy.exc import OperationalError, ProgrammingError

from cert.core.config import Settings
from cert.core.contracts import SEVERITIES, Detector, Hit, RuleOverrides, detectors, hit_for_events
from cert.core.ecs import Event, get
from cert.core.tlp import TLP
from cert.detection.indicators.store import is_live, provenance
from cert.storage.db import shared_database
from cert.storage.models.indicators import Indicator
from detectors.indicators.index import Ids, IndicatorIndex, current_index
from detectors.indicators.scan import compile_scanner, scan_candidates

try:
    import vigie_native as _native
except ImportError:  # optional: the Python scanner alone gives the same matches
    _native = None

log = logging.getLogger(__name__)

# (top-level key, [(key, sub-key or None, ECS path, kind)]): the fields looked up, by kind
FIELDS: tuple[tuple[str, tuple[tuple[str, str | None, str, str], ...]], ...] = (
    ("source", (("ip", None, "source.ip", "ip"), ("domain", None, "source.domain", "domain"),
                ("user", "email", "source.user.email", "email"))),
    ("destination", (("ip", None, "destination.ip", "ip"), ("domain", None, "destination.domain", "domain"))),
    ("client", (("ip", None, "client.ip", "ip"),)),
    ("server", (("ip", None, "server.ip", "ip"), ("domain", None, "server.domain", "domain"))),
    ("related", (("ip", None, "related.ip", "ip"), ("hash", None, "related.hash", "hash"))),
    ("dns", (("question", "name", "dns.question.name", "domain"),)),
    ("url", (("domain", None, "url.domain", "domain"), ("original", None, "url.original", "url"),
             ("full", None, "url.full", "url"))),
    ("tls", (("client", "server_name", "tls.client.server_name", "domain"), ("client", "ja3", "tls.client.ja3", "ja3"),
             ("server", "ja3s", "tls.server.ja3s", "ja3s"))),
    ("file", (("hash", "md5", "file.hash.md5", "hash"), ("hash", "sha1", "file.hash.sha1", "hash"),
              ("hash", "sha256", "file.hash.sha256", "hash"))),
    ("process", (("hash", "md5", "process.hash.md5", "hash"), ("hash", "sha1", "process.hash.sha1", "hash"),
                 ("hash", "sha256", "process.hash.sha256", "hash"))),
    ("email", (("from", "address", "email.from.address", "email"), ("to", "address", "email.to.address", "email"),
               ("sender", "address", "email.sender.address", "email"))),
    ("user", (("email", None, "user.email", "email"),)),
)
ENTITY_CANDIDATES = ("source.ip", "destination.ip", "client.ip", "server.ip", "host.name", "user.name")
ESCALATING = re.compile(r"\b(ransom\w*|apt\d*|c2|backdoor|rat|threat-actor|command-and-control|threat-level:high)\b")

Match = tuple[Event, str, str, Ids]  # event, ECS path, event value, indicator ids
PROVENANCE_CACHE = 50_000  # indicators kept in memory with their provenance, per detector


def severity_for(confidence: int, tags: Sequence[str]) -> str:
    """Confidence sets the level (<25 informational, <50 low, <75 medium, else high); a tag naming
    ransomware, an APT, a C2, a RAT or a high MISP threat level raises it one step."""
    level = 0 if confidence < 25 else 1 if confidence < 50 else 2 if confidence < 75 else 3
    if any(ESCALATING.search(t.lower()) for t in tags):
        level += 1
    return SEVERITIES[min(level, 4)]


def entity_of(ev: Event, matched: str) -> tuple[str, str]:
    """Who is involved besides the indicator: the other address, else the host or the user."""
    for f in ENTITY_CANDIDATES:
        v = get(ev, f)
        if v not in (None, "") and str(v) != matched:
            return f, str(v)
    return "", ""


_SCANNER = compile_scanner(FIELDS, frozenset({"ip", "domain"}))
_ENTRIES = tuple((path, kind) for _, entries in FIELDS for _, _, path, kind in entries)
# the native filter of each index (an index does not change once built: a new generation is a new index)
_FILTERS: WeakKeyDictionary[IndicatorIndex, Any] = WeakKeyDictionary()


def native_filter(index: IndicatorIndex) -> Any | None:
    """The native pre-filter of this index (``vigie_native.IndicatorFilter``), built on first use
    (0.2 s and ~25 MB per million indicators) and kept with the index; None without the module or
    with ``VIGIE_NATIVE=0``."""
    if _native is None or os.environ.get("VIGIE_NATIVE", "1") == "0":
        return None
    known = _FILTERS.get(index)
    if known is not None:
        return known
    keys = {"ip": index.ips, "domain": index.domains, "url": index.urls, "hash": index.hashes,
            "email": index.emails, "ja3": index.ja3, "ja3s": index.ja3s}
    built = _native.IndicatorFilter(FIELDS, keys, (index.nets4.starts, index.nets4.ends),
                                    (index.nets6.starts, index.nets6.ends), ("url", "domain", "original"))
    _FILTERS[index] = built
    return built


def scan(index: IndicatorIndex, events: Sequence[Event]) -> list[Match]:
    """Every (event, field, value, indicator ids) where an event value is an indicator.

    The hot loop of the detector (compiled from ``FIELDS``, see ``detectors._indicator_scan``):
    addresses and names repeat in traffic, so their lookups go through the index's memo first (one
    dictionary access), the full lookup only on a miss. With the native filter, only the values it
    gives (a superset of the matches) are looked up."""
    lookups: dict[str, Callable[[str], Ids | None]] = {
        "ip": index.ip, "domain": index.domain, "url": index.url, "hash": index.hash, "email": index.email,
        "ja3": index.ja3_client, "ja3s": index.ja3_server}
    out: list[Match] = []
    url_join = partial(_url_with_host, index) if index.urls else None
    memos = dict(index.memo_getters())
    prefilter = native_filter(index)
    if prefilter is None:
        _SCANNER(events, out, lookups, memos, url_join)
    else:
        scan_candidates(prefilter.scan(events), events, out, _ENTRIES, lookups, memos, url_join, _SCANNER)
    return out


def _url_with_host(index: IndicatorIndex, ev: Event, url: dict[str, Any], out: list[Match]) -> None:
    """Access logs keep the path in url.original and the host in url.domain: join them."""
    original, domain = url.get("original"), url.get("domain")
    if isinstance(original, str) and original.startswith("/") and isinstance(domain, str):
        ids = index.url(domain + original)
        if ids is not None:
            out.append((ev, "url.domain+url.original", domain + original, ids))


def _iso(dt: datetime | None) -> str | None:
    """UTC ISO 8601 (SQLite hands back naive datetimes: they are UTC)."""
    return None if dt is None else (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).isoformat()


@detectors.register
class IndicatorDetector(Detector):
    name = "indicators"
    refresh_seconds: ClassVar[float] = 5.0

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        if not settings.database_url:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = shared_database(settings.effective_database_url)
        self.index = IndicatorIndex()
        self.error = ""
        self._checked = float("-inf")
        self._cached: dict[int, Indicator] = {}
        self._refresh()

    def _refresh(self) -> None:
        if time.monotonic() - self._checked < self.refresh_seconds:
            return
        self._checked = time.monotonic()
        self._cached = {}  # provenance re-read at each check: store edits show within refresh_seconds
        try:
            self.index = current_index(self.db)
            self.error = ""
        except (OperationalError, ProgrammingError) as exc:  # store not migrated yet: nothing to match
            self.error = f"indicator store unavailable: {exc.orig or exc}"
            log.warning("%s", self.error)

    def summary(self) -> dict[str, Any]:
        info: dict[str, Any] = dict(self.index.stats())
        info["generation"] = self.index.generation
        if self.error:
            info["rejected"] = [("indicator store", "", self.error)]
        return info

    parallel = True

    def configure(self, overrides: RuleOverrides) -> None:
        self._refresh()  # in the main process: forked workers match with the index they inherited
        native_filter(self.index)  # and with its native filter, built here once

    def detect(self, events: Sequence[Event]) -> list[Hit]:
        self._refresh()
        return self._hits(scan(self.index, events))

    def match(self, events: Sequence[Event]) -> list[tuple[int, str, str, Ids]]:
        """(position in the batch, field, value, indicator ids) of every match."""
        pos = {id(ev): i for i, ev in enumerate(events)}
        return [(pos[id(ev)], path, value, ids) for ev, path, value, ids in scan(self.index, events)]

    def conclude(self, events: Sequence[Event], matched: list[tuple[int, str, str, Ids]]) -> list[Hit]:
        return self._hits([(events[i], path, value, ids) for i, path, value, ids in matched])

    def _hits(self, matches: list[Match]) -> list[Hit]:
        if not matches:
            return []
        found = self._provenance({i for m in matches for i in m[3]})
        now = datetime.now(UTC)
        live = {i: ind for i, ind in found.items() if is_live(ind, now)}
        groups: dict[str, list[tuple[Event, str, str, list[Indicator]]]] = {}
        for ev, path, value, idents in matches:
            inds = [live[i] for i in idents if i in live]
            for (type_, ind_value) in dict.fromkeys((ind.type, ind.value) for ind in inds):
                same = [ind for ind in inds if (ind.type, ind.value) == (type_, ind_value)]
                field, who = entity_of(ev, value)
                key = (f"{type_}:{ind_value}|{field}={who}" if field else f"{type_}:{ind_value}")[:300]
                groups.setdefault(key, []).append((ev, path, value, same))
        return [self._hit(key, items) for key, items in groups.items()]

    def _provenance(self, ids: set[int]) -> dict[int, Indicator]:
        """The indicators behind the matched ids, from SQL at most once per refresh period (hits
        repeat: a scanner, a C2 beacon); store edits show within ``refresh_seconds``, as new
        indicators do."""
        if len(self._cached) > PROVENANCE_CACHE:  # (also emptied at each refresh check, with the index)
            self._cached = {}
        missing = sorted(i for i in ids if i not in self._cached)
        if missing:
            with self.db.session() as s:
                found = provenance(s, missing)
                for ind in found.values():
                    s.expunge(ind)
            self._cached.update(found)
        return {i: self._cached[i] for i in ids if i in self._cached}

    def _hit(self, key: str, items: list[tuple[Event, str, str, list[Indicator]]]) -> Hit:
        events = list({id(ev): ev for ev, *_ in items}.values())
        _, path, value, _ = items[0]
        by_id = {ind.id: ind for *_, group in items for ind in group}
        sources = sorted(by_id.values(), key=lambda ind: (-ind.confidence, ind.source))
        tags = list(dict.fromkeys(t for ind in sources for t in ind.tags))[:30]
        confidence = max(ind.confidence for ind in sources)
        tlp = max((TLP.parse(ind.tlp) for ind in sources), key=lambda t: t.value)
        ind = sources[0]
        names = ", ".join(dict.fromkeys(i.source for i in sources))
        hit = hit_for_events(events, rule_id=f"indicator:{ind.type}", title=f"Known indicator: {ind.type} "
                             f"{ind.value} ({names})"[:300], severity=severity_for(confidence, tags),
                             detector=self.name, group_key=key)
        detail = {
            "type": ind.type, "value": ind.value, "matched_field": path, "matched_value": value,
            "tlp": tlp.tag_value, "confidence": confidence, "tags": tags,
            "sources": [{"source": i.source, "reference": i.reference, "tlp": i.tlp, "confidence": i.confidence,
                         "first_seen": _iso(i.first_seen), "expires_at": _iso(i.expires_at),
                         "comment": i.comment[:300]} for i in sources[:20]],
        }
        return replace(hit, entities={**hit.entities, "indicator": detail}, tlp=tlp.tag_value)
