"""An incident's MISP event, built from what the sharing policy lets leave for a recipient, and
the community MISP feed folder (``feed_dir``).

``build_event`` turns a ``cert.sharing.policy.Shared`` into a MISP event: the items that leave
become attributes (a user agent, a user or a host name never an IDS indicator, ``to_ids`` false),
each tagged with its own ``tlp:`` and ``PAP:``; the event's title is the policy's (the real one or
its neutral replacement); the incident's description, when the policy lets it leave, is an
attribute of type ``text`` (category ``Other``, no correlation). The event is tagged with the
MISP taxonomies ``tlp:`` (the highest TLP of what it carries, never above the recipient's
ceiling), ``PAP:`` (the most restrictive of its attributes'), ``rsit:`` (the incident's class) and
the ATT&CK galaxy clusters of the incident's techniques (``misp-galaxy:mitre-attack-pattern``).
Each attribute carries our sightings of its value (``our_sightings``: the alerts of the incident
whose evidence holds it and whose own marking the recipient may receive; type 0, source the
CERT). The event's uuid is the same for every recipient (``event_uuid``), so a partner's MISP
updates its copy instead of adding another.

The feed folder's layout is MISP's own: ``manifest.json``, one ``<uuid>.json`` per event and
``hashes.csv``; it works over HTTP or on a USB key between networks that are not linked. What goes
in it is decided by the policy on the folder's terms (``share_tlp_ceiling`` and ``share_pap``);
an incident whose own TLP is above the ceiling is refused as a whole, and one whose TLP is raised
above it after an export is withdrawn from the folder (``withdraw_if_not_shareable``).
Re-exporting an incident updates the same event (same uuid, newer timestamp). ``manifest.json`` and
``hashes.csv`` are rebuilt from the event files after each change, under a lock, and every file
is replaced atomically, so concurrent exports never lose an entry.
"""

from __future__ import annotations

import csv
import dataclasses
import fcntl
import io
import json
import os
import re
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymisp import MISPAttribute, MISPEvent, MISPOrganisation, MISPSighting
from sqlalchemy.orm import Session

from cert.core.config import Settings
from cert.core.errors import N_, Forbidden, InvalidInput
from cert.core.observables import NOT_IDS, check_observable
from cert.core.tlp import TLP, highest, may_leave
from cert.incidents.cases import add_timeline
from cert.sharing.our_sightings import Seen, Sightings, our_sightings
from cert.sharing.policy import Shared, SharedItem, share_case, terms_of
from cert.sharing.target import Publication, SharingTarget, targets
from cert.storage import audit
from cert.storage.models import Case

ATTRIBUTE_TYPES: dict[str, tuple[str, str]] = {
    "ip": ("ip-src", "Network activity"),
    "domain": ("domain", "Network activity"),
    "url": ("url", "Network activity"),
    "user-agent": ("user-agent", "Network activity"),
    "email": ("email-src", "Payload delivery"),
    "md5": ("md5", "Payload delivery"),
    "sha1": ("sha1", "Payload delivery"),
    "sha256": ("sha256", "Payload delivery"),
}
THREAT_LEVEL = {"critical": 1, "high": 1, "medium": 2, "low": 3, "informational": 4}
DISTRIBUTION = {TLP.CLEAR: 3, TLP.GREEN: 1, TLP.AMBER: 0, TLP.AMBER_STRICT: 0}
#: the MISP galaxy of ATT&CK techniques; a cluster tag is ``misp-galaxy:mitre-attack-pattern="<value>"``
ATTACK_GALAXY = "misp-galaxy:mitre-attack-pattern"
#: MISP's sighting type "seen" (1 is a false positive, 2 an expiration)
SIGHTING_SEEN = "0"
DESCRIPTION_COMMENT = "Incident description"
_UUID_NAME = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.json")
_TECHNIQUE = re.compile(r"T\d{4}(\.\d{3})?")


@dataclass(frozen=True)
class ExportResult:
    event_uuid: str
    path: Path
    exported: int
    withheld: int
    updated: bool


