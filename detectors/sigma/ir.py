"""A small intermediate form of a Sigma condition, built from pySigma's parsed and processed
condition tree: boolean nodes over ``(field, test)`` leaves whose tests say precisely what to
compare. The fast engine compiles it (:mod:`detectors.sigma.fast`); the oracle does not use it.

Value semantics (the Sigma specification; both evaluators implement them):

* strings match case-insensitively (both sides ``str.lower()``-folded) unless ``cased``; ``*`` and
  ``?`` are wildcards, ``\\*`` and ``\\?`` the characters themselves (a wildcard is a :class:`Wild`
  token in the IR, never a character); a number or boolean event value is compared as its text;
* a number matches a numeric value or a string that parses as that number;
* a field holding a list matches when any element does; a missing or ``null`` field matches no
  value test; ``null`` matches a missing, null or empty field; ``exists`` tests presence;
* keywords (values without a field) are searched, as ``*value*``, in every string of the event's
  own content (:mod:`detectors.sigma.keywords`);
* ``re`` searches (unanchored, Python syntax, flags ``i``/``m``/``s``) the original text.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass
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
    SigmaQueryExpression,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)


class Unsupported(Exception):
    """A rule uses something this engine cannot evaluate; the message says what."""


# ---- tests ---------------------------------------------------------------------------------------

class Wild(enum.Enum):
    """A wildcard of a Sigma string: any run of characters, or any one character. Literal text
    (an escaped ``\\*`` or ``\\?`` included) is a ``str`` beside these tokens."""

    MANY = "*"
    ONE = "?"


Part = str | Wild


@dataclass(frozen=True)
class Str:
    """kind: eq | prefix | suffix | contains | glob. ``value`` is folded unless ``cased``; for glob,
    ``parts`` holds literal text (``str``) and :class:`Wild` tokens."""

    kind: str
    value: str
    cased: bool = False
    parts: tuple[Part, ...] = ()

    def literals(self) -> list[str]:
        if self.kind != "glob":
            return [self.value] if self.value else []
        return [p for p in self.parts if isinstance(p, str) and p]


@dataclass(frozen=True)
class Regex:
    pattern: str
    flags: int


@dataclass(frozen=True)
class Num:
    value: int | float


@dataclass(frozen=True)
class Bool:
    value: bool


@dataclass(frozen=True)
class Null:
    pass


@dataclass(frozen=True)
class Exists:
    value: bool


@dataclass(frozen=True)
class Cidr:
    network: str


@dataclass(frozen=True)
class Cmp:
    op: str  # lt | lte | gt | gte | neq
    value: int | float


@dataclass(frozen=True)
class Ref:
    field: str
    starts: bool = False
    ends: bool = False


@dataclass(frozen=True)
class TimePart:
    part: str  # minute | hour | day | week | month | year
    value: int


Test = Str | Regex | Num | Bool | Null | Exists | Cidr | Cmp | Ref | TimePart


# ---- nodes ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Match:
    field: str | None  # None: keyword, searched in every string of the event
    test: Test


@dataclass(frozen=True)
class And:
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    arg: Node


Node = Match | And | Or | Not

_CMP = {CompareOperators.LT: "lt", CompareOperators.LTE: "lte", CompareOperators.GT: "gt",
        CompareOperators.GTE: "gte", CompareOperators.NEQ: "neq"}
_RE_FLAGS = {SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
             SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
             SigmaRegularExpressionFlag.DOTALL: re.DOTALL}


def string_parts(s: SigmaString) -> list[Part]:
    """A SigmaString as literal text and :class:`Wild` tokens (adjacent literals merged)."""
    out: list[Part] = []
    for p in s.s:
        if isinstance(p, Placeholder):
            raise Unsupported(f"placeholder %{p.name}% has no values (set them in sigma_placeholders_file)")
        if isinstance(p, SpecialChars):
            out.append(Wild.MANY if p == SpecialChars.WILDCARD_MULTI else Wild.ONE)
        elif out and isinstance(out[-1], str):
            out[-1] += p
        else:
            out.append(p)
    return out


def str_test(s: SigmaString, keyword: bool = False) -> Str:
    parts = string_parts(s)
    cased = isinstance(s, SigmaCasedString)
    if keyword:
        parts = ([Wild.MANY] if parts[:1] != [Wild.MANY] else []) + parts + \
            ([Wild.MANY] if parts[-1:] != [Wild.MANY] else [])
    fold = (lambda x: x) if cased else str.lower
    lits = [p for p in parts if isinstance(p, str)]
    if Wild.ONE not in parts and len(lits) <= 1:
        lit = fold(lits[0]) if lits else ""
        if not parts:
            return Str("eq", "", cased)
        if all(p is Wild.MANY for p in parts):
            return Str("glob", "", cased, (Wild.MANY,))
        stars = (parts[0] is Wild.MANY, parts[-1] is Wild.MANY)
        kind = {(False, False): "eq", (False, True): "prefix", (True, False): "suffix", (True, True): "contains"}[stars]
        return Str(kind, lit, cased)
    return Str("glob", "", cased, tuple(fold(p) if isinstance(p, str) else p for p in parts))


def glob_regex(t: Str) -> re.Pattern[str]:
    body = "".join(re.escape(p) if isinstance(p, str) else ".*" if p is Wild.MANY else "." for p in t.parts)
    return re.compile(body, re.DOTALL)


def value_test(value: Any, keyword: bool = False) -> Test | list[Test]:
    """The test(s) for one pySigma value; an expansion gives several (OR-linked)."""
    if isinstance(value, SigmaExpansion):
        out: list[Test] = []
        for v in value.values:
            t = value_test(v, keyword)
            out.extend(t if isinstance(t, list) else [t])
        return out
    if isinstance(value, SigmaString):
        return str_test(value, keyword)
    if isinstance(value, SigmaRegularExpression):
        flags = 0
        for f in value.flags:
            flags |= _RE_FLAGS[f]
        if value.regexp.contains_placeholder():
            raise Unsupported("placeholder in a regular expression has no values")
        pattern = str(value.regexp)
        try:
            re.compile(pattern, flags)
        except re.error as exc:
            raise Unsupported(f"regular expression {pattern!r} is not valid in Python: {exc}") from None
        return Regex(pattern, flags)
    if keyword:
        if isinstance(value, SigmaNumber):
            return str_test(SigmaString(str(value.number)), keyword=True)
        raise Unsupported(f"keyword of type {type(value).__name__}")
    if isinstance(value, SigmaTimestampPart):
        return TimePart(value.timestamp_part.name.lower(), int(value.number))
    if isinstance(value, SigmaBool):
        return Bool(value.boolean)
    if isinstance(value, SigmaNumber):
        return Num(value.number)
    if isinstance(value, SigmaNull):
        return Null()
    if isinstance(value, SigmaExists):
        return Exists(value.exists)
    if isinstance(value, SigmaCIDRExpression):
        return Cidr(str(value.network))
    if isinstance(value, SigmaCompareExpression):
        return Cmp(_CMP[value.op], value.number.number)
    if isinstance(value, SigmaFieldReference):
        return Ref(value.field, value.starts_with, value.ends_with)
    if isinstance(value, SigmaQueryExpression):
        raise Unsupported("query-expression placeholders are for query backends only")
    raise Unsupported(f"value type {type(value).__name__}")


def build(node: Any) -> Node:
    """IR for a processed pySigma condition tree."""
    if isinstance(node, ConditionOR):
        return Or(tuple(build(a) for a in node.args))
    if isinstance(node, ConditionAND):
        return And(tuple(build(a) for a in node.args))
    if isinstance(node, ConditionNOT):
        return Not(build(node.args[0]))
    if isinstance(node, ConditionFieldEqualsValueExpression | ConditionValueExpression):
        field = node.field if isinstance(node, ConditionFieldEqualsValueExpression) else None
        tests = value_test(node.value, keyword=field is None)
        if isinstance(tests, list):
            return Or(tuple(Match(field, t) for t in tests))
        return Match(field, tests)
    raise Unsupported(f"condition element {type(node).__name__}")


def check_network(t: Cidr) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(t.network, strict=False)


def fields_of(node: Node) -> set[str]:
    """Every event field a condition reads (keywords excluded)."""
    if isinstance(node, Match):
        out = {node.field} if node.field else set()
        if isinstance(node.test, Ref):
            out.add(node.test.field)
        return out
    if isinstance(node, Not):
        return fields_of(node.arg)
    return set().union(*(fields_of(a) for a in node.args)) if node.args else set()


def has_keywords(node: Node) -> bool:
    if isinstance(node, Match):
        return node.field is None
    if isinstance(node, Not):
        return has_keywords(node.arg)
    return any(has_keywords(a) for a in node.args)
