"""Reading indicator files: CSV, plain lists, STIX 2.1 bundles, MISP events and MISP feeds.

Every reader yields ``(position, item)`` where item is an ``IndicatorRecord``, ``None`` for an
entry we do not match on (a MISP comment or link) or a ``str``: the reason the entry is bad.
Positions name the file and the line (CSV, lists) or the object (``event <uuid> attribute <uuid>``
in MISP, the STIX id), so an analyst can find the bad entry; one bad entry never stops a load.

TLP: the file's own marking is kept unless ``--tlp`` is more restrictive (a label is never
lowered). Confidence and validity from the file win over the command-line defaults.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import stix2
from sqlalchemy.orm import Session
from stix2.exceptions import STIXError
from stix2patterns.exceptions import ParseException
from stix2patterns.v21.grammars.STIXPatternListener import STIXPatternListener
from stix2patterns.v21.pattern import Pattern

from cert.core.errors import InvalidInput
from cert.core.observables import TYPES, guess_type
from cert.core.tlp import TLP
from cert.detection.indicators.store import IndicatorRecord, LoadReport, upsert

Item = IndicatorRecord | str | None

CSV_COLUMNS = ("type", "value", "tlp", "confidence", "tags", "expires", "comment", "to_ids", "first_seen")


@dataclass(frozen=True)
class Defaults:
    tlp: TLP | None = None  # None: the file's marking, or AMBER when it has none
    confidence: int = 50
    expires_at: datetime | None = None
    tags: tuple[str, ...] = ()
    allow_private: bool = False  # private, loopback, reserved addresses are refused unless set

    def tlp_for(self, marked: TLP | None) -> TLP:
        if marked is None:
            return self.tlp or TLP.AMBER
        return marked if self.tlp is None or marked.value >= self.tlp.value else self.tlp


def _ts(text: Any) -> datetime | None:
    if text in (None, ""):
        return None
    s = str(text).strip()
    try:
        if s.isdigit():
            return datetime.fromtimestamp(int(s), UTC)
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(f"cannot read date {s!r}") from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _record(defaults: Defaults, **kw: Any) -> Item:
    try:
        kw.setdefault("confidence", defaults.confidence)
        kw.setdefault("expires_at", defaults.expires_at)
        kw["tags"] = list(defaults.tags) + list(kw.get("tags", []))
        rec = IndicatorRecord(**kw)
    except InvalidInput as exc:
        return str(exc)
    if rec.type in ("ip", "cidr") and not defaults.allow_private and _internal(rec.value):
        return f"{rec.value} is a private, loopback or reserved address: not loaded (--allow-private)"
    return rec


INTERNAL = tuple((n.version, int(n.network_address), int(n.broadcast_address)) for n in map(ipaddress.ip_network, (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "0.0.0.0/8", "224.0.0.0/3", "::/127", "fe80::/10", "fc00::/7", "ff00::/8")))


def _internal(value: str) -> bool:
    """Addresses that are never an Internet indicator (RFC 1918, CGNAT, loopback, link-local,
    multicast, reserved); documentation ranges stay allowed (exercises and tests use them)."""
    net = ipaddress.ip_network(value)
    first, last = int(net.network_address), int(net.broadcast_address)
    return any(net.version == v and lo <= first and last <= hi for v, lo, hi in INTERNAL)


# ---------------------------------------------------------------- CSV and plain lists

def read_csv(path: Path, defaults: Defaults) -> Iterator[tuple[str, Item]]:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        columns: tuple[str, ...] = CSV_COLUMNS
        for lineno, row in enumerate(csv.reader(fh), start=1):
            pos = f"{path}:{lineno}"
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            cells = [c.strip() for c in row]
            if cells[0].lower() == "type" and "value" in (c.lower() for c in cells):
                columns = tuple(c.lower() for c in cells)
                unknown = set(columns) - set(CSV_COLUMNS)
                if unknown:
                    yield pos, f"unknown column(s) {', '.join(sorted(unknown))} (known: {', '.join(CSV_COLUMNS)})"
                continue
            data = dict(zip(columns, cells, strict=False))
            if len(cells) < 2 or not data.get("value"):
                yield pos, "expected at least two columns: type,value"
                continue
            yield pos, _csv_item(data, defaults)


def _csv_item(data: dict[str, str], defaults: Defaults) -> Item:
    try:
        kw: dict[str, Any] = {"type": data["type"] or guess_type(data["value"]), "value": data["value"]}
        kw["tlp"] = defaults.tlp_for(TLP.parse(data["tlp"]) if data.get("tlp") else None)
        if data.get("confidence"):
            try:
                kw["confidence"] = int(data["confidence"])
            except ValueError as exc:
                raise InvalidInput(f"confidence {data['confidence']!r} is not a number") from exc
        if data.get("tags"):
            kw["tags"] = [t for t in re.split(r"[;|]", data["tags"]) if t.strip()]
        if data.get("expires"):
            kw["expires_at"] = _ts(data["expires"])
        if data.get("first_seen"):
            kw["first_seen"] = _ts(data["first_seen"])
        if data.get("to_ids"):
            kw["to_ids"] = data["to_ids"].strip().lower() in ("1", "true", "yes", "y")
        kw["comment"] = data.get("comment", "")
    except InvalidInput as exc:
        return str(exc)
    return _record(defaults, **kw)


def read_list(path: Path, defaults: Defaults) -> Iterator[tuple[str, Item]]:
    """One value per line; ``#`` starts a comment; the type is guessed from the value."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            value = line.split(" #", 1)[0].strip()
            if not value or value.startswith("#"):
                continue
            yield f"{path}:{lineno}", _record(defaults, type=guess_type(value), value=value,
                                              tlp=defaults.tlp_for(None))


