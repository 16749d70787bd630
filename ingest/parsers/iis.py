"""Microsoft IIS access logs in the W3C extended format (IIS's default), as Filebeat's iis module
reads them: dataset ``iis.access``, module ``iis``, ``event.category`` web.

The format describes itself: directives (``#Software``, ``#Version``, ``#Date``, ``#Fields``) say
which fields each line holds, in order, separated by one space; IIS writes a new header block when
the site restarts, and the administrator chooses the fields. A line means nothing without the
``#Fields`` above it, so the parser keeps the header of the stream it reads, one parser per source
(``for_source``, as the Zeek TSV parser does): read from the top of the file, so that a reader
resuming from a checkpoint still knows the fields, then replaced by every ``#Fields`` line. A line
with no ``#Fields`` above it is read with IIS's default fields (IIS 7 to 10) when it has that many
values, else dead-lettered.

Mapping (Filebeat's iis pipeline): ``date`` + ``time`` (UTC, as IIS writes them) -> ``@timestamp``;
``c-ip`` -> ``source.*``; ``s-ip``/``s-port`` -> ``destination.*``; ``cs-method`` ->
``http.request.method``; ``cs-uri-stem`` + ``cs-uri-query`` -> ``url.*`` (decoded as for the other
access logs); ``cs-username`` -> ``user.name``; ``cs(User-Agent)`` -> ``user_agent.original``, its
``+`` turned back into the spaces IIS replaced; ``cs(Referer)`` -> ``http.request.referrer``;
``sc-status`` -> ``http.response.status_code`` (and ``event.outcome``); ``sc-substatus``,
``sc-win32-status``, ``s-sitename``, ``s-computername`` (also ``host.name``: the server that wrote
the line), ``cs(Cookie)`` -> ``iis.access.*``; ``sc-bytes``/``cs-bytes`` -> response/request body
bytes; ``time-taken`` (milliseconds) -> ``event.duration`` (nanoseconds); ``cs-version`` ->
``http.version``; ``cs-host`` -> ``destination.domain``. ``-`` is an empty field.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

from cert.core.ecs import Event, put
from cert.core.parser import ParseError, Parser, parsers
from ingest.parsers._fields import put_address, put_port, put_url, timestamp, to_int

_DATE = re.compile(r"\d{4}-\d\d-\d\d")
_TIME = re.compile(r"\d\d:\d\d:\d\d(?:\.\d{1,6})?")
_FIELD_NAME = re.compile(r"[A-Za-z][\w()\-.]{0,63}")
MAX_FIELDS = 64
# W3C field -> (ECS field, kind)
TEXT_FIELDS = {"cs-username": "user.name", "cs(Referer)": "http.request.referrer",
               "cs(Referrer)": "http.request.referrer", "s-sitename": "iis.access.site_name",
               "s-computername": "iis.access.server_name", "cs(Cookie)": "iis.access.cookie",
               "cs-host": "destination.domain"}
INT_FIELDS = {"sc-status": "http.response.status_code", "sc-substatus": "iis.access.sub_status",
              "sc-win32-status": "iis.access.win32_status", "sc-bytes": "http.response.body.bytes",
              "cs-bytes": "http.request.body.bytes"}
MAX_INT = 2**63 - 1
# The fields IIS 7 to 10 log by default: a line of that many fields with no #Fields above it (a
# fragment of a file, a line forwarded alone) is read with them.
DEFAULT_FIELDS = ["date", "time", "s-ip", "cs-method", "cs-uri-stem", "cs-uri-query", "s-port", "cs-username", "c-ip",
                  "cs(User-Agent)", "cs(Referer)", "sc-status", "sc-substatus", "sc-win32-status", "time-taken"]


@parsers.register
class IISParser(Parser):
    name = "iis.access"
    dataset = "iis.access"
    module = "iis"
    extensions = (".log",)

    def __init__(self) -> None:
        self.fields: list[str] | None = None

    def for_source(self, source: str) -> IISParser:
        parser = IISParser()
        parser.options = self.options
        parser._read_header(source)
        return parser

    def _read_header(self, source: str) -> None:
        """The ``#Fields`` at the top of the file (a reader resuming mid-file needs them)."""
        if not source or source == "-" or not os.path.isfile(source):
            return
        try:
            with open(source, encoding="utf-8", errors="replace") as fh:
                for _ in range(16):
                    line = fh.readline(1 << 14)
                    if not line.startswith("#"):
                        break
                    self._directive(line.rstrip("\r\n"))
        except (OSError, ParseError):
            self.fields = None

    def parse(self, line: str) -> Event | None:
        line = line.rstrip("\r\n")
        if not line.strip():
            return None
        if line.startswith("#"):
            self._directive(line)
            return None
        values = line.split(" ")
        fields = self.fields
        if fields is None:
            if len(values) != len(DEFAULT_FIELDS):
                raise ParseError("an IIS W3C line without its #Fields header above it, and not IIS's default fields")
            fields = DEFAULT_FIELDS
        if len(values) != len(fields):
            raise ParseError(f"IIS W3C line with {len(values)} fields, #Fields names {len(fields)}")
        return _event(dict(zip(fields, values, strict=True)))

    def _directive(self, line: str) -> None:
        if not line.startswith("#Fields:"):
            return  # #Software, #Version, #Date, #Start-Date, #Remark: nothing a line needs
        names = line[len("#Fields:"):].split()
        if not names or len(names) > MAX_FIELDS or not all(_FIELD_NAME.fullmatch(n) for n in names):
            raise ParseError("bad IIS #Fields directive")
        if "date" not in names or "time" not in names:
            raise ParseError("an IIS #Fields directive without date and time")
        self.fields = names


