"""Export a case's indicators as a MISP event, written to a MISP feed directory.

The feed layout is MISP's own: ``manifest.json``, one ``<uuid>.json`` per event and
``hashes.csv``; it works over HTTP or on a USB key between networks that are not linked.
Only valid values of their type become attributes, and a user agent, a user or a host name is
never an IDS indicator (``to_ids`` false). TLP is enforced (``cert.tlp.may_leave``): TLP:RED never leaves, nothing above
the feed's ceiling is exported, a case title above it is replaced by a neutral one, and the
event carries its TLP tag (and each attribute its own). A case whose TLP is raised above the
ceiling after an export is withdrawn from the feed (``withdraw_if_not_shareable``).
Re-exporting a case updates the same event (same uuid, newer timestamp) instead of creating
another. ``manifest.json`` and ``hashes.csv`` are rebuilt from the event files after each
change, under a lock, and every file is replaced atomically, so concurrent exports never lose
an entry.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymisp import MISPAttribute, MISPEvent, MISPOrganisation
from sqlalchemy.orm import Session

from cert.core.config import Settings
from cert.core.errors import N_, Forbidden, InvalidInput
from cert.core.observables import NOT_IDS, check_observable
from cert.core.tlp import PAP, TLP, may_leave, shareable_text
from cert.incidents.cases import add_timeline
from cert.sharing.target import Publication, SharingTarget, targets
from cert.storage import audit
from cert.storage.models import Case, Observable

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
_UUID_NAME = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.json")


@dataclass(frozen=True)
class ExportResult:
    event_uuid: str
    path: Path
    exported: int
    withheld: int
    updated: bool


def _valid(obs: Observable) -> bool:
    """Only a valid value of its type becomes an attribute (checked again here: rows stored
    before values were checked carry no mark)."""
    if not obs.valid:
        return False
    try:
        check_observable(obs.type, obs.value)
    except InvalidInput:
        return False
    return True


def neutral_info(case: Case, settings: Settings) -> str:
    """The event title used when the case title may not leave: the CERT, the case number and the
    RSIT class, nothing taken from the data (no ministry either: a feed goes to a community)."""
    klass = f" ({case.rsit_class})" if case.rsit_class else ""
    return f"{settings.org_name} — incident #{case.id}{klass}"


def build_event(case: Case, settings: Settings, ceiling: TLP) -> tuple[MISPEvent, int]:
    """The MISP event for a case, holding only what the ceiling allows. Returns (event, withheld)."""
    case_tlp = TLP.parse(case.tlp)
    if case_tlp is TLP.RED:
        raise Forbidden("case is TLP:RED: RED never leaves in an automated share")
    if not may_leave(case_tlp, ceiling):
        raise Forbidden(f"case is {case_tlp.label}, above this feed's ceiling {ceiling.label}")
    event = MISPEvent()
    event.uuid = case.misp_uuid or str(uuid.uuid4())
    event.info = shareable_text(case.title, TLP.parse(case.title_tlp), ceiling, neutral_info(case, settings))
    event.date = case.created_at.date()
    event.threat_level_id = THREAT_LEVEL.get(case.severity, 2)
    event.analysis = 2 if case.status == "closed" else 1
    event.distribution = DISTRIBUTION[case_tlp]
    event.timestamp = datetime.now(UTC)
    org = MISPOrganisation()
    org.name = settings.org_name
    org.uuid = settings.org_uuid
    event.Orgc = org
    event.add_tag(case_tlp.machine_tag)
    event.add_tag(f"PAP:{PAP.parse(case.pap).name}")
    if case.rsit_class and ":" in case.rsit_class:
        klass, kind = case.rsit_class.split(":", 1)
        event.add_tag(f'rsit:{klass}="{kind}"')
    withheld = 0
    for obs in case.observables:
        mapping = ATTRIBUTE_TYPES.get(obs.type)
        obs_tlp = TLP.parse(obs.tlp)
        if mapping is None or not obs.ioc or not _valid(obs):
            continue
        if not may_leave(obs_tlp, ceiling):
            withheld += 1
            continue
        attr_type, category = mapping
        attr = event.add_attribute(attr_type, obs.value, category=category, to_ids=obs.type not in NOT_IDS,
                                   comment=obs.comment)
        if not isinstance(attr, MISPAttribute):  # a list only when given a list of values
            continue
        attr.uuid = str(uuid.uuid5(uuid.UUID(event.uuid), f"{obs.type}:{obs.value}"))
        attr.add_tag(obs_tlp.machine_tag)
    return event, withheld


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
    feed = event.to_feed(with_meta=False)
    event_path = feed_dir / f"{event.uuid}.json"
    _atomic_write(event_path, json.dumps(feed, indent=1, ensure_ascii=False).encode())
    rebuild_metadata(feed_dir)
    return event_path


def export_case(s: Session, case: Case, settings: Settings, actor: str, feed_dir: Path | None = None) -> ExportResult:
    """Export a case to the configured MISP feed; record it on the timeline and in the audit."""
    ceiling = settings.share_tlp_ceiling
    event, withheld = build_event(case, settings, ceiling)
    if not event.attributes:
        raise InvalidInput("the case has no indicator that may be shared (mark observables as IOC, check their TLP)")
    updated = case.misp_uuid is not None
    case.misp_uuid = str(event.uuid)
    path = write_feed(event, feed_dir or settings.feed_dir)
    n = len(event.attributes)
    add_timeline(
        s, case, actor, "export",
        N_("Updated MISP event %(uuid)s (%(n)s indicator(s), %(withheld)s withheld by TLP)") if updated
        else N_("Exported MISP event %(uuid)s (%(n)s indicator(s), %(withheld)s withheld by TLP)"),
        {"event_uuid": str(event.uuid), "file": path.name, "tlp": case.tlp},
        params={"uuid": str(event.uuid), "n": n, "withheld": withheld},
    )
    audit.record(s, actor, "case.export.misp", "case", case.id, event_uuid=str(event.uuid), indicators=n)
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
    """The MISP feed folder (``feed_dir``), up to the ceiling ``share_tlp_ceiling``."""

    name = "misp-feed"

    def publish(self, s: Session, case: Case, actor: str) -> Publication:
        result = export_case(s, case, self.settings, actor)
        return Publication(self.name, result.event_uuid, result.exported, result.withheld, result.updated)

    def withdraw_if_not_shareable(self, s: Session, case: Case, actor: str) -> bool:
        return withdraw_if_not_shareable(s, case, self.settings, actor)
