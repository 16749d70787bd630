"""Pulling partners' and public MISP feeds over HTTP into the indicator store.

Each feed of ``settings.misp_feeds`` names the feed's base URL (where ``manifest.json`` and the
``<uuid>.json`` event files are), the headers it needs (``token`` is sent as ``Authorization``)
and the TLP of events that carry no TLP tag. A pull asks for ``manifest.json`` with the ETag and
Last-Modified of the previous answer (a 304 means nothing changed), then fetches only the events
whose manifest timestamp is newer than the one already read. Each event is loaded by PyMISP
(``MISPEvent.load``) and read by the MISP reader of the indicator store: attribute types mapped
as for MISP files, every value checked (``check_observable``; private addresses refused), to_ids
and tags kept, the TLP of the attribute's tag, else the event's, else the feed's. An event
left out of the manifest takes its indicators out of the store; attributes removed from an event
are removed with it. The ``Sighting`` lists of attributes (type 0, a sighting; false positives and
expirations are not sightings) go to ``partner_sightings`` (:mod:`cert.sharing.sightings`).

A feed is untrusted: every answer is read with a size cap, a bad event (not JSON, not a MISP
event) is recorded with its uuid as the feed's error and skipped while the rest is stored, and an
unreachable feed is recorded without raising. The manifest's ETag is only kept when every event
was read, so the next pull asks again for the events that failed. The state of each feed (ETag,
Last-Modified, event timestamps, last success and error) is kept in ``DATA_DIR/misp-state.json``,
replaced atomically. Secrets (token, headers) never reach the state file, errors or logs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from pymisp import MISPAttribute, MISPEvent
from pymisp.exceptions import PyMISPError
from sqlalchemy.orm import Session

from cert.core.config import Settings
from cert.core.errors import InvalidInput
from cert.core.observables import check_observable, normalize
from cert.core.tlp import TLP
from cert.detection.indicators.formats import MISP_TYPES, Defaults, read_misp_event
from cert.detection.indicators.store import IndicatorRecord, LoadReport, remove_reference, upsert
from cert.sharing.sightings import SightingRecord, record
from cert.storage.db import Database

log = logging.getLogger(__name__)

STATE_FILE = "misp-state.json"
KNOWN_KEYS = frozenset({"name", "url", "token", "token_env", "headers", "tlp", "poll_minutes", "enabled", "verify",
                        "timeout_seconds", "max_event_mb"})
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,100}")
#: what a feed may do wrong without Vigie failing on the whole pull
NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.TooManyRedirects)
SIGHTING = "0"  # MISP sighting types: 0 sighting, 1 false positive, 2 expiration


class TooLarge(ValueError):
    """An answer longer than the feed's cap."""


def _truthy(text: str, default: bool) -> bool:
    v = text.strip().lower()
    if v in ("true", "yes", "1", "on"):
        return True
    if v in ("false", "no", "0", "off"):
        return False
    return default


def _headers(text: str, where: str) -> dict[str, str]:
    """Extra headers: a JSON object (a TOML inline table) or ``Name: value`` lines."""
    text = text.strip()
    if not text:
        return {}
    try:
        data = json.loads(text) if text.startswith("{") else None
    except ValueError as exc:
        raise InvalidInput(f"{where}: headers are not a table") from exc
    pairs = ([(str(k), str(v)) for k, v in data.items()] if isinstance(data, dict)
             else [tuple(p.strip() for p in line.split(":", 1)) for line in text.splitlines() if line.strip()])
    out: dict[str, str] = {}
    for pair in pairs:
        if len(pair) != 2 or not _HEADER_NAME.fullmatch(pair[0]) or any(c in pair[1] for c in "\r\n"):
            raise InvalidInput(f"{where}: headers must be name: value pairs")
        out[pair[0]] = pair[1]
    return out


