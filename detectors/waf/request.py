"""The requests an access-log event describes, decoded as servers and applications decode them.

ModSecurity decodes the request target once, as a server does (``%XX`` and ``+`` in arguments),
and the CRS rules fold case themselves. An application that decodes again (a double-decoding
framework, a proxy in front of the server) sees more: so besides the target as logged, the
evaluation also gets
- the target with one layer of percent-encoding removed, when decoding it leaves escapes that
  decode again (``%2527`` -> ``%27`` -> ``'``);
- the target with overlong UTF-8 sequences (``%c0%af``, ``%e0%80%ae``) read as the ASCII
  characters lenient decoders make of them.
Each variant names the decoding it applied.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from cert.core.ecs import Event, get
from detectors.waf.engine import UNKNOWN_CLIENT, Request

_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# An overlong two-byte (C0/C1 lead) or three-byte (E0 80-9F lead) form of an ASCII character,
# percent-encoded; the lead byte's case varies.
_OVERLONG2 = re.compile(r"%[cC]([01])%([89abAB][0-9a-fA-F])")
_OVERLONG3 = re.compile(r"%[eE]0%[89][0-9a-fA-F]%([89abAB][0-9a-fA-F])")
HEADER_FIELDS = (("User-Agent", "user_agent.original"), ("Referer", "http.request.referrer"))


def _ascii_escape(code: int) -> str:
    return f"%{code:02X}"


def undo_overlong(target: str) -> str:
    """The target with each overlong UTF-8 form of an ASCII character replaced by that
    character's escape (``%c0%af`` -> ``%2F``)."""
    target = _OVERLONG2.sub(lambda m: _ascii_escape(((int(m[1]) & 0x1) << 6) | (int(m[2], 16) & 0x3F)), target)
    return _OVERLONG3.sub(lambda m: _ascii_escape(int(m[1], 16) & 0x3F), target)


def decoded_once(target: str) -> str | None:
    """The target with one layer of percent-encoding removed, when what is left still holds
    escapes (a double-encoded target), else None."""
    if "%25" not in target.upper():
        return None
    once = unquote(target, errors="surrogateescape")
    return once if _ESCAPE.search(once) else None


def request_target(ev: Event) -> str | None:
    """The request target an event records: ``url.original``, else the path and query."""
    original = get(ev, "url.original")
    if isinstance(original, str) and original:
        return original
    path = get(ev, "url.path")
    if not isinstance(path, str) or not path:
        return None
    query = get(ev, "url.query")
    return f"{path}?{query}" if isinstance(query, str) and query else path


def variants(ev: Event) -> list[tuple[str, Request]]:
    """(decoding, request) pairs for an access-log event: ``as-logged`` first, then the decoded
    forms that differ from it. Empty when the event records no request target."""
    target = request_target(ev)
    if target is None:
        return []
    method = get(ev, "http.request.method")
    version = get(ev, "http.version")
    host = get(ev, "destination.domain") or get(ev, "url.domain") or "localhost"
    headers = [("Host", str(host))]
    for name, fieldname in HEADER_FIELDS:
        value = get(ev, fieldname)
        if isinstance(value, str) and value:
            headers.append((name, value))
    client = get(ev, "source.ip")
    status = get(ev, "http.response.status_code")

    def make(uri: str) -> Request:
        return Request(uri=_printable(uri), method=str(method or "GET"), version=str(version or "1.1"),
                       headers=tuple(headers), client=str(client or UNKNOWN_CLIENT),
                       status=status if isinstance(status, int) else None)

    out = [("as-logged", make(target))]
    seen = {target}
    for name, uri in (("decoded-twice", decoded_once(target)), ("overlong-utf8", undo_overlong(target))):
        if uri is not None and uri not in seen:
            seen.add(uri)
            out.append((name, make(uri)))
    return out


def _printable(uri: str) -> str:
    # A request line holds no raw space or control character: those that a decoding produced
    # are escaped again, for ModSecurity to decode in its turn.
    return "".join(c if " " < c < "\x7f" else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogateescape"))
                   for c in uri)
