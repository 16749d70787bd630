"""Necessary literals of a regular expression, read from the pattern text: sets of folded text of
which at least one occurs (lower-cased) in any string the expression finds a match in.

The patterns come from detection rules, not from the logs. The reader knows a conservative subset
of Python's syntax (literal characters and escapes, classes, groups, alternation, quantifiers,
anchors, look-arounds, back-references) and returns None, no literal, for anything else (verbose
mode, conditionals, comments, unknown group forms): a missing literal only costs speed, a wrong one
would lose matches. Only ASCII characters form literals; in a case-insensitive part, ``i`` and
``s`` (and ``I``, ``S``) end a literal too, as they also match ``İ``, ``ı`` and ``ſ``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

# Text found in most Windows events: a literal inside one of these is a poor filter.
COMMON = (
    "c:\\windows\\system32\\windowspowershell\\v1.0\\powershell.exe", "c:\\windows\\syswow64\\",
    "c:\\program files (x86)\\microsoft\\", "c:\\program files\\windows defender\\", "c:\\programdata\\",
    "c:\\users\\public\\", "\\appdata\\local\\temp\\", "\\appdata\\roaming\\microsoft\\windows\\",
    "c:\\windows\\temp\\", "\\svchost.exe -k netsvcs", "\\cmd.exe /c ", "\\conhost.exe 0xffffffff -forcev1",
    "nt authority\\system", "\\device\\harddiskvolume", ".exe", ".dll", "microsoft corporation",
    "hklm\\software\\microsoft\\windows\\currentversion\\", "\\registry\\machine\\system\\currentcontrolset\\",
)

Literals = frozenset[str]
MAX_DEPTH = 50  # group nesting beyond this: no literal

_QUANTIFIER = re.compile(r"\{([0-9]*)(?:,([0-9]*))?\}")
_FLAG_GROUP = re.compile(r"\(\?([aiLmsux]*)(?:-([imsx]+))?([:)])")
_GLOBAL_FLAGS = re.compile(r"\(\?([aiLmsux]+)\)")
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_CLASS_ESCAPES = frozenset("dDwWsSbBAZ")  # a class of characters, or an assertion
_CONTROL_ESCAPES = {"a": "\a", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def literal_cost(lit: str) -> float:
    cost = 1.0 / math.pow(len(lit), 1.5)
    return cost * 25 if any(lit in c for c in COMMON) else cost


def cheapest(options: Iterable[Literals]) -> Literals | None:
    """The most selective non-empty option (lowest summed cost), None when there is none."""
    found = [o for o in options if o]
    return min(found, key=lambda o: sum(literal_cost(x) for x in o)) if found else None


class _Unsure(Exception):
    """The pattern uses syntax the reader does not model."""


@dataclass
class _Item:
    """One element of a sequence: a character that may join a literal (``char``), or something
    else, with the literal options it guarantees (``need``, groups only)."""

    char: str = ""
    need: Literals | None = None


class _Reader:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    def peek(self, n: int = 1) -> str:
        return self.p[self.i:self.i + n]

    def alternatives(self, ignorecase: bool, depth: int) -> Literals | None:
        """An alternation up to ``)`` or the end: the union of each branch's literals, or None
        when one branch guarantees none."""
        if depth > MAX_DEPTH:
            raise _Unsure("nesting")
        branches = [self.sequence(ignorecase, depth)]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.sequence(ignorecase, depth))
        if any(b is None for b in branches):
            return None
        return frozenset().union(*[b for b in branches if b])

    def sequence(self, ignorecase: bool, depth: int) -> Literals | None:
        items: list[_Item] = []
        while self.i < len(self.p) and self.peek() not in ("|", ")"):
            if self.quantifier(items):
                continue
            items.append(self.atom(ignorecase, depth))
        return _best_of(items, ignorecase)

    def quantifier(self, items: list[_Item]) -> bool:
        """Apply a quantifier at the cursor to the last item; False when there is none."""
        c = self.peek()
        if c in ("*", "?"):
            low, self.i = 0, self.i + 1
        elif c == "+":
            low, self.i = 1, self.i + 1
        elif c == "{":
            m = _QUANTIFIER.match(self.p, self.i)
            if m is None or m.group(0) == "{}":
                return False  # a brace that matches itself, read by ``atom``
            low, self.i = int(m.group(1) or 0), m.end()
        else:
            return False
        if not items:
            raise _Unsure("nothing to repeat")
        if self.peek() in ("?", "+"):  # lazy or possessive
            self.i += 1
        if low == 0:
            items[-1] = _Item()  # optional: guarantees nothing, and splits the literal around it
        else:
            items.append(_Item())  # repeated: present, but what follows is not next to its first copy
        return True

    def atom(self, ignorecase: bool, depth: int) -> _Item:
        c = self.p[self.i]
        if c == "\\":
            return self.escape()
        if c == "[":
            self.char_class()
            return _Item()
        if c == "(":
            return self.group(ignorecase, depth)
        self.i += 1
        if c in ".^$":
            return _Item()
        if c == "{":
            return _Item()  # a brace that is not a quantifier matches itself: kept out of literals
        return _Item(char=c)

    def escape(self) -> _Item:
        if self.i + 1 >= len(self.p):
            raise _Unsure("trailing backslash")
        c = self.p[self.i + 1]
        self.i += 2
        if c in _HEX_ESCAPES:
            n = _HEX_ESCAPES[c]
            digits = self.p[self.i:self.i + n]
            if len(digits) != n or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise _Unsure("escape")
            self.i += n
            return _Item(char=chr(int(digits, 16)))
        if c == "N":
            end = self.p.find("}", self.i)
            if self.peek() != "{" or end < 0:
                raise _Unsure("escape")
            self.i = end + 1
            return _Item()
        if c.isdigit():  # octal escape or back-reference: consume every digit, guarantee nothing
            while self.i < len(self.p) and self.p[self.i].isdigit():
                self.i += 1
            return _Item()
        if c in _CONTROL_ESCAPES:
            return _Item(char=_CONTROL_ESCAPES[c])
        if c in _CLASS_ESCAPES:
            return _Item()
        if c.isascii() and c.isalnum():
            raise _Unsure("unknown escape")
        return _Item(char=c)

    def char_class(self) -> None:
        """Skip ``[...]``: a leading ``^`` and a ``]`` right after it are part of the class."""
        self.i += 1
        if self.peek() == "^":
            self.i += 1
        if self.peek() == "]":
            self.i += 1
        while self.i < len(self.p) and self.p[self.i] != "]":
            self.i += 2 if self.p[self.i] == "\\" else 1
        if self.i >= len(self.p):
            raise _Unsure("unterminated class")
        self.i += 1

    def group(self, ignorecase: bool, depth: int) -> _Item:
        rest = self.p[self.i:]
        guaranteed = True
        if rest.startswith(("(?:", "(?>")):
            self.i += 3
        elif rest.startswith(("(?=", "(?!")):
            self.i, guaranteed = self.i + 3, False
        elif rest.startswith(("(?<=", "(?<!")):
            self.i, guaranteed = self.i + 4, False
        elif rest.startswith("(?P<"):
            end = self.p.find(">", self.i)
            if end < 0:
                raise _Unsure("group name")
            self.i = end + 1
        elif rest.startswith("(?P="):
            end = self.p.find(")", self.i)
            if end < 0:
                raise _Unsure("group reference")
            self.i = end + 1
            return _Item()
        elif rest.startswith("(?"):
            m = _FLAG_GROUP.match(self.p, self.i)
            if m is None or m.group(3) == ")":  # a global flag group, conditional, comment...
                raise _Unsure("group form")
            if "x" in m.group(1):
                raise _Unsure("verbose")
            ignorecase = ignorecase or "i" in m.group(1)
            self.i = m.end()
        else:
            self.i += 1
        inner = self.alternatives(ignorecase, depth + 1)
        if self.peek() != ")":
            raise _Unsure("unbalanced group")
        self.i += 1
        return _Item(need=inner if guaranteed else None)


def _best_of(items: list[_Item], ignorecase: bool) -> Literals | None:
    options: list[Literals] = []
    run: list[str] = []
    for item in items:
        c = item.char
        if c and c.isascii() and not (ignorecase and c.lower() in ("i", "s")):
            run.append(c)
            continue
        if run:
            options.append(frozenset(["".join(run).lower()]))
            run.clear()
        if item.need:
            options.append(item.need)
    if run:
        options.append(frozenset(["".join(run).lower()]))
    return cheapest(options)


def regex_literals(pattern: str, flags: int) -> Literals | None:
    """Literal sets one of which every match of ``re.compile(pattern, flags)`` contains (folded
    with ``str.lower``); None when the pattern guarantees none or the reader is unsure."""
    try:
        re.compile(pattern, flags)
    except (re.error, RecursionError, TypeError, ValueError):
        return None
    if flags & re.VERBOSE:
        return None
    ignorecase = bool(flags & re.IGNORECASE)
    reader = _Reader(pattern)
    while m := _GLOBAL_FLAGS.match(pattern, reader.i):  # global inline flags, only allowed at the start
        if "x" in m.group(1):
            return None
        ignorecase = ignorecase or "i" in m.group(1)
        reader.i = m.end()
    try:
        found = reader.alternatives(ignorecase, 0)
    except _Unsure:
        return None
    if reader.i != len(pattern):
        return None
    return found or None