@dataclass(frozen=True)
class MispFeedSource:
    """One MISP feed, from a table of ``misp_feeds``."""

    name: str
    url: str  # the feed's base, ending with /
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # token included, as Authorization
    tlp: TLP = TLP.AMBER  # for events and attributes without a TLP tag
    poll_minutes: int = 60
    enabled: bool = True
    verify: bool | str = True  # TLS: check the certificate (a CA bundle path, or false)
    timeout_seconds: float = 30.0
    max_bytes: int = 20 * 1024 * 1024  # the largest answer read (manifest or event)

    @property
    def manifest_url(self) -> str:
        return f"{self.url}manifest.json"

    def event_url(self, uuid: str) -> str:
        return f"{self.url}{uuid}.json"

    @classmethod
    def from_table(cls, table: dict[str, str], env: dict[str, str] | None = None) -> MispFeedSource:
        name = table.get("name", "").strip()
        where = f"misp_feeds {name or '(no name)'}"
        unknown = sorted(set(table) - KNOWN_KEYS)
        if unknown:
            raise InvalidInput(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(KNOWN_KEYS))})")
        missing = [k for k in ("name", "url") if not table.get(k, "").strip()]
        if missing:
            raise InvalidInput(f"{where}: {', '.join(missing)} required")
        url = table["url"].strip()
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"{where}: url must be an http:// or https:// feed address")
        headers = _headers(table.get("headers", ""), where)
        token = table.get("token", "")
        if table.get("token_env"):
            token = (os.environ if env is None else env).get(table["token_env"], "")
            if not token:
                raise InvalidInput(f"{where}: the environment variable {table['token_env']} is empty")
        if token:
            if any(c in token for c in "\r\n"):
                raise InvalidInput(f"{where}: the token holds a line break")
            headers["Authorization"] = token.strip()
        verify_text = table.get("verify", "true").strip()
        verify: bool | str = verify_text
        if verify_text.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            verify = _truthy(verify_text, True)
        try:
            return cls(name=name, url=url if url.endswith("/") else f"{url}/", headers=headers,
                       tlp=TLP.parse(table.get("tlp", "amber")),
                       poll_minutes=max(1, int(table.get("poll_minutes", "60"))),
                       enabled=_truthy(table.get("enabled", "true"), True), verify=verify,
                       timeout_seconds=float(table.get("timeout_seconds", "30")),
                       max_bytes=max(1, int(float(table.get("max_event_mb", "20")) * 1024 * 1024)))
        except ValueError as exc:
            raise InvalidInput(f"{where}: {exc}") from exc


def sources(settings: Settings, env: dict[str, str] | None = None) -> list[MispFeedSource]:
    """The configured feeds; a wrong table stops here, with its name and the reason."""
    out = [MispFeedSource.from_table(t, env) for t in settings.misp_feeds]
    names = [s.name for s in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"misp_feeds: the name(s) {', '.join(dupes)} appear more than once")
    return out


# ---------------------------------------------------------------- state

@dataclass
class FeedState:
    """Where the pulls of one feed stand, as saved in the state file."""

    url: str = ""
    etag: str = ""
    last_modified: str = ""
    events: dict[str, int] = field(default_factory=dict)  # event uuid: the manifest timestamp read
    last_attempt: str | None = None
    last_success: str | None = None
    last_error: str = ""
    events_total: int = 0  # event files fetched
    indicators_total: int = 0
    sightings_total: int = 0


class StateFile:
    """``DATA_DIR/misp-state.json``: one entry per feed name, each write atomic (rename)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / STATE_FILE

    def load(self) -> dict[str, FeedState]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("MISP feed state %s unreadable (%s): every feed is read again", self.path, exc)
            return {}
        fields = set(FeedState.__dataclass_fields__)
        return {str(k): FeedState(**{f: v for f, v in v.items() if f in fields})
                for k, v in (raw.get("feeds") or {}).items() if isinstance(v, dict)}

    def get(self, source: MispFeedSource) -> FeedState:
        st = self.load().get(source.name)
        if st is None or st.url != source.url:
            return FeedState(url=source.url)  # another feed under this name: read from the start
        return st

    def put(self, name: str, state: FeedState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            states = self.load()
            states[name] = state
            data = {"feeds": {k: vars(v) for k, v in sorted(states.items())}}
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".misp-state.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(data, fh, indent=1)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.path.parent / ".misp-state.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


# ---------------------------------------------------------------- reading a feed

@dataclass
class PullResult:
    source: str
    ok: bool = False
    not_modified: bool = False  # the manifest answered 304
    listed: int = 0  # events in the manifest
    fetched: int = 0  # event files fetched
    removed: int = 0  # events gone from the manifest
    indicators: int = 0  # indicators stored: new, updated or unchanged
    sightings: int = 0
    report: LoadReport | None = None
    errors: list[str] = field(default_factory=list)  # per event: "event <uuid>: reason"
    error: str = ""  # the pull stopped: network, HTTP or manifest error


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _get(session: requests.Session, source: MispFeedSource, url: str,
         headers: dict[str, str] | None = None) -> tuple[requests.Response, bytes]:
    """GET ``url`` and read its body, at most ``source.max_bytes`` (TooLarge beyond)."""
    with session.get(url, headers=headers or {}, stream=True, timeout=source.timeout_seconds,
                     verify=source.verify, allow_redirects=False) as resp:
        if resp.status_code == 304:
            return resp, b""
        resp.raise_for_status()
        if resp.status_code != 200:
            raise requests.HTTPError(f"{resp.status_code} answer for {url} (redirects are not followed)",
                                     response=resp)
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > source.max_bytes:
            raise TooLarge(f"answer of {int(declared)} bytes, above the cap of {source.max_bytes}")
        body = bytearray()
        for chunk in resp.iter_content(65536):
            body += chunk
            if len(body) > source.max_bytes:
                raise TooLarge(f"answer longer than the cap of {source.max_bytes} bytes")
        return resp, bytes(body)


def read_manifest(body: bytes) -> dict[str, int]:
    """Event uuid: timestamp, from ``manifest.json``; InvalidInput when it is not a manifest."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"manifest.json is not JSON: {str(exc)[:200]}") from exc
    if not isinstance(data, dict):
        raise InvalidInput("manifest.json is not an object of events")
    out: dict[str, int] = {}
    for uuid, meta in data.items():
        if not isinstance(uuid, str) or not _UUID.fullmatch(uuid.lower()) or not isinstance(meta, dict):
            raise InvalidInput(f"manifest.json: {str(uuid)[:80]!r} is not an event uuid with its metadata")
        try:
            out[uuid.lower()] = int(meta.get("timestamp", 0))
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"manifest.json: event {uuid}: timestamp is not a number") from exc
    return out