# ---------------------------------------------------------------- STIX 2.1

STIX_TLP = {
    # TLP 2.0 (FIRST / OASIS fixed ids)
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": TLP.CLEAR,
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": TLP.GREEN,
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": TLP.AMBER,
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": TLP.AMBER_STRICT,
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": TLP.RED,
    # TLP 1.0 (STIX 2.1 specification)
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": TLP.CLEAR,
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": TLP.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": TLP.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": TLP.RED,
}

STIX_PATHS = {
    "ipv4-addr:value": "ip", "ipv6-addr:value": "ip", "domain-name:value": "domain", "url:value": "url",
    "email-addr:value": "email", "email-message:from_ref.value": "email", "email-message:sender_ref.value": "email",
    "file:hashes.md5": "md5", "file:hashes.sha1": "sha1", "file:hashes.sha-1": "sha1",
    "file:hashes.sha256": "sha256", "file:hashes.sha-256": "sha256",
}

UNSUPPORTED = "only '=' comparisons (ISSUBSET for addresses) joined by OR are matched"


class _Comparisons(STIXPatternListener):
    """Walks a parsed pattern: its comparisons in order (object type, path, operator, literal as
    written) and what makes it more than a set of independent values (AND, FOLLOWEDBY,
    qualifiers, operators other than ``=`` and ``ISSUBSET``)."""

    def __init__(self) -> None:
        self.comparisons: list[tuple[str, list[str], str, str]] = []
        self.refused: list[str] = []
        self._type = ""
        self._path: list[str] = []

    def exitObjectType(self, ctx: Any) -> None:
        self._type = str(ctx.getText())

    def exitFirstPathComponent(self, ctx: Any) -> None:
        self._path = [_unquote(ctx.StringLiteral().getText()) if ctx.StringLiteral() else str(ctx.getText())]

    def exitKeyPathStep(self, ctx: Any) -> None:
        step = ctx.IdentifierWithoutHyphen()
        self._path.append(str(step.getText()) if step else _unquote(ctx.StringLiteral().getText()))

    def exitIndexPathStep(self, ctx: Any) -> None:
        self._path.append(f"[{ctx.getText().strip('[]')}]")

    def exitPropTestEqual(self, ctx: Any) -> None:
        op = ("NOT " if ctx.NOT() else "") + str((ctx.EQ() or ctx.NEQ()).getText())
        if op != "=":
            self.refused.append(op)
        self.comparisons.append((self._type, list(self._path), op, str(ctx.primitiveLiteral().getText())))

    def exitPropTestIsSubset(self, ctx: Any) -> None:
        if ctx.NOT():
            self.refused.append("NOT ISSUBSET")
        self.comparisons.append((self._type, list(self._path), "ISSUBSET", str(ctx.StringLiteral().getText())))

    def _other(self, name: str, ctx: Any) -> None:
        self.refused.append(("NOT " if ctx.NOT() else "") + name)

    def exitPropTestOrder(self, ctx: Any) -> None:
        self._other(str((ctx.GT() or ctx.LT() or ctx.GE() or ctx.LE()).getText()), ctx)

    def exitPropTestSet(self, ctx: Any) -> None:
        self._other("IN", ctx)

    def exitPropTestLike(self, ctx: Any) -> None:
        self._other("LIKE", ctx)

    def exitPropTestRegex(self, ctx: Any) -> None:
        self._other("MATCHES", ctx)

    def exitPropTestIsSuperset(self, ctx: Any) -> None:
        self._other("ISSUPERSET", ctx)

    def exitPropTestExists(self, ctx: Any) -> None:
        self.refused.append("EXISTS")

    def exitComparisonExpressionAnd(self, ctx: Any) -> None:
        if ctx.AND():
            self.refused.append("AND")

    def exitObservationExpressionAnd(self, ctx: Any) -> None:
        if ctx.AND():
            self.refused.append("AND")

    def exitObservationExpressions(self, ctx: Any) -> None:
        if ctx.FOLLOWEDBY():
            self.refused.append("FOLLOWEDBY")

    def exitObservationExpressionRepeated(self, ctx: Any) -> None:
        self.refused.append("REPEATS")

    def exitObservationExpressionWithin(self, ctx: Any) -> None:
        self.refused.append("WITHIN")

    def exitObservationExpressionStartStop(self, ctx: Any) -> None:
        self.refused.append("START/STOP")


