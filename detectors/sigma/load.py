"""Load a Sigma rule tree with pySigma: rules, Sigma filters, correlation rules; route each rule to
our events (one processed copy per event source, see :mod:`detectors.sigma.windows` and
:mod:`detectors.sigma.ecs`) and say precisely why a rule cannot be used.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import orjson
import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.modifiers import SigmaWideModifier, modifier_mapping
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import ValueListPlaceholderTransformation
from sigma.rule import SigmaRule

from detectors.sigma.cache import Codec, Invalid, RuleCache, check_node, content_hash, encode, fingerprint, ir_classes
from detectors.sigma.ecs import Route, route_for, route_pipeline, zeek_pipeline
from detectors.sigma.ir import And as IrAnd
from detectors.sigma.ir import Node, Unsupported, build
from detectors.sigma.ir import Not as IrNot
from detectors.sigma.ir import Or as IrOr
from detectors.sigma.windows import PIPELINES as WINDOWS_PIPELINES
from detectors.sigma.windows import no_source_reason, was_routed, windows_field, windows_variants

log = logging.getLogger(__name__)
LEVELS = ("informational", "low", "medium", "high", "critical")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 5x faster
# The Sigma 2 modifiers appendix names ``utf16le``, an alias of ``wide``; pySigma 1.5 knows only ``wide``.
modifier_mapping.setdefault("utf16le", SigmaWideModifier)
WINDOWS_LIKE = ("windows", "rpc_firewall")


@dataclass
class RuleInfo:
    """What the console and ``cert rules`` show about a rule (base or correlation)."""

    id: str
    title: str
    level: str
    source: str
    provenance: str  # local | sigmahq | external
    kind: str = "rule"  # rule | correlation
    name: str | None = None
    status: str = ""
    description: str = ""
    author: str = ""
    tags: tuple[str, ...] = ()
    attack: tuple[str, ...] = ()
    logsource: str = ""
    falsepositives: tuple[str, ...] = ()
    output: bool = True
    variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldMapper:
    """How a variant's Sigma field names map onto our event fields (correlation group-by fields):
    ``windows`` (:func:`detectors.sigma.windows.windows_field`) or ``ecs`` (a route's table and prefix)."""

    kind: str
    fields: tuple[tuple[str, str], ...] = ()
    prefix: str = ""

    def __call__(self, name: str) -> str:
        if self.kind == "windows":
            return windows_field(name)
        mapped = dict(self.fields).get(name)
        if mapped is not None:
            return mapped
        return self.prefix + name if self.prefix and "." not in name else name


def route_mapper(route: Route | None) -> FieldMapper:
    if route is None:
        return FieldMapper("ecs")
    return FieldMapper("ecs", tuple((str(k), v) for k, v in route.fields.items() if isinstance(v, str)), route.prefix)


class Processed:
    """The pySigma objects a variant was compiled from (condition trees, processed rule), kept
    only when asked (the oracle, query backends) and otherwise derived again on first use."""

    def __init__(self, trees: list[Any] | None, rule: SigmaRule | None,
                 derive: Callable[[], tuple[list[Any], SigmaRule]] | None = None) -> None:
        self._trees, self._rule, self._derive = trees, rule, derive

    def get(self) -> tuple[list[Any], SigmaRule]:
        if self._trees is None or self._rule is None:
            if self._derive is None:
                raise Unsupported("the pySigma rule of this variant is not available")
            self._trees, self._rule = self._derive()
        return self._trees, self._rule


@dataclass
class Variant:
    """A rule processed for one event source: its condition (rule IR) and our field names."""

    name: str
    condition: Node
    field_of: FieldMapper
    processed: Processed = field(repr=False, compare=False)

    @property
    def trees(self) -> list[Any]:
        """pySigma's processed condition trees (for the oracle)."""
        return self.processed.get()[0]

    @property
    def rule(self) -> SigmaRule:
        """The processed pySigma rule (for query backends: copy it before converting)."""
        return self.processed.get()[1]


@dataclass
class BaseRule:
    info: RuleInfo
    variants: list[Variant]


@dataclass
class Correlation:
    info: RuleInfo
    rule: SigmaCorrelationRule


@dataclass(frozen=True)
class Rejected:
    source: str
    rule_id: str
    title: str
    reason: str

    @property
    def group(self) -> str:
        return self.reason.split(":", 1)[0]


@dataclass
class RuleSet:
    rules: list[BaseRule] = field(default_factory=list)
    correlations: list[Correlation] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    files: int = 0
    filters: int = 0
    compiled_files: int = 0  # rule files parsed and compiled by this load (the others came from the cache)

    def info(self, rule_id: str) -> RuleInfo | None:
        for r in self.rules:
            if r.info.id == rule_id:
                return r.info
        for c in self.correlations:
            if c.info.id == rule_id:
                return c.info
        return None


def rule_key(rule: SigmaRule | SigmaCorrelationRule) -> str:
    return str(rule.id or rule.name or rule.title)


def _level(rule: SigmaRule | SigmaCorrelationRule) -> str:
    name = rule.level.name.lower() if rule.level is not None else "medium"
    return name if name in LEVELS else "medium"


def _info(rule: SigmaRule | SigmaCorrelationRule, source: str, provenance: str) -> RuleInfo:
    tags = tuple(f"{t.namespace}.{t.name}" for t in rule.tags)
    ls = getattr(rule, "logsource", None)
    return RuleInfo(
        id=rule_key(rule), title=rule.title, level=_level(rule), source=source, provenance=provenance,
        kind="correlation" if isinstance(rule, SigmaCorrelationRule) else "rule", name=rule.name,
        status=rule.status.name.lower() if rule.status else "", description=rule.description or "",
        author=rule.author or "", tags=tags, attack=tuple(t for t in tags if t.startswith("attack.")),
        logsource=" / ".join(f"{k}: {v}" for k, v in (("product", ls.product), ("category", ls.category),
                                                         ("service", ls.service)) if v) if ls else "",
        falsepositives=tuple(str(f) for f in rule.falsepositives), output=rule._output,
    )


@lru_cache(maxsize=64)
def provenance_of(base: Path, local: Path | None) -> str:
    """local (our rules dir), sigmahq (a tree shipped under the Detection Rule License) or external."""
    if local is not None and (base == local or local in base.parents):
        return "local"
    for d in [base, *list(base.parents)[:3]]:
        lic = d / "LICENSE"
        try:
            if lic.is_file() and "Detection Rule License" in lic.read_text(encoding="utf-8", errors="replace"):
                return "sigmahq"
        except OSError:
            continue
    return "external"


class Pipelines:
    """The processing pipelines, built once per load (pySigma pipelines are reusable across rules)."""

    def __init__(self, placeholders: dict[str, list[str]]) -> None:
        self.placeholders = ProcessingPipeline(
            name="Vigie: placeholders", priority=5, vars=dict(placeholders),
            items=[ProcessingItem(identifier="vigie_placeholders",
                                  transformation=ValueListPlaceholderTransformation())])
        self._cache: dict[str, ProcessingPipeline] = {}

    def get(self, key: str, make: Callable[[], ProcessingPipeline]) -> ProcessingPipeline:
        if key not in self._cache:
            self._cache[key] = copy.deepcopy(self.placeholders) + make()
        return self._cache[key]


def _variants(rule: SigmaRule, pipes: Pipelines) -> list[tuple[str, ProcessingPipeline, FieldMapper, Any]]:
    """(name, pipeline, field mapper, route-check) for each event source of the rule's logsource."""
    ls = rule.logsource
    if ls.product in WINDOWS_LIKE:
        found = ["any"] if ls.product == "rpc_firewall" else windows_variants(ls)
        if not found:
            raise Unsupported(no_source_reason(ls))
        return [(name, pipes.get(f"windows-{name}", WINDOWS_PIPELINES[name]), FieldMapper("windows"), was_routed)
                for name in found]
    if ls.product == "zeek":
        return [("zeek", pipes.get("zeek", zeek_pipeline), route_mapper(None),
                 lambda ids: "zeek_ecs_event_dataset" in ids)]
    route: Route | None = route_for(ls)
    if route is None:
        raise Unsupported(f"no event source for logsource {ls.product or '-'}/{ls.category or '-'}/{ls.service or '-'}")
    return [(route.name, pipes.get(f"route-{route.name}", lambda: route_pipeline(route)),
             route_mapper(route), lambda ids: any(i.startswith("vigie_route_") for i in ids))]


def compile_rule(rule: SigmaRule, pipes: Pipelines) -> list[Variant]:
    if rule.errors:
        raise Unsupported(f"invalid rule: {rule.errors[0]}")
    variants: list[Variant] = []
    reasons: list[str] = []
    plan = _variants(rule, pipes)
    for i, (name, pipeline, field_of, routed) in enumerate(plan):
        r = rule if i == len(plan) - 1 else copy.deepcopy(rule)  # pipelines change rules in place
        try:
            pipeline.apply(r)
            if not routed(pipeline.applied_ids):
                raise Unsupported(no_source_reason(rule.logsource))
            trees = [c.parsed for c in r.detection.parsed_condition]
            irs = [build(t) for t in trees]
        except (Unsupported, SigmaError, ValueError, KeyError) as exc:
            reasons.append(_reason(exc))
            continue
        cond = irs[0] if len(irs) == 1 else IrOr(tuple(irs))
        variants.append(Variant(name, cond, field_of, Processed(trees, r)))
    if not variants:
        raise Unsupported(reasons[0] if reasons else "no variant")
    return variants


_PLACEHOLDER = re.compile(r"Placeholder replacement variable '([^']+)'")


def _reason(exc: Exception) -> str:
    if isinstance(exc, Unsupported):
        return str(exc)
    if m := _PLACEHOLDER.search(str(exc)):
        return f"placeholder %{m.group(1)}% has no values (set it in sigma_placeholders_file)"
    return f"{type(exc).__name__}: {exc}"


def _read(path: Path, errors: list[Rejected], data: bytes | None = None) -> SigmaCollection | None:
    try:
        text = (path.read_bytes() if data is None else data).decode("utf-8")
        docs = list(yaml.load_all(text, Loader=_YAML_LOADER))
        return SigmaCollection.from_dicts(docs, collect_errors=True, source=SigmaRuleLocation(path),
                                          collect_filters=True, resolve_references=False)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, SigmaError, ValueError, TypeError, AttributeError) as exc:
        errors.append(Rejected(str(path), "", path.stem, f"unreadable file: {exc}"))
        return None


