"""sudo and su messages -> ECS (Filebeat's ``system.auth.sudo.*`` names).

sudo: ``<user> : [<error> ; ]TTY=<tty> ; PWD=<dir> ; USER=<target> ; [GROUP= ; ][ENV= ; ]COMMAND=<cmd>``
-> action ``sudo``, ``user.name`` the caller, ``user.effective.name`` the target, outcome failure
when sudo wrote an error (``3 incorrect password attempts``, ``user NOT in sudoers``...).

su (util-linux ``(to root) bob on pts/0``, ``FAILED SU (to root) ...``; shadow ``Successful su for
root by bob``, ``FAILED su for ...``, ``+ pts/0 bob:root``; RFC 5424's example ``'su root' failed
for lonvick on /dev/pts/8``) -> action ``su``, category authentication, the same user fields.
"""

from __future__ import annotations

import re

from cert.core.ecs import Event, put

SUDO = re.compile(r"\s*(?P<user>\S+) : (?:(?P<error>[^;=]*?) ; )?TTY=(?P<tty>\S*) ; PWD=(?P<pwd>.*?) ; "
                  r"USER=(?P<target>\S+) ;(?: GROUP=(?P<group>\S+) ;)?(?: TSID=\S+ ;)?(?: ENV=(?P<env>.*?) ;)?"
                  r" COMMAND=(?P<command>.*)$", re.S)
SU = [
    re.compile(r"(?P<failed>FAILED SU )?\(to (?P<target>\S+)\) (?P<user>\S+) on (?P<tty>\S+)\s*$"),
    re.compile(r"(?P<result>Successful|FAILED) su for (?P<target>\S+) by (?P<user>\S+)\s*$"),
    re.compile(r"(?P<sign>[+-]) (?P<tty>\S+) (?P<user>[^:\s]+):(?P<target>\S+)\s*$"),
    re.compile(r"'su (?P<target>\S+)' (?P<result>failed|succeeded) for (?P<user>\S+) on (?P<tty>\S+)\s*$"),
]


def parse_sudo(ev: Event, message: str) -> bool:
    m = SUDO.match(message)
    if m is None:
        return False
    put(ev, "event.action", "sudo")
    put(ev, "event.category", ["process"])
    put(ev, "event.type", ["start"])
    put(ev, "event.outcome", "failure" if m["error"] else "success")
    put(ev, "user.name", m["user"])
    put(ev, "user.effective.name", m["target"])
    put(ev, "process.command_line", m["command"])
    put(ev, "system.auth.sudo.command", m["command"])
    put(ev, "system.auth.sudo.tty", m["tty"])
    put(ev, "system.auth.sudo.pwd", m["pwd"])
    put(ev, "system.auth.sudo.user", m["target"])
    if m["group"]:
        put(ev, "user.effective.group.name", m["group"])
    if m["error"]:
        put(ev, "system.auth.sudo.error", m["error"])
        put(ev, "event.reason", m["error"])
    return True


def parse_su(ev: Event, message: str) -> bool:
    for pattern in SU:
        m = pattern.match(message)
        if m is None:
            continue
        g = m.groupdict()
        failed = bool(g.get("failed")) or g.get("result") in ("FAILED", "failed") or g.get("sign") == "-"
        put(ev, "event.action", "su")
        put(ev, "event.category", ["authentication"])
        put(ev, "event.type", ["start"])
        put(ev, "event.outcome", "failure" if failed else "success")
        put(ev, "user.name", g["user"])
        put(ev, "user.effective.name", g["target"])
        if g.get("tty"):
            put(ev, "system.auth.su.tty", g["tty"])
        return True
    return False
