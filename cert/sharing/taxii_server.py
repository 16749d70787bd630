"""The TAXII 2.1 collections Vigie serves to partner CERTs: what a partner sees, page by page.

- Each partner taking the ``taxii`` channel has one collection, "Vigie → <partner name>", whose
  id is the UUIDv5 of the CERT's organisation uuid and the partner's id: stable, and
  unguessable from another partner's. A partner sees its own collection only; any other id is
  "not found" (never "forbidden": ids do not leak). Partners read, never write.
- The collection holds, for each live publication of the partner (``published_for``, in
  ``(updated_at, id)`` order), the STIX 2.1 objects of ``export_case`` of what the sharing
  policy lets leave for the partner **now** (``shared_with``); an incident of which nothing
  leaves adds nothing. Every object's ``date_added`` is its publication's ``updated_at``
  (publishing again moves it) and its version (``modified``) is that time too, so reading twice
  gives the same objects. The TLP 2.0 marking definitions the partner may receive come first,
  once, dated by the first live publication.
- Paging is stateless: ``next`` is the position of the last object of a page (publication time,
  publication id, index of the object in its incident's export), signed with the application's
  secret. Any web worker continues from it; a value that was altered, or given by another
  partner's collection, is refused.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from cert.constituency.directory import Partner
from cert.core.config import Settings
from cert.core.errors import N_, InvalidInput, NotFound
from cert.core.tlp import TLP
from cert.sharing.policy import SharedItem, decide, terms_of
from cert.sharing.publications import published_for, shared_with
from cert.sharing.stix_export import export_with_sightings, marking
from cert.storage import audit

#: The TAXII 2.1 media type of every answer, and the STIX 2.1 one of the objects served.
MEDIA_TYPE_TAXII = "application/taxii+json;version=2.1"
MEDIA_TYPE_STIX = "application/stix+json;version=2.1"
SPEC_VERSION = "2.1"
#: The channel a partner must take to read its collection.
CHANNEL = "taxii"
#: How many publications are read from the database at once while filling a page.
BATCH = 50
#: Larger than any row id: ``(t, LAST_ID)`` is a position after every publication of time ``t``.
LAST_ID = 2**63 - 1


@dataclass(frozen=True)
class Collection:
    """A partner's collection (the TAXII collection resource)."""

    id: str
    title: str
    partner: str
    #: the description: a message id and its values (the reader's language is the web layer's)
    description: str = N_("Indicators the CERT published to %(partner)s (%(ceiling)s at most).")
    description_params: tuple[tuple[str, str], ...] = ()

    def resource(self, description: str) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "description": description, "can_read": True,
                "can_write": False, "media_types": [MEDIA_TYPE_STIX]}


def collection_of(partner: Partner, org_uuid: str) -> Collection:
    """The partner's one collection: its id is the UUIDv5 of the CERT's uuid and the partner's id."""
    ident = str(uuid.uuid5(uuid.UUID(org_uuid), partner.id))
    return Collection(ident, f"Vigie → {partner.name}", partner.id,
                      description_params=(("partner", partner.name), ("ceiling", f"TLP:{partner.tlp_ceiling.upper()}")))


def collections_for(partner: Partner, org_uuid: str) -> list[Collection]:
    """The collections the partner sees: its own, when it takes the TAXII channel."""
    return [collection_of(partner, org_uuid)] if CHANNEL in partner.channels else []


def collection_for(partner: Partner, org_uuid: str, wanted: str) -> Collection:
    """The collection ``wanted`` if the partner sees it, else NotFound (whoever else's it is)."""
    for collection in collections_for(partner, org_uuid):
        if collection.id == wanted.strip().lower():
            return collection
    raise NotFound(N_("No collection %(id)s."), id=wanted[:100])


# ---- filters -------------------------------------------------------------------------------------

def parse_timestamp(text: str, name: str) -> datetime:
    """An RFC 3339 timestamp (``2024-05-01T10:00:00.123Z``) as an aware UTC datetime."""
    value = text.strip()
    try:
        when = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError:
        raise InvalidInput(N_("%(name)s is not a timestamp (2024-05-01T10:00:00Z): %(value)s"),
                           name=name, value=value[:60]) from None
    if when.tzinfo is None:
        raise InvalidInput(N_("%(name)s needs its time zone (Z for UTC): %(value)s"), name=name, value=value[:60])
    return when.astimezone(UTC)


