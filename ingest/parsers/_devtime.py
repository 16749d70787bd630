"""Device timestamps as security appliances write them in CEF (``rt``, ``start``, ``end``) and LEEF
(``devTime`` with an optional Java ``devTimeFormat``).

Read: epoch seconds, milliseconds, microseconds or nanoseconds; ``MMM dd [yyyy] HH:mm:ss[.SSS]
[zone]`` (the forms the CEF specification lists); ISO 8601; and, for LEEF, any
``java.text.SimpleDateFormat`` pattern made of the usual letters. A time without a zone is in
``tz`` (the device's ``dtz``, else the source's time zone setting) or UTC; a time without a year
is this year (or last year).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache

from cert.core.parser import ParseError
from ingest.parsers._fields import MONTHS, named_zone, yearless

# Abbreviations that name one offset only (CST, IST... are ambiguous and not read).
ABBREVIATIONS = {"WAT": 1, "CAT": 2, "EAT": 3, "SAST": 2, "WET": 0, "WEST": 1, "CET": 1, "CEST": 2, "EET": 2,
                 "EEST": 3, "MSK": 3, "EST": -5, "EDT": -4, "PST": -8, "PDT": -7, "MST": -7, "MDT": -6,
                 "JST": 9, "AEST": 10, "AEDT": 11, "HKT": 8, "SGT": 8}
_SPEC = re.compile(r"(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2})(?: (?P<year>\d{4}))? (?P<h>\d\d):(?P<m>\d\d):"
                   r"(?P<s>\d\d)(?:\.(?P<frac>\d{1,6}))?(?: (?P<zone>\S+))?$")
_ISO = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d{1,9})?)?(?:Z|[+-]\d\d(?::?\d\d)?)?$")
_ISO_OFFSET = re.compile(r"(?:Z|[+-]\d\d(?::?\d\d)?)$")


def zone(name: str) -> tzinfo:
    """A time zone from a name, an offset or an unambiguous abbreviation; ParseError if unknown."""
    if name.upper() in ABBREVIATIONS:
        return timezone(timedelta(hours=ABBREVIATIONS[name.upper()]))
    tz = named_zone(name)
    if tz is None:
        raise ParseError(f"unknown time zone {name!r}")
    return tz


def _epoch(text: str) -> datetime:
    digits = len(text)
    scale = 1 if digits <= 11 else 10**3 if digits <= 14 else 10**6 if digits <= 17 else 10**9
    value = int(text)
    try:
        return datetime.fromtimestamp(value // scale, UTC) + timedelta(microseconds=(value % scale) * 10**6 // scale)
    except (OverflowError, OSError, ValueError) as exc:
        raise ParseError(f"epoch time out of range: {text}") from exc


def zoneless(text: str, java: str | None = None) -> bool:
    """Whether a device time (in the form ``java`` gives, if any) carries no zone or offset of its
    own, so that the zone given to ``device_time``/``java_time`` is the one it is read in. An epoch
    time is absolute: not zoneless."""
    if java is not None:
        return not any(letter in java for letter in "zZX")
    text = text.strip()
    if text.isascii() and text.isdigit():
        return False
    m = _SPEC.match(text)
    if m is not None:
        return not m["zone"]
    return _ISO.match(text) is not None and not _ISO_OFFSET.search(text)


def device_time(text: str, tz: tzinfo | None = None) -> datetime:
    """An aware datetime; ParseError when the text is none of the forms above."""
    text = text.strip()
    if text.isascii() and text.isdigit() and len(text) <= 19:
        return _epoch(text)
    m = _SPEC.match(text)
    if m is not None:
        month = MONTHS.get(m["mon"])
        if month is None:
            raise ParseError(f"bad month in {text!r}")
        where = zone(m["zone"]) if m["zone"] else tz or UTC
        parts = (int(m["h"]), int(m["m"]), int(m["s"]), int((m["frac"] or "0").ljust(6, "0")))
        try:
            if m["year"]:
                return datetime(int(m["year"]), month, int(m["day"]), *parts, tzinfo=where)
            return yearless(month, int(m["day"]), *parts, tz=where)
        except ValueError as exc:
            raise ParseError(f"bad date {text!r}: {exc}") from exc
    if _ISO.match(text):
        try:
            dt = datetime.fromisoformat(text.replace(",", "."))
        except ValueError as exc:
            raise ParseError(f"bad date {text!r}") from exc
        return dt if dt.tzinfo else dt.replace(tzinfo=tz or UTC)
    raise ParseError(f"unreadable time {text[:60]!r}")


_JAVA = re.compile(r"'[^']*'|([A-Za-z])\1*|[^A-Za-z']+")
_DIRECTIVES = {"yyyy": "%Y", "yy": "%y", "y": "%Y", "MMMM": "%B", "MMM": "%b", "MM": "%m", "M": "%m", "dd": "%d",
               "d": "%d", "HH": "%H", "H": "%H", "hh": "%I", "h": "%I", "kk": "%H", "mm": "%M", "m": "%M",
               "ss": "%S", "s": "%S", "SSS": "%f", "SS": "%f", "S": "%f", "SSSSSS": "%f", "a": "%p", "EEE": "%a",
               "EEEE": "%A", "E": "%a", "Z": "%z", "X": "%z", "XX": "%z", "XXX": "%z", "ZZZ": "%z"}


@lru_cache(maxsize=128)
def strptime_format(java: str) -> tuple[str, bool]:
    """(strptime format, whether the pattern ends with a zone name ``z``) for a SimpleDateFormat."""
    out: list[str] = []
    zone_name = False
    for m in _JAVA.finditer(java):
        token = m.group(0)
        if token.startswith("'"):
            out.append(token[1:-1].replace("%", "%%") or "'")
        elif token[0].isalpha():
            if token[0] == "z" and m.end() == len(java):
                zone_name = True
                continue
            if token not in _DIRECTIVES:
                raise ParseError(f"devTimeFormat {java!r}: unsupported pattern letters {token!r}")
            out.append(_DIRECTIVES[token])
        else:
            out.append(token.replace("%", "%%"))
    return "".join(out).rstrip() if zone_name else "".join(out), zone_name


def java_time(text: str, java: str, tz: tzinfo | None = None) -> datetime:
    fmt, zone_name = strptime_format(java)
    where: tzinfo | None = None
    if zone_name:
        text, _, name = text.rstrip().rpartition(" ")
        where = zone(name)
    try:
        dt = datetime.strptime(text.strip(), fmt)
    except (ValueError, re.error) as exc:  # re.error: a directive used twice ("HH:mm:mm")
        raise ParseError(f"devTime {text[:60]!r} does not match devTimeFormat {java!r}") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=where or tz or UTC)
    if "%Y" not in fmt and "%y" not in fmt:
        dt = yearless(dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond, tz=dt.tzinfo or UTC)
    return dt
