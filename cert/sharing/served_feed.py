"""The MISP feed Vigie serves to each partner CERT: what a partner's MISP instance reads when it
adds Vigie as a remote feed (``manifest.json``, ``hashes.csv``, one ``<uuid>.json`` per event).

A partner's feed holds its live publications (``cert.sharing.publications.published_for``), each
built when read from what the policy lets leave for that partner (``shared_with``); an incident of
which nothing may leave any more is left out. Every partner sees an incident under the same event
uuid (``misp_feed.event_uuid``), dated by its publication's ``updated_at``: publishing again moves
it, and a partner's MISP then fetches the event again. Each event sent is audited
(``sharing.feed_read``) with the partner and the values it received.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymisp import MISPEvent
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cert.constituency.directory import Partner
from cert.core.config import Settings
from cert.core.errors import N_, NotFound
from cert.sharing.our_sightings import our_sightings
from cert.sharing.policy import Shared
from cert.sharing.publications import published_for, shared_with
from cert.sharing.targets.misp_feed import build_event, event_document, shared_items
from cert.storage import audit
from cert.storage.models import Case, CasePublication


@dataclass(frozen=True)
class FeedEvent:
    """One incident in a partner's feed: its event as the partner receives it."""

    case: Case
    shared: Shared
    updated_at: datetime
    event: MISPEvent

    @property
    def uuid(self) -> str:
        return str(self.event.uuid)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def partner_events(s: Session, partner: Partner, settings: Settings, *, sightings: bool = False) -> list[FeedEvent]:
    """The events of the partner's feed, in publication order; with our sightings on request (the
    manifest and the hashes do not carry them)."""
    out: list[FeedEvent] = []
    for publication, case in published_for(s, partner.id):
        shared = shared_with(case, partner)
        if not shared.leaves:
            continue
        moment = _utc(publication.updated_at)
        event = build_event(case, shared, settings, timestamp=moment,
                            sightings=our_sightings(s, case, shared) if sightings else None)
        if event.attributes:
            out.append(FeedEvent(case, shared, moment, event))
    return out


def manifest(events: list[FeedEvent]) -> dict[str, Any]:
    """``manifest.json``: each event's uuid, organisation, tags, title, date and timestamp."""
    out: dict[str, Any] = {}
    for one in events:
        out.update(one.event.manifest)
    return out


def hashes_csv(events: list[FeedEvent]) -> str:
    """``hashes.csv``: the MD5 of each attribute's value (as PyMISP computes it) and its event's uuid."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    for one in events:
        writer.writerows([digest, one.uuid] for digest in one.event.attributes_hashes("md5"))
    return text.getvalue()


def serialize(document: dict[str, Any]) -> bytes:
    """A feed file's bytes: the same document gives the same bytes (its ETag)."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def feed_event(s: Session, partner: Partner, settings: Settings, event_uuid: str) -> FeedEvent:
    """The event ``event_uuid`` of the partner's feed, with our sightings; NotFound when the
    partner's feed does not hold it (not published to it, withdrawn, or nothing of it may leave)."""
    wanted = event_uuid.strip().lower()
    for one in partner_events(s, partner, settings):
        if one.uuid == wanted:
            sightings = our_sightings(s, one.case, one.shared)
            event = build_event(one.case, one.shared, settings, timestamp=one.updated_at, sightings=sightings)
            return FeedEvent(one.case, one.shared, one.updated_at, event)
    raise NotFound(N_("No event %(uuid)s in this feed."), uuid=event_uuid[:64])


def event_bytes(one: FeedEvent) -> bytes:
    return serialize(event_document(one.event))


def last_change(s: Session, partner_id: str) -> datetime | None:
    """When the partner's feed last changed: its latest publication or withdrawal."""
    latest = s.scalar(select(func.max(CasePublication.updated_at)).where(CasePublication.partner == partner_id))
    return _utc(latest) if latest is not None else None


def record_read(s: Session, actor: str, remote_addr: str, partner: Partner, one: FeedEvent) -> None:
    """Audit an event sent to a partner: who read it, the event, the title and the values sent."""
    audit.record(s, actor, "sharing.feed_read", "case", one.case.id, remote_addr, partner=partner.id,
                 event_uuid=one.uuid, terms=one.shared.terms.label, title=one.shared.title,
                 description_sent=bool(one.shared.description), items=shared_items(one.event))
