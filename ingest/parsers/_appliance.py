"""What the appliance formats (CEF, LEEF) share: the optional syslog header in front of the
record, header-field unescaping, CEF-style ``key=value`` splitting, and event categorisation."""

from __future__ import annotations

import re
from datetime import tzinfo

from cert.core.ecs import Event, put
from cert.core.parser import ParseError
from ingest.parsers import _syslog
from ingest.parsers._fields import verdict

_HEADER_ESCAPE = re.compile(r"\\([|\\])")
_KEY = re.compile(r"(?:^|(?<= ))([A-Za-z0-9_.\-\[\]]{1,128})=")
_VALUE_ESCAPE = re.compile(r"\\([=\\nr|])")
_UNESCAPED = {"=": "=", "\\": "\\", "n": "\n", "r": "\r", "|": "|"}
_AUTH_HINT = re.compile(r"log[io]n|logon|logoff|auth|password|credential", re.I)


def unescape_header(text: str) -> str:
    return _HEADER_ESCAPE.sub(r"\1", text) if "\\" in text else text


def extensions(text: str) -> dict[str, str]:
    """The key=value pairs of a CEF extension, values unescaped (a later key wins)."""
    text = text.strip()
    keys = list(_KEY.finditer(text))
    if not keys:
        if text:
            raise ParseError(f"CEF extension is not key=value pairs: {text[:60]!r}")
        return {}
    if keys[0].start() != 0:
        raise ParseError(f"CEF extension: text before the first key=value: {text[:keys[0].start()][:60]!r}")
    out: dict[str, str] = {}
    for m, nxt in zip(keys, [*keys[1:], None], strict=True):
        value = text[m.end():nxt.start() - 1 if nxt is not None else len(text)]
        if "\\" in value:
            value = _VALUE_ESCAPE.sub(lambda e: _UNESCAPED[e[1]], value)
        out[m[1]] = value.rstrip()
    return out


def categorize(ev: Event, action: str | None, hint: str) -> None:
    """``event.category`` and ``event.type`` from the fields an appliance event carries."""
    categories: list[str] = []
    types: list[str] = []
    if any(k in ev.get(side, {}) for side in ("source", "destination") for k in ("ip", "port", "address")):
        categories.append("network")
        types.append("connection")
    if "url" in ev or "http" in ev:
        categories.append("web")
        types.append("access")
    if _AUTH_HINT.search(hint):
        categories.append("authentication")
        types.append("info")
    seen = verdict(action) if action else None
    if seen:
        types.append(seen)
    if categories:
        put(ev, "event.category", categories)
        put(ev, "event.type", list(dict.fromkeys(types)))


def header_of(line: str, marker: str, tz: tzinfo | None = None) -> tuple[Event, str]:
    """The syslog header's ECS fields (an appliance's syslog host is the observer; a timestamp
    without offset read in ``tz``, UTC when None, and ``event.timezone`` then set) and the text
    from ``marker`` on; the header is optional."""
    start = line.find(marker)
    if start < 0:
        raise ParseError(f"no {marker!r} in the line")
    if start == 0 or not line[:start].strip():
        return {}, line[start:]
    prefix = line[:start].rstrip()
    try:
        rec = _syslog.parse(prefix, tz)
    except ParseError:  # not a syslog header: the record's own times must do
        return {}, line[start:]
    ev = rec.to_ecs()
    ev.pop("message", None)
    ev.pop("host", None)
    if rec.hostname:
        put(ev, "observer.hostname", rec.hostname)
    return ev, line[start:]
