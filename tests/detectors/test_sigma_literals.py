"""The literals read from a regex pattern gate the regex and the rule: whatever string the regex
finds a match in must contain (lower-cased) one of them, or the engine would miss a detection."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.sigma.literals import regex_literals

# Patterns of SigmaHQ rules, and forms the reader must handle (or refuse) carefully.
PATTERNS = [
    r"(?:\s-[^-\s]{0,20}d|\s--directory\s)",
    r"(?i)\s(-u|--user)\s*:",
    r"(?i)(set).*&&\s?set.*(environment|invoke|\$?\{?input).*&&.*\"",
    r"(?i)/lib/python3\.([5-9]|[0-9]{2})/site-packages/",
    r"(?i)\$\{`?e`?n`?v`?:`?p`?a`?t`?h`?\}",
    r"(Copy-Item|cpi) .{2,128} -Destination .{1,32}\\Windows\\(System32|SysWOW64)",
    r"(^0oa.*|[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,10})",
    r"-[a-z0-9]{3}\.[a-z0-9-]{3,}-s-account\.workers\.dev|\.up\.railway\.app",
    r"\\mojo\.5688\.8052\.(?:183894939787088877|35780273329370473)[0-9a-f]{2}",
    r"\\scerpc_?[0-9a-f]{2}",
    r"https?://(?:(?:25[0-5]|(?:2[0-4]|1\d|[1-9])?\d)(?:\.|\b)){4}",
    r"cmd.{0,5}(?:/c|/r).+powershell.+(?:\$?\{?input\}?|noexit).+\"",
    r"\n\n\n",
    r"^C:\\Users\\[^\\]+\\NTUSER\.DAT$",
    r"[Rr][Uu][Nn][Dd][Ll][Ll]32(?:\.[Ee][Xx][Ee])? \S+?\w:\S+?:",
    r"ab{2}c{0}d{,2}e{1,}f{}g{x}",
    r"a[]b]c[^]d]e[\]x]f",
    r"(x)\x41BC\u0044\101\1?",
    r"(a)(?P<n>bc)(?P=n)\1",
    r"(?=xy)x(?!def)y(?<=xy)z(?<!q)w",
    r"(?>atomic)+(?i:kiss)(?-i:Miss)",
    r"(?is)Kissing\s+ISLAND",
    r"ab+?c*?d??e{2,3}?f++",
    r"a|",
    r"(abc|)",
    r"é?école\.fr|ÉCOLE",
    r"\.exe\b",
]

EXPECTED = {
    r"\\scerpc_?[0-9a-f]{2}": {"\\scerpc"},
    r"(?i)\s(-u|--user)\s*:": {"-u", "--u"},
    r"-[a-z0-9]{3}\.[a-z0-9-]{3,}-s-account\.workers\.dev|\.up\.railway\.app": {"-s-account.workers.dev",
                                                                                 ".up.railway.app"},
    r"ab{2}c{0}d{,2}e{1,}f{}g{x}": {"ab"},
    r"(x)\x41BC\u0044\101\1?": {"abcd"},
    r"(?>atomic)+(?i:kiss)(?-i:Miss)": {"atomic"},
    r"\n\n\n": {"\n\n\n"},
    r"\.exe\b": {".exe"},
}


@pytest.mark.parametrize("pattern", [p for p in PATTERNS if p in EXPECTED])
def test_known_literals(pattern: str) -> None:
    assert regex_literals(pattern, 0) == EXPECTED[pattern]


@pytest.mark.parametrize("pattern", [
    "a?", "(abc)*", "x{0,3}", "a|", "(abc|)", "(?=abcdef)", "[abc]+", ".{3,}", r"\d+",
    "(?x) abc", "(?#comment)abc", "(a)?(?(1)abc|abd)", "(?<name>abc)", "abc(",
])
def test_no_literal_when_none_is_certain_or_the_syntax_is_not_modelled(pattern: str) -> None:
    assert regex_literals(pattern, 0) is None
    assert regex_literals("abc", re.VERBOSE) is None


def test_case_insensitive_literals_avoid_letters_with_non_ascii_variants() -> None:
    # under IGNORECASE, i matches ı and İ, s matches ſ: those letters end a literal
    assert regex_literals("kiss", re.IGNORECASE) == {"k"}
    assert regex_literals("kiss", 0) == {"kiss"}
    assert regex_literals("(?i)Kissing\\s+ISLAND", 0) == {"land"}
    for text in ("KıſS", "kİSſ", "\u212aiss"):  # Kelvin sign, dotless i, long s
        assert re.search("kiss", text, re.IGNORECASE)
        assert "k" in text.lower()


def _check(pattern: str, flags: int, text: str) -> None:
    found = regex_literals(pattern, flags)
    if found is None:
        return
    assert re.search(pattern, text, flags)
    assert any(lit in text.lower() for lit in found), (pattern, text, found)


# Characters whose case-insensitive matches are not ASCII, swapped in to try the reader's caution.
VARIANTS = {"i": "ıİ", "I": "ıİ", "s": "ſ", "S": "ſ", "k": "\u212a", "K": "\u212a"}


def _variants(text: str) -> list[str]:
    return [text[:i] + v + text[i + 1:] for i, c in enumerate(text) for v in VARIANTS.get(c, "")]


@pytest.mark.parametrize("flags", [0, re.IGNORECASE])
@pytest.mark.parametrize("pattern", PATTERNS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_string_the_regex_matches_contains_a_literal(pattern: str, flags: int, data: st.DataObject) -> None:
    text = data.draw(st.from_regex(re.compile(pattern, flags)))
    _check(pattern, flags, text)
    for variant in _variants(text):
        if re.search(pattern, variant, flags):
            _check(pattern, flags, variant)


# Random patterns over the syntax the reader models: characters (some with non-ASCII case
# variants), escapes, classes, groups of every kind, alternation and quantifiers.
_CHARS = st.sampled_from(["a", "b", "i", "s", "K", "k", "S", "-", ".", "\\", "é", " ", "{", "}", "]", "\n"])
_ATOMS = st.one_of(
    _CHARS.map(lambda c: re.escape(c) if c in ".\\{}" else c),
    st.sampled_from([r"\d", r"\w", r"\s", r"\x41", r"\x69", r"\t", r"[a-c]", r"[^x]", r"[]i]", ".", r"\.",
                     "{", "a{x}", r"\b"]),
)


def _quantified(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    quant = st.sampled_from(["", "", "", "?", "*", "+", "{2}", "{0,2}", "{1,3}", "{,2}", "{2,}", "+?", "*?", "??"])
    return st.tuples(inner, quant).map("".join)


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    seq = st.lists(_quantified(inner), min_size=1, max_size=4).map("".join)
    alts = st.lists(seq, min_size=1, max_size=3).map("|".join)
    group = st.tuples(st.sampled_from(["(", "(?:", "(?i:", "(?>", "(?P<g>", "(?-i:"]), alts).map(lambda t: t[0] + t[1] + ")")
    return st.one_of(group, st.lists(_quantified(inner), min_size=1, max_size=5).map("".join))


_PATTERNS = st.recursive(_ATOMS, _extend, max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(pattern=st.lists(_PATTERNS, min_size=1, max_size=3).map("|".join),
       flags=st.sampled_from([0, re.IGNORECASE]), data=st.data())
def test_random_patterns(pattern: str, flags: int, data: st.DataObject) -> None:
    try:
        compiled = re.compile(pattern, flags)
    except re.error:
        assert regex_literals(pattern, flags) is None
        return
    text = data.draw(st.from_regex(compiled))
    _check(pattern, flags, text)
    for variant in _variants(text):
        if compiled.search(variant):
            _check(pattern, flags, variant)
