"""The in-memory matcher over the indicator store: dictionary lookups, and a sorted table of
disjoint address intervals for networks (one binary search per address, however many CIDRs).

Only live indicators are loaded (``to_ids`` and not expired at build time); a matcher checks
expiry again on a hit, with the provenance (see ``cert.detection.indicators.store.is_live``).
Indexes are built once per process and store generation: ``current_index`` hands every detector
instance the same one until the store changes.
"""

from __future__ import annotations

import socket
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import or_, select

from cert.detection.indicators.store import generation as store_generation
from cert.storage.db import Database
from cert.storage.models.indicators import Indicator

Ids = tuple[int, ...]
MEMO_LIMIT = 200_000
HASH_TYPES = ("md5", "sha1", "sha256")
_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"


def _ip_int(text: str) -> tuple[int, int] | None:
    """(version, integer) of an address, None when it is not one (strict: no ``127.1``)."""
    try:
        if ":" in text:
            return 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, text.split("%", 1)[0]), "big")
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError):
        return None


@dataclass
class IntervalTable:
    """Disjoint [start, end] segments, each with the ids of every network covering it."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    ids: list[Ids] = field(default_factory=list)

    @classmethod
    def build(cls, networks: Iterable[tuple[int, int, int]]) -> IntervalTable:
        """From (first address, last address, id) triples, possibly nested or overlapping."""
        points: dict[int, list[tuple[int, int]]] = {}
        for first, last, ident in networks:
            points.setdefault(first, []).append((1, ident))
            points.setdefault(last + 1, []).append((-1, ident))
        table = cls()
        active: dict[int, int] = {}
        ordered = sorted(points)
        for i, p in enumerate(ordered):
            for delta, ident in points[p]:
                n = active.get(ident, 0) + delta
                if n:
                    active[ident] = n
                else:
                    active.pop(ident, None)
            if active and i + 1 < len(ordered):
                ids = tuple(sorted(active))
                if table.ids and table.ids[-1] == ids and table.ends[-1] == p - 1:
                    table.ends[-1] = ordered[i + 1] - 1
                else:
                    table.starts.append(p)
                    table.ends.append(ordered[i + 1] - 1)
                    table.ids.append(ids)
        return table

    def find(self, x: int) -> Ids | None:
        i = bisect_right(self.starts, x) - 1
        if i >= 0 and x <= self.ends[i]:
            return self.ids[i]
        return None

    def __len__(self) -> int:
        return len(self.starts)


def _add(d: dict[str, Ids], key: str, ident: int) -> None:
    d[key] = (*d.get(key, ()), ident)


class IndicatorIndex:
    """Lookups by normalised event value; each returns the ids of the matching indicators or None."""

    def __init__(self) -> None:
        self.ips: dict[str, Ids] = {}
        self.domains: dict[str, Ids] = {}
        self.urls: dict[str, Ids] = {}
        self.url_hosts: set[str] = set()
        self.hashes: dict[str, Ids] = {}
        self.emails: dict[str, Ids] = {}
        self.ja3: dict[str, Ids] = {}
        self.ja3s: dict[str, Ids] = {}
        self.nets4 = IntervalTable()
        self.nets6 = IntervalTable()
        self.has_networks = False
        self.size = 0
        self.generation = 0
        self._ip_memo: dict[str, Ids | None] = {}
        self._domain_memo: dict[str, Ids | None] = {}

    @classmethod
    def build(cls, rows: Iterable[tuple[int, str, str]], generation: int = 0) -> IndicatorIndex:
        """From (id, type, normalised value) rows of live indicators."""
        idx = cls()
        idx.generation = generation
        nets: dict[int, list[tuple[int, int, int]]] = {4: [], 6: []}
        by_type = {"ip": idx.ips, "domain": idx.domains, "url": idx.urls, "email": idx.emails,
                   "ja3": idx.ja3, "ja3s": idx.ja3s, "md5": idx.hashes, "sha1": idx.hashes, "sha256": idx.hashes}
        for ident, type_, value in rows:
            idx.size += 1
            if type_ == "cidr":
                addr, _, prefix = value.partition("/")
                parsed = _ip_int(addr)
                if parsed is None or not prefix.isdigit():
                    continue
                version, start = parsed
                host_bits = (32 if version == 4 else 128) - int(prefix)
                nets[version].append((start, start | ((1 << host_bits) - 1), ident))
                continue
            target = by_type.get(type_)
            if target is not None:
                _add(target, value, ident)
            if type_ == "url":
                idx.url_hosts.add(value.split("/", 1)[0])
        idx.nets4 = IntervalTable.build(nets[4])
        idx.nets6 = IntervalTable.build(nets[6])
        idx.has_networks = bool(idx.nets4.starts or idx.nets6.starts)
        return idx

    # ---- lookups (event values; cheap when nothing matches) ----
    def memo_getters(self) -> dict[str, Callable[[str, object], object]]:
        """The memo lookups of ``ip`` and ``domain`` (a cached answer, or the default when the
        value was not looked up yet), for callers that inline the common case."""
        return {"ip": self._ip_memo.get, "domain": self._domain_memo.get}

    def ip(self, text: str) -> Ids | None:
        """The address itself and every network containing it (memoised: traffic repeats).
        IPv4-mapped IPv6 addresses (``::ffff:198.51.100.1``) are looked up as IPv4."""
        memo = self._ip_memo
        if text in memo:
            return memo[text]
        found: Ids | None = None
        try:
            if ":" in text:
                packed = socket.inet_pton(socket.AF_INET6, text.split("%", 1)[0])
                if packed[:12] == _V4_MAPPED:
                    packed = packed[12:]
                    canon, nets = socket.inet_ntop(socket.AF_INET, packed), self.nets4
                else:
                    canon, nets = socket.inet_ntop(socket.AF_INET6, packed), self.nets6
            else:  # glibc's inet_pton is strict (no leading zeros): the text is already canonical
                packed, canon, nets = socket.inet_pton(socket.AF_INET, text), text, self.nets4
            exact = self.ips.get(canon, ())
            within = nets.find(int.from_bytes(packed, "big")) if nets.starts else None
            found = (exact + within if within else exact) or None
        except (OSError, ValueError):
            found = None
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[text] = found
        return found

    def domain(self, text: str) -> Ids | None:
        """The domain and each of its parents: ``a.evil.example`` matches ``evil.example``."""
        if not self.domains:
            return None
        memo = self._domain_memo
        if text in memo:
            return memo[text]
        d = text.lower().rstrip(".")
        found: Ids = ()
        while True:
            hit = self.domains.get(d)
            if hit is not None:
                found += hit
            i = d.find(".")
            if i < 0:
                break
            d = d[i + 1:]
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[text] = found or None
        return found or None

    def url(self, text: str) -> Ids | None:
        if not self.urls:
            return None
        i = text.find("://")
        rest = text[i + 3:] if 0 <= i < 10 else text
        host, sep, path = rest.partition("/")
        host = host.lower()
        if host not in self.url_hosts:
            return None
        key = host + sep + path
        if key.endswith("/") and key.count("/") == 1:
            key = key[:-1]
        return self.urls.get(key)

    def hash(self, text: str) -> Ids | None:
        return self.hashes.get(text) or (self.hashes.get(text.lower()) if not text.islower() else None)

    def email(self, text: str) -> Ids | None:
        return self.emails.get(text.lower()) if self.emails else None

    def ja3_client(self, text: str) -> Ids | None:
        return self.ja3.get(text.lower()) if self.ja3 else None

    def ja3_server(self, text: str) -> Ids | None:
        return self.ja3s.get(text.lower()) if self.ja3s else None

    def stats(self) -> dict[str, int]:
        return {"indicators": self.size, "ips": len(self.ips), "networks": len(self.nets4) + len(self.nets6),
                "domains": len(self.domains), "urls": len(self.urls), "hashes": len(self.hashes),
                "emails": len(self.emails), "ja3": len(self.ja3) + len(self.ja3s)}


def load_index(db: Database, now: datetime | None = None) -> IndicatorIndex:
    """Build an index of the live indicators in the store."""
    now = now or datetime.now(UTC)
    with db.session() as s:
        gen = store_generation(s)
        q = (select(Indicator.id, Indicator.type, Indicator.value)
             .where(Indicator.to_ids.is_(True), or_(Indicator.expires_at.is_(None), Indicator.expires_at > now))
             .execution_options(yield_per=50_000))
        rows = ((int(i), str(t), str(v)) for i, t, v in s.execute(q))
        return IndicatorIndex.build(rows, gen)


_cache: dict[str, IndicatorIndex] = {}
_lock = threading.Lock()


def current_index(db: Database) -> IndicatorIndex:
    """The shared index of this database, rebuilt when the store's generation moved."""
    with db.session() as s:
        gen = store_generation(s)
    with _lock:
        idx = _cache.get(db.url)
        if idx is None or idx.generation != gen:
            idx = load_index(db)
            _cache[db.url] = idx
        return idx