def _unquote(literal: str) -> str:
    """The text of a STIX string literal: ``'it\\'s'`` is ``it's``."""
    return literal[1:-1].replace("\\'", "'").replace("\\\\", "\\")


def parse_stix_pattern(pattern: str) -> list[tuple[str, str]]:
    """(type, value) pairs of a pattern that is a set of independent values: one comparison, or
    comparisons joined by OR (inside or across observation expressions), e.g.
    ``[ipv4-addr:value = '198.51.100.1'] OR [file:hashes.'SHA-256' = '…' OR file:hashes.MD5 = '…']``;
    ``ISSUBSET`` on an address gives a network. The pattern is read by the OASIS parser
    (``stix2patterns``): a malformed one raises InvalidInput with the parser's message. AND,
    FOLLOWEDBY, qualifiers and other operators need several conditions at once: InvalidInput
    with the reason, never a split into values that would each match alone. In an OR, a
    comparison on an object path the store does not match is left out (the others match alone);
    a pattern with none that it matches raises InvalidInput."""
    shown = pattern[:200]
    try:
        parsed = Pattern(pattern)
    except ParseException as exc:
        raise InvalidInput(f"pattern {shown!r} is not a STIX 2.1 pattern: {exc}") from exc
    walk = _Comparisons()
    parsed.walk(walk)
    if walk.refused:
        ops = ", ".join(dict.fromkeys(walk.refused))
        raise InvalidInput(f"pattern {shown!r} uses {ops}: not a set of independent values; {UNSUPPORTED}")
    out: list[tuple[str, str]] = []
    unmatched: list[str] = []
    for obj_type, steps, op, literal in walk.comparisons:
        path = f"{obj_type}:{'.'.join(steps)}"
        type_ = STIX_PATHS.get(path.lower())
        if type_ is None:
            unmatched.append(path)
            continue
        if not literal.startswith("'"):
            raise InvalidInput(f"pattern {shown!r}: {path} is compared with {literal[:50]}, not a string")
        if op == "ISSUBSET" and type_ != "ip":
            raise InvalidInput(f"pattern {shown!r}: ISSUBSET only applies to addresses")
        out.append(("cidr" if op == "ISSUBSET" else type_, _unquote(literal)))
    if not out:
        raise InvalidInput(f"pattern {shown!r}: object path {', '.join(unmatched)} is not matched")
    return out


