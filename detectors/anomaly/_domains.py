"""Domain names as DNS detectors read them: normalised (case, trailing dot, empty labels), split at
the registered domain by the Public Suffix List bundled with ``publicsuffixlist`` (read from the
package, never fetched), and measured (length, entropy of the characters).

Names come from logs and are attacker-controlled: any string (or anything else) is accepted, and a
name that cannot be split gives None rather than an error.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache

from cert.enrichment.domains import suffixes

#: the longest name DNS carries (RFC 1035: 255 octets on the wire, 253 characters written)
MAX_NAME = 253


def normalise(name: object) -> str | None:
    """The name lower-cased, without its trailing dot nor empty labels, internationalised labels
    in their ``xn--`` form; None when nothing is left or ``name`` is not a string."""
    if not isinstance(name, str):
        return None
    labels = [_ace(label) for label in name.strip().lower().split(".") if label]
    return ".".join(labels) or None


def _ace(label: str) -> str:
    """An internationalised label in the ASCII form DNS carries (``xn--...``), when it converts."""
    if label.isascii():
        return label
    try:
        return label.encode("idna").decode("ascii")
    except UnicodeError:
        return label


@lru_cache(maxsize=200_000)
def split(name: str) -> tuple[str, str, str] | None:
    """``(subdomain, registered domain, public suffix)`` of a normalised name; the subdomain is
    empty when the name is its registered domain. None when the name has no registered domain
    (a public suffix itself, a single label, an over-long name)."""
    if not name or len(name) > 4 * MAX_NAME:
        return None
    found = suffixes(name)
    if found is None:
        return None
    registered, suffix = found
    sub = name[: len(name) - len(registered)].rstrip(".")
    return sub, registered, suffix


def registered_label(registered: str, suffix: str) -> str:
    """The label the owner chose: the registered domain without its public suffix."""
    return registered[: len(registered) - len(suffix)].rstrip(".") if registered.endswith(suffix) else registered


def entropy(text: str) -> float:
    """Shannon entropy of the characters of ``text``, in bits per character (0 for '')."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())
