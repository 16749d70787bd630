"""Syslog (RFC 3164 and RFC 5424), with rich ECS for the programs a CERT cares about.

Every line gets the header fields (``@timestamp``, ``host.*``, ``process.*``, ``log.syslog.*``:
priority, facility and severity codes and names, version, app-name, procid, msgid, structured
data). Then the message is read by the sub-parser of its program:

* ``sshd`` / ``sshd-session``: logins, disconnects, pre-authentication failures (``_sshd``);
* ``sudo``, ``su``: privilege changes (``_sudo``);
* any program's Linux-PAM messages: authentication failures, sessions (``_pam``);
* kernel netfilter packet logs (iptables, nftables, UFW), whatever the program (``_netfilter``);
* account management (``useradd``, ``groupadd``, ``usermod``, ``userdel``, ``groupdel``,
  ``groupmod``, ``passwd``, ``chpasswd``): ``event.category`` iam (``_accounts``).

A record may span lines: a line starting with white space continues the record before it (macOS
``system.log``, SUSE; Filebeat's system module reads syslog files with ``multiline.pattern: '^\\s'``,
``match: after``); the lines are joined with ``\\n`` (see ``cert.pipeline.multiline``). A timestamp
without offset is in the source's time zone (``ParserOptions.timezone``), UTC by default.

A record whose message is empty is refused (dead letter): an event always says something. An
RFC 5424 record with structured data and no message keeps its structured data as ``message``.

An access-log line forwarded through syslog (``web01 apache: 1.2.3.4 - - [...] "GET / ..."``) is
read as the access log it is (``web_access.from_syslog``: ``http.*``, ``url.*``, ``source.*``,
dataset ``apache.access``/``nginx.access``/``web.access``), the syslog host as ``host.*``.

rsyslog's ``message repeated N times: [ <message>]`` is read as its message, ``log.syslog.repeated``
N; an authentication failure of it counts N attempts (``event.count``). syslogd's ``last message
repeated N times`` (``--- ... ---`` on BSD and macOS) repeats the previous record of its host (of
the source when it names none): it gets
that record's reading (program, user, address...), its own time and text, and the same count
(without a previous record in the source it stays a plain message). ``event.count`` of an
authentication failure says how many attempts it adds to the brute-force counts, each attempt
being counted once whatever the number of lines sshd and PAM write about it (``_attempts``); the
state this needs is per source (``for_source``, which gives a source the same parser each time: a
listener ingests one connection batch after batch).

Authentication programs' events (and every line of the auth/authpriv facilities) take the
dataset ``system.auth``, so the Linux authentication Sigma rules see them whichever parser read
them; firewall lines take Filebeat's ``iptables.log``. Everything else stays ``system.syslog``.
"""

from __future__ import annotations

import copy
import re
from collections import OrderedDict
from collections.abc import Callable

from cert.core.ecs import Event, add_related, put
from cert.core.parser import ParseError, Parser, parsers
from ingest.parsers import _accounts, _attempts, _netfilter, _pam, _sshd, _sudo, web_access
from ingest.parsers._attempts import AttemptCounter
from ingest.parsers._fields import put_event
from ingest.parsers._syslog import Syslog, parse

AUTH_FACILITIES = (4, 10)  # auth, authpriv
PROGRAMS: dict[str, Callable[[Event, str], bool]] = {
    "sshd": _sshd.parse,
    "sshd-session": _sshd.parse,
    "sshd-auth": _sshd.parse,
    "sudo": _sudo.parse_sudo,
    "su": _sudo.parse_su,
}
AUTH_PROGRAMS = frozenset((*PROGRAMS, *_accounts.PROGRAMS, "login", "systemd-logind", "polkitd", "pkexec",
                           "unix_chkpwd"))


REPEATED = re.compile(r"message repeated (?P<n>\d{1,9}) times: \[(?P<msg>.*)\]\s*$", re.S)
# syslogd (sysklogd, BSD, macOS): the previous record of the same sender, N more times
LAST_REPEATED = re.compile(r"(?:--- )?last message repeated (?P<n>\d{1,9}) times?(?: ---)?\s*$")
MAX_REPEAT = 1_000_000
MAX_HOSTS = 4096
MAX_SOURCES = 1024


def _repetitions(text: str) -> int:
    times = int(text)
    if not 1 <= times <= MAX_REPEAT:
        raise ParseError(f"bad repetition count {times} (1 to {MAX_REPEAT})")
    return times