def _utc(moment: datetime) -> datetime:
    """A database time as an aware UTC datetime (the embedded database gives them back naive)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def neutral_info(case: Case, settings: Settings) -> str:
    """The community feed's title for an incident whose title may not leave: the CERT, the incident
    number and the RSIT class, nothing taken from the data (no ministry either: the folder goes to
    a community)."""
    klass = f" ({case.rsit_class})" if case.rsit_class else ""
    return f"{settings.org_name} — incident #{case.id}{klass}"


def event_uuid(case: Case, settings: Settings) -> str:
    """The incident's MISP event uuid, the same in the feed folder and in every partner's feed: the
    one it was first exported with, else a UUIDv5 of the CERT's organisation uuid and the incident
    number."""
    return case.misp_uuid or str(uuid.uuid5(uuid.UUID(settings.org_uuid), f"vigie-incident:{case.id}"))


def attack_tags(techniques: Sequence[str]) -> list[str]:
    """The ATT&CK galaxy cluster tags of technique ids (``T1110``, ``T1059.001``). Vigie holds no
    ATT&CK names, so a cluster is named by its technique id alone."""
    out: list[str] = []
    for raw in techniques:
        technique = str(raw).strip().upper()
        tag = f'{ATTACK_GALAXY}="{technique}"'
        if _TECHNIQUE.fullmatch(technique) and tag not in out:
            out.append(tag)
    return out


def _organisation(settings: Settings) -> MISPOrganisation:
    org = MISPOrganisation()
    org.name = settings.org_name
    org.uuid = settings.org_uuid
    return org


def _sightings(attr: MISPAttribute, seen: Sequence[Seen], settings: Settings) -> None:
    """Our sightings of the attribute's value: one when an alert was first seen, one more when it
    was last seen later; source and organisation the CERT."""
    for one in seen:
        moments = [one.first_seen] if one.last_seen <= one.first_seen else [one.first_seen, one.last_seen]
        for moment in moments:
            sighting = MISPSighting()
            sighting.from_dict(
                uuid=str(uuid.uuid5(uuid.UUID(attr.uuid), f"alert:{one.alert_id}:{int(moment.timestamp())}")),
                type=SIGHTING_SEEN, source=settings.org_name, date_sighting=str(int(moment.timestamp())),
                Organisation={"name": settings.org_name, "uuid": settings.org_uuid})
            attr.add_sighting(sighting)


def _valid(item: SharedItem) -> bool:
    """Only a valid value of its type becomes an attribute (checked again here: rows stored before
    values were checked carry no mark)."""
    try:
        check_observable(item.type, item.value)
    except InvalidInput:
        return False
    return True


def event_tlp(case: Case, shared: Shared) -> TLP:
    """The highest TLP of what the event carries: its items, the title when it is the real one, the
    description when it leaves (all of them within the recipient's ceiling, by the policy)."""
    labels = [item.tlp for item in shared.items]
    if not shared.title_neutral:
        labels.append(TLP.parse(case.title_tlp or case.tlp))
    if shared.description:
        labels.append(TLP.parse(case.tlp))
    return highest(*labels)


def build_event(case: Case, shared: Shared, settings: Settings, *, timestamp: datetime | None = None,
                sightings: Sightings | None = None) -> MISPEvent:
    """The MISP event of what ``shared`` lets leave of ``case`` (the incident gives only its number,
    dates, severity, status, RSIT class and ATT&CK techniques; its title, description and
    indicators come from ``shared``). ``timestamp``: the event's and its attributes' (now by
    default)."""
    moment = timestamp or datetime.now(UTC)
    marking = event_tlp(case, shared)
    event = MISPEvent()
    event.uuid = event_uuid(case, settings)
    event.info = shared.title
    event.date = _utc(case.created_at).date()
    event.threat_level_id = THREAT_LEVEL.get(case.severity, 2)
    event.analysis = 2 if case.status == "closed" else 1
    event.distribution = DISTRIBUTION.get(marking, 0)
    event.timestamp = moment
    event.publish_timestamp = moment
    event.Orgc = _organisation(settings)
    event.add_tag(marking.machine_tag)
    if shared.items:
        event.add_tag(max((item.pap for item in shared.items), key=lambda p: p.value).label)
    if case.rsit_class and ":" in case.rsit_class:
        klass, kind = case.rsit_class.split(":", 1)
        event.add_tag(f'rsit:{klass}="{kind}"')
    for tag in attack_tags(case.attack or []):
        event.add_tag(tag)
    for item in shared.items:
        mapping = ATTRIBUTE_TYPES.get(item.type)
        if mapping is None or not _valid(item):
            continue
        attr_type, category = mapping
        attr = event.add_attribute(attr_type, item.value, category=category, to_ids=item.type not in NOT_IDS)
        if not isinstance(attr, MISPAttribute):  # a list only when given a list of values
            continue
        attr.uuid = str(uuid.uuid5(uuid.UUID(event.uuid), f"{item.type}:{item.value}"))
        attr.timestamp = moment
        attr.add_tag(item.tlp.machine_tag)
        attr.add_tag(item.pap.label)
        _sightings(attr, (sightings or {}).get((item.type, item.value), ()), settings)
    if shared.description.strip():
        text = event.add_attribute("text", shared.description, category="Other", to_ids=False,
                                   disable_correlation=True, comment=DESCRIPTION_COMMENT)
        if isinstance(text, MISPAttribute):
            text.uuid = str(uuid.uuid5(uuid.UUID(event.uuid), "description"))
            text.timestamp = moment
            text.add_tag(TLP.parse(case.tlp).machine_tag)
    return event


def event_document(event: MISPEvent) -> dict[str, Any]:
    """The event in MISP's feed format (``MISPEvent.to_feed``), with each attribute's sightings
    (which PyMISP's feed output leaves out and MISP reads on import)."""
    document = event.to_feed(with_meta=False)
    seen = {str(a.uuid): [s.to_dict() for s in a.sightings] for a in event.attributes if a.sightings}
    for attr in document["Event"].get("Attribute", []):
        if attr["uuid"] in seen:
            attr["Sighting"] = seen[attr["uuid"]]
    return document


def shared_items(event: MISPEvent) -> list[str]:
    """What an event sends, as ``type:value`` (the audit's record of it)."""
    return [f"{a.type}:{a.value}" for a in event.attributes]


def _atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` at once: a reader sees the old file or the new one, never a part;
    each writer has its own temporary file, so concurrent writers never share one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _event_files(feed_dir: Path) -> list[Path]:
    return sorted(p for p in feed_dir.glob("*.json") if _UUID_NAME.fullmatch(p.name))


@contextmanager
def _feed_lock(feed_dir: Path) -> Iterator[None]:
    """An exclusive lock on the feed directory, across threads and processes (``fcntl.flock``)."""
    with (feed_dir / ".lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def rebuild_metadata(feed_dir: Path) -> int:
    """Write ``manifest.json`` and ``hashes.csv`` from the event files of the feed, as PyMISP's
    ``tools/feed.py`` does: the metadata is derived from what is on disk, so no writer can drop
    another's entry. Runs under the feed lock. Returns the number of events."""
    with _feed_lock(feed_dir):
        manifest: dict[str, Any] = {}
        rows: list[list[str]] = []
        files = _event_files(feed_dir)
        for path in files:
            event = MISPEvent()
            event.load(path.read_text(encoding="utf-8"))
            meta = event.to_feed(with_meta=True)["Event"]
            manifest.update(meta["_manifest"])
            rows.extend([h, str(event.uuid)] for h in meta["_hashes"])
        _atomic_write(feed_dir / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False).encode())
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        _atomic_write(feed_dir / "hashes.csv", out.getvalue().encode())
    return len(files)


def write_feed(event: MISPEvent, feed_dir: Path) -> Path:
    """Write or update one event in a MISP feed directory, then rebuild the feed's metadata."""
    feed_dir.mkdir(parents=True, exist_ok=True)
    event_path = feed_dir / f"{event.uuid}.json"
    _atomic_write(event_path, json.dumps(event_document(event), indent=1, ensure_ascii=False).encode())
    rebuild_metadata(feed_dir)
    return event_path


def folder_shared(case: Case, settings: Settings) -> Shared:
    """What of ``case`` goes to the community feed folder: the policy on the folder's terms
    (``share_tlp_ceiling``, ``share_pap``), the folder's own neutral title when the title stays.
    Forbidden when the incident's own TLP is above the ceiling (or RED): the folder refuses it
    whole."""
    ceiling = settings.share_tlp_ceiling
    case_tlp = TLP.parse(case.tlp)
    if case_tlp is TLP.RED:
        raise Forbidden(N_("The incident is TLP:RED: RED never leaves in an automated share."))
    if not may_leave(case_tlp, ceiling):
        raise Forbidden(N_("The incident is %(tlp)s, above this feed's ceiling %(ceiling)s."),
                        tlp=case_tlp.label, ceiling=ceiling.label)
    shared = share_case(case, terms_of(ceiling.tag_value, settings.share_pap.name))
    return dataclasses.replace(shared, title=neutral_info(case, settings)) if shared.title_neutral else shared


def export_case(s: Session, case: Case, settings: Settings, actor: str, feed_dir: Path | None = None) -> ExportResult:
    """Export a case to the configured MISP feed; record it on the timeline and in the audit."""
    shared = folder_shared(case, settings)
    event = build_event(case, shared, settings, sightings=our_sightings(s, case, shared))
    if not event.attributes:
        raise InvalidInput(N_("The incident has no indicator that may be shared (mark observables as IOC, check their "
                              "TLP and PAP)."))
    withheld = sum(1 for w in shared.withheld if w.type in ATTRIBUTE_TYPES)
    updated = case.misp_uuid is not None
    case.misp_uuid = str(event.uuid)
    path = write_feed(event, feed_dir or settings.feed_dir)
    n = sum(1 for a in event.attributes if a.type != "text")
    add_timeline(
        s, case, actor, "export",
        N_("Updated MISP event %(uuid)s (%(n)s indicator(s), %(withheld)s withheld by TLP)") if updated
        else N_("Exported MISP event %(uuid)s (%(n)s indicator(s), %(withheld)s withheld by TLP)"),
        {"event_uuid": str(event.uuid), "file": path.name, "tlp": case.tlp},
        params={"uuid": str(event.uuid), "n": n, "withheld": withheld},
    )
    audit.record(s, actor, "case.export.misp", "case", case.id, event_uuid=str(event.uuid), indicators=n,
                 items=shared_items(event), title_neutral=shared.title_neutral)
    return ExportResult(str(event.uuid), path, n, withheld, updated)


def withdraw_if_not_shareable(s: Session, case: Case, settings: Settings, actor: str,
                              feed_dir: Path | None = None) -> bool:
    """After a case's TLP changed: when the case was exported and may no longer leave at the
    feed's ceiling, remove its event from the feed (event file, manifest, hashes) and say so on
    the timeline. True when an event was withdrawn. (A MISP instance that already pulled the
    event keeps its copy: a feed cannot recall what was read.)"""
    ceiling = settings.share_tlp_ceiling
    case_tlp = TLP.parse(case.tlp)
    if case.misp_uuid is None or may_leave(case_tlp, ceiling):
        return False
    directory = feed_dir or settings.feed_dir
    path = directory / f"{case.misp_uuid}.json"
    if not path.exists():
        return False
    path.unlink()
    rebuild_metadata(directory)
    add_timeline(
        s, case, actor, "withdrawn",
        N_("MISP event %(uuid)s withdrawn from the feed: the case is now %(tlp)s, above the feed's ceiling "
           "%(ceiling)s."),
        {"event_uuid": case.misp_uuid, "tlp": case_tlp.tag_value, "ceiling": ceiling.tag_value},
        params={"uuid": case.misp_uuid, "tlp": case_tlp.label, "ceiling": ceiling.label},
    )
    audit.record(s, actor, "case.withdraw.misp", "case", case.id, event_uuid=case.misp_uuid, tlp=case_tlp.tag_value)
    return True


@targets.register
class MispFeed(SharingTarget):
    """The MISP feed folder (``feed_dir``), on the terms ``share_tlp_ceiling`` and ``share_pap``."""

    name = "misp-feed"

    def publish(self, s: Session, case: Case, actor: str) -> Publication:
        result = export_case(s, case, self.settings, actor)
        return Publication(self.name, result.event_uuid, result.exported, result.withheld, result.updated)

    def withdraw_if_not_shareable(self, s: Session, case: Case, actor: str) -> bool:
        return withdraw_if_not_shareable(s, case, self.settings, actor)
