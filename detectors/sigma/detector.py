"""Sigma detector: rules in the Sigma format (ours in ``rules/sigma``, plus ``sigma_paths`` such as
a SigmaHQ release), loaded with pySigma and run unmodified on our ECS events, streaming.

Loading, routing and field mapping: :mod:`detectors.sigma.load`; the compiled rules are kept in
the data directory (:mod:`detectors.sigma.cache`), so a run compiles only the rule files it has not
seen. Matching: the fast engine (:mod:`detectors.sigma.fast`, same answers as the naive oracle
:mod:`detectors.sigma.naive`).
Correlation rules: :mod:`detectors.sigma.correlate`. Analysts' rule settings (disabled rules,
severity overrides, false-positive exceptions) arrive through ``configure``.

The loaded rule set and the correlation state are shared by the detector instances of a process
(``cert detect --every`` builds detectors at each run): rules load once, and a correlation window
spanning two runs is not cut.
"""

from __future__ import annotations

import gc
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from cert.core.config import Settings
from cert.core.contracts import Detector, Hit, RuleOverrides, detectors
from cert.core.ecs import Event
from cert.core.errors import ConfigError
from cert.storage.events import EventStore
from detectors.sigma.cache import RuleCache
from detectors.sigma.correlate import Correlation
from detectors.sigma.load import BaseRule, Rejected, RuleSet, load, rule_files
from detectors.sigma.runtime import Compiled, Runner, compile_ruleset


def rule_paths(settings: Settings) -> list[Path]:
    return [settings.rules_dir / "sigma", *(Path(p).expanduser() for p in settings.sigma_paths)]