def rule_files(paths: Iterable[Path]) -> list[tuple[Path, Path]]:
    """(base dir, file) for every *.yml / *.yaml rule file under the given directories or files."""
    out: list[tuple[Path, Path]] = []
    for base in paths:
        if base.is_file():
            out.append((base.parent, base))
        elif base.is_dir():
            out.extend((base, p) for p in sorted([*base.rglob("*.yml"), *base.rglob("*.yaml")]))
    return out


# ---- what loading a rule gives, as the cache keeps it ------------------------------------------

@dataclass(frozen=True)
class CachedVariant:
    name: str
    condition: Node
    mapper: FieldMapper


@dataclass(frozen=True)
class Outcome:
    """One base rule of a file, loaded: its description and variants, or why it was rejected.
    ``notes``: the Sigma filters that could not apply to it (the rule is used unfiltered)."""

    key: str
    name: str | None
    title: str
    notes: tuple[str, ...]
    info: RuleInfo | None
    variants: tuple[CachedVariant, ...]
    reason: str = ""


_CODEC = Codec([*ir_classes(), RuleInfo, FieldMapper, CachedVariant, Outcome])
SPECIAL = "parsed"  # cache entry of a file with Sigma filters or correlations: always parsed


def decode_entry(raw: Any) -> list[Outcome] | None:
    """The outcomes of a cached file entry (JSON text, decoded one file at a time so that memory
    never holds the whole cache as JSON objects), or None when absent, special or invalid."""
    if not isinstance(raw, str) or raw == SPECIAL:
        return None
    try:
        data = orjson.loads(raw)
        if not isinstance(data, list):
            raise Invalid("an entry is a list of rules")
        out = [_CODEC.decode(x, Outcome) for x in data]
        for o in out:
            for v in o.variants:
                check_node(v.condition)
    except (Invalid, orjson.JSONDecodeError, RecursionError) as exc:
        log.warning("Sigma rule cache entry ignored (%s): compiling its rule file again", exc)
        return None
    return out


