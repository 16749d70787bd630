"""Linux authentication log (``/var/log/auth.log``, ``secure``): sshd, sudo and PAM messages.

ECS mapping follows Filebeat's ``system.auth`` dataset.
"""

from __future__ import annotations

import re

from cert.ecs import Event, put
from cert.ingestion import Parser, parsers
from ingest.parsers._syslog import split_header

# sshd writes "<user> from <ip> port <n> ssh2" and may append ": <key info>". A user name can hold
# spaces (and an attacker can put "from 10.0.0.1 port 1" in it), so first try a space-free name
# followed by the end or ": "; else take the last "from ... port" of the line.
_TAIL = r"(?: port (?P<port>\d+))?(?: ssh\d)?"
SSHD = [
    (re.compile(r"^(?P<result>Failed|Accepted) (?P<method>\S+) for (?:invalid user )?(?P<user>\S+) from "
                r"(?P<ip>[0-9a-fA-F:.]+)" + _TAIL + r"(?::|$)"), None),
    (re.compile(r"^(?P<result>Failed|Accepted) (?P<method>\S+) for (?:invalid user )?(?P<user>.*) from "
                r"(?P<ip>[0-9a-fA-F:.]+)" + _TAIL), None),
    (re.compile(r"^Invalid user (?P<user>\S+) from (?P<ip>[0-9a-fA-F:.]+)" + _TAIL + r"(?::|$)"), "Failed"),
    (re.compile(r"^Invalid user (?P<user>.*) from (?P<ip>[0-9a-fA-F:.]+)" + _TAIL), "Failed"),
]
SUDO = re.compile(r"^\s*(?P<user>\S+) : (?:(?P<error>.*?) ; )?TTY=(?P<tty>\S+) ; PWD=(?P<pwd>.*?) ; "
                  r"USER=(?P<target>\S+) ; COMMAND=(?P<command>.*)$")


@parsers.register
class LinuxAuthParser(Parser):
    name = "linux.auth"
    dataset = "system.auth"
    module = "system"

    def parse(self, line: str) -> Event | None:
        if not line.strip():
            return None
        head = split_header(line)
        msg = head["msg"]
        ev: Event = {"@timestamp": head["timestamp"], "message": msg}
        put(ev, "host.hostname", head["host"])
        put(ev, "host.name", head["host"])
        put(ev, "process.name", head["prog"])
        if "pid" in head:
            put(ev, "process.pid", int(head["pid"]))
        put(ev, "event.kind", "event")
        if head["prog"] == "sshd":
            self._sshd(ev, msg)
        elif head["prog"] == "sudo":
            self._sudo(ev, msg)
        return ev

    @staticmethod
    def _sshd(ev: Event, msg: str) -> None:
        for pattern, forced in SSHD:
            m = pattern.match(msg)
            if m is None:
                continue
            g = m.groupdict()
            result = forced or g["result"]
            put(ev, "event.action", "ssh_login")
            put(ev, "event.category", ["authentication"])
            put(ev, "event.type", ["start"] if result == "Accepted" else ["info"])
            put(ev, "event.outcome", "success" if result == "Accepted" else "failure")
            put(ev, "user.name", g["user"])
            put(ev, "source.ip", g["ip"])
            if g.get("port"):
                put(ev, "source.port", int(g["port"]))
            if g.get("method"):
                put(ev, "system.auth.ssh.method", g["method"])
            put(ev, "system.auth.ssh.event", result if not forced else "Invalid")
            return

    @staticmethod
    def _sudo(ev: Event, msg: str) -> None:
        m = SUDO.match(msg)
        if m is None:
            return
        put(ev, "event.action", "sudo")
        put(ev, "event.category", ["process"])
        put(ev, "event.type", ["start"])
        put(ev, "event.outcome", "failure" if m["error"] else "success")
        put(ev, "user.name", m["user"])
        put(ev, "user.effective.name", m["target"])
        put(ev, "process.command_line", m["command"])
        put(ev, "system.auth.sudo.tty", m["tty"])
        put(ev, "system.auth.sudo.pwd", m["pwd"])
        if m["error"]:
            put(ev, "system.auth.sudo.error", m["error"])