def _time(date: str, time: str) -> str:
    if not _DATE.fullmatch(date) or not _TIME.fullmatch(time):
        raise ParseError(f"bad IIS date and time {date!r} {time!r}")
    try:
        return timestamp(datetime.fromisoformat(f"{date}T{time}").replace(tzinfo=UTC))
    except ValueError as exc:
        raise ParseError(f"bad IIS date and time {date!r} {time!r}: {exc}") from exc


def _event(rec: dict[str, str]) -> Event:
    ev: Event = {"@timestamp": _time(rec["date"], rec["time"])}
    put(ev, "event.kind", "event")
    put(ev, "event.category", ["web"])
    put(ev, "event.type", ["access"])
    got = {k: v for k, v in rec.items() if v != "-"}
    put_address(ev, "source", got.get("c-ip"))
    put_address(ev, "destination", got.get("s-ip"))
    put_port(ev, "destination.port", got.get("s-port"))
    if "cs-method" in got:
        put(ev, "http.request.method", got["cs-method"])
    if "cs-uri-stem" in got:
        query = got.get("cs-uri-query")
        put_url(ev, got["cs-uri-stem"] + (f"?{query}" if query else ""))
    elif "cs-uri" in got:
        put_url(ev, got["cs-uri"])
    if "cs-version" in got:
        version = got["cs-version"]
        put(ev, "http.version", version.split("/", 1)[1] if version.upper().startswith("HTTP/") else version)
    if "cs(User-Agent)" in got:
        put(ev, "user_agent.original", got["cs(User-Agent)"].replace("+", " "))
    for name, path in TEXT_FIELDS.items():
        if name in got:
            put(ev, path, got[name])
    for name, path in INT_FIELDS.items():
        value = to_int(got.get(name))
        if name in got and (value is None or not 0 <= value <= MAX_INT):
            raise ParseError(f"bad IIS {name} {got[name]!r}")
        if value is not None:
            put(ev, path, value)
    if "time-taken" in got:
        taken = to_int(got["time-taken"])
        if taken is None or not 0 <= taken <= MAX_INT // 1_000_000:
            raise ParseError(f"bad IIS time-taken {got['time-taken']!r}")
        put(ev, "event.duration", taken * 1_000_000)
    if "s-computername" in got:
        put(ev, "host.name", got["s-computername"])
    status = ev.get("http", {}).get("response", {}).get("status_code")
    if status is not None:
        put(ev, "event.outcome", "failure" if status >= 400 else "success")
    return ev