class _Deriver:
    """The pySigma objects of a rule's variants, compiled again from its file on first use."""

    def __init__(self, filters: list[SigmaFilter], pipes: Pipelines) -> None:
        self.filters, self.pipes = filters, pipes
        self._files: dict[str, dict[tuple[str, str], tuple[list[Any], SigmaRule]]] = {}
        self._lock = threading.Lock()

    def __call__(self, path: str, key: str, name: str) -> tuple[list[Any], SigmaRule]:
        with self._lock:
            if path not in self._files:
                found: dict[tuple[str, str], tuple[list[Any], SigmaRule]] = {}
                coll = _read(Path(path), [])
                for r in coll.rules if coll else []:
                    if isinstance(r, SigmaRule):
                        filtered, _notes = _filtered(r, self.filters)
                        try:
                            for v in compile_rule(filtered, self.pipes):
                                found[(rule_key(r), v.name)] = v.processed.get()
                        except (Unsupported, SigmaError):
                            continue
                self._files[path] = found
            got = self._files[path].get((key, name))
        if got is None:
            raise Unsupported(f"rule {key} is no longer in {path}")
        return got


def _filtered(rule: SigmaRule, filters: list[SigmaFilter]) -> tuple[SigmaRule, list[str]]:
    notes = []
    for flt in filters:
        try:
            applied = flt.apply_on_rule(rule)
        except (SigmaError, ValueError) as exc:
            notes.append(f"Sigma filter {flt.title!r} cannot apply: {exc}")
            continue
        if isinstance(applied, SigmaRule):
            rule = applied
    return rule, notes