def _tlp_of_marking(obj: Any) -> TLP | None:
    """The TLP of a marking definition: TLP 2.0 extension, TLP 1.0 definition, or its name."""
    for ext in (obj.get("extensions") or {}).values():
        if isinstance(ext, dict) and ext.get("tlp_2_0"):
            return TLP.parse(str(ext["tlp_2_0"]))
    definition = obj.get("definition") or {}
    label = definition.get("tlp") if isinstance(definition, dict) else None
    return TLP.parse(str(label or obj.get("name") or ""))


def _parsed(path: Path, raw: Any, i: int) -> tuple[str, Any]:
    """(position, object) of one entry of a bundle, read by ``stix2.parse`` (unknown types as
    dicts); InvalidInput naming the object when it is malformed."""
    ident = raw.get("id") if isinstance(raw, dict) else None
    pos = f"{path}: {str(ident)[:120] if ident else f'object {i}'}"
    if not isinstance(raw, dict):
        raise InvalidInput(f"{pos}: not a STIX object")
    try:
        return pos, stix2.parse(raw, allow_custom=True, version="2.1")
    except (STIXError, ValueError, TypeError) as exc:
        raise InvalidInput(f"{pos}: malformed {str(raw.get('type'))[:40]}: {str(exc)[:300]}") from exc


def read_stix(path: Path, data: dict[str, Any], defaults: Defaults) -> Iterator[tuple[str, Item]]:
    """The indicators of a STIX 2.1 bundle, each read by ``stix2.parse``; a malformed one is
    reported with its id and the library's reason, the others still load."""
    objects = data.get("objects")
    if not isinstance(objects, list):
        raise InvalidInput(f"{path}: a bundle's objects must be a list")
    marks = dict(STIX_TLP)
    wanted = ("indicator", "marking-definition")
    entries: list[tuple[str, Any]] = []
    for i, raw in enumerate(objects):
        if not isinstance(raw, dict) or raw.get("type") not in wanted:
            continue
        try:
            pos, obj = _parsed(path, raw, i)
        except InvalidInput as exc:
            yield f"{path}: {raw.get('id') or f'object {i}'}"[:300], str(exc)
            continue
        if raw.get("type") == "marking-definition":
            try:
                level = _tlp_of_marking(obj)
            except InvalidInput:
                continue
            if level is not None:
                marks[str(obj.get("id"))] = level
        else:
            entries.append((pos, obj))
    for pos, obj in entries:
        yield from _indicator(pos, obj, marks, defaults)


def _indicator(pos: str, obj: Any, marks: dict[str, TLP], defaults: Defaults) -> Iterator[tuple[str, Item]]:
    if obj.get("revoked"):
        yield pos, None
        return
    if obj.get("pattern_type", "stix") != "stix":
        yield pos, f"pattern type {str(obj.get('pattern_type'))[:40]!r} is not matched (only stix)"
        return
    try:
        pairs = parse_stix_pattern(str(obj.get("pattern", "")))
        levels = [marks[r] for r in obj.get("object_marking_refs") or [] if r in marks]
        kw: dict[str, Any] = {
            "tlp": defaults.tlp_for(max(levels, key=lambda t: t.value) if levels else None),
            "tags": [str(t) for t in list(obj.get("labels") or []) + list(obj.get("indicator_types") or [])],
            "reference": str(obj.get("id", "")), "comment": str(obj.get("name") or obj.get("description") or ""),
            "first_seen": _ts(obj.get("valid_from")),
        }
        if obj.get("confidence") is not None:
            kw["confidence"] = int(obj["confidence"])
        if obj.get("valid_until"):
            kw["expires_at"] = _ts(obj["valid_until"])
    except (InvalidInput, ValueError, TypeError) as exc:
        yield pos, str(exc)
        return
    for type_, value in pairs:
        yield pos, _record(defaults, type=type_, value=value, **kw)


