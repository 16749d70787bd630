"""Compile the condition IR (:mod:`detectors.sigma.ir`) into closures over one event's extracted
values: ``low`` (field -> case-folded text, or a tuple of them for lists) and ``raw`` (field ->
original value). Same-field value lists are merged (set lookup, ``endswith(tuple)``, one regex).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import ahocorasick

from detectors.sigma.ir import (
    And,
    Bool,
    Cidr,
    Cmp,
    Exists,
    Match,
    Node,
    Not,
    Null,
    Num,
    Or,
    Ref,
    Regex,
    Str,
    TimePart,
    glob_regex,
)
from detectors.sigma.literals import regex_literals

Pred = Callable[[dict[str, Any], dict[str, Any]], bool]
KEYWORDS = "\x00keywords"  # every string of the event (a tuple)
KEYWORD_TEXT = "\x00keyword-text"  # the same, folded and joined with NUL: one scan for plain keywords


def fold(v: Any) -> Any:
    """Case-folded text of a value (tuple for a list); None for values that have no text."""
    t = type(v)
    if t is str:
        return v.lower()
    if t is bool:
        return "true" if v else "false"
    if t is int or t is float:
        return str(v)
    if t is list:
        return tuple(x for x in map(fold, v) if type(x) is str)
    return None


def text(v: Any) -> str | None:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str | int | float):
        return str(v)
    return None


def number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(int(v))
        except ValueError:
            try:
                return float(v)
            except ValueError:
                return None
    return None


def strings(value: Any) -> list[str]:
    """Every string in an event (keyword search)."""
    out: list[str] = []
    stack = [value]
    pop, push, add = stack.pop, stack.extend, out.append
    while stack:
        x = pop()
        t = type(x)
        if t is str:
            add(x)
        elif t is dict:
            push(x.values())
        elif t is list:
            push(x)
    return out


def _items(v: Any) -> tuple[Any, ...]:
    return v if type(v) is tuple else (v,)


# ---- string tests on folded text -------------------------------------------------------------

def _folded(path: str, check: Callable[[str], bool]) -> Pred:
    def pred(low: dict[str, Any], _raw: dict[str, Any]) -> bool:
        v = low.get(path)
        if v is None:
            return False
        if v.__class__ is str:
            return check(v)
        return any(check(x) for x in v)

    return pred


def str_check(kind: str, values: list[str]) -> Callable[[str], bool]:
    if kind == "eq":
        if len(values) == 1:
            one = values[0]
            return lambda v: v == one
        wanted = frozenset(values)
        return lambda v: v in wanted
    if kind == "prefix":
        pre = tuple(values)
        return lambda v: v.startswith(pre)
    if kind == "suffix":
        suf = tuple(values)
        return lambda v: v.endswith(suf)
    if kind == "contains":
        if len(values) == 1:
            one = values[0]
            return lambda v: one in v
        if "" in values:
            return lambda v: True
        if len(values) <= 4:
            many = tuple(values)
            return lambda v: any(n in v for n in many)
        singles = frozenset(n for n in values if len(n) == 1)
        longer = [n for n in values if len(n) > 1]
        if not longer:
            return lambda v: not singles.isdisjoint(v)
        auto = ahocorasick.Automaton()  # one pass over the value for all the longer needles
        for n in longer:
            auto.add_word(n, n)
        auto.make_automaton()
        if not singles:
            return lambda v: next(auto.iter(v), None) is not None
        return lambda v: not singles.isdisjoint(v) or next(auto.iter(v), None) is not None
    raise ValueError(kind)


def _raw_values(path: str, check: Callable[[Any], bool]) -> Pred:
    def pred(_low: dict[str, Any], raw: dict[str, Any]) -> bool:
        v = raw.get(path)
        if v is None:
            return False
        if type(v) is list or type(v) is tuple:
            return any(x is not None and check(x) for x in v)
        return check(v)

    return pred


def _cased(t: Str) -> Callable[[Any], bool]:
    if t.kind == "glob":
        rx = glob_regex(t)

        def glob_check(x: Any) -> bool:
            s = text(x)
            return s is not None and rx.fullmatch(s) is not None

        return glob_check
    inner = str_check(t.kind, [t.value])

    def check(x: Any) -> bool:
        s = text(x)
        return s is not None and inner(s)

    return check


def _value_check(t: Any, path: str) -> Callable[[Any], bool]:
    if isinstance(t, Regex):
        rx = re.compile(t.pattern, t.flags)
        needed = regex_literals(t.pattern, t.flags)
        if needed:  # a literal the regex cannot match without: test it before running the regex
            has = str_check("contains", sorted(needed))

            def re_check_lit(x: Any) -> bool:
                s = text(x)
                return s is not None and has(s.lower()) and rx.search(s) is not None

            return re_check_lit

        def re_check(x: Any) -> bool:
            s = text(x)
            return s is not None and rx.search(s) is not None

        return re_check
    if isinstance(t, Num):
        want = float(t.value)
        return lambda x: number(x) == want
    if isinstance(t, Bool):
        word = "true" if t.value else "false"
        return lambda x: (x is t.value) if isinstance(x, bool) else (isinstance(x, str) and x.lower() == word)
    if isinstance(t, Cidr):
        net = ipaddress.ip_network(t.network, strict=False)

        def cidr_check(x: Any) -> bool:
            try:
                addr = ipaddress.ip_address(str(x))
            except ValueError:
                return False
            return addr.version == net.version and addr in net

        return cidr_check
    if isinstance(t, Cmp):
        ref = float(t.value)
        op: Callable[[float, float], bool] = {
            "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b, "gt": lambda a, b: a > b,
            "gte": lambda a, b: a >= b, "neq": lambda a, b: a != b}[t.op]

        def cmp_check(x: Any) -> bool:
            n = number(x)
            return n is not None and op(n, ref)

        return cmp_check
    if isinstance(t, TimePart):
        part, want = t.part, t.value

        def time_check(x: Any) -> bool:
            try:
                dt = x if isinstance(x, datetime) else datetime.fromisoformat(str(x).replace("Z", "+00:00"))
            except ValueError:
                return False
            got = dt.isocalendar().week if part == "week" else getattr(dt, part)
            return bool(got == want)

        return time_check
    raise ValueError(f"no check for {type(t).__name__} on {path}")


def _ref(path: str, t: Ref) -> Pred:
    other = t.field

    def pred(low: dict[str, Any], _raw: dict[str, Any]) -> bool:
        mine, theirs = low.get(path), low.get(other)
        if mine is None or theirs is None:
            return False
        for m in _items(mine):
            for o in _items(theirs):
                if t.starts and t.ends:
                    ok = o in m
                elif t.starts:
                    ok = m.startswith(o)
                elif t.ends:
                    ok = m.endswith(o)
                else:
                    ok = m == o
                if ok:
                    return True
        return False

    return pred


def compile_match(m: Match) -> Pred:
    path = m.field if m.field is not None else KEYWORDS
    t = m.test
    if isinstance(t, Str):
        if t.cased:
            return _raw_values(path, _cased(t))
        if m.field is None and t.kind == "contains":  # a plain keyword: one search in the joined text
            return _folded(KEYWORD_TEXT, str_check("contains", [t.value]))
        if t.kind == "glob":
            rx = glob_regex(t)
            return _folded(path, lambda v: rx.fullmatch(v) is not None)
        return _folded(path, str_check(t.kind, [t.value]))
    if isinstance(t, Null):
        return lambda _low, raw: raw.get(path) in (None, "", [])
    if isinstance(t, Exists):
        want = t.value
        return lambda _low, raw: (path in raw) == want
    if isinstance(t, Ref):
        return _ref(path, t)
    return _raw_values(path, _value_check(t, path))


def _mergeable(n: Node) -> tuple[str, str] | None:
    if not isinstance(n, Match) or not isinstance(n.test, Str) or n.test.cased or n.test.kind == "glob":
        return None
    if n.field is None:
        return (KEYWORD_TEXT, "contains") if n.test.kind == "contains" else None
    return n.field, n.test.kind


def _flatten(kind: type[And] | type[Or], args: tuple[Node, ...]) -> list[Node]:
    out: list[Node] = []
    for a in args:
        if isinstance(a, kind):
            out.extend(_flatten(kind, a.args))
        else:
            out.append(a)
    return out


def _cost(n: Node) -> int:
    if isinstance(n, Match):
        t = n.test
        if n.field is None or isinstance(t, Regex) or (isinstance(t, Str) and t.kind == "glob"):
            return 3
        return 1 if isinstance(t, Str) and t.kind != "contains" else 2
    if isinstance(n, Not):
        return _cost(n.arg) + 1
    return 4


def compile_node(node: Node) -> Pred:
    if isinstance(node, Match):
        return compile_match(node)
    if isinstance(node, Not):
        sub = compile_node(node.arg)
        return lambda low, raw: not sub(low, raw)
    if isinstance(node, Or):
        args = _flatten(Or, node.args)
        groups: dict[tuple[str, str], list[str]] = {}
        others: list[Node] = []
        for a in args:
            key = _mergeable(a)
            if key is not None and isinstance(a, Match) and isinstance(a.test, Str):
                groups.setdefault(key, []).append(a.test.value)
            else:
                others.append(a)
        preds = [_folded(f, str_check(kind, vals)) for (f, kind), vals in groups.items()]
        preds += [compile_node(o) for o in sorted(others, key=_cost)]
        if len(preds) == 1:
            return preds[0]
        if len(preds) == 2:
            either, other = preds
            return lambda low, raw: either(low, raw) or other(low, raw)

        def any_of(low: dict[str, Any], raw: dict[str, Any]) -> bool:
            for p in preds:  # noqa: SIM110 - per-event inner loop: any() over a generator is slower
                if p(low, raw):
                    return True
            return False

        return any_of
    args = sorted(_flatten(And, node.args), key=_cost)
    preds = [compile_node(a) for a in args]
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        first, second = preds
        return lambda low, raw: first(low, raw) and second(low, raw)

    def all_of(low: dict[str, Any], raw: dict[str, Any]) -> bool:
        for p in preds:  # noqa: SIM110 - per-event inner loop: all() over a generator is slower
            if not p(low, raw):
                return False
        return True

    return all_of