def _outcome(rule: SigmaRule, filters: list[SigmaFilter], pipes: Pipelines) -> tuple[Outcome, SigmaRule, list[Variant]]:
    r, notes = _filtered(rule, filters)
    info = _info(r, "", "")  # before the pipelines change the rule's logsource
    try:
        variants = compile_rule(r, pipes)
    except (Unsupported, SigmaError) as exc:
        return Outcome(rule_key(r), r.name, r.title, tuple(notes), None, (), str(exc)), r, []
    info.variants = tuple(v.name for v in variants)
    cached = tuple(CachedVariant(v.name, v.condition, v.field_of) for v in variants)
    return Outcome(rule_key(r), r.name, r.title, tuple(notes), info, cached), r, variants


@dataclass
class _File:
    base: Path
    path: Path
    data: bytes
    digest: str
    parsed: bool = False
    coll: SigmaCollection | None = None
    cached: list[Outcome] | None = None


def _read_files(paths: Sequence[Path], rs: RuleSet) -> list[_File]:
    out = []
    for base, path in rule_files(paths):
        rs.files += 1
        try:
            data = path.read_bytes()
        except OSError as exc:
            rs.rejected.append(Rejected(str(path), "", path.stem, f"unreadable file: {exc}"))
            continue
        out.append(_File(base, path, data, content_hash(data)))
    return out


def _parse(f: _File, rs: RuleSet) -> None:
    f.parsed, f.cached = True, None
    f.coll = _read(f.path, rs.rejected, f.data)
    rs.compiled_files += 1


def _correlated(files: list[_File]) -> set[str]:
    """The rule ids and names that correlation rules refer to."""
    return {ref.reference for f in files if f.coll is not None for r in f.coll.rules
            if isinstance(r, SigmaCorrelationRule) for ref in (r.rules or [])}


def load(paths: Sequence[Path], local: Path | None = None, placeholders: dict[str, list[str]] | None = None,
         cache: RuleCache | None = None, keep_sigma: bool = True) -> RuleSet:
    """Load every rule file under ``paths``; ``local`` is our own rules directory (provenance).

    With a ``cache``, only the rule files it does not hold (by content) are parsed and compiled,
    and the cache is updated. ``keep_sigma``: keep the pySigma objects of each variant in memory
    (else they are compiled again from the file when asked for, see :class:`Variant`)."""
    rs = RuleSet()
    ph = placeholders or {}
    pipes = Pipelines(ph)
    files = _read_files(paths, rs)
    stored = cache.entries if cache is not None else {}
    for f in files:
        if stored.get(f.digest, SPECIAL) == SPECIAL:
            _parse(f, rs)
    filters = [flt for f in files if f.coll is not None for flt in f.coll.filters]
    fp = fingerprint(ph, [f.digest for f in files if f.coll is not None and f.coll.filters])
    usable = cache.entries_for(fp) if cache is not None else {}
    for f in files:
        if not f.parsed:
            f.cached = decode_entry(usable.get(f.digest))
            if f.cached is None:
                _parse(f, rs)
    wanted = _correlated(files)
    for f in files:
        if f.cached is not None and any(o.key in wanted or o.name in wanted for o in f.cached):
            _parse(f, rs)  # correlations resolve their references on pySigma rules
    rs.filters = len(filters)
    derive = _Deriver(filters, pipes)
    entries: dict[str, Any] = {}
    items: list[tuple[Outcome | SigmaCorrelationRule, str, str]] = []
    processed: dict[int, tuple[SigmaRule, list[Variant]]] = {}
    seen: dict[str, str] = {}
    for f in files:
        source = str(f.path)
        prov = provenance_of(f.base.resolve(), local.resolve() if local else None)
        found: list[Outcome | SigmaCorrelationRule] = []
        if f.cached is not None:
            found.extend(f.cached)
            entries[f.digest] = usable[f.digest]
        elif f.coll is not None:
            for r in f.coll.rules:
                if isinstance(r, SigmaCorrelationRule):
                    found.append(r)
                    continue
                o, filtered, variants = _outcome(r, filters, pipes)
                processed[id(o)] = (filtered, variants)
                found.append(o)
            special = bool(f.coll.filters) or any(isinstance(x, SigmaCorrelationRule) for x in found)
            entries[f.digest] = SPECIAL if special else orjson.dumps([encode(x) for x in found]).decode()
        for item in found:
            key = item.key if isinstance(item, Outcome) else rule_key(item)
            title = item.title
            if key in seen:
                rs.rejected.append(Rejected(source, key, title, f"duplicate id: also defined in {seen[key]}"))
                continue
            seen[key] = source
            items.append((item, source, prov))
    _assemble(rs, items, processed, derive, keep_sigma)
    _drop_broken_correlations(rs)
    if cache is not None and (fp != cache.fingerprint or entries.keys() != cache.entries.keys()):
        cache.save(fp, entries)
    return rs


