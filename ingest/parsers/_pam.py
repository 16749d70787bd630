"""Linux-PAM messages (``pam_unix(sshd:auth): ...``, ``(pam_unix) ...``) -> ECS, whatever the
program that logs them (sshd, sudo, su, login, vsftpd, proftpd...).

* ``authentication failure; logname= uid= euid= tty= ruser= rhost= [user=]``: action
  ``pam_authentication_failure``, category authentication, outcome failure, ``source.*`` from
  ``rhost``. ``ruser`` and ``user`` are chosen by the client: ``rhost`` is the first one followed
  by `` user=`` or the end of the line, as pam_unix writes it (``ruser`` comes before ``rhost``).
* ``session opened|closed for user X [by Y]``: ``pam_session_opened`` / ``pam_session_closed``,
  category session. With ``by Y`` (su, sudo), ``user.name`` is Y and ``user.effective.name`` X,
  as for sudo; otherwise ``user.name`` is X.
* ``check pass; user unknown``: an authentication failure for an unknown account.
* ``PAM N more authentication failures; ...`` (sshd's summary at the end of a connection): the same
  fields and ``system.auth.pam.more_failures``.

The old tag form ``sshd(pam_unix)[1234]: authentication failure; ...`` is read by the syslog
header (program ``sshd``, module ``pam_unix``) and given here as ``(pam_unix) authentication ...``.
How many attempts a failure adds to a brute-force count: ``_attempts``.
"""

from __future__ import annotations

import re

from cert.core.ecs import Event, put
from ingest.parsers._fields import put_address, put_event, to_int

HEAD = re.compile(r"(?:pam_(?P<module>\w+)\((?P<service>[^:()\s]*)(?::(?P<type>\w+))?\):"
                  r"|\(pam_(?P<module2>\w+)\):?|pam_(?P<module3>\w+):|PAM(?= \d+ more authentication failures?;))"
                  r" ?(?P<msg>.*)$", re.S)
AUTH_FAILURE = re.compile(r"(?:(?P<more>\d+) more )?authentication failures?; logname=(?P<logname>.*?) "
                          r"uid=(?P<uid>\d*) euid=(?P<euid>\d*) tty=(?P<tty>\S*) ruser=(?P<ruser>.*?) "
                          r"rhost=(?P<rhost>\S*)(?:\s+user=(?P<user>.*?))?(?: \[preauth\])?\s*$", re.S)
SESSION = re.compile(r"session (?P<what>opened|closed) for user (?P<user>[^\s(]+)(?:\(uid=(?P<uid>\d+)\))?"
                     r"(?: by (?P<by>[^\s(]*)(?:\(uid=(?P<byuid>\d+)\))?)?\s*$")
UNKNOWN = re.compile(r"check pass; user unknown\s*$")


def looks_like(message: str) -> bool:
    return message.startswith(("pam_", "(pam_")) or (message.startswith("PAM ") and HEAD.match(message) is not None)


def parse(ev: Event, message: str, program: str | None) -> bool:
    """Map one PAM message onto ``ev``; False when the message is not one we know."""
    head = HEAD.match(message)
    if head is None:
        return False
    module = head["module"] or head["module2"] or head["module3"]
    service = head["service"] or program
    if module:
        put(ev, "system.auth.pam.module", f"pam_{module}")
    if service:
        put(ev, "system.auth.pam.service", service)
    if head["type"]:
        put(ev, "system.auth.pam.type", head["type"])
    msg = head["msg"]
    m = AUTH_FAILURE.match(msg)
    if m is not None:
        _failure(ev, "authentication failure")
        user = m["user"] or m["ruser"]
        if user:
            put(ev, "user.name", user)
        if m["ruser"]:
            put(ev, "source.user.name", m["ruser"])
        put_address(ev, "source", m["rhost"])
        if m["tty"]:
            put(ev, "system.auth.pam.tty", m["tty"])
        if m["more"]:
            put(ev, "system.auth.pam.more_failures", int(m["more"]))
        return True
    m = SESSION.match(msg)
    if m is not None:
        opened = m["what"] == "opened"
        put_event(ev, action=f"pam_session_{m['what']}", category=["session"], type=["start" if opened else "end"],
                  outcome="success")
        if m["by"]:
            put(ev, "user.name", m["by"])
            put(ev, "user.effective.name", m["user"])
        else:
            put(ev, "user.name", m["user"])
        uid = to_int(m["uid"])
        if uid is not None:
            put(ev, "user.effective.id" if m["by"] else "user.id", str(uid))
        return True
    if UNKNOWN.match(msg):
        _failure(ev, "user unknown")
        return True
    return False


def _failure(ev: Event, reason: str) -> None:
    put_event(ev, action="pam_authentication_failure", category=["authentication"], type=["info"],
              outcome="failure", reason=reason)