def load_event(body: bytes, uuid: str) -> MISPEvent:
    """The event file, loaded by PyMISP; InvalidInput with the reason when it is not this event."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"not JSON: {str(exc)[:200]}") from exc
    event = MISPEvent()
    try:
        event.load(data)
    except (PyMISPError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidInput(f"not a MISP event: {str(exc)[:200]}") from exc
    if str(getattr(event, "uuid", "")).lower() != uuid:
        raise InvalidInput(f"the file holds event {str(getattr(event, 'uuid', ''))[:40]!r}, not {uuid}")
    return event


def _event_tlp(event: MISPEvent) -> TLP | None:
    for tag in event.tags:
        name = str(getattr(tag, "name", ""))
        if name.lower().startswith("tlp:"):
            with contextlib.suppress(InvalidInput):
                return TLP.parse(name)
    return None


def event_records(source: MispFeedSource, event: MISPEvent, report: LoadReport) -> list[IndicatorRecord]:
    """The indicators of an event, by the indicator store's MISP reader; each value checked."""
    if _event_tlp(event) is None:
        event.add_tag(source.tlp.machine_tag)  # attributes without a TLP tag get the feed's
    data = json.loads(event.to_json())
    out: list[IndicatorRecord] = []
    for pos, item in read_misp_event(Path(f"misp {source.name}"), data, Defaults()):
        report.read += 1
        if item is None:
            report.skipped += 1
            continue
        if isinstance(item, IndicatorRecord):
            try:
                check_observable(item.type, item.value)
            except InvalidInput as exc:
                item = str(exc)
        if isinstance(item, str):
            report.errors.append(f"{pos}: {item}"[:500])
        else:
            out.append(item)
    return out


def _when(value: Any) -> datetime | None:
    text = str(value or "").strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _sighted(attr: MISPAttribute) -> list[tuple[str, str]]:
    """The (type, normalised value) pairs of an attribute, as the indicator reader maps them."""
    kinds = MISP_TYPES.get(str(getattr(attr, "type", "")))
    if kinds is None:
        return []
    value = str(getattr(attr, "value", ""))
    parts = value.split("|") if len(kinds) > 1 else [value]
    out = []
    for kind, part in zip(kinds, parts, strict=False):
        if kind is None:
            continue
        try:
            check_observable(kind, part)
            out.append(normalize(kind, part))
        except InvalidInput:
            continue
    return out


def event_sightings(event: MISPEvent) -> list[SightingRecord]:
    """The sightings (type 0) on the event's attributes, one record per sighted value."""
    attributes = list(event.attributes) + [a for obj in event.objects for a in obj.attributes]
    out: list[SightingRecord] = []
    for attr in attributes:
        for sighting in getattr(attr, "sightings", []) or []:
            if str(getattr(sighting, "type", SIGHTING)) != SIGHTING:
                continue
            uuid = str(getattr(sighting, "uuid", "")).lower()
            when = _when(getattr(sighting, "date_sighting", None))
            if not _UUID.fullmatch(uuid) or when is None:
                continue
            org = getattr(sighting, "Organisation", None)
            org_name = org.get("name") if isinstance(org, dict) else getattr(org, "name", None)
            who = str(org_name or getattr(sighting, "source", "") or "")[:200]
            try:
                count = max(1, int(getattr(sighting, "count", 1) or 1))
            except (TypeError, ValueError):
                count = 1
            pairs = _sighted(attr)
            for type_, value in pairs:
                ref = uuid if len(pairs) == 1 else f"{uuid}/{type_}"
                out.append(SightingRecord(ref, type_, value, when, when, count, who))
    return out


