"""Necessary literals of a condition: sets of (field, folded text) of which at least one must occur
in the field's folded value for the condition to be true. They gate which rules are evaluated.

Strings give their longest literal part; regular expressions the literals their pattern makes
mandatory (:mod:`detectors.sigma.literals`); an AND takes its most
selective argument, an OR the union of its arguments (or nothing if one has none), a NOT nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from detectors.sigma.ir import And, Match, Node, Or, Regex, Str
from detectors.sigma.literals import literal_cost, regex_literals
from detectors.sigma.match import KEYWORD_TEXT, str_check

Atoms = frozenset[tuple[str, str]]


def atom_cost(atoms: Atoms) -> float:
    """Lower is more selective: few, long literals not found in every event."""
    return sum(literal_cost(lit) for _, lit in atoms)


def atoms(node: Node, min_len: int, skip: Iterable[str] = ()) -> Atoms | None:
    """Necessary literals of at least ``min_len`` characters, or None when there are none.
    Fields in ``skip`` (the routing fields, known to hold) give nothing."""
    skipped = frozenset(skip)

    def walk(n: Node) -> Atoms | None:
        if isinstance(n, Match):
            if n.field in skipped:
                return None
            where = n.field or KEYWORD_TEXT
            t = n.test
            if isinstance(t, Str):
                lits = [lit.lower() for lit in t.literals() if len(lit) >= min_len]
                return frozenset([(where, min(lits, key=literal_cost))]) if lits else None
            if isinstance(t, Regex):
                found = regex_literals(t.pattern, t.flags)
                if not found or min(len(x) for x in found) < min_len:
                    return None
                return frozenset((where, lit) for lit in found)
            return None
        if isinstance(n, And):
            options = [a for a in (walk(x) for x in n.args) if a is not None]
            return min(options, key=atom_cost) if options else None
        if isinstance(n, Or):
            out: set[tuple[str, str]] = set()
            for a in n.args:
                sub = walk(a)
                if sub is None:
                    return None
                out |= sub
            return frozenset(out)
        return None

    return walk(node)


Guard = Callable[[dict[str, Any]], bool]


def guard(found: Atoms) -> Guard:
    """A cheap check that at least one literal occurs (folded values in ``low``)."""
    by_field: dict[str, list[str]] = {}
    for f, lit in found:
        by_field.setdefault(f, []).append(lit)
    checks = [(f, str_check("contains", sorted(lits))) for f, lits in sorted(by_field.items())]

    def check(low: dict[str, Any]) -> bool:
        for f, c in checks:
            v = low.get(f)
            if v is None:
                continue
            if v.__class__ is str:
                if c(v):
                    return True
            elif any(c(x) for x in v):
                return True
        return False

    return check
