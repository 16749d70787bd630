"""nginx and Apache access logs, combined and common formats, with URL decoding."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import unquote, unquote_plus, urlsplit

from cert.ecs import Event, format_ts, put
from cert.ingestion import ParseError, Parser, parsers

LINE = re.compile(
    r'^(?P<ip>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]+)\] '
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}|-) (?P<bytes>\d+|-)'
    r'(?: "(?P<referrer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)")?'
)


@parsers.register
class WebAccessParser(Parser):
    name = "web.access"
    dataset = "web.access"
    module = "web"

    def parse(self, line: str) -> Event | None:
        if not line.strip():
            return None
        m = LINE.match(line)
        if m is None:
            raise ParseError("not an access log line in common or combined format")
        try:
            ts = datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S %z")
        except ValueError as exc:
            raise ParseError(f"bad timestamp {m['time']!r}") from exc
        ev: Event = {"@timestamp": format_ts(ts)}
        put(ev, "event.kind", "event")
        put(ev, "event.category", ["web"])
        put(ev, "event.type", ["access"])
        put(ev, "source.ip", m["ip"])
        if m["user"] != "-":
            put(ev, "user.name", m["user"])
        request = m["request"]
        parts = request.split(" ")
        if len(parts) == 3:
            method, target, proto = parts
            put(ev, "http.request.method", method)
            put(ev, "http.version", proto.removeprefix("HTTP/"))
            self._url(ev, target)
        elif request not in ("", "-"):
            put(ev, "http.request.body.content", request)  # garbage or a non-HTTP probe
        if m["status"] != "-":
            status = int(m["status"])
            put(ev, "http.response.status_code", status)
            put(ev, "event.outcome", "failure" if status >= 400 else "success")
        if m["bytes"] != "-":
            put(ev, "http.response.body.bytes", int(m["bytes"]))
        if m["referrer"] not in (None, "-"):
            put(ev, "http.request.referrer", m["referrer"])
        if m["agent"] not in (None, "-"):
            put(ev, "user_agent.original", m["agent"])
        return ev

    @staticmethod
    def _url(ev: Event, target: str) -> None:
        put(ev, "url.original", target)
        split = urlsplit(target)
        put(ev, "url.path", unquote(split.path))
        if split.query:
            put(ev, "url.query", unquote_plus(split.query))
        if split.hostname:
            put(ev, "url.domain", split.hostname)
        ext = split.path.rsplit("/", 1)[-1]
        if "." in ext:
            put(ev, "url.extension", ext.rsplit(".", 1)[-1].lower()[:16])