def store_event(s: Session, source: MispFeedSource, uuid: str, event: MISPEvent) -> tuple[LoadReport, int]:
    """Store an event's indicators under the feed's name (reference: the event uuid), drop those
    the event no longer holds, and store its sightings. Returns (report, sightings)."""
    report = LoadReport(source.name)
    records = event_records(source, event, report)
    for rec in records:
        rec.reference = uuid
    upsert(s, source.name, records, report)
    remove_reference(s, source.name, uuid, keep=frozenset((r.type, r.value) for r in records))
    return report, record(s, source.name, event_sightings(event))


def _safe(message: str, source: MispFeedSource) -> str:
    for secret in source.headers.values():
        if secret:
            message = message.replace(secret, "***")
    return message[:500]


def pull(db: Database, state_file: StateFile, source: MispFeedSource) -> PullResult:
    """One pull of ``source``: the manifest if it changed, then the events that changed."""
    state = state_file.get(source)
    result = PullResult(source.name)
    state.last_attempt = _now()
    session = requests.Session()
    session.headers.update(source.headers)
    try:
        conditional = {}
        if state.etag:
            conditional["If-None-Match"] = state.etag
        if state.last_modified:
            conditional["If-Modified-Since"] = state.last_modified
        resp, body = _get(session, source, source.manifest_url, conditional)
        if resp.status_code == 304:
            result.not_modified = True
        else:
            _read_events(db, state_file, source, state, session, read_manifest(body), result)
            if not result.errors:
                state.etag = resp.headers.get("ETag", "")[:200]
                state.last_modified = resp.headers.get("Last-Modified", "")[:100]
        result.ok = not result.errors
    except (requests.RequestException, InvalidInput, ValueError) as exc:
        result.error = _safe(f"{type(exc).__name__}: {exc}", source)
        log.warning("MISP feed %s: %s", source.name, result.error)
    finally:
        session.close()
    if result.ok:
        state.last_success, state.last_error = _now(), ""
    else:
        state.last_error = result.error or "; ".join(result.errors)[:2000]
    state_file.put(source.name, state)
    return result


def _read_events(db: Database, state_file: StateFile, source: MispFeedSource, state: FeedState,
                 session: requests.Session, manifest: dict[str, int], result: PullResult) -> None:
    result.listed = len(manifest)
    gone = [u for u in state.events if u not in manifest]
    if gone:
        with db.session() as s:
            for uuid in gone:
                remove_reference(s, source.name, uuid)
        for uuid in gone:
            del state.events[uuid]
        result.removed = len(gone)
        state_file.put(source.name, state)
    changed = sorted((ts, u) for u, ts in manifest.items() if u not in state.events or ts > state.events[u])
    for timestamp, uuid in changed:
        try:
            _, body = _get(session, source, source.event_url(uuid))
            event = load_event(body, uuid)
        except NETWORK_ERRORS:
            raise  # the feed went away: the pull stops, the events read so far stay read
        except (requests.RequestException, InvalidInput, ValueError) as exc:
            result.errors.append(_safe(f"event {uuid}: {type(exc).__name__}: {exc}", source))
            log.warning("MISP feed %s: %s", source.name, result.errors[-1])
            continue
        with db.session() as s:
            report, sightings = store_event(s, source, uuid, event)
        result.fetched += 1
        result.indicators += report.stored
        result.sightings += sightings
        result.report = _merge(result.report, report)
        state.events[uuid] = timestamp
        state.events_total += 1
        state.indicators_total += report.stored
        state.sightings_total += sightings
        state_file.put(source.name, state)


def _merge(total: LoadReport | None, part: LoadReport) -> LoadReport:
    if total is None:
        return part
    total.read += part.read
    total.inserted += part.inserted
    total.updated += part.updated
    total.unchanged += part.unchanged
    total.skipped += part.skipped
    total.errors += part.errors
    return total


def pull_all(db: Database, settings: Settings, name: str | None = None) -> list[PullResult]:
    """Pull every enabled feed (or the one named, enabled or not); each feed's failure stays its own."""
    chosen = [s for s in sources(settings) if (s.enabled if name is None else s.name == name)]
    if name is not None and not chosen:
        raise InvalidInput(f"no MISP feed named {name!r} in misp_feeds")
    state_file = StateFile(settings.data_dir)
    return [pull(db, state_file, src) for src in chosen]


def due(settings: Settings, now: datetime | None = None) -> list[MispFeedSource]:
    """The enabled feeds whose poll interval has passed since their last attempt."""
    now = now or datetime.now(UTC)
    states = StateFile(settings.data_dir).load()
    out = []
    for src in sources(settings):
        st = states.get(src.name)
        last = datetime.fromisoformat(st.last_attempt) if st and st.last_attempt else None
        if src.enabled and (last is None or now - last >= timedelta(minutes=src.poll_minutes)):
            out.append(src)
    return out
