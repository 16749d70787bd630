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

Authentication programs' events (and every line of the auth/authpriv facilities) take the
dataset ``system.auth``, so the Linux authentication Sigma rules see them whichever parser read
them; firewall lines take Filebeat's ``iptables.log``. Everything else stays ``system.syslog``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cert.core.ecs import Event, add_related, put
from cert.core.parser import Parser, parsers
from ingest.parsers import _accounts, _netfilter, _pam, _sshd, _sudo
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


def enrich(ev: Event, rec: Syslog) -> None:
    """Read the message with the sub-parser of its program; set the dataset it belongs to."""
    msg = rec.message
    program = (rec.program or "").lower()
    recognised = False
    if _pam.looks_like(msg):
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


@parsers.register
class SyslogParser(Parser):
    name = "syslog"
    dataset = "system.syslog"
    module = "system"
    continuation = re.compile(r"\s")

    def parse(self, line: str) -> Event | None:
        if not line.strip():
            return None
        rec = parse(line, self.options.zone)
        ev = rec.to_ecs()
        put_event(ev, kind="event")
        enrich(ev, rec)
        return ev
