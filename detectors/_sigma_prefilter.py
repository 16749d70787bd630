"""Necessary literals of a condition: sets of (field, folded text) of which at least one must occur
in the field's folded value for the condition to be true. They gate which rules are evaluated.

Strings give their longest literal part; regular expressions the literal runs the regex
parser proves mandatory (case-insensitive regexes keep only ASCII runs without ``i``/``s``, the
letters that also match ``İ``, ``ı`` and ``ſ`` when folding is off); an AND takes its most
selective argument, an OR the union of its arguments (or nothing if one has none), a NOT nothing.
"""

from __future__ import annotations

import re
import re._constants as sre_c
import re._parser as sre_parse
from collections.abc import Callable, Iterable
from typing import Any

from detectors._sigma_ir import And, Match, Node, Or, Regex, Str
from detectors._sigma_match import KEYWORD_TEXT, str_check

Atoms = frozenset[tuple[str, str]]


# Text found in most Windows events: a literal inside one of these is a poor filter.
COMMON = (
    "c:\\windows\\system32\\windowspowershell\\v1.0\\powershell.exe", "c:\\windows\\syswow64\\",
    "c:\\program files (x86)\\microsoft\\", "c:\\program files\\windows defender\\", "c:\\programdata\\",
    "c:\\users\\public\\", "\\appdata\\local\\temp\\", "\\appdata\\roaming\\microsoft\\windows\\",
    "c:\\windows\\temp\\", "\\svchost.exe -k netsvcs", "\\cmd.exe /c ", "\\conhost.exe 0xffffffff -forcev1",
    "nt authority\\system", "\\device\\harddiskvolume", ".exe", ".dll", "microsoft corporation",
    "hklm\\software\\microsoft\\windows\\currentversion\\", "\\registry\\machine\\system\\currentcontrolset\\",
)


def literal_cost(lit: str) -> float:
    cost = 1.0 / (len(lit) ** 1.5)
    return cost * 25 if any(lit in c for c in COMMON) else cost


def atom_cost(atoms: Atoms) -> float:
    """Lower is more selective: few, long literals not found in every event."""
    return sum(literal_cost(lit) for _, lit in atoms)


def _best(options: Iterable[frozenset[str]]) -> frozenset[str] | None:
    found = [o for o in options if o]
    return min(found, key=lambda o: sum(literal_cost(x) for x in o)) if found else None


def _regex_literals(items: Any, ignorecase: bool) -> frozenset[str] | None:
    """Literal sets one of which a match must contain, for a parsed regex sequence."""
    options: list[frozenset[str]] = []
    run: list[str] = []

    def close() -> None:
        if run:
            options.append(frozenset(["".join(run).lower()]))
            run.clear()

    for op, av in items:
        if op is sre_c.LITERAL:
            ch = chr(av)
            if not ch.isascii() or (ignorecase and ch.lower() in ("i", "s")):
                close()
            else:
                run.append(ch)
            continue
        close()
        sub: frozenset[str] | None = None
        if op is sre_c.SUBPATTERN:
            add_flags = av[1]
            sub = _regex_literals(av[3], ignorecase or bool(add_flags & re.IGNORECASE))
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, getattr(sre_c, "POSSESSIVE_REPEAT", None)):
            low, _high, body = av
            sub = _regex_literals(body, ignorecase) if low >= 1 else None
        elif op is getattr(sre_c, "ATOMIC_GROUP", None):
            sub = _regex_literals(av, ignorecase)
        elif op is sre_c.BRANCH:
            alts = [_regex_literals(a, ignorecase) for a in av[1]]
            sub = None if any(a is None for a in alts) else frozenset().union(*[a for a in alts if a])
        if sub:
            options.append(sub)
    close()
    return _best(options)


def regex_literals(t: Regex) -> frozenset[str] | None:
    try:
        parsed = sre_parse.parse(t.pattern, t.flags)
    except (re.error, RecursionError, TypeError, ValueError):
        return None
    ignorecase = bool(t.flags & re.IGNORECASE) or bool(parsed.state.flags & re.IGNORECASE)
    return _regex_literals(list(parsed), ignorecase)


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
                found = regex_literals(t)
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