def _assemble(rs: RuleSet, items: list[tuple[Outcome | SigmaCorrelationRule, str, str]],
              processed: dict[int, tuple[SigmaRule, list[Variant]]], derive: _Deriver, keep_sigma: bool) -> None:
    """Rules, correlations (their references resolved) and rejections, in file order."""
    sigma_rules: list[SigmaRule | SigmaCorrelationRule] = [
        processed[id(i)][0] if isinstance(i, Outcome) else i
        for i, _, _ in items if not isinstance(i, Outcome) or id(i) in processed]
    collection = SigmaCollection(sigma_rules, resolve_references=False)  # type: ignore[arg-type]
    bad: dict[int, str] = {}
    for item, _, _ in items:  # first: resolving a correlation marks the rules it hides (generate: false)
        if isinstance(item, SigmaCorrelationRule):
            try:
                if item.errors:
                    raise Unsupported(f"invalid correlation: {item.errors[0]}")
                item.resolve_rule_references(collection)
            except (SigmaError, Unsupported) as exc:
                bad[id(item)] = str(exc)
    for item, source, prov in items:
        if isinstance(item, SigmaCorrelationRule):
            if id(item) in bad:
                rs.rejected.append(Rejected(source, rule_key(item), item.title, f"correlation: {bad[id(item)]}"))
            else:
                rs.correlations.append(Correlation(_info(item, source, prov), item))
            continue
        rs.rejected.extend(Rejected(source, item.key, item.title, n) for n in item.notes)
        if item.info is None:
            rs.rejected.append(Rejected(source, item.key, item.title, item.reason))
            continue
        kept = processed.get(id(item))
        info = replace(item.info, source=source, provenance=prov,
                       output=kept[0]._output if kept is not None else item.info.output)
        variants = []
        for i, v in enumerate(item.variants):
            if keep_sigma and kept is not None:
                proc = kept[1][i].processed
            else:
                proc = Processed(None, None, partial(derive, source, item.key, v.name))
            variants.append(Variant(v.name, v.condition, v.mapper, proc))
        rs.rules.append(BaseRule(info, variants))


def _drop_broken_correlations(rs: RuleSet) -> None:
    """A correlation referring to a rule we could not load cannot be evaluated either."""
    ok = {r.info.id for r in rs.rules} | {c.info.id for c in rs.correlations}
    changed = True
    while changed:
        changed = False
        for c in list(rs.correlations):
            missing = [rule_key(ref.rule) for ref in c.rule.referenced_rules if rule_key(ref.rule) not in ok]
            if missing:
                rs.correlations.remove(c)
                rs.rejected.append(Rejected(c.info.source, c.info.id, c.info.title,
                                            f"correlation refers to unusable rule(s): {', '.join(missing)}"))
                changed = True
        ok = {r.info.id for r in rs.rules} | {c.info.id for c in rs.correlations}


def and_not(cond: Node, exceptions: Sequence[Node]) -> Node:
    """A condition with analyst exceptions removed: ``cond and not (e1 or e2 ...)``."""
    if not exceptions:
        return cond
    return IrAnd((cond, IrNot(IrOr(tuple(exceptions)) if len(exceptions) > 1 else exceptions[0])))
