"""The fast engine: rules compiled to closures, indexed by log source, gated by literal prefilters.

For each event:

1. **Route.** The values of a few discriminating fields (``winlog.channel``, ``winlog.event_id``,
   ``event.dataset``...) form a key; the rules whose condition requires other values for them can
   never match and are skipped. Rules are grouped per distinct key once (a *bucket*, cached).
2. **Extract once.** The bucket knows every field its rules read: they are looked up once in the
   nested event and case-folded once, by straight-line code generated per bucket (no repeated ECS
   path walks).
3. **Prefilter.** Each rule has, when its condition allows, a set of literals of which at least one
   must occur in a given field for the rule to match (:mod:`detectors.sigma.prefilter`). One
   Aho-Corasick automaton per field and bucket finds, in a single pass over the value, which rules
   are worth evaluating; keyword literals are searched in the JSON text of the event's own content
   (:mod:`detectors.sigma.keywords`). Rules without such literals are always evaluated, behind a
   cheap guard when they have short ones.
4. **Evaluate** the compiled predicate of each candidate (same-field value lists are merged into
   set lookups, ``str.endswith(tuple)``, one automaton...).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ahocorasick
import orjson

from cert.core.ecs import Event
from detectors.sigma.ir import And, Match, Node, Num, Or, Str, fields_of, has_keywords
from detectors.sigma.keywords import own_content
from detectors.sigma.match import KEYWORD_TEXT, KEYWORDS, Pred, compile_node, fold, strings
from detectors.sigma.prefilter import Guard, atoms, guard

# Fields whose values route an event to the rules that can match it.
DISCRIMINATORS = ("winlog.channel", "winlog.event_id", "event.dataset", "event.category",
                  "host.os.type", "observer.type", "network.protocol")
_DISC_PARTS = tuple(tuple(d.split(".")) for d in DISCRIMINATORS)
MIN_ATOM = 3
PREPARED_KEYS_PER_GROUP = 1000  # a rule naming more combinations of routing values than this: lazily


@dataclass
class Entry:
    """One rule (or one variant of a rule) for the engine."""

    rule_id: str
    condition: Node


@dataclass
class _Compiled:
    index: int
    rule_id: str
    pred: Pred
    atoms: frozenset[tuple[str, str]] | None
    requires: dict[int, frozenset[str]]
    fields: frozenset[str]
    keywords: bool


@dataclass
class _Bucket:
    rules: list[_Compiled]
    groups: list[tuple[tuple[str, ...], list[tuple[str, str]]]]
    paths: tuple[str, ...]
    always: tuple[int, ...]
    automata: list[tuple[str, Any]] = field(default_factory=list)
    keyword_automaton: Any = None  # literals of keyword rules, searched in the event's content as JSON
    scan: Any = None  # generated: extraction and prefilter in one pass (see _scanner)


def required_values(node: Node, path: str) -> frozenset[str] | None:
    """Folded values the field must hold for the node to be true, or None if unconstrained."""
    if isinstance(node, Match):
        t = node.test
        if node.field != path:
            return None
        if isinstance(t, Str) and t.kind == "eq" and not t.cased:
            return frozenset([t.value])
        if isinstance(t, Num):
            return frozenset([fold(t.value)]) if float(t.value).is_integer() else None
        return None
    if isinstance(node, And):
        found = [r for r in (required_values(a, path) for a in node.args) if r is not None]
        if not found:
            return None
        out = found[0]
        for r in found[1:]:
            out = out & r
        return out
    if isinstance(node, Or):
        parts = [required_values(a, path) for a in node.args]
        if any(p is None for p in parts):
            return None
        return frozenset().union(*[p for p in parts if p is not None])
    return None


def _guarded(check: Guard, pred: Pred) -> Pred:
    return lambda low, raw: check(low) and pred(low, raw)


def _disc_value(ev: Event, i: int) -> Any:
    path = DISCRIMINATORS[i]
    if path in ev:
        v = ev[path]
    else:
        v = ev
        for k in _DISC_PARTS[i]:
            v = v.get(k) if type(v) is dict else None
            if v is None:
                return None
    if type(v) is list:
        return tuple(x for x in v if type(x) is not dict and type(x) is not list)
    return v if type(v) is not dict else None


def _scanner(groups: list[tuple[tuple[str, ...], list[tuple[str, str]]]], automata: dict[str, Any],
             always: tuple[int, ...]) -> Any:
    """``scan(ev) -> (raw, low, candidates)`` for one bucket: looks up and folds each field, and runs
    the field's automaton on it right away. Generated once per bucket, so that each event pays for
    straight-line code (field names are ``repr``-ed literals, automata are bound names)."""
    lines = ["def scan(ev):", "    raw = {}", "    low = {}", "    cand = set(ALWAYS)"]
    names: dict[tuple[str, ...], str] = {(): "ev"}
    scope: dict[str, Any] = {"fold": fold, "ALWAYS": always}

    def holder(parent: tuple[str, ...]) -> str:
        if parent in names:
            return names[parent]
        up = holder(parent[:-1])
        var = f"d{len(names)}"
        names[parent] = var
        lines.append(f"    {var} = {up}.get({parent[-1]!r}) if {up}.__class__ is dict else None")
        return var

    for parent, leaves in sorted(groups):
        var = holder(parent)
        lines.append(f"    if {var}.__class__ is dict:")
        for key, path in leaves:
            lines += [f"        v = {var}.get({key!r})",
                      "        if v is not None:",
                      f"            raw[{path!r}] = v",
                      "            f = v.lower() if v.__class__ is str else fold(v)",
                      "            if f is not None:",
                      f"                low[{path!r}] = f"]
            if path in automata:
                name = f"A{len(scope)}"
                scope[name] = automata[path]
                lines += ["                if f.__class__ is str:",
                          f"                    for _, p in {name}.iter(f):",
                          "                        cand.update(p)",
                          "                else:",
                          "                    for x in f:",
                          f"                        for _, p in {name}.iter(x):",
                          "                            cand.update(p)"]
    lines.append("    return raw, low, cand")
    exec(compile("\n".join(lines), "<sigma-scan>", "exec"), scope)  # noqa: S102 - generated from field names
    return scope["scan"]


def _key_function(disc: tuple[int, ...]) -> Callable[[Event], tuple[Any, ...]]:
    """The routing key of an event; Windows events (channel, event id) take a direct path."""
    if disc[:2] == (0, 1):
        rest = disc[2:]

        def windows_key(ev: Event) -> tuple[Any, ...]:
            w = ev.get("winlog")
            if type(w) is dict and "winlog.channel" not in ev:
                head: tuple[Any, ...] = (w.get("channel"), w.get("event_id"))
                ch, eid = head
                if (ch is None or type(ch) is str) and (eid is None or type(eid) is int):
                    return head + tuple(_disc_value(ev, d) for d in rest) if rest else head
            return tuple(_disc_value(ev, d) for d in disc)

        return windows_key
    return lambda ev: tuple(_disc_value(ev, d) for d in disc)


class FastEngine:
    """``matches(event)``: the ids of the rules an event matches (same answer as the oracle)."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.rules: list[_Compiled] = []
        for i, e in enumerate(entries):
            read = fields_of(e.condition)
            req = {d: r for d, path in enumerate(DISCRIMINATORS)  # a field the rule does not read: no constraint
                   if path in read and (r := required_values(e.condition, path)) is not None}
            pred = compile_node(e.condition)
            found = atoms(e.condition, MIN_ATOM, DISCRIMINATORS)
            if found is None and (weak := atoms(e.condition, 1, DISCRIMINATORS)) is not None:
                pred = _guarded(guard(weak), pred)  # short literals: a cheap check before the full one
            self.rules.append(_Compiled(i, e.rule_id, pred, found, req,
                                        frozenset(read), has_keywords(e.condition)))
        self._buckets: dict[tuple[Any, ...], _Bucket] = {}
        self._by_rules: dict[tuple[int, ...], _Bucket] = {}  # keys routed to the same rules share a bucket
        self._disc = tuple(sorted({d for r in self.rules for d in r.requires}))
        self._key = _key_function(self._disc)
        # rules grouped by what they require of the discriminators: a bucket tests each group once
        groups: dict[tuple[tuple[int, frozenset[str]], ...], list[int]] = {}
        for rule in self.rules:
            groups.setdefault(tuple(sorted(rule.requires.items(), key=lambda x: x[0])), []).append(rule.index)
        self._groups = list(groups.items())
        self._prepare()

    # -- buckets -----------------------------------------------------------------------------
    def _prepare(self) -> None:
        """Build, with the rules, the bucket of every combination of routing values the rules
        name (and of none): events of those sources find their matching tables ready, and any
        other key routes to one of these rule sets (its bucket is then only looked up)."""
        keys: set[tuple[Any, ...]] = {(None,) * len(self._disc)}
        for want, _members in self._groups:
            wanted = dict(want)
            choices = [sorted(wanted[d]) if d in wanted else [None] for d in self._disc]
            if math.prod(len(c) for c in choices) <= PREPARED_KEYS_PER_GROUP:
                keys.update(itertools.product(*choices))
        for key in sorted(keys, key=repr):
            self._bucket(key)

    def _bucket(self, key: tuple[Any, ...]) -> _Bucket:
        folded: dict[int, set[str]] = {}
        for d, v in zip(self._disc, key, strict=True):
            vals = v if isinstance(v, tuple) else (v,)
            folded[d] = {f for x in vals if x is not None and (f := fold(x)) is not None and isinstance(f, str)}
        chosen = sorted(i for want, members in self._groups
                        if all(folded.get(d, set()) & values for d, values in want) for i in members)
        found = self._by_rules.get(tuple(chosen))
        if found is None:
            found = self._by_rules[tuple(chosen)] = self._build([self.rules[i] for i in chosen])
        return found

    def _build(self, rules: list[_Compiled]) -> _Bucket:
        paths = sorted(set().union(*(r.fields for r in rules)) if rules else set())
        groups: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        for p in paths:
            parts = tuple(p.split("."))
            groups.setdefault(parts[:-1], []).append((parts[-1], p))
        per_field: dict[str, dict[str, set[int]]] = {}
        always: list[int] = []
        for pos, r in enumerate(rules):
            if r.atoms is None:
                always.append(pos)
                continue
            for f, lit in r.atoms:
                per_field.setdefault(f, {}).setdefault(lit, set()).add(pos)
        automata = []
        keyword_automaton = None
        for f, lits in sorted(per_field.items()):
            auto = ahocorasick.Automaton()
            for lit, positions in lits.items():
                # keyword literals are found in the content's JSON text, where strings are escaped
                word = orjson.dumps(lit).decode()[1:-1] if f == KEYWORD_TEXT else lit
                auto.add_word(word, tuple(sorted(positions)))
            auto.make_automaton()
            if f == KEYWORD_TEXT:
                keyword_automaton = auto
            else:
                automata.append((f, auto))
        b = _Bucket(rules, list(groups.items()), tuple(paths), tuple(always), automata, keyword_automaton)
        b.scan = _scanner(b.groups, dict(automata), b.always)
        return b

    # -- per event ---------------------------------------------------------------------------
    def extract(self, ev: Event, b: _Bucket) -> tuple[dict[str, Any], dict[str, Any]]:
        """The bucket's fields, looked up and folded (the general walk: flat dotted keys too)."""
        raw: dict[str, Any] = {}
        low: dict[str, Any] = {}
        flat = any("." in k for k in ev)
        for parent, leaves in b.groups:
            d: Any = ev
            for k in parent:
                d = d.get(k) if type(d) is dict else None
                if d is None:
                    break
            if type(d) is not dict:
                d = {}
            for key, path in leaves:
                v = ev.get(path) if flat and path in ev else d.get(key)
                if v is None:
                    continue
                raw[path] = v
                fv = fold(v)
                if fv is not None:
                    low[path] = fv
        return raw, low

    @staticmethod
    def _keywords(ev: Event, raw: dict[str, Any], low: dict[str, Any]) -> None:
        """Every string of the event's own content, for keyword rules (only when one is evaluated)."""
        found = tuple(strings(own_content(ev)))
        raw[KEYWORDS] = found
        low[KEYWORDS] = folded = tuple(s.lower() for s in found)
        low[KEYWORD_TEXT] = "\x00".join(folded)

    @staticmethod
    def _json_text(ev: Event) -> str:
        """The event's own content as folded JSON text: each of its strings is in it (escaped as the
        literals are)."""
        content = own_content(ev)
        try:
            return orjson.dumps(content).decode().lower()
        except TypeError:  # not JSON-serialisable: the plain strings, which hold the literals too
            return "\x00".join(s.lower() for s in strings(content))

    def matches(self, ev: Event) -> list[str]:
        key = self._key(ev)
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = self._bucket(key)
        if not b.rules:
            return []
        for k in ev:
            if "." in k:  # flat dotted keys (rare): the general walk
                raw, low = self.extract(ev, b)
                cand = self._prefilter(b, low)
                break
        else:
            raw, low, cand = b.scan(ev)
        if b.keyword_automaton is not None:
            for _, positions in b.keyword_automaton.iter(self._json_text(ev)):
                cand.update(positions)
        out: list[str] = []
        rules = b.rules
        keywords = False
        for pos in sorted(cand):
            r = rules[pos]
            if r.keywords and not keywords:
                self._keywords(ev, raw, low)
                keywords = True
            if r.pred(low, raw) and r.rule_id not in out:
                out.append(r.rule_id)
        return out

    @staticmethod
    def _prefilter(b: _Bucket, low: dict[str, Any]) -> set[int]:
        cand = set(b.always)
        for f, auto in b.automata:
            v = low.get(f)
            if v is None:
                continue
            for s in (v,) if type(v) is str else v:
                for _, positions in auto.iter(s):
                    cand.update(positions)
        return cand

    def stats(self) -> dict[str, int]:
        return {"rules": len(self.rules), "buckets": len(self._buckets), "tables": len(self._by_rules),
                "always": sum(1 for r in self.rules if r.atoms is None)}
