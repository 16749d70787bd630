"""The naive evaluator: every event against every rule, straight from pySigma's condition tree.

No index, no prefilter, no flattening: each leaf looks its field up in the nested event and
compares with a regular expression or a plain comparison. It is the correctness oracle of the fast
engine (:mod:`detectors.sigma.fast`; a test checks they agree on every Windows event of the corpora)
and its speed baseline. Semantics: see :mod:`detectors.sigma.ir`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from datetime import datetime
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
    Placeholder,
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
    SigmaTimestampPart,
    SpecialChars,
)

from cert.core.ecs import Event, get
from detectors.sigma.ir import Unsupported
from detectors.sigma.keywords import MESSAGE, NOT_CONTENT, ORIGINAL, WINDOWS
from detectors.sigma.match import number as _number  # scalar coercions shared with the fast engine;
from detectors.sigma.match import text as _text  # the matching itself stays independent

Predicate = Callable[[Event], bool]
ValueTest = Callable[[Any, Event], bool]
_MISSING = object()


def _strings(value: Any) -> Iterator[str]:
    """Every string in an event (keyword search)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _content_strings(e: Event) -> Iterator[str]:
    """Every string of the event's own content (:mod:`detectors.sigma.keywords`): ``message``,
    ``event.original`` (not on Windows events), and the top-level fields outside ECS and ``vigie``."""
    windows = any(k == WINDOWS or k.startswith(WINDOWS + ".") for k in e)
    for key, value in e.items():
        root = key.split(".", 1)[0]
        if key == MESSAGE or root not in NOT_CONTENT or (key == ORIGINAL and not windows):
            yield from _strings(value)
        elif key == "event" and not windows and isinstance(value, dict):
            yield from _strings(value.get("original"))


def _wildcard_regex(s: SigmaString, keyword: bool) -> Callable[[str], Any]:
    """A matcher for a Sigma string with wildcards: the whole value must match (a keyword: found
    anywhere). Leading and trailing ``*`` become an unanchored search rather than ``.*``."""
    parts: list[Any] = []
    for p in s.s:
        if isinstance(p, Placeholder):
            raise Unsupported(f"placeholder %{p.name}% has no values (set them in sigma_placeholders_file)")
        parts.append(p)
    start = keyword or (bool(parts) and parts[0] == SpecialChars.WILDCARD_MULTI)
    end = keyword or (bool(parts) and parts[-1] == SpecialChars.WILDCARD_MULTI)
    while parts and parts[0] == SpecialChars.WILDCARD_MULTI:
        parts.pop(0)
    while parts and parts[-1] == SpecialChars.WILDCARD_MULTI:
        parts.pop()
    out = []
    for p in parts:
        if p == SpecialChars.WILDCARD_MULTI:
            out.append(".*")
        elif p == SpecialChars.WILDCARD_SINGLE:
            out.append(".")
        else:
            out.append(re.escape(p if isinstance(s, SigmaCasedString) else str(p).lower()))
    rx = re.compile("".join(out) + ("" if end else r"\Z"), re.DOTALL)
    return rx.search if start else rx.match


def _string_test(s: SigmaString, keyword: bool) -> ValueTest:
    cased = isinstance(s, SigmaCasedString)
    if not keyword and not s.contains_special() and not s.contains_placeholder():
        plain = s.to_plain_regex() if cased else s.to_plain_regex().lower()

        def equal(v: Any, _e: Event) -> bool:
            t = _text(v)
            return t is not None and (t if cased else t.lower()) == plain

        return equal
    match = _wildcard_regex(s, keyword)

    def test(v: Any, _e: Event) -> bool:
        t = _text(v)
        if t is None:
            return False
        return match(t if cased else t.lower()) is not None

    return test


def _regex_test(r: SigmaRegularExpression) -> ValueTest:
    flags = 0
    for f in r.flags:
        flags |= {SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
                  SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
                  SigmaRegularExpressionFlag.DOTALL: re.DOTALL}[f]
    rx = re.compile(str(r.regexp), flags)

    def test(v: Any, _e: Event) -> bool:
        t = _text(v)
        return t is not None and rx.search(t) is not None

    return test


def _number_test(n: SigmaNumber) -> ValueTest:
    want = float(n.number)
    return lambda v, _e: _number(v) == want


def _compare_test(c: SigmaCompareExpression) -> ValueTest:
    ref = float(c.number.number)
    op: Callable[[float, float], bool] = {
        CompareOperators.LT: lambda a, b: a < b,
        CompareOperators.LTE: lambda a, b: a <= b,
        CompareOperators.GT: lambda a, b: a > b,
        CompareOperators.GTE: lambda a, b: a >= b,
        CompareOperators.NEQ: lambda a, b: a != b,
    }[c.op]

    def test(v: Any, _e: Event) -> bool:
        x = _number(v)
        return x is not None and op(x, ref)

    return test


def _cidr_test(c: SigmaCIDRExpression) -> ValueTest:
    net = ipaddress.ip_network(str(c.network), strict=False)

    def test(v: Any, _e: Event) -> bool:
        try:
            addr = ipaddress.ip_address(str(v))
        except ValueError:
            return False
        return addr.version == net.version and addr in net

    return test