# ---------------------------------------------------------------- MISP

MISP_TYPES: dict[str, tuple[str | None, ...]] = {
    "ip-src": ("ip",), "ip-dst": ("ip",), "ip-src|port": ("ip", None), "ip-dst|port": ("ip", None),
    "domain": ("domain",), "hostname": ("domain",), "hostname|port": ("domain", None), "domain|ip": ("domain", "ip"),
    "url": ("url",), "md5": ("md5",), "sha1": ("sha1",), "sha256": ("sha256",),
    "filename|md5": (None, "md5"), "filename|sha1": (None, "sha1"), "filename|sha256": (None, "sha256"),
    "malware-sample": (None, "md5"),
    "email": ("email",), "email-src": ("email",), "email-dst": ("email",), "email-reply-to": ("email",),
    "ja3-fingerprint-md5": ("ja3",), "ja3s-fingerprint-md5": ("ja3s",),
}
CONFIDENCE_WORDS = {"high": 85, "moderate": 60, "low": 30}
ADMIRALTY = {"1": 95, "2": 80, "3": 60, "4": 40, "5": 20}
THREAT_LEVELS = {"1": "high", "2": "medium", "3": "low"}


def _tag_names(obj: dict[str, Any]) -> list[str]:
    return [str(t.get("name", "")) for t in obj.get("Tag") or [] if isinstance(t, dict) and t.get("name")]


def _tlp_of(tags: list[str]) -> TLP | None:
    levels = []
    for t in tags:
        if t.lower().startswith("tlp:"):
            try:
                levels.append(TLP.parse(t))
            except InvalidInput:
                continue
    return max(levels, key=lambda x: x.value) if levels else None


def _confidence_of(tags: list[str]) -> int | None:
    for t in tags:
        name, _, raw = t.partition("=")
        v = raw.strip('"').lower()
        if name == "osint:certainty" and v.isdigit():
            return min(100, int(v))
        if name == "estimative-language:confidence-in-analytic-judgment" and v in CONFIDENCE_WORDS:
            return CONFIDENCE_WORDS[v]
        if name == "admiralty-scale:information-credibility" and v in ADMIRALTY:
            return ADMIRALTY[v]
    return None


def misp_events(data: Any) -> Iterator[dict[str, Any]]:
    """The events of a MISP export: {"Event": …}, {"response": [...]}, a list, or a bare event."""
    if isinstance(data, list):
        for item in data:
            yield from misp_events(item)
    elif isinstance(data, dict):
        if isinstance(data.get("response"), list):
            yield from misp_events(data["response"])
        elif isinstance(data.get("Event"), dict):
            yield data["Event"]
        elif "Attribute" in data or "Object" in data or "info" in data:
            yield data


