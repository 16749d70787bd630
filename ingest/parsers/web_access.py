"""nginx and Apache access logs, combined and common formats, with URL decoding.

Three names for the one parser: ``nginx.access`` and ``apache.access`` give Filebeat's datasets
(``event.dataset`` nginx.access / apache.access, ``event.module`` nginx / apache), so that
Elastic's dashboards and rules find the events; ``web.access`` (dataset web.access, module web)
is for a server of unknown make.

Also read: a virtual-host prefix (Apache ``vhost_combined`` ``%v:%p``, nginx ``$host``) ->
``destination.domain``/``destination.port``; the extra fields nginx and Traefik append after the
user agent; a client that is a host name (Apache ``HostnameLookups On``) -> ``source.domain``.

- A client that is a list of addresses (nginx behind proxies, ``10.0.0.2, 10.0.0.1, 127.0.0.1 - -
  [...]``, also quoted, ``"a, b" c - - [...]``): the list, as written, in
  ``nginx.access.remote_ip_list``; ``source.*`` is its first public (globally routable) address,
  else its first entry, as Filebeat's nginx pipeline chooses; every address of it in ``related.ip``.
- Apache mod_ssl's ``ssl_request_log`` (``%t %h %{SSL_PROTOCOL}x %{SSL_CIPHER}x "%r" %b``):
  ``tls.cipher``, ``tls.version`` and ``tls.version_protocol`` (``TLSv1.2`` -> ``1.2``, ``tls``),
  the request and the size, as Filebeat's apache module reads it.
- A request line that is not ``METHOD target HTTP/version`` (a TLS handshake sent to a plain HTTP
  port, a scanner's probe) fills no ``http.request.*`` or ``url.*`` field (Filebeat's nginx
  pipeline keeps it only in the original message): the event keeps the whole line in
  ``event.original`` (even when the platform does not keep originals) and is tagged
  ``non_http_request``.
- An access line forwarded through syslog (``Jan 11 10:13:05 web01 apache: <line>``, ``nginx:``,
  ``httpd[123]:``, with a ``<PRI>``, RFC 5424 or ISO 8601 header): the access fields, the syslog
  host (the web server) as ``host.*`` and ``observer.hostname``, ``log.syslog.*``, and the dataset
  of the web server's tag (``apache.access``, ``nginx.access``, else ``web.access``). The
  ``syslog`` parser gives its access-log messages the same reading (``from_syslog``).
- Four fields before the time (``10.11.12.13 - - - [...]``): the first is the client
  (``source.*``), not a virtual host, since the field where the client would be is empty.
- A time without its UTC offset is in the source's time zone (``ParserOptions.timezone``, recorded
  in ``event.timezone``), UTC by default.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, tzinfo
from functools import lru_cache

from cert.core.ecs import Event, add_related, put
from cert.core.parser import DEFAULT_OPTIONS, ParseError, Parser, ParserOptions, parsers
from ingest.parsers import _syslog
from ingest.parsers._fields import MONTHS, fixed_zone, normalize_ip, put_address, put_port, put_url, timestamp, to_int
from ingest.parsers._syslog import Syslog

NON_HTTP_TAG = "non_http_request"
_QUOTED = r'[^"\\]*(?:\\.[^"\\]*)*'  # a quoted string's content, \" escapes (written unrolled: faster)
_TAIL = (r'(?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]+)\] '
         rf'"(?P<request>{_QUOTED})" (?P<status>\d{{3}}|-) (?P<bytes>\d+|-)'
         rf'(?: "(?P<referrer>{_QUOTED})" "(?P<agent>{_QUOTED})")?')
LINE = re.compile(r'^(?:(?P<vhost>[^\s:]+|\[[0-9A-Fa-f:.]+\])(?::(?P<vport>\d{1,5}))? )?(?P<ip>\S+) ' + _TAIL)
# nginx's client list (Filebeat's NGINX_ADDRESS_LIST): entries separated by '"?,?\s+', maybe quoted
ADDRESS_LIST = re.compile(r'^(?:(?P<vhost>[^\s:,"]+|\[[0-9A-Fa-f:.]+\])(?::(?P<vport>\d{1,5}))? )?'
                          r'"?(?P<iplist>[^\s",]+(?:"?,?\s+[^\s",]+){1,63})"? ' + _TAIL)
_LIST_SEPARATOR = re.compile(r'"?,?\s+')
SSL_REQUEST = re.compile(r'^\[(?P<time>[^\]]+)\] (?P<ip>\S+) (?P<protocol>\S+) (?P<cipher>\S+) '
                         rf'"(?P<request>{_QUOTED})" (?P<bytes>\d+|-)\s*$')
_REQUEST = re.compile(r"(?P<method>[A-Za-z][\w-]{0,31}) (?P<target>\S(?:.*\S)?) HTTP/(?P<version>\d+(?:\.\d+)?)$", re.S)
_ACCESS_TIME = re.compile(r"\[\d{1,2}/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d")
# A syslog header before the access line (an access log forwarded by syslog): PRI, then an RFC 3164
# or ISO 8601 time; an access line itself starts with its client or virtual host.
SYSLOG_HEADER = re.compile(r"(?:<\d{1,3}>(?:1 )?)?(?:[A-Z][a-z]{2} [ \d]?\d(?: \d{4})? |\d{4}-\d\d-\d\d[T ])"
                           r"\d\d:\d\d:\d\d")
# The program tags web servers log under, and the dataset of their access lines (Filebeat's modules).
FORWARDING_PROGRAMS = {"apache": ("apache.access", "apache"), "apache2": ("apache.access", "apache"),
                       "httpd": ("apache.access", "apache"), "nginx": ("nginx.access", "nginx")}
TIME = re.compile(r"\s*(?P<d>\d{1,2})/(?P<mon>[A-Z][a-z]{2})/(?P<y>\d{4}):(?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)"
                  r"(?:\.(?P<frac>\d{1,6}))?(?: (?P<sign>[+-])(?P<oh>\d\d):?(?P<om>\d\d))?\s*$")


@lru_cache(maxsize=4096)  # the lines of one second share their time text
def access_time(text: str, zone: tzinfo | None = None) -> str:
    """``10/Oct/2000:13:55:36 -0700`` as an ISO 8601 UTC timestamp; without its offset, the time
    is in ``zone`` (UTC when None)."""
    m = TIME.match(text)
    month = MONTHS.get(m["mon"]) if m else None
    if m is None or month is None:
        raise ParseError(f"bad timestamp {text!r}")
    tz = fixed_zone(m["sign"], m["oh"], m["om"]) if m["sign"] else zone or UTC
    try:
        dt = datetime(int(m["y"]), month, int(m["d"]), int(m["h"]), int(m["m"]), int(m["s"]),
                      int((m["frac"] or "0").ljust(6, "0")), tzinfo=tz)
    except ValueError as exc:
        raise ParseError(f"bad timestamp {text!r}: {exc}") from exc
    return timestamp(dt)


def _client(ev: Event, text: str) -> None:
    """A client list: kept whole, ``source.*`` its first public address (else its first entry)."""
    entries = _LIST_SEPARATOR.split(text)
    put(ev, "nginx.access.remote_ip_list", entries)
    chosen = None
    for entry in entries:
        ip = normalize_ip(entry)
        if ip is None:
            continue
        add_related(ev, "ip", ip)
        if chosen is None and ipaddress.ip_address(ip).is_global:
            chosen = entry
    put_address(ev, "source", chosen or entries[0])


def _tls(ev: Event, protocol: str, cipher: str) -> None:
    """``TLSv1.2`` -> tls.version 1.2, version_protocol tls (``SSLv3`` -> 3.0, ssl), as Filebeat."""
    if cipher != "-":
        put(ev, "tls.cipher", cipher)
    name, sep, version = protocol.lower().partition("v")
    if sep and name in ("tls", "ssl") and re.fullmatch(r"\d+(?:\.\d+)?", version):
        put(ev, "tls.version", version if "." in version else f"{version}.0")
        put(ev, "tls.version_protocol", name)


def _event(time_text: str, options: ParserOptions) -> Event:
    ev: Event = {"@timestamp": access_time(time_text, options.zone)}
    put(ev, "event.kind", "event")
    put(ev, "event.category", ["web"])
    put(ev, "event.type", ["access"])
    if options.zone is not None and not TIME.match(time_text)["sign"]:  # type: ignore[index]
        put(ev, "event.timezone", options.timezone)
    return ev


def read_access(line: str, options: ParserOptions = DEFAULT_OPTIONS) -> Event:
    """One access line (common, combined, with a virtual host or a client list, or mod_ssl's
    ``ssl_request_log``) as ECS; ParseError when it is none of those."""
    m = LINE.match(line)
    if m is None or (m["vhost"] is not None and ("," in m["vhost"] or '"' in m["vhost"])):
        listed = ADDRESS_LIST.match(line)
        if listed is not None:
            m = listed
        elif m is None:
            return _ssl_request(line, options)
    ev = _event(m["time"], options)
    vhost = m["vhost"]
    if m.re is ADDRESS_LIST:
        _client(ev, m["iplist"])
    elif m["ip"] == "-" and vhost is not None and m["vport"] is None:
        put_address(ev, "source", vhost)  # "client - - - [...]": four fields, no virtual host
        vhost = None
    else:
        put_address(ev, "source", m["ip"])
    if vhost and vhost != "-":
        put(ev, "destination.domain", vhost.strip("[]"))
        put_port(ev, "destination.port", m["vport"])
    if m["user"] != "-":
        put(ev, "user.name", m["user"])
    _request(ev, m["request"], line)
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


def _request(ev: Event, request: str, line: str) -> None:
    r = _REQUEST.match(request)
    if r is not None:
        put(ev, "http.request.method", r["method"])
        put(ev, "http.version", r["version"])
        put_url(ev, r["target"])
    elif request not in ("", "-"):  # a non-HTTP probe: only in the original line, tagged
        put(ev, "event.original", line)
        ev.setdefault("tags", []).append(NON_HTTP_TAG)


def _ssl_request(line: str, options: ParserOptions) -> Event:
    m = SSL_REQUEST.match(line)
    if m is None:
        raise ParseError("not an access log line in common or combined format")
    ev = _event(m["time"], options)
    put_address(ev, "source", m["ip"])
    _tls(ev, m["protocol"], m["cipher"])
    _request(ev, m["request"], line)
    size = to_int(m["bytes"])
    if size is not None:
        put(ev, "http.response.body.bytes", size)
    return ev


def looks_like_access(message: str) -> bool:
    """Could this syslog message be an access line (it has a ``[dd/Mon/yyyy:`` time)?"""
    return "/" in message and _ACCESS_TIME.search(message, 0, 400) is not None


def from_syslog(rec: Syslog, options: ParserOptions = DEFAULT_OPTIONS) -> Event:
    """An access line forwarded in a syslog record (``Jan 11 10:13:05 web01 apache: <line>``): the
    access fields, the header's host (the web server) as ``host.*``, its program and
    ``log.syslog.*``, and the dataset of the program (``apache.access``, ``nginx.access``, else
    ``web.access``); ParseError when the message is not an access line."""
    ev = read_access(rec.message.strip(), options)
    header = rec.to_ecs()
    for key in ("host", "process", "log"):
        if key in header:
            ev[key] = header[key]
    if rec.hostname:
        put(ev, "observer.hostname", rec.hostname)
    dataset, module = FORWARDING_PROGRAMS.get((rec.program or "").lower(), ("web.access", "web"))
    put(ev, "event.dataset", dataset)
    put(ev, "event.module", module)
    return ev


@parsers.register
class WebAccessParser(Parser):
    name = "web.access"
    dataset = "web.access"
    module = "web"

    def parse(self, line: str) -> Event | None:
        if not line.strip():
            return None
        if SYSLOG_HEADER.match(line):
            ev = from_syslog(_syslog.parse(line, self.options.zone), self.options)
            if ev["event"]["dataset"] == "web.access":  # a program of unknown make: the source's server
                ev["event"].update(dataset=self.dataset, module=self.module)
            return ev
        return read_access(line, self.options)


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