def _ref_test(r: SigmaFieldReference) -> ValueTest:
    def test(v: Any, e: Event) -> bool:
        mine = _text(v)
        other = get(e, r.field)
        if mine is None or other is None:
            return False
        mine = mine.lower()
        for o in other if isinstance(other, list) else [other]:
            t = _text(o)
            if t is None:
                continue
            t = t.lower()
            if r.starts_with and r.ends_with:
                ok = t in mine
            elif r.starts_with:
                ok = mine.startswith(t)
            elif r.ends_with:
                ok = mine.endswith(t)
            else:
                ok = mine == t
            if ok:
                return True
        return False

    return test


def _time_test(t: SigmaTimestampPart) -> ValueTest:
    part, want = t.timestamp_part.name.lower(), int(t.number)

    def test(v: Any, _e: Event) -> bool:
        try:
            dt = v if isinstance(v, datetime) else datetime.fromisoformat(str(v).replace("Z", "+00:00"))
        except ValueError:
            return False
        got = dt.isocalendar().week if part == "week" else getattr(dt, part)
        return bool(got == want)

    return test


def value_test(value: Any, keyword: bool = False) -> ValueTest:
    if isinstance(value, SigmaExpansion):
        tests = [value_test(x, keyword) for x in value.values]
        return lambda v, e: any(t(v, e) for t in tests)
    if isinstance(value, SigmaString):
        return _string_test(value, keyword)
    if isinstance(value, SigmaRegularExpression):
        return _regex_test(value)
    if keyword and isinstance(value, SigmaNumber):
        return _string_test(SigmaString(str(value.number)), keyword)
    if keyword:
        raise Unsupported(f"keyword of type {type(value).__name__}")
    if isinstance(value, SigmaTimestampPart):
        return _time_test(value)
    if isinstance(value, SigmaBool):
        want = "true" if value.boolean else "false"
        return lambda v, _e: (v is value.boolean) if isinstance(v, bool) else (isinstance(v, str) and v.lower() == want)
    if isinstance(value, SigmaNumber):
        return _number_test(value)
    if isinstance(value, SigmaCIDRExpression):
        return _cidr_test(value)
    if isinstance(value, SigmaCompareExpression):
        return _compare_test(value)
    if isinstance(value, SigmaFieldReference):
        return _ref_test(value)
    raise Unsupported(f"value type {type(value).__name__}")


def _getter(field: str) -> Callable[[Event], Any]:
    """``cert.core.ecs.get`` with the path split once."""
    parts = field.split(".")

    def lookup(e: Event) -> Any:
        if field in e:
            return e[field]
        cur: Any = e
        for p in parts:
            if isinstance(cur, dict) and p in cur:
                cur = cur[p]
            else:
                return None
        return cur

    return lookup


def _field_predicate(field: str, value: Any) -> Predicate:
    if isinstance(value, SigmaNull):
        return lambda e: get(e, field) in (None, "", [])
    if isinstance(value, SigmaExists):
        want = value.exists
        return lambda e: (get(e, field, _MISSING) not in (_MISSING, None)) == want
    test = value_test(value)
    lookup = _getter(field)

    def pred(e: Event) -> bool:
        v = lookup(e)
        if v is None:
            return False
        if isinstance(v, list):
            return any(test(x, e) for x in v)
        return test(v, e)

    return pred


def _keyword_predicate(value: Any) -> Predicate:
    test = value_test(value, keyword=True)
    return lambda e: any(test(s, e) for s in _content_strings(e))


def compile_condition(node: Any) -> Predicate:
    """A predicate for a processed pySigma condition tree."""
    if isinstance(node, ConditionOR | ConditionAND):
        subs = [compile_condition(a) for a in node.args]
        if len(subs) == 1:
            return subs[0]
        if isinstance(node, ConditionOR):
            def any_of(e: Event) -> bool:
                for p in subs:  # noqa: SIM110 - per-event inner loop: any() over a generator is slower
                    if p(e):
                        return True
                return False

            return any_of

        def all_of(e: Event) -> bool:
            for p in subs:  # noqa: SIM110 - per-event inner loop: all() over a generator is slower
                if not p(e):
                    return False
            return True

        return all_of
    if isinstance(node, ConditionNOT):
        sub = compile_condition(node.args[0])
        return lambda e: not sub(e)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _field_predicate(node.field, node.value)
    if isinstance(node, ConditionValueExpression):
        return _keyword_predicate(node.value)
    raise Unsupported(f"condition element {type(node).__name__}")


class NaiveEngine:
    """Each event against each rule: ``matches(event)`` lists the ids of the rules it matches."""

    def __init__(self, rules: list[tuple[str, list[Any]]]) -> None:
        """``rules``: (rule id, processed pySigma condition trees of all its variants)."""
        self.rules = [(rid, [compile_condition(c) for c in conds]) for rid, conds in rules]

    def matches(self, event: Event) -> list[str]:
        out = []
        for rid, preds in self.rules:
            for p in preds:
                if p(event):
                    out.append(rid)
                    break
        return out
