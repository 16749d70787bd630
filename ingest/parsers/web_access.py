"""nginx and Apache access logs, combined and common formats, with URL decoding.

Three names for the one parser: ``nginx.access`` and ``apache.access`` give Filebeat's datasets
(``event.dataset`` nginx.access / apache.access, ``event.module`` nginx / apache), so that
Elastic's dashboards and rules find the events; ``web.access`` (dataset web.access, module web)
is for a server of unknown make.

Also read: a virtual-host prefix (Apache ``vhost_combined`` ``%v:%p``, nginx ``$host``) ->
``destination.domain``/``destination.port``; the extra fields nginx and Traefik append after the
user agent; a time without its UTC offset (UTC); a client that is a host name (Apache
``HostnameLookups On``) -> ``source.domain``.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache

from cert.core.ecs import Event, put
from cert.core.parser import ParseError, Parser, parsers
from ingest.parsers._fields import MONTHS, fixed_zone, put_address, put_port, put_url, timestamp, to_int

_QUOTED = r'[^"\\]*(?:\\.[^"\\]*)*'  # a quoted string's content, \" escapes (written unrolled: faster)
LINE = re.compile(
    r'^(?:(?P<vhost>[^\s:]+|\[[0-9A-Fa-f:.]+\])(?::(?P<vport>\d{1,5}))? )?'
    r'(?P<ip>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]+)\] '
    rf'"(?P<request>{_QUOTED})" (?P<status>\d{{3}}|-) (?P<bytes>\d+|-)'
    rf'(?: "(?P<referrer>{_QUOTED})" "(?P<agent>{_QUOTED})")?'
)
TIME = re.compile(r"\s*(?P<d>\d{1,2})/(?P<mon>[A-Z][a-z]{2})/(?P<y>\d{4}):(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)"
                  r"(?:\.(?P<frac>\d{1,6}))?(?: (?P<sign>[+-])(?P<oh>\d\d):?(?P<om>\d\d))?\s*$")


@lru_cache(maxsize=4096)  # the lines of one second share their time text
def access_time(text: str) -> str:
    """``10/Oct/2000:13:55:36 -0700`` (the offset may be missing: UTC) as an ISO 8601 UTC timestamp."""
    m = TIME.match(text)
    month = MONTHS.get(m["mon"]) if m else None
    if m is None or month is None:
        raise ParseError(f"bad timestamp {text!r}")
    tz = fixed_zone(m["sign"], m["oh"], m["om"]) if m["sign"] else fixed_zone("+", "00", "00")
    try:
        dt = datetime(int(m["y"]), month, int(m["d"]), int(m["h"]), int(m["m"]), int(m["s"]),
                      int((m["frac"] or "0").ljust(6, "0")), tzinfo=tz)
    except ValueError as exc:
        raise ParseError(f"bad timestamp {text!r}: {exc}") from exc
    return timestamp(dt)


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
        ev: Event = {"@timestamp": access_time(m["time"])}
        put(ev, "event.kind", "event")
        put(ev, "event.category", ["web"])
        put(ev, "event.type", ["access"])
        put_address(ev, "source", m["ip"])
        if m["vhost"] and m["vhost"] != "-":
            put(ev, "destination.domain", m["vhost"].strip("[]"))
            put_port(ev, "destination.port", m["vport"])
        if m["user"] != "-":
            put(ev, "user.name", m["user"])
        request = m["request"]
        parts = request.split(" ")
        if len(parts) == 3:
            method, target, proto = parts
            put(ev, "http.request.method", method)
            put(ev, "http.version", proto.removeprefix("HTTP/"))
            put_url(ev, target)
        elif request not in ("", "-"):
            put(ev, "http.request.body.content", request)  # garbage or a non-HTTP probe
        if m["status"] != "-":
            status = int(m["status"])
            put(ev, "http.response.status_code", status)
            put(ev, "event.outcome", "failure" if status >= 400 else "success")
        size = to_int(m["bytes"])
        if size is not None:
            put(ev, "http.response.body.bytes", size)
        if m["referrer"] not in (None, "-"):
            put(ev, "http.request.referrer", m["referrer"])
        if m["agent"] not in (None, "-"):
            put(ev, "user_agent.original", m["agent"])
        return ev


@parsers.register
class NginxAccessParser(WebAccessParser):
    """The same parser, for nginx's logs: Filebeat's ``nginx.access`` dataset."""
    name = "nginx.access"
    dataset = "nginx.access"
    module = "nginx"


@parsers.register
class ApacheAccessParser(WebAccessParser):
    """The same parser, for Apache's logs: Filebeat's ``apache.access`` dataset."""
    name = "apache.access"
    dataset = "apache.access"
    module = "apache"
