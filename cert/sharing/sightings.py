"""Partners' sightings of indicator values: who saw a value, when first and last, how many times.

They come from the partners' MISP feeds (the ``Sighting`` lists of attributes) and TAXII
collections (STIX ``sighting`` objects of indicators they published) and are stored in
``partner_sightings``, one row per (source, reference): reading a sighting again updates its
count and dates instead of adding a row. Values are normalised as in the indicator store, so an
incident's observables find their sightings by (type, value).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.core.errors import InvalidInput
from cert.core.observables import normalize
from cert.detection.indicators.store import value_key
from cert.storage.models import PartnerSighting


@dataclass(frozen=True)
class SightingRecord:
    """One sighting read from a partner, before it is stored."""

    reference: str  # its id at the source (MISP sighting uuid, STIX sighting id)
    type: str
    value: str  # normalised
    first_seen: datetime
    last_seen: datetime
    count: int = 1
    organization: str = ""


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def record(s: Session, source: str, sightings: Iterable[SightingRecord]) -> int:
    """Store sightings under ``source``: a known (source, reference) is updated (count, dates,
    organisation), a new one inserted. Returns how many were read."""
    now = datetime.now(UTC)
    n = 0
    for rec in sightings:
        n += 1
        row = s.scalar(select(PartnerSighting).where(PartnerSighting.source == source[:200],
                                                     PartnerSighting.reference == rec.reference[:200]))
        if row is None:
            row = PartnerSighting(source=source[:200], reference=rec.reference[:200], first_seen=rec.first_seen,
                                  last_seen=rec.last_seen)
            s.add(row)
        row.type, row.value, row.value_key = rec.type, rec.value, value_key(rec.value)
        row.count = max(1, rec.count)
        row.first_seen = min(_aware(row.first_seen), rec.first_seen)
        row.last_seen = max(_aware(row.last_seen), rec.last_seen)
        row.organization = rec.organization[:200]
        row.imported_at = now
        s.flush()
    return n


def sightings_for(s: Session, observables: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[PartnerSighting]]:
    """The partners' sightings of each (type, value), keyed by (type, normalised value), most
    recent first; values that are not of their type (or of a type never sighted) are left out."""
    wanted: dict[tuple[str, str], tuple[str, str]] = {}
    for type_, value in observables:
        try:
            key = normalize(type_, value)
        except InvalidInput:
            continue
        wanted[(key[0], value_key(key[1]))] = key
    out: dict[tuple[str, str], list[PartnerSighting]] = {}
    by_type: dict[str, list[str]] = {}
    for type_, vkey in wanted:
        by_type.setdefault(type_, []).append(vkey)
    for type_, keys in by_type.items():
        for i in range(0, len(keys), 500):
            q = (select(PartnerSighting)
                 .where(PartnerSighting.type == type_, PartnerSighting.value_key.in_(keys[i:i + 500]))
                 .order_by(PartnerSighting.last_seen.desc(), PartnerSighting.id))
            for row in s.scalars(q):
                match = wanted.get((row.type, row.value_key))
                if match is not None and match[1] == row.value:
                    out.setdefault(match, []).append(row)
    return out