def placeholders(settings: Settings) -> dict[str, list[str]]:
    path = settings.sigma_placeholders_file
    if path is None:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"sigma_placeholders_file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"sigma_placeholders_file {path}: a mapping of placeholder name to values")
    return {str(k): [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in data.items()}


def _signature(paths: Sequence[Path], extra: Any) -> tuple[Any, ...]:
    stats = []
    for _base, f in rule_files(paths):
        try:
            st = f.stat()
        except OSError:
            continue
        stats.append((str(f), st.st_mtime_ns, st.st_size))
    return (tuple(str(p) for p in paths), tuple(stats), repr(extra))


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while rules load and compile: they allocate hundreds of
    thousands of objects that all stay alive, which it would otherwise scan again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


CACHED_RULESETS = 3
_CACHE: dict[tuple[Any, ...], RuleSet] = {}
_COMPILED: dict[tuple[Any, ...], Compiled] = {}
_LOCK = threading.Lock()


def load_ruleset(settings: Settings) -> RuleSet:
    paths = rule_paths(settings)
    ph = placeholders(settings)
    key = _signature(paths, ph)
    with _LOCK:
        if key not in _CACHE:
            while len(_CACHE) >= CACHED_RULESETS:
                old = _CACHE.pop(next(iter(_CACHE)))
                for k in [k for k in _COMPILED if k[0] == id(old)]:
                    del _COMPILED[k]
            cache = RuleCache(settings.sigma_cache_dir or settings.data_dir / "cache")
            with collector_paused():
                _CACHE[key] = load(paths, local=settings.rules_dir / "sigma", placeholders=ph, cache=cache,
                                   keep_sigma=False)
        return _CACHE[key]


@detectors.register
class SigmaDetector(Detector):
    name = "sigma"
    handles_exceptions = True

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.ruleset = load_ruleset(settings)
        self._compiled = self._get(RuleOverrides())

    # -- configuration ------------------------------------------------------------------------
    def _get(self, overrides: RuleOverrides) -> Compiled:
        """The compiled rules for these overrides; one version is kept per rule set and data dir,
        and the correlation windows carry over when the same correlations stay enabled."""
        stream = (id(self.ruleset), str(self.settings.data_dir))
        key = (*stream, overrides.version)
        with _LOCK:
            if key not in _COMPILED:
                with collector_paused():
                    fresh = compile_ruleset(self.ruleset, overrides)
                for old_key in [k for k in _COMPILED if k[:2] == stream]:
                    old = _COMPILED.pop(old_key)
                    if [c.id for c in old.state.correlations] == [c.id for c in fresh.state.correlations]:
                        fresh.state = old.state
                _COMPILED[key] = fresh
            return _COMPILED[key]

    def configure(self, overrides: RuleOverrides) -> None:
        if overrides.version != self._compiled.overrides.version:
            self._compiled = self._get(overrides)

    @property
    def rules(self) -> list[BaseRule]:
        return self.ruleset.rules

    @property
    def rejected(self) -> list[Rejected]:
        return self.ruleset.rejected

    @property
    def correlations(self) -> list[Correlation]:
        return self._compiled.state.correlations

    def summary(self) -> dict[str, Any]:
        c = self._compiled
        rs = self.ruleset
        disabled = sum(1 for r in rs.rules if r.info.id in c.overrides.disabled)
        roots = []
        for root in rule_paths(self.settings):
            base = root.resolve()
            mine = [r.info for r in rs.rules] + [x.info for x in rs.correlations]
            infos = [i for i in mine if _inside(i.source, base)]
            rejected = [(r.source, r.title, r.reason) for r in rs.rejected if _inside(r.source, base)]
            off = sum(1 for i in infos if i.id in c.overrides.disabled)
            roots.append({"path": str(root), "files": len(rule_files([root])), "loaded": len(infos) + len(rejected),
                          "active": len(infos) - off, "disabled": off, "rejected": rejected})
        routes: dict[str, int] = defaultdict(int)
        for r in rs.rules:
            if r.info.id in c.rules:
                routes["+".join(r.info.variants)] += 1
        return {
            "files": rs.files,
            "rules": len(rs.rules),
            "correlations": len(rs.correlations),
            "filters": rs.filters,
            "active": len(c.rules) + len(c.state.correlations),
            "disabled": disabled,
            "rejected": [(r.source, r.title, r.reason) for r in rs.rejected],
            "roots": roots,
            "routes": dict(routes),
        }

    def catalogue(self) -> list[dict[str, Any]]:
        out = []
        for info in [r.info for r in self.ruleset.rules] + [c.info for c in self.ruleset.correlations]:
            entry = dict(vars(info))
            entry["detector"] = self.name
            out.append(entry)
        return out

    # -- detection ------------------------------------------------------------------------------
    def matches(self, event: Event) -> list[str]:
        """Ids of the rules an event matches (correlations aside)."""
        return self._compiled.engine.matches(event)

    def detect(self, events: Sequence[Event]) -> list[Hit]:
        c = self._compiled
        with c.lock:
            return Runner(c, c.state).run(events, c.engine.matches)

    parallel = True

    def match(self, events: Sequence[Event]) -> dict[int, list[str]]:
        """{position in the batch: ids of the rules the event matches}, for matching events."""
        matches = self._compiled.engine.matches
        out: dict[int, list[str]] = {}
        for i, ev in enumerate(events):
            ids = matches(ev)
            if ids:
                out[i] = ids
        return out

    def conclude(self, events: Sequence[Event], matched: dict[int, list[str]]) -> list[Hit]:
        """Hits and correlation windows from the worker's matches, as ``detect`` would do."""
        by_event = {id(events[i]): ids for i, ids in matched.items()}
        none: list[str] = []
        c = self._compiled
        with c.lock:
            return Runner(c, c.state).run(events, lambda ev: by_event.get(id(ev), none))

    def flush(self) -> list[Hit]:
        """Close every open correlation window (end of input)."""
        c = self._compiled
        with c.lock:
            return Runner(c, c.state).flush()

    def hunt(self, store: EventStore, start: datetime, end: datetime) -> list[Hit]:
        """The rules over the events of [start, end) in the store: as queries against
        Elasticsearch (pySigma's Lucene backend), else over the embedded store's events."""
        from detectors.sigma.hunt import hunt  # imported here: the Elasticsearch client and pySigma's
        # Lucene backend cost a third of a second, paid only by hunts

        return hunt(self._compiled, store, start, end)


def _inside(source: str, base: Path) -> bool:
    try:
        Path(source).resolve().relative_to(base)
    except (ValueError, OSError):
        return False
    return True
