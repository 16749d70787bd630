"""Load a Sigma rule tree with pySigma: rules, Sigma filters, correlation rules; route each rule to
our events (one processed copy per event source, see :mod:`detectors.sigma.windows` and
:mod:`detectors.sigma.ecs`) and say precisely why a rule cannot be used.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.modifiers import SigmaWideModifier, modifier_mapping
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import ValueListPlaceholderTransformation
from sigma.rule import SigmaRule

from detectors.sigma.ecs import Route, ecs_field, route_for, route_pipeline, zeek_pipeline
from detectors.sigma.ir import And as IrAnd
from detectors.sigma.ir import Node, Unsupported, build
from detectors.sigma.ir import Not as IrNot
from detectors.sigma.ir import Or as IrOr
from detectors.sigma.windows import PIPELINES as WINDOWS_PIPELINES
from detectors.sigma.windows import no_source_reason, was_routed, windows_field, windows_variants

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


@dataclass
class Variant:
    """A rule processed for one event source: its condition trees and our field names."""

    name: str
    trees: list[Any]
    condition: Node
    field_of: Callable[[str], str]
    rule: SigmaRule  # the processed pySigma rule (for query backends: copy it before converting)


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


def _variants(rule: SigmaRule, pipes: Pipelines) -> list[tuple[str, ProcessingPipeline, Callable[[str], str], Any]]:
    """(name, pipeline, field mapper, route-check) for each event source of the rule's logsource."""
    ls = rule.logsource
    if ls.product in WINDOWS_LIKE:
        found = ["any"] if ls.product == "rpc_firewall" else windows_variants(ls)
        if not found:
            raise Unsupported(no_source_reason(ls))
        return [(name, pipes.get(f"windows-{name}", WINDOWS_PIPELINES[name]), windows_field, was_routed)
                for name in found]
    if ls.product == "zeek":
        return [("zeek", pipes.get("zeek", zeek_pipeline), lambda f: ecs_field(None, f),
                 lambda ids: "zeek_ecs_event_dataset" in ids)]
    route: Route | None = route_for(ls)
    if route is None:
        raise Unsupported(f"no event source for logsource {ls.product or '-'}/{ls.category or '-'}/{ls.service or '-'}")
    return [(route.name, pipes.get(f"route-{route.name}", lambda: route_pipeline(route)),
             partial(ecs_field, route), lambda ids: any(i.startswith("vigie_route_") for i in ids))]


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
        variants.append(Variant(name, trees, cond, field_of, r))
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


def _read(path: Path, errors: list[Rejected]) -> SigmaCollection | None:
    try:
        docs = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER))
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


def load(paths: Sequence[Path], local: Path | None = None,
         placeholders: dict[str, list[str]] | None = None) -> RuleSet:
    """Load every rule file under ``paths``; ``local`` is our own rules directory (provenance)."""
    rs = RuleSet()
    pipes = Pipelines(placeholders or {})
    loaded: list[tuple[SigmaRule | SigmaCorrelationRule, str, str]] = []
    filters: list[SigmaFilter] = []
    seen: dict[str, str] = {}
    for base, path in rule_files(paths):
        rs.files += 1
        coll = _read(path, rs.rejected)
        if coll is None:
            continue
        prov = provenance_of(base.resolve(), local.resolve() if local else None)
        filters.extend(coll.filters)
        for item in coll.rules:
            key = rule_key(item)
            if key in seen:
                rs.rejected.append(Rejected(str(path), key, item.title, f"duplicate id: also defined in {seen[key]}"))
                continue
            seen[key] = str(path)
            loaded.append((item, str(path), prov))
    rs.filters = len(filters)
    rules_only = [r for r, _, _ in loaded]
    for flt in filters:
        for i, r in enumerate(rules_only):
            if isinstance(r, SigmaRule):
                try:
                    rules_only[i] = flt.apply_on_rule(r)
                except (SigmaError, ValueError) as exc:
                    rs.rejected.append(Rejected(str(r.source.path if r.source else ""), rule_key(r), r.title,
                                                f"Sigma filter {flt.title!r} cannot apply: {exc}"))
    collection = SigmaCollection(rules_only, resolve_references=False)  # type: ignore[arg-type]
    bad_corr: dict[str, str] = {}
    for r in rules_only:
        if isinstance(r, SigmaCorrelationRule):
            try:
                if r.errors:
                    raise Unsupported(f"invalid correlation: {r.errors[0]}")
                r.resolve_rule_references(collection)
            except (SigmaError, Unsupported) as exc:
                bad_corr[rule_key(r)] = str(exc)
    for (orig, source, prov), r in zip(loaded, rules_only, strict=True):
        del orig
        if isinstance(r, SigmaCorrelationRule):
            key = rule_key(r)
            if key in bad_corr:
                rs.rejected.append(Rejected(source, key, r.title, f"correlation: {bad_corr[key]}"))
            else:
                rs.correlations.append(Correlation(_info(r, source, prov), r))
            continue
        info = _info(r, source, prov)  # before the pipelines change the rule's logsource
        try:
            variants = compile_rule(r, pipes)
        except (Unsupported, SigmaError) as exc:
            rs.rejected.append(Rejected(source, rule_key(r), r.title, str(exc)))
            continue
        info.variants = tuple(v.name for v in variants)
        rs.rules.append(BaseRule(info, variants))
    _drop_broken_correlations(rs)
    return rs


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