def timestamp(when: datetime) -> str:
    """A STIX/TAXII timestamp with microseconds, in UTC."""
    return utc(when).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc(when: datetime) -> datetime:
    """A database time as aware UTC (the embedded database gives them back naive, in UTC)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _values(text: str | None) -> list[str]:
    return [v.strip() for v in (text or "").split(",") if v.strip()]


@dataclass(frozen=True)
class Filters:
    """The TAXII filters of a request: ``match[id]``, ``match[type]``, ``match[version]`` (``last``
    by default; ``first``, ``all`` or timestamps), ``match[spec_version]`` (2.1 by default) and
    ``added_after``."""

    ids: frozenset[str] | None = None
    types: frozenset[str] | None = None
    versions: tuple[str, ...] = ("last",)
    spec_versions: frozenset[str] = frozenset({SPEC_VERSION})
    added_after: datetime | None = None

    @classmethod
    def parse(cls, *, ids: str | None = None, types: str | None = None, versions: str | None = None,
              spec_versions: str | None = None, added_after: str | None = None) -> Filters:
        wanted_versions = tuple(_values(versions)) or ("last",)
        for version in wanted_versions:
            if version not in ("last", "first", "all"):
                parse_timestamp(version, "match[version]")
        return cls(ids=frozenset(_values(ids)) or None, types=frozenset(_values(types)) or None,
                   versions=wanted_versions,
                   spec_versions=frozenset(_values(spec_versions)) or frozenset({SPEC_VERSION}),
                   added_after=parse_timestamp(added_after, "added_after") if added_after else None)

    def matches(self, entry: Entry) -> bool:
        obj = entry.object
        if self.ids is not None and obj["id"] not in self.ids:
            return False
        if self.types is not None and obj["type"] not in self.types:
            return False
        if obj.get("spec_version", SPEC_VERSION) not in self.spec_versions:
            return False
        if self.added_after is not None and entry.date_added <= self.added_after:
            return False
        # each object has one version in the collection (the current one): it is the first, the
        # last and all of them; a list of timestamps selects it when it names its version
        if not {"last", "first", "all"} & set(self.versions):
            return any(parse_timestamp(v, "match[version]") == parse_timestamp(entry.version, "version")
                       for v in self.versions)
        return True


# ---- the collection's content, in order ----------------------------------------------------------

@dataclass(frozen=True)
class Position:
    """Where an object stands in the collection: the marking definitions first (``at`` None),
    then each publication by ``(updated_at, id)``, each object by its index in the export."""

    at: datetime | None
    publication: int
    index: int

    def key(self) -> tuple[int, datetime, int, int]:
        return (0, datetime.min.replace(tzinfo=UTC), 0, self.index) if self.at is None else (
            1, self.at, self.publication, self.index)


@dataclass(frozen=True)
class Entry:
    """One object of the collection, when it was added, and the indicator it carries (if any)."""

    position: Position
    date_added: datetime
    object: dict[str, Any]
    item: SharedItem | None = None

    @property
    def version(self) -> str:
        return str(self.object.get("modified") or self.object.get("created") or timestamp(self.date_added))

    def manifest_record(self) -> dict[str, Any]:
        return {"id": self.object["id"], "date_added": timestamp(self.date_added), "version": self.version,
                "media_type": MEDIA_TYPE_STIX}


def markings_for(partner: Partner) -> list[dict[str, Any]]:
    """The TLP 2.0 marking definitions of the labels the partner may receive."""
    terms = terms_of(partner.tlp_ceiling, partner.pap)
    return [_plain(marking(tlp)) for tlp in TLP if decide(terms, tlp).allowed]


def entries(s: Session, partner: Partner, settings: Settings, start: Position | None = None,
            added_after: datetime | None = None) -> Iterator[Entry]:
    """The collection's objects after ``start``, in order, as the policy lets them leave now (with
    the CERT's own sightings of the shared values, ``export_with_sightings``)."""
    first = published_for(s, partner.id, limit=1)
    if not first:
        return
    if start is None or start.at is None:
        dated = utc(first[0][0].updated_at)
        for index, obj in enumerate(markings_for(partner)):
            if start is None or index > start.index:
                yield Entry(Position(None, 0, index), dated, obj)
    after: tuple[datetime, int] | None = None
    if start is not None and start.at is not None:
        after = (start.at, start.publication - 1)  # the publication of ``start`` itself, then the later ones
    if added_after is not None and (after is None or added_after > after[0]):
        after = (added_after, LAST_ID)
    while True:
        batch = published_for(s, partner.id, after=after, limit=BATCH)
        for publication, case in batch:
            at = utc(publication.updated_at)
            shared = shared_with(case, partner)
            if not shared.leaves:
                continue
            export = export_with_sightings(s, case, shared, settings, now=at)
            items = dict(export.sent)
            objects = [o for o in export.bundle.objects if o["type"] != "marking-definition"]
            for index, obj in enumerate(objects):
                position = Position(at, publication.id, index)
                if start is not None and position.key() <= start.key():
                    continue
                yield Entry(position, at, _plain(obj), items.get(obj["id"]))
        if len(batch) < BATCH:
            return
        last = batch[-1][0]
        after = (utc(last.updated_at), last.id)