def read_misp_event(path: Path, event: dict[str, Any], defaults: Defaults) -> Iterator[tuple[str, Item]]:
    uuid = str(event.get("uuid", ""))
    event_tags = _tag_names(event)
    level = THREAT_LEVELS.get(str(event.get("threat_level_id", "")))
    base_tags = [t for t in event_tags if not t.lower().startswith("tlp:")]
    base_tags += [f"threat-level:{level}"] if level else []
    attributes: list[tuple[dict[str, Any], dict[str, Any] | None]] = [(a, None) for a in event.get("Attribute") or []]
    for obj in event.get("Object") or []:
        attributes += [(a, obj) for a in obj.get("Attribute") or []]
    for i, (attr, obj) in enumerate(attributes):
        pos = f"{path}: event {uuid or '?'} attribute {attr.get('uuid') or i}"
        kinds = MISP_TYPES.get(str(attr.get("type", "")))
        if attr.get("deleted") or kinds is None:
            yield pos, None
            continue
        if kinds == ("ja3",) and (attr.get("object_relation") == "ja3s-fingerprint-md5"
                                  or (obj or {}).get("name") == "ja3s"):
            kinds = ("ja3s",)
        value = str(attr.get("value", ""))
        parts = value.split("|") if len(kinds) > 1 else [value]
        if len(parts) != len(kinds):
            yield pos, f"{attr.get('type')} value {value!r} should have {len(kinds)} parts separated by |"
            continue
        attr_tags = _tag_names(attr)
        tags = base_tags + [t for t in attr_tags if not t.lower().startswith("tlp:")]
        confidence = _confidence_of(attr_tags) or _confidence_of(event_tags)
        try:
            first_seen = _ts(attr.get("first_seen")) or _ts(attr.get("timestamp"))
            expired = [_ts(x.get("date_sighting")) for x in attr.get("Sighting") or [] if str(x.get("type")) == "2"]
        except InvalidInput as exc:
            yield pos, str(exc)
            continue
        kw: dict[str, Any] = {
            "tlp": defaults.tlp_for(_tlp_of(attr_tags) or _tlp_of(event_tags)), "tags": tags,
            "to_ids": bool(attr.get("to_ids")), "reference": uuid, "first_seen": first_seen,
            "comment": str(attr.get("comment") or event.get("info") or "")[:500],
        }
        if confidence is not None:
            kw["confidence"] = confidence
        if expired and expired[0] is not None:
            kw["expires_at"] = min(e for e in expired if e is not None)
        for kind, part in zip(kinds, parts, strict=True):
            if kind is not None:
                yield pos, _record(defaults, type=kind, value=part, **kw)


# ---------------------------------------------------------------- dispatch

def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: not valid JSON: {exc}") from exc


def read_json(path: Path, defaults: Defaults) -> Iterator[tuple[str, Item]]:
    data = _json(path)
    if isinstance(data, dict) and data.get("type") == "bundle":
        yield from read_stix(path, data, defaults)
        return
    events = list(misp_events(data))
    if not events:
        raise InvalidInput(f"{path}: neither a STIX 2.1 bundle nor a MISP event")
    for event in events:
        yield from read_misp_event(path, event, defaults)


def read_misp_feed(path: Path, defaults: Defaults) -> Iterator[tuple[str, Item]]:
    """A MISP feed folder: manifest.json naming <uuid>.json event files."""
    manifest = path / "manifest.json"
    names = [f"{u}.json" for u in _json(manifest)] if manifest.exists() else []
    files = [path / n for n in names] if names else sorted(p for p in path.glob("*.json") if p.name != "manifest.json")
    for f in files:
        if not f.exists():
            yield str(f), "listed in manifest.json but missing"
            continue
        try:
            yield from read_json(f, defaults)
        except InvalidInput as exc:
            yield str(f), str(exc)


def read_indicators(path: Path, defaults: Defaults, fmt: str = "auto") -> Iterator[tuple[str, Item]]:
    """Entries of an indicator file or MISP feed folder; ``fmt``: auto, csv, list, json."""
    if not path.exists():
        raise InvalidInput(f"{path} does not exist")
    if path.is_dir():
        return read_misp_feed(path, defaults)
    suffix = path.suffix.lower()
    if fmt == "csv" or (fmt == "auto" and suffix == ".csv"):
        return read_csv(path, defaults)
    if fmt == "json" or (fmt == "auto" and suffix == ".json"):
        return read_json(path, defaults)
    if fmt in ("auto", "list"):
        return read_list(path, defaults)
    raise InvalidInput(f"unknown format {fmt!r} (auto, csv, list, json)")


def load(s: Session, path: Path, source: str, defaults: Defaults, fmt: str = "auto") -> LoadReport:
    """Read a file into the store under ``source``; bad entries are reported, the rest is stored."""
    report = LoadReport(source)

    def good() -> Iterator[IndicatorRecord]:
        try:
            for pos, item in read_indicators(path, defaults, fmt):
                report.read += 1
                if item is None:
                    report.skipped += 1
                elif isinstance(item, str):
                    report.errors.append(f"{pos}: {item}")
                else:
                    yield item
        except InvalidInput as exc:
            report.errors.append(str(exc))

    return upsert(s, source, good(), report)


__all__ = ["TYPES", "Defaults", "load", "parse_stix_pattern", "read_indicators"]
