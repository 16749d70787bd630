"""Compile pySigma's parsed condition trees into Python predicates over ECS events.

Semantics follow the Sigma specification: strings match case-insensitively unless ``cased``;
wildcards ``*`` and ``?``; keywords (field-less values) match anywhere in the message; a field
holding a list matches when any element does; ``null`` matches a missing or empty field.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from cert.ecs import Event, get

Predicate = Callable[[Event], bool]
ValueTest = Callable[[Any, Event], bool]
KEYWORD_FIELDS = ("message", "event.original")
_MISSING = object()


class Unsupported(Exception):
    """A rule uses something this engine does not evaluate; the message says what."""


def _values(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def _string_test(s: SigmaString, keyword: bool) -> ValueTest:
    cased = isinstance(s, SigmaCasedString)
    flags = 0 if cased else re.IGNORECASE
    if not s.contains_special():
        plain = s.to_plain()
        if keyword:
            needle = plain if cased else plain.lower()
            return lambda v, _e: needle in (str(v) if cased else str(v).lower())
        if cased:
            return lambda v, _e: str(v) == plain
        low = plain.lower()
        return lambda v, _e: (str(v).lower() == low) if not isinstance(v, bool) else str(v).lower() == low
    pattern = "".join(
        re.escape(p) if isinstance(p, str) else (".*" if p == SpecialChars.WILDCARD_MULTI else ".")
        for p in s.s
        if isinstance(p, str | SpecialChars)
    )
    if any(not isinstance(p, str | SpecialChars) for p in s.s):
        raise Unsupported("placeholders in values (expand modifier without configured values)")
    rx = re.compile(pattern, flags | re.DOTALL)
    if keyword:
        return lambda v, _e: rx.search(str(v)) is not None
    return lambda v, _e: rx.fullmatch(str(v)) is not None


def _regex_test(r: SigmaRegularExpression) -> ValueTest:
    flags = 0
    for f in r.flags:
        flags |= {
            SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
            SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
            SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
        }[f]
    rx = re.compile(str(r.regexp), flags)
    return lambda v, _e: rx.search(str(v)) is not None


def _number_test(n: SigmaNumber) -> ValueTest:
    num = n.number

    def test(v: Any, _e: Event) -> bool:
        if isinstance(v, bool):
            return False
        if isinstance(v, int | float):
            return bool(v == num)
        return str(v) == str(num)

    return test


def _cidr_test(c: SigmaCIDRExpression) -> ValueTest:
    net = c.network

    def test(v: Any, _e: Event) -> bool:
        try:
            addr = ipaddress.ip_address(str(v))
        except ValueError:
            return False
        return addr.version == net.version and addr in net

    return test


def _compare_test(c: SigmaCompareExpression) -> ValueTest:
    ops = {
        CompareOperators.LT: lambda a, b: a < b,
        CompareOperators.LTE: lambda a, b: a <= b,
        CompareOperators.GT: lambda a, b: a > b,
        CompareOperators.GTE: lambda a, b: a >= b,
    }
    op, ref = ops[c.op], c.number.number

    def test(v: Any, _e: Event) -> bool:
        try:
            return bool(op(float(v), ref))
        except (TypeError, ValueError):
            return False

    return test


def value_test(value: Any, keyword: bool = False) -> ValueTest:
    if isinstance(value, SigmaString):
        return _string_test(value, keyword)
    if isinstance(value, SigmaRegularExpression):
        return _regex_test(value)
    if isinstance(value, SigmaBool):
        b = value.boolean
        return lambda v, _e: v is b or str(v).lower() == str(b).lower()
    if isinstance(value, SigmaNumber):
        return _number_test(value)
    if isinstance(value, SigmaCIDRExpression):
        return _cidr_test(value)
    if isinstance(value, SigmaCompareExpression):
        return _compare_test(value)
    if isinstance(value, SigmaFieldReference):
        other = value.field
        return lambda v, e: any(str(v) == str(o) for o in _values(get(e, other, _MISSING)) if o is not _MISSING)
    if isinstance(value, SigmaExpansion):
        tests = [value_test(x, keyword) for x in value.values]
        return lambda v, e: any(t(v, e) for t in tests)
    raise Unsupported(f"value type {type(value).__name__}")


def _field_predicate(field: str, value: Any) -> Predicate:
    if isinstance(value, SigmaNull):
        return lambda e: get(e, field) in (None, "", [])
    if isinstance(value, SigmaExists):
        want = value.exists
        return lambda e: (get(e, field) is not None) == want
    test = value_test(value)

    def pred(e: Event) -> bool:
        v = get(e, field, _MISSING)
        if v is _MISSING or v is None:
            return False
        return any(test(x, e) for x in _values(v))

    return pred


def _keyword_predicate(value: Any) -> Predicate:
    test = value_test(value, keyword=True)

    def pred(e: Event) -> bool:
        for f in KEYWORD_FIELDS:
            v = get(e, f)
            if v is not None and test(v, e):
                return True
        return False

    return pred


def compile_condition(node: Any) -> Predicate:
    """A predicate for a postprocessed pySigma condition tree."""
    if isinstance(node, ConditionOR):
        subs = [compile_condition(a) for a in node.args]
        return lambda e: any(p(e) for p in subs)
    if isinstance(node, ConditionAND):
        subs = [compile_condition(a) for a in node.args]
        return lambda e: all(p(e) for p in subs)
    if isinstance(node, ConditionNOT):
        sub = compile_condition(node.args[0])
        return lambda e: not sub(e)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _field_predicate(node.field, node.value)
    if isinstance(node, ConditionValueExpression):
        return _keyword_predicate(node.value)
    raise Unsupported(f"condition element {type(node).__name__}")