def _plain(obj: Any) -> dict[str, Any]:
    """A stix2 object as plain JSON data."""
    data: dict[str, Any] = json.loads(obj.serialize())
    return data


# ---- pages ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    """One page of a collection: its entries, whether more follow and the ``next`` to ask for them."""

    entries: tuple[Entry, ...]
    more: bool
    next: str | None

    def headers(self) -> dict[str, str]:
        """``X-TAXII-Date-Added-First`` and ``-Last`` of the page (none when it is empty)."""
        if not self.entries:
            return {}
        return {"X-TAXII-Date-Added-First": timestamp(self.entries[0].date_added),
                "X-TAXII-Date-Added-Last": timestamp(self.entries[-1].date_added)}

    def envelope(self) -> dict[str, Any]:
        out: dict[str, Any] = {"more": self.more}
        if self.next:
            out["next"] = self.next
        if self.entries:
            out["objects"] = [e.object for e in self.entries]
        return out

    def manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {"more": self.more}
        if self.next:
            out["next"] = self.next
        if self.entries:
            out["objects"] = [e.manifest_record() for e in self.entries]
        return out

    def versions(self) -> dict[str, Any]:
        out: dict[str, Any] = {"more": self.more}
        if self.next:
            out["next"] = self.next
        if self.entries:
            out["versions"] = [e.version for e in self.entries]
        return out


class Cursors:
    """The ``next`` values of a partner's collection: a position signed with the application's
    secret, so that any worker continues the paging and no client moves it elsewhere."""

    SALT = "vigie.taxii.next"

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt=self.SALT)

    def dump(self, collection: Collection, position: Position) -> str:
        return str(self._serializer.dumps({
            "c": collection.id, "p": collection.partner,
            "a": timestamp(position.at) if position.at is not None else None,
            "u": position.publication, "i": position.index}))

    def load(self, collection: Collection, value: str) -> Position:
        refused = InvalidInput(N_("The next value is not one this collection gave (it was altered or is another's)."))
        try:
            data = self._serializer.loads(value.strip())
        except BadSignature:
            raise refused from None
        if not isinstance(data, dict) or data.get("c") != collection.id or data.get("p") != collection.partner:
            raise refused
        try:
            at = parse_timestamp(data["a"], "next") if data["a"] is not None else None
            return Position(at, int(data["u"]), int(data["i"]))
        except (KeyError, TypeError, ValueError, InvalidInput):
            raise refused from None


def read_page(s: Session, partner: Partner, settings: Settings, collection: Collection, filters: Filters,
              limit: int, cursors: Cursors, next_value: str | None = None) -> Page:
    """The page of the collection's objects that ``filters`` select, after ``next_value`` (the
    beginning without it), ``limit`` objects at most."""
    start = cursors.load(collection, next_value) if next_value else None
    found: list[Entry] = []
    for entry in entries(s, partner, settings, start, filters.added_after):
        if not filters.matches(entry):
            continue
        if len(found) == limit:
            return Page(tuple(found), True, cursors.dump(collection, found[-1].position))
        found.append(entry)
    return Page(tuple(found), False, None)


def require_object(s: Session, partner: Partner, settings: Settings, object_id: str) -> None:
    """NotFound unless the partner's collection holds an object with this id."""
    wanted = Filters(ids=frozenset({object_id}), versions=("all",),
                     spec_versions=frozenset({SPEC_VERSION, "2.0"}))
    if not any(wanted.matches(e) for e in entries(s, partner, settings)):
        raise NotFound(N_("No object %(id)s in this collection."), id=object_id[:120])


def audit_read(s: Session, actor: str, remote_addr: str, collection: Collection, what: str,
               page: Page | Sequence[Entry]) -> None:
    """Record a read of the collection with the objects and the indicator values it sent."""
    sent = page.entries if isinstance(page, Page) else tuple(page)
    audit.record(s, actor, "sharing.taxii_read", "collection", collection.id, remote_addr,
                 partner=collection.partner, collection=collection.id, endpoint=what,
                 objects=[e.object["id"] for e in sent],
                 values=[f"{e.item.type}:{e.item.value}" for e in sent if e.item is not None])
