"""Syslog headers: RFC 5424, RFC 3164 (BSD) with or without PRI, and the ISO 8601 form that
rsyslog and journald write; shared by the ``syslog``, ``linux.auth``, ``cef`` and ``leef`` parsers.

RFC 5424: ``<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [BOM]MSG``, any
header field may be the NILVALUE ``-``. RFC 3164: ``[<PRI>]Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG``;
real senders also drop the host name (``Mmm dd hh:mm:ss sshd[1]: ...``), the tag (``... host
message``) or bracket the tag (``[sshd]: ...``), put a year after the day, or add fractions of a
second; all of those are read. A date without a year is this year (or last year, see
``_fields.yearless``) and a date without an offset is in the time zone given to ``parse`` (the
source's ``ParserOptions.timezone``, recorded in ``event.timezone``), UTC when none is given.
syslogd's ``--- last message repeated N times ---`` (BSD, macOS) has no host: it is the message.
Header fields may be separated by several blanks (``2020-03-24 08:38:42.344447-0700  localhost
sshd[2519]: ...``, macOS and padded rsyslog templates). The old Linux-PAM tag ``sshd(pam_unix)[1234]:``
is program ``sshd`` and ``pam_module`` ``pam_unix``. An RFC 5424 record with structured data and
no message has its structured data as message.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any

from cert.core.ecs import Event, format_ts, now_iso
from cert.core.parser import ParseError
from ingest.parsers._fields import MONTHS, timestamp, to_int, yearless

FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
              "ftp", "ntp", "security", "console", "solaris-cron",
              "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7")
SEVERITIES = ("emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug")

_PRI = r"<(?P<pri>\d{1,3})>"
RFC5424 = re.compile(_PRI + r"(?P<version>[1-9]\d{0,2}) (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) "
                     r"(?P<msgid>\S+) (?P<rest>.*)$", re.S)
_ISO = (r"(?P<iso>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?: ?(?:Z|[+-]\d\d(?::?\d\d)?)| UTC| GMT)?)")
_BSD = (r"(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2})(?: (?P<year>\d{4}))? "
        r"(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)(?:\.(?P<frac>\d{1,6}))?")
RFC3164 = re.compile(r"(?:" + _PRI + r")?\s?\*?(?:" + _ISO + "|(?P<bsd>" + _BSD + r"))(?:[ \t]+(?P<rest>.*))?$",
                     re.S)
# After the timestamp: [HOST ]TAG[PID]: MSG, the TAG never being "CEF"/"LEEF" (those start a message).
# Fields may be separated by several blanks (macOS, some rsyslog templates pad them).
_TAGGED = re.compile(r"(?:(?P<host>[^\s\[\]]*[^\s\[\]:])[ \t]+)?(?!CEF:|LEEF:)(?P<prog>[^\s\[\]:]{1,64}?)"
                     r"(?:\((?P<module>pam_\w{1,32})\))?(?:\[(?P<pid>[^\]\s]{0,32})\]:?|:)(?:[ \t]+|$)(?P<msg>.*)$",
                     re.S)
_BRACKETED = re.compile(r"(?:(?P<host>[^\s\[\]]+)[ \t]+)?\[(?P<prog>[^\]\s]{1,64})\]:?(?:[ \t]+|$)(?P<msg>.*)$",
                        re.S)
_UNTAGGED = re.compile(r"(?P<host>\S+)(?:[ \t]+(?P<msg>.*))?$", re.S)
_SD_ELEMENT = re.compile(r'\[(?P<id>[^\s=\]"]{1,32})(?P<params>(?: [^\s=\]"]{1,32}="(?:[^"\\]|\\.)*")*) ?\]', re.S)
_SD_PARAM = re.compile(r' ([^\s=\]"]{1,32})="((?:[^"\\]|\\.)*)"', re.S)
_SD_ESCAPE = re.compile(r'\\(["\\\]])')
_BSD_ONLY = re.compile(_BSD + "$")


@dataclass(slots=True)
class Syslog:
    """One parsed syslog record: header fields (None when absent or NILVALUE) and the message."""

    message: str
    timestamp: str | None = None  # ISO 8601 UTC, as @timestamp
    hostname: str | None = None
    program: str | None = None
    pid: str | None = None
    priority: int | None = None
    version: str | None = None
    msgid: str | None = None
    structured_data: dict[str, dict[str, str]] = field(default_factory=dict)
    timezone: str | None = None  # the zone the timestamp was read in, when it carried none
    pam_module: str | None = None  # the old Linux-PAM tag form "sshd(pam_unix)[1234]:"

    def to_ecs(self) -> Event:
        """The ECS fields a syslog header gives (Filebeat's ``log.syslog.*`` names)."""
        ts = self.timestamp or now_iso()
        ev: Event = {"@timestamp": ts, "message": self.message}
        syslog: dict[str, Any] = {}
        if self.timestamp is None:
            ev["event"] = {"created": ts}  # NILVALUE time: the time we received it
        elif self.timezone is not None:
            ev["event"] = {"timezone": self.timezone}
        if self.hostname:
            ev["host"] = {"hostname": self.hostname, "name": self.hostname}
            syslog["hostname"] = self.hostname
        if self.program or self.pid:
            process: dict[str, Any] = {}
            ev["process"] = process
            if self.program:
                process["name"] = syslog["appname"] = self.program
            if self.pid:
                syslog["procid"] = self.pid
                pid = to_int(self.pid)
                if pid is not None:
                    process["pid"] = pid
        if self.priority is not None:
            facility, severity = divmod(self.priority, 8)
            syslog["priority"] = self.priority
            syslog["facility"] = {"code": facility, "name": FACILITIES[facility]}
            syslog["severity"] = {"code": severity, "name": SEVERITIES[severity]}
        if self.version:
            syslog["version"] = self.version
        if self.msgid:
            syslog["msgid"] = self.msgid
        if self.structured_data:
            syslog["structured_data"] = self.structured_data
        if syslog:
            ev["log"] = {"syslog": syslog}
            if self.priority is not None:
                ev["log"]["level"] = SEVERITIES[self.priority % 8]
        return ev


def _priority(text: str | None) -> int | None:
    if text is None:
        return None
    value = int(text)
    if value > 191:
        raise ParseError(f"bad syslog PRI <{text}> (0 to 191)")
    return value


def _nil(value: str) -> str | None:
    return None if value == "-" else value


_ISO_ZONE = re.compile(r" ?(Z|[+-]\d\d(?::?\d\d)?| UTC| GMT)$")


def _iso_zone(m: re.Match[str]) -> str:
    zone = m[1].strip()
    return "+00:00" if zone in ("Z", "UTC", "GMT") else zone


@lru_cache(maxsize=4096)
def iso_timestamp(text: str, tz: tzinfo | None = None) -> str:
    """An ISO 8601 timestamp (RFC 5424, rsyslog), in ``tz`` (UTC when None) when it carries no offset."""
    try:
        dt = datetime.fromisoformat(_ISO_ZONE.sub(_iso_zone, text.replace(",", ".")))
    except ValueError as exc:
        raise ParseError(f"bad timestamp {text!r}") from exc
    return timestamp(dt if dt.tzinfo else dt.replace(tzinfo=tz or UTC))


def _zone_name(tz: tzinfo) -> str:
    return str(getattr(tz, "key", None) or tz)


def structured_data(text: str) -> tuple[dict[str, dict[str, str]], str]:
    """RFC 5424 STRUCTURED-DATA at the start of ``text``: ({SD-ID: {PARAM: value}}, the rest)."""
    if text == "-" or text.startswith("- "):
        return {}, text[2:]
    if not text.startswith("["):
        raise ParseError("RFC 5424 structured data must be '-' or start with '['")
    elements: dict[str, dict[str, str]] = {}
    pos = 0
    while pos < len(text) and text[pos] == "[":
        m = _SD_ELEMENT.match(text, pos)
        if m is None:
            raise ParseError(f"bad RFC 5424 structured data at column {pos + 1}")
        # a dot in a name would nest in Elasticsearch ("a..b" is even refused): keep names flat
        params = elements.setdefault(m["id"].replace(".", "_"), {})
        for name, value in _SD_PARAM.findall(m["params"]):
            params[name.replace(".", "_")] = _SD_ESCAPE.sub(r"\1", value)
        pos = m.end()
    rest = text[pos:]
    if rest and not rest.startswith(" "):
        raise ParseError(f"bad RFC 5424 structured data at column {pos + 1}")
    return elements, rest[1:]


def _bsd_timestamp(g: dict[str, Any], now: datetime | None = None, tz: tzinfo | None = None) -> str:
    month = MONTHS.get(g["mon"])
    if month is None:
        raise ParseError(f"bad month {g['mon']!r}")
    h, m, s = int(g["h"]), int(g["m"]), int(g["s"])
    micro = int((g["frac"] or "0").ljust(6, "0"))
    if h > 23 or m > 59 or s > 60:
        raise ParseError(f"bad time {g['h']}:{g['m']}:{g['s']}")
    s = min(s, 59)  # a leap second
    day = int(g["day"])
    if g["year"]:
        try:
            return format_ts(datetime(int(g["year"]), month, day, h, m, s, micro, tzinfo=tz or UTC))
        except (ValueError, OverflowError) as exc:
            raise ParseError(f"bad date: {exc}") from exc
    try:
        return format_ts(yearless(month, day, h, m, s, micro, tz=tz or UTC, now=now))
    except OverflowError as exc:
        raise ParseError(f"bad date: {exc}") from exc


@lru_cache(maxsize=4096)
def _bsd_cached(text: str, hour: int, tz: tzinfo | None = None) -> str:
    """Lines of one second share their timestamp text: read it once. The current ``hour`` is in
    the key: the year of a yearless date depends on when it is read, so no reading is kept for
    more than an hour."""
    m = _BSD_ONLY.match(text)
    if m is None:  # cannot happen: the text matched _BSD inside RFC3164
        raise ParseError(f"bad timestamp {text!r}")
    return _bsd_timestamp(m.groupdict(), tz=tz)


def bsd_timestamp(text: str, now: datetime | None = None, tz: tzinfo | None = None) -> datetime:
    """``Mmm dd hh:mm:ss`` (no year, in ``tz``, UTC when None) as a UTC datetime: this year, or
    last year if in the future."""
    m = _BSD_ONLY.match(text)
    if m is None:
        raise ParseError(f"bad timestamp {text!r}")
    return datetime.fromisoformat(_bsd_timestamp(m.groupdict(), now, tz).replace("Z", "+00:00"))


def parse(line: str, tz: tzinfo | None = None) -> Syslog:
    """Read one syslog line, a timestamp without offset being in ``tz`` (UTC when None);
    ParseError when it has no syslog timestamp."""
    if line.startswith("<"):
        m5 = RFC5424.match(line)
        if m5 is not None:
            return _rfc5424(m5, tz)
    m = RFC3164.match(line)
    if m is None:
        raise ParseError("not a syslog line (no RFC 5424 or RFC 3164 header)")
    pri = _priority(m["pri"])
    rest = m["rest"] or ""
    zone = None
    if m["iso"]:
        ts = iso_timestamp(m["iso"], tz)
        if tz is not None and _ISO_ZONE.search(m["iso"]) is None:
            zone = _zone_name(tz)
    else:
        ts = _bsd_cached(m["bsd"], int(time.time() // 3600), tz)
        if tz is not None:
            zone = _zone_name(tz)
    if rest.startswith("--- "):  # "--- last message repeated 3 times ---": no host, no program
        return Syslog(message=rest, timestamp=ts, priority=pri, timezone=zone)
    head = _TAGGED.match(rest) or _BRACKETED.match(rest)
    if head is not None:
        g = head.groupdict()
        return Syslog(message=g["msg"], timestamp=ts, hostname=g["host"], program=g["prog"],
                      pid=g.get("pid") or None, priority=pri, timezone=zone, pam_module=g.get("module"))
    loose = _UNTAGGED.match(rest)
    if loose is None:  # an empty message after the timestamp
        return Syslog(message="", timestamp=ts, priority=pri, timezone=zone)
    return Syslog(message=loose["msg"] or "", timestamp=ts, hostname=loose["host"], priority=pri, timezone=zone)


def _rfc5424(m: re.Match[str], tz: tzinfo | None = None) -> Syslog:
    ts = None if m["ts"] == "-" else iso_timestamp(m["ts"], tz)
    if ts is not None and "T" not in m["ts"]:
        raise ParseError(f"bad RFC 5424 timestamp {m['ts']!r}")
    zone = None
    if ts is not None and tz is not None and _ISO_ZONE.search(m["ts"]) is None:
        zone = _zone_name(tz)
    sd, msg = structured_data(m["rest"])
    if msg.startswith("\ufeff"):  # the BOM says the message is UTF-8
        msg = msg[1:]
    if sd and not msg.strip():  # structured data only: it is what the record says
        msg = m["rest"].rstrip()
    return Syslog(message=msg, timestamp=ts, hostname=_nil(m["host"]), program=_nil(m["app"]),
                  pid=_nil(m["procid"]), priority=_priority(m["pri"]), version=m["version"],
                  msgid=_nil(m["msgid"]), structured_data=sd, timezone=zone)


def split_header(line: str) -> dict[str, str]:
    """The header as a dict (timestamp, host, prog, pid, msg), for callers of the first version."""
    rec = parse(line)
    parts = {"timestamp": rec.timestamp or now_iso(), "msg": rec.message}
    for key, value in (("host", rec.hostname), ("prog", rec.program), ("pid", rec.pid)):
        if value:
            parts[key] = value  # noqa: PERF403 - per line: merging in a dict comprehension is twice as slow
    return parts