def enrich(ev: Event, rec: Syslog, attempts: AttemptCounter | None = None, repeat: int | None = None) -> None:
    """Read the message with the sub-parser of its program; set the dataset it belongs to and,
    for an authentication failure, how many attempts it adds to a count (``_attempts``).
    ``repeat``: ``rec`` is the record a ``last message repeated N times`` line repeats N times."""
    msg = rec.message
    times = 1
    repeated = REPEATED.match(msg) if msg.startswith("message repeated ") else None
    if repeated is not None:  # rsyslog's "message repeated N times: [ <message>]"
        times = _repetitions(repeated["n"])
        msg = repeated["msg"].strip()
    if repeat is not None:
        times = repeat
    if repeated is not None or repeat is not None:
        put(ev, "log.syslog.repeated", times)
    program = (rec.program or "").lower()
    recognised = False
    if rec.pam_module:
        recognised = _pam.parse(ev, f"({rec.pam_module}) {msg}", rec.program)
    elif _pam.looks_like(msg):
        recognised = _pam.parse(ev, msg, rec.program)
    elif program in PROGRAMS:
        recognised = PROGRAMS[program](ev, msg)
    elif _netfilter.looks_like(msg) and _netfilter.parse(ev, msg):
        put_event(ev, dataset="iptables.log", module="iptables")
        if rec.hostname:
            put(ev, "observer.hostname", rec.hostname)
        return
    if not recognised and program in _accounts.PROGRAMS:  # also passwd's PAM "password changed for"
        recognised = _accounts.parse(ev, msg, program)
    effective = ev.get("user", {}).get("effective") if recognised else None
    if effective and effective.get("name"):  # sudo's USER=, su's target: Filebeat adds them too
        add_related(ev, "user", ev["user"].get("name"), effective["name"])
    facility = None if rec.priority is None else rec.priority // 8
    if recognised or program in AUTH_PROGRAMS or facility in AUTH_FACILITIES:
        put_event(ev, dataset="system.auth")
    role = _attempts.classify(ev) if recognised else None
    if role is not None:
        family = "sshd" if PROGRAMS.get(program) is _sshd.parse else program  # sshd-session, sshd-auth
        process = (rec.hostname, family, rec.pid)
        count = attempts.weight(process, role[0], role[1], times) if attempts is not None else times
        if count != 1:
            put(ev, "event.count", count)


@parsers.register
class SyslogParser(Parser):
    name = "syslog"
    dataset = "system.syslog"
    module = "system"
    continuation = re.compile(r"\s")

    def __init__(self) -> None:
        self.attempts = AttemptCounter()
        self.previous: Syslog | None = None  # the source's last syslog record read as such
        self.previous_of: OrderedDict[str, Syslog] = OrderedDict()  # ... per sending host
        self.sources: OrderedDict[str, SyslogParser] = OrderedDict()

    def for_source(self, source: str) -> Parser:
        """The parser of one source, with its own state; the same one each time the source is
        named again (a listener ingests a connection's messages batch after batch)."""
        clone = self.sources.get(source)
        if clone is None:
            clone = copy.copy(self)
            clone.attempts = AttemptCounter()
            clone.previous = None
            clone.previous_of = OrderedDict()
            clone.sources = OrderedDict()
            self.sources[source] = clone
            if len(self.sources) > MAX_SOURCES:
                self.sources.popitem(last=False)
        else:
            self.sources.move_to_end(source)
        return clone

    def parse(self, line: str) -> Event | None:
        if not line.strip():
            return None
        rec = parse(line, self.options.zone)
        if not rec.message.strip():
            raise ParseError("syslog record without a message")
        if web_access.looks_like_access(rec.message):
            try:
                ev = web_access.from_syslog(rec, self.options)
            except ParseError:
                pass  # a message that merely holds a bracketed date: an ordinary syslog message
            else:
                self._remember(rec, None)
                return ev
        last = LAST_REPEATED.match(rec.message) if "last message repeated" in rec.message else None
        if last is not None:
            previous = self.previous_of.get(rec.hostname) if rec.hostname else self.previous
            if previous is not None:
                return self._repeated(rec, previous, _repetitions(last["n"]))
        ev = rec.to_ecs()
        put_event(ev, kind="event")
        enrich(ev, rec, self.attempts)
        self._remember(rec, rec)
        return ev

    def _remember(self, rec: Syslog, repeatable: Syslog | None) -> None:
        self.previous = repeatable
        if rec.hostname:
            if repeatable is None:
                self.previous_of.pop(rec.hostname, None)
                return
            self.previous_of[rec.hostname] = repeatable
            self.previous_of.move_to_end(rec.hostname)
            if len(self.previous_of) > MAX_HOSTS:
                self.previous_of.popitem(last=False)

    def _repeated(self, rec: Syslog, previous: Syslog, times: int) -> Event:
        """``last message repeated N times``: the previous record's reading, at this record's time,
        with this record's text as message and ``log.syslog.repeated`` N."""
        ev = previous.to_ecs()
        ev["@timestamp"] = rec.timestamp or ev["@timestamp"]
        put_event(ev, kind="event")
        enrich(ev, previous, self.attempts, repeat=times)
        ev["message"] = rec.message
        return ev
