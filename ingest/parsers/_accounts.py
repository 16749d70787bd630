"""Account management messages of shadow-utils (``useradd``, ``groupadd``, ``usermod``,
``userdel``, ``groupdel``, ``groupmod``) and of password changes (``passwd``, ``chpasswd``) -> ECS,
as Filebeat's ``system.auth`` pipeline maps them: ``event.category`` iam, ``event.type`` user or
group with creation, change or deletion, ``event.outcome``, ``user.name``, ``user.id``,
``group.name``, ``group.id``; ``system.auth.useradd.home`` and ``shell``. ``event.action`` is the
program's name, as for ``sudo`` and ``su``.

Forms (shadow-utils' ``SYSLOG`` calls; Filebeat's ``system/auth/test/test.log``)::

    new user: name=apache, UID=48, GID=48, home=/usr/share/httpd, shell=/sbin/nologin[, from=/dev/pts/0]
    new group: name=apache, GID=48            group added to /etc/group: name=apache, GID=48
    add 'bob' to [shadow ]group 'sudo'        delete 'bob' from [shadow ]group 'sudo'
    change user 'bob' password                change user name 'bob' to 'robert'
    change user 'bob' UID from '1001' to '1005'   lock user 'bob' password
    delete user 'bob'                         removed [shadow ]group 'bob' owned by 'bob'
    group 'dev' removed[ from /etc/group]     group changed in /etc/group (group dev/1002, new name: devs)
    password for 'bob' changed by 'root'      pam_unix(passwd:chauthtok): password changed for bob
    failed adding user 'bob', data deleted
"""

from __future__ import annotations

import re

from cert.core.ecs import Event, put
from ingest.parsers._fields import put_event

PROGRAMS = frozenset(("useradd", "groupadd", "usermod", "userdel", "groupdel", "groupmod", "passwd", "chpasswd",
                      "adduser", "addgroup", "deluser", "delgroup"))

_NAME = r"[^\s',]{1,256}"
#: (pattern, event.type, event.outcome); the named groups user, uid, gid, group, home, shell give the fields.
FORMS: tuple[tuple[re.Pattern[str], list[str], str], ...] = (
    (re.compile(rf"new user: name=(?P<user>{_NAME}), UID=(?P<uid>\d+), GID=(?P<gid>\d+), home=(?P<home>[^,]*), "
                r"shell=(?P<shell>[^,]*?)(?:, from=\S*)?\s*$"), ["user", "creation"], "success"),
    (re.compile(rf"(?:new group|group added to \S+): name=(?P<group>{_NAME})(?:, GID=(?P<gid>\d+))?"),
     ["group", "creation"], "success"),
    (re.compile(rf"(?:add|delete) '(?P<user>{_NAME})' (?:to|from) (?:shadow )?group '(?P<group>{_NAME})'"),
     ["group", "change"], "success"),
    (re.compile(rf"change user name '{_NAME}' to '(?P<user>{_NAME})'"), ["user", "change"], "success"),
    (re.compile(rf"change user '(?P<user>{_NAME})' UID from '\d+' to '(?P<uid>\d+)'"), ["user", "change"], "success"),
    (re.compile(rf"change user '(?P<user>{_NAME})' GID from '\d+' to '(?P<gid>\d+)'"), ["user", "change"], "success"),
    (re.compile(rf"(?:change|lock|unlock) user '(?P<user>{_NAME})'"), ["user", "change"], "success"),
    (re.compile(rf"delete user '(?P<user>{_NAME})'"), ["user", "deletion"], "success"),
    (re.compile(rf"removed (?:shadow )?group '(?P<group>{_NAME})' owned by '{_NAME}'"), ["group", "deletion"],
     "success"),
    (re.compile(rf"group '(?P<group>{_NAME})' removed"), ["group", "deletion"], "success"),
    (re.compile(r"group changed in \S+ \(group (?P<group>[^/\s]{1,256})/(?P<gid>\d+)"), ["group", "change"],
     "success"),
    (re.compile(rf"password for '(?P<user>{_NAME})' changed by '{_NAME}'"), ["user", "change"], "success"),
    (re.compile(rf"(?:pam_\w+\([^)]*\): )?password changed for (?P<user>{_NAME})\s*$"), ["user", "change"],
     "success"),
    (re.compile(rf"failed adding user '(?P<user>{_NAME})'"), ["user", "creation"], "failure"),
)


def parse(ev: Event, message: str, program: str) -> bool:
    """Map one account management message onto ``ev``; False when it is not one we know."""
    for pattern, types, outcome in FORMS:
        m = pattern.match(message)
        if m is None:
            continue
        g = m.groupdict()
        put_event(ev, action=program, category=["iam"], type=list(types), outcome=outcome)
        if g.get("user"):
            put(ev, "user.name", g["user"])
        if g.get("uid"):
            put(ev, "user.id", g["uid"])
        if g.get("group"):
            put(ev, "group.name", g["group"])
        if g.get("gid"):
            put(ev, "group.id", g["gid"])
        if g.get("home") is not None:
            put(ev, "system.auth.useradd.home", g["home"])
            put(ev, "system.auth.useradd.shell", g["shell"])
        return True
    return False
