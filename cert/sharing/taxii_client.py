"""Polling partners' TAXII 2.1 collections into the indicator store.

Each source of ``settings.taxii_sources`` names an API root, a collection and its credentials. A
pull asks for the objects added after the position saved by the previous pull, page by page
(``limit`` and ``next``), reads the indicators of each page with the STIX reader of the indicator
store and stores them under the source's name, with the TLP of their markings (the source's
``tlp`` when an indicator has none). A STIX ``sighting`` of an indicator the source published is
stored as a partner's sighting (:mod:`cert.sharing.sightings`).

The position and the outcome of every pull (last success, last error) are kept per source in
``DATA_DIR/taxii-state.json``, replaced atomically. A partner that cannot be reached, refuses the
credentials or answers nonsense is recorded as that source's last error and the position stays
where it was: the next pull asks again from there. Nothing here raises for a partner's failure.

``added_after`` is strict and several objects may share one ``date_added``: while more pages
follow, the saved position is just before the first object of the page stored last (that page
is asked for again if the pull stops there; storing is idempotent), and after the last page it is
that page's ``X-TAXII-Date-Added-Last``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session
from taxii2client.common import _HTTPConnection
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import Collection, as_pages

from cert.core.config import Settings
from cert.core.errors import InvalidInput
from cert.core.tlp import TLP
from cert.detection.indicators.formats import Defaults, read_stix
from cert.detection.indicators.store import IndicatorRecord, LoadReport, upsert
from cert.sharing.sightings import SightingRecord, record
from cert.storage.db import Database
from cert.storage.models import Indicator

log = logging.getLogger(__name__)

STATE_FILE = "taxii-state.json"

#: TLP 2.0 marking definitions (fixed ids published by FIRST and OASIS), given to indicators
#: that carry no TLP marking of their own
TLP_MARKINGS = {
    TLP.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    TLP.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    TLP.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    TLP.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    TLP.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
#: TLP 1.0 marking definitions of the STIX 2.1 specification
TLP1_MARKINGS = frozenset({
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
})
#: what a partner may do wrong without Vigie failing: network, HTTP, TAXII and content errors
PARTNER_ERRORS = (requests.RequestException, TAXIIServiceException, InvalidInput, ValueError, KeyError, TypeError)
KNOWN_KEYS = frozenset({"name", "url", "collection", "username", "password", "password_env", "tlp", "poll_minutes",
                        "page_size", "timeout_seconds", "verify"})


@dataclass(frozen=True)
class TaxiiSource:
    """One partner collection, from a table of ``taxii_sources``."""

    name: str
    url: str  # the API root, e.g. https://taxii.partner.example/api1/
    collection: str
    username: str = ""
    password: str = field(default="", repr=False)
    tlp: TLP = TLP.AMBER  # for indicators without a TLP marking
    poll_minutes: int = 60
    page_size: int = 100
    timeout_seconds: float = 30.0
    verify: bool | str = True  # TLS: check the certificate (a CA bundle path, or false)

    @property
    def collection_url(self) -> str:
        return f"{self.url.rstrip('/')}/collections/{self.collection}/"

    @classmethod
    def from_table(cls, table: dict[str, str], env: dict[str, str] | None = None) -> TaxiiSource:
        name = table.get("name", "").strip()
        where = f"taxii_sources {name or '(no name)'}"
        unknown = sorted(set(table) - KNOWN_KEYS)
        if unknown:
            raise InvalidInput(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(KNOWN_KEYS))})")
        missing = [k for k in ("name", "url", "collection") if not table.get(k, "").strip()]
        if missing:
            raise InvalidInput(f"{where}: {', '.join(missing)} required")
        if not table["url"].startswith(("http://", "https://")):
            raise InvalidInput(f"{where}: url must be an http:// or https:// API root")
        password = table.get("password", "")
        if table.get("password_env"):
            password = (os.environ if env is None else env).get(table["password_env"], "")
            if not password:
                raise InvalidInput(f"{where}: the environment variable {table['password_env']} is empty")
        verify_text = table.get("verify", "true").strip()
        verify: bool | str = verify_text
        if verify_text.lower() in ("true", "yes", "1", "on"):
            verify = True
        elif verify_text.lower() in ("false", "no", "0", "off"):
            verify = False
        try:
            return cls(name=name, url=table["url"].strip(), collection=table["collection"].strip(),
                       username=table.get("username", ""), password=password,
                       tlp=TLP.parse(table.get("tlp", "amber")),
                       poll_minutes=max(1, int(table.get("poll_minutes", "60"))),
                       page_size=max(1, int(table.get("page_size", "100"))),
                       timeout_seconds=float(table.get("timeout_seconds", "30")), verify=verify)
        except ValueError as exc:
            raise InvalidInput(f"{where}: {exc}") from exc


def sources(settings: Settings, env: dict[str, str] | None = None) -> list[TaxiiSource]:
    """The configured sources; a wrong table stops here, with its name and the reason."""
    out = [TaxiiSource.from_table(t, env) for t in settings.taxii_sources]
    names = [s.name for s in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"taxii_sources: the name(s) {', '.join(dupes)} appear more than once")
    return out


# ---------------------------------------------------------------- state

@dataclass
class SourceState:
    """Where the pulls of one source stand, as saved in the state file."""

    url: str = ""
    collection: str = ""
    added_after: str | None = None  # the position: the next pull asks for objects added after it
    last_attempt: str | None = None
    last_success: str | None = None
    last_error: str = ""
    objects_total: int = 0
    indicators_total: int = 0


class StateFile:
    """``DATA_DIR/taxii-state.json``: one entry per source name, each write atomic (rename)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / STATE_FILE

    def load(self) -> dict[str, SourceState]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("TAXII state %s unreadable (%s): every source starts from the beginning", self.path, exc)
            return {}
        fields = set(SourceState.__dataclass_fields__)
        return {str(k): SourceState(**{f: v for f, v in v.items() if f in fields})
                for k, v in (raw.get("sources") or {}).items() if isinstance(v, dict)}

    def get(self, source: TaxiiSource) -> SourceState:
        st = self.load().get(source.name)
        if st is None or (st.url, st.collection) != (source.url, source.collection):
            return SourceState(url=source.url, collection=source.collection)  # another collection: from the start
        return st

    def put(self, name: str, state: SourceState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            states = self.load()
            states[name] = state
            data = {"sources": {k: vars(v) for k, v in sorted(states.items())}}
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".taxii-state.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(data, fh, indent=2)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.path.parent / ".taxii-state.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


# ---------------------------------------------------------------- pull

@dataclass
class PullResult:
    source: str
    ok: bool = False
    requested_after: str | None = None  # the added_after of the first request (None: everything)
    pages: int = 0
    objects: int = 0
    indicators: int = 0  # indicators stored: new, updated or unchanged
    report: LoadReport | None = None
    error: str = ""


class _TimeoutAdapter(HTTPAdapter):
    """Every request of the session gives up after ``timeout`` seconds."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: float | tuple[float | None, float | None] | None = None,
             verify: bool | str = True, cert: str | tuple[str, str] | None = None,
             proxies: Any = None) -> requests.Response:
        return super().send(request, stream=stream, timeout=timeout or self.timeout, verify=verify, cert=cert,
                            proxies=proxies)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _before(stamp: str) -> str:
    """The TAXII timestamp one microsecond before ``stamp``."""
    dt = datetime.fromisoformat(stamp.replace("Z", "+00:00")) - timedelta(microseconds=1)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _with_default_marking(objects: list[Any], source: TaxiiSource, known: dict[str, str]) -> list[Any]:
    """The page's objects, each indicator without a TLP marking given the source's TLP."""
    tlp_ids = set(TLP_MARKINGS.values()) | TLP1_MARKINGS | set(known)
    out: list[Any] = []
    for obj in objects:
        if isinstance(obj, dict) and obj.get("type") == "indicator":
            refs = [r for r in obj.get("object_marking_refs") or [] if isinstance(r, str)]
            if not any(r in tlp_ids for r in refs):
                obj = {**obj, "object_marking_refs": [*refs, TLP_MARKINGS[source.tlp]]}
        out.append(obj)
    return out


def _tlp_definitions(objects: list[Any]) -> dict[str, str]:
    """TLP marking definitions published by the partner (id: label), kept for later pages."""
    out: dict[str, str] = {}
    for obj in objects:
        if isinstance(obj, dict) and obj.get("type") == "marking-definition":
            label = (obj.get("definition") or {}).get("tlp") if isinstance(obj.get("definition"), dict) else None
            if label and obj.get("id"):
                out[str(obj["id"])] = str(label)
    return out


def store_page(s: Session, source: TaxiiSource, objects: list[Any], known: dict[str, str]) -> LoadReport:
    """Read the indicators of one page as a STIX bundle and store them under the source's name."""
    known.update(_tlp_definitions(objects))
    definitions = [{"type": "marking-definition", "id": k, "definition_type": "tlp", "definition": {"tlp": v},
                    "name": f"TLP:{v.upper()}"} for k, v in known.items()]
    bundle = {"type": "bundle", "objects": definitions + _with_default_marking(objects, source, known)}
    report = LoadReport(source.name)

    def good() -> Iterator[IndicatorRecord]:
        for pos, item in read_stix(Path(f"taxii {source.name}"), bundle, Defaults()):
            report.read += 1
            if item is None:
                report.skipped += 1
            elif isinstance(item, str):
                report.errors.append(f"{pos}: {item}")
            else:
                yield item

    report = upsert(s, source.name, good(), report)
    record(s, source.name, _sightings(s, source, objects))
    return report


def _stamp(value: Any) -> datetime | None:
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _sightings(s: Session, source: TaxiiSource, objects: list[Any]) -> list[SightingRecord]:
    """The page's STIX ``sighting`` objects of indicators this source stored, one record per value
    of the indicator; sightings of anything else are left out."""
    out: list[SightingRecord] = []
    for obj in objects:
        if not isinstance(obj, dict) or obj.get("type") != "sighting":
            continue
        ref, ident = str(obj.get("sighting_of_ref", "")), str(obj.get("id", ""))
        first = _stamp(obj.get("first_seen")) or _stamp(obj.get("created"))
        last = _stamp(obj.get("last_seen")) or first
        if not ref.startswith("indicator--") or not ident.startswith("sighting--") or first is None or last is None:
            continue
        try:
            count = max(1, int(obj.get("count", 1)))
        except (TypeError, ValueError):
            count = 1
        rows = s.execute(select(Indicator.type, Indicator.value).where(
            Indicator.source == source.name, Indicator.reference == ref[:200])).all()
        for type_, value in rows:
            reference = ident if len(rows) == 1 else f"{ident}/{type_}:{value}"[:200]
            out.append(SightingRecord(reference, type_, value, min(first, last), max(first, last), count,
                                      str(obj.get("created_by_ref", ""))[:200]))
    return out


def _safe(message: str, source: TaxiiSource) -> str:
    text = message.replace(source.password, "***") if source.password else message
    return text[:500]


def pull(db: Database, state_file: StateFile, source: TaxiiSource) -> PullResult:
    """One pull of ``source``: every object added since the saved position, stored page by page."""
    state = state_file.get(source)
    result = PullResult(source.name, requested_after=state.added_after)
    state.last_attempt = _now()
    conn = _HTTPConnection(source.username or None, source.password or None, verify=source.verify, version="2.1")
    adapter = _TimeoutAdapter(source.timeout_seconds)
    conn.session.mount("http://", adapter)
    conn.session.mount("https://", adapter)
    headers: list[requests.structures.CaseInsensitiveDict[str]] = []
    conn.session.hooks["response"].append(lambda r, *_a, **_k: headers.append(r.headers))
    known: dict[str, str] = {}
    try:
        collection = Collection(source.collection_url, conn=conn)
        filters: dict[str, Any] = {"added_after": state.added_after} if state.added_after else {}
        for envelope in as_pages(collection.get_objects, per_request=source.page_size, **filters):
            objects = envelope.get("objects") or []
            if not isinstance(objects, list):
                raise ValueError("the envelope's objects are not a list")
            with db.session() as s:
                report = store_page(s, source, objects, known)
            result.pages += 1
            result.objects += len(objects)
            result.indicators += report.stored
            result.report = _merge(result.report, report)
            first = headers[-1].get("X-TAXII-Date-Added-First") if headers else None
            last = headers[-1].get("X-TAXII-Date-Added-Last") if headers else None
            if envelope.get("more"):
                if first:
                    state.added_after = _before(first)
            elif last:
                state.added_after = last
            state.objects_total += len(objects)
            state.indicators_total += report.stored
            state_file.put(source.name, state)
        result.ok = True
        state.last_success, state.last_error = _now(), ""
    except PARTNER_ERRORS as exc:
        result.error = _safe(f"{type(exc).__name__}: {exc}", source)
        state.last_error = result.error
        log.warning("TAXII source %s: %s", source.name, result.error)
    finally:
        conn.close()
    state_file.put(source.name, state)
    return result


def _merge(total: LoadReport | None, page: LoadReport) -> LoadReport:
    if total is None:
        return page
    total.read += page.read
    total.inserted += page.inserted
    total.updated += page.updated
    total.unchanged += page.unchanged
    total.skipped += page.skipped
    total.errors += page.errors
    return total


def pull_all(db: Database, settings: Settings, name: str | None = None) -> list[PullResult]:
    """Pull every configured source (or the one named); each source's failure stays its own."""
    chosen = [s for s in sources(settings) if name is None or s.name == name]
    if name is not None and not chosen:
        raise InvalidInput(f"no TAXII source named {name!r} in taxii_sources")
    state_file = StateFile(settings.data_dir)
    return [pull(db, state_file, src) for src in chosen]


def due(settings: Settings, now: datetime | None = None) -> list[TaxiiSource]:
    """The sources whose poll interval has passed since their last attempt."""
    now = now or datetime.now(UTC)
    states = StateFile(settings.data_dir).load()
    out = []
    for src in sources(settings):
        st = states.get(src.name)
        last = datetime.fromisoformat(st.last_attempt) if st and st.last_attempt else None
        if last is None or now - last >= timedelta(minutes=src.poll_minutes):
            out.append(src)
    return out
