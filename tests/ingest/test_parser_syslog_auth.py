"""The ``syslog`` parser's authentication sub-parsers (sshd, PAM, sudo, su), checked against every
labelled line of fail2ban's ``sshd`` and ``pam-generic`` samples and against user-name injection."""

import re
from datetime import datetime
from pathlib import Path

from harness import ParserCase
from hypothesis import given, settings
from hypothesis import strategies as st
from tests_paths import fail2ban, fail2ban_time

from cert.core.ecs import Event, get
from cert.core.parser import ParseError, parsers


class TestSyslogAuth(ParserCase):
    parser_name = "syslog"
    samples = [
        (
            "Feb 25 14:34:10 belka sshd[31602]: Failed password for invalid user ROOT from 194.117.26.69 port 50273 ssh2",
            {"event.action": "ssh_login", "event.outcome": "failure", "event.category": ["authentication"],
             "user.name": "ROOT", "source.ip": "194.117.26.69", "source.port": 50273, "event.reason": "invalid user",
             "system.auth.ssh.method": "password", "event.dataset": "system.auth"},
        ),
        (
            "2026-11-20T08:10:03.120+00:00 db01 sshd[2107]: Accepted publickey for moussa.admin from 10.10.1.15 port "
            "50000 ssh2: ED25519 SHA256:q2Vh0nM4x7b1k",
            {"event.outcome": "success", "event.type": ["start"], "user.name": "moussa.admin",
             "system.auth.ssh.signature": "ED25519 SHA256:q2Vh0nM4x7b1k", "source.port": 50000},
        ),
        (  # the user name carries a fake "from ... port ... ssh2:" and the real address comes last
            "Nov 11 08:04:52 web sshd[2737]: Failed password for invalid user a from 6.6.6.6 port 1 ssh2: b from "
            "203.0.113.9 port 58946 ssh2",
            {"source.ip": "203.0.113.9", "source.port": 58946, "user.name": "a from 6.6.6.6 port 1 ssh2: b"},
        ),
        (
            "Jan  5 01:31:41 www sshd[1643]: ROOT LOGIN REFUSED FROM ::ffff:1.2.3.4 port 12345 [preauth]",
            {"source.ip": "1.2.3.4", "user.name": "root", "event.outcome": "failure", "event.action": "ssh_login"},
        ),
        (
            "Apr 16 22:01:15 al-ribat sshd[5154]: User root from 46.45.128.3 not allowed because listed in DenyUsers",
            {"event.reason": "listed in DenyUsers", "source.ip": "46.45.128.3", "event.outcome": "failure"},
        ),
        (
            "Apr 29 17:16:20 mac sshd[62312]: error: PAM: authentication error for james from example.com via 192.168.1.201",
            {"source.domain": "example.com", "source.address": "example.com", "source.ip": None, "user.name": "james"},
        ),
        (
            "Jul 17 23:04:01 srv sshd[1300]: Connection closed by authenticating user test 127.0.0.1 port 12345 "
            "192.0.2.11 port 46039 [preauth]",
            {"event.action": "ssh_disconnect", "event.category": ["authentication"], "event.outcome": "failure",
             "source.ip": "192.0.2.11", "source.port": 46039, "user.name": "test 127.0.0.1 port 12345"},
        ),
        (
            "Jun  7 01:11:57 host sshd[8782]: Did not receive identification string from 192.0.2.5 port 35836",
            {"event.action": "ssh_handshake_failure", "event.category": ["network"], "source.ip": "192.0.2.5",
             "event.outcome": "failure"},
        ),
        (
            "Nov 11 23:33:27 Server sshd[5174]: refused connect from host.example (::ffff:218.249.210.161)",
            {"event.action": "ssh_connection_refused", "event.type": ["connection", "denied"],
             "source.ip": "218.249.210.161"},
        ),
        (
            "Jan  2 01:18:41 host sshd[11808]: error: Received disconnect from 10.0.0.1 port 7736:3: "
            "com.jcraft.jsch.JSchException: Auth fail [preauth]",
            {"event.action": "ssh_disconnect", "event.category": ["authentication"], "source.port": 7736,
             "event.reason": "3: com.jcraft.jsch.JSchException: Auth fail"},
        ),
        (
            "Nov 20 08:15:00 db01 sshd[2153]: Received disconnect from 203.0.113.66 port 40211:11: disconnected by user",
            {"event.category": ["network"], "event.type": ["connection", "end"], "event.outcome": None},
        ),
        (
            "Oct 25 19:37:08 hostname sshd[22477]: Connection from 192.0.2.1 port 31309 on 192.0.2.8 port 22",
            {"event.action": "ssh_connection", "destination.ip": "192.0.2.8", "destination.port": 22,
             "source.port": 31309},
        ),
        (
            "Mar  7 18:53:20 bar sshd[1556]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
            "tty=ssh ruser= rhost=192.0.2.113  user=rda",
            {"event.action": "pam_authentication_failure", "user.name": "rda", "source.ip": "192.0.2.113",
             "system.auth.pam.module": "pam_unix", "system.auth.pam.service": "sshd", "system.auth.pam.type": "auth"},
        ),
        (
            "Nov 20 08:01:01 db01 sshd[2114]: pam_unix(sshd:session): session opened for user fatou.dba(uid=1001) "
            "by (uid=0)",
            {"event.action": "pam_session_opened", "event.category": ["session"], "event.type": ["start"],
             "user.name": "fatou.dba", "user.id": "1001"},
        ),
        (
            "Nov 20 08:30:05 db01 sudo: pam_unix(sudo:session): session closed for user root",
            {"event.action": "pam_session_closed", "user.name": "root", "system.auth.pam.service": "sudo"},
        ),
        (
            "Nov 20 08:30:00 db01 sudo: pam_unix(sudo:session): session opened for user root(uid=0) by admin(uid=1002)",
            {"user.name": "admin", "user.effective.name": "root", "user.effective.id": "0"},
        ),
        (
            "Nov 20 08:30:00 db01 sudo:    admin : TTY=pts/1 ; PWD=/home/admin ; USER=root ; COMMAND=/usr/bin/cat "
            "/etc/shadow",
            {"event.action": "sudo", "event.outcome": "success", "user.name": "admin", "user.effective.name": "root",
             "process.command_line": "/usr/bin/cat /etc/shadow", "system.auth.sudo.pwd": "/home/admin"},
        ),
        (
            "Nov 20 08:31:00 db01 sudo:      bob : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/tmp ; USER=root ; "
            "COMMAND=/bin/bash",
            {"event.outcome": "failure", "event.reason": "3 incorrect password attempts", "user.name": "bob"},
        ),
        (
            "Nov 20 08:32:00 db01 sudo:      eve : user NOT in sudoers ; TTY=pts/2 ; PWD=/home/eve ; USER=root ; "
            "GROUP=wheel ; COMMAND=/usr/bin/id",
            {"event.outcome": "failure", "system.auth.sudo.error": "user NOT in sudoers",
             "user.effective.group.name": "wheel", "process.command_line": "/usr/bin/id"},
        ),
        (
            "Nov 20 08:33:00 db01 su[4242]: FAILED SU (to root) bob on pts/0",
            {"event.action": "su", "event.outcome": "failure", "user.name": "bob", "user.effective.name": "root",
             "event.dataset": "system.auth"},
        ),
        (
            "Nov 20 08:34:00 db01 su[4243]: Successful su for root by alice",
            {"event.action": "su", "event.outcome": "success", "user.name": "alice"},
        ),
        (  # an unknown sshd message keeps its header fields and stays in the auth dataset
            "Nov 20 08:35:00 db01 sshd[1]: Server listening on 0.0.0.0 port 22.",
            {"process.name": "sshd", "event.action": None, "event.dataset": "system.auth"},
        ),
    ]
    malformed = ["sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2"]


def _host(label: dict[str, object]) -> str:
    return str(label["host"])


def test_fail2ban_labelled_sshd_lines_map_to_failures_from_the_labelled_address(corpora: Path) -> None:
    """Every line fail2ban labels as a failure from some host: where the host is written in the
    line (fail2ban also labels lines whose address comes from earlier lines of the same
    connection, and successful logins after failures), we must find that address, call the event
    a failure and give the labelled time."""
    parser = parsers.get("syslog")()
    deliberate = "Failed password for invalid user test from 127.0.0.1 port 58946 ssh2: from 10.10.1.2 port 55555 ssh2"
    in_line = mapped = authentication = 0
    for label, line in fail2ban(corpora, "sshd"):
        if not label.get("match") or "host" not in label:
            continue
        event = parser.parse(line)
        assert event is not None
        host = _host(label)
        if event["message"] == deliberate:  # see tests/ingest/test_linux_auth.py
            assert get(event, "source.address") == "10.10.1.2"
            continue
        if get(event, "source.address") is not None:
            assert get(event, "source.address") == host, line
        if host not in line or " Accepted " in line:
            continue
        in_line += 1
        if get(event, "source.address") == host and get(event, "event.outcome") == "failure":
            mapped += 1
            authentication += "authentication" in get(event, "event.category")
            ts = datetime.fromisoformat(event["@timestamp"].replace("Z", "+00:00")).replace(microsecond=0)
            zoned = bool(re.match(r"<\d+>1 |\d{4}-", line))
            assert ts == fail2ban_time(label["time"], zoned, None if zoned else ts.year), line
            if label.get("user") is not None and get(event, "user.name") is not None:
                assert get(event, "user.name") == label["user"], line
    assert in_line >= 90
    assert mapped / in_line >= 0.98, (mapped, in_line)
    assert authentication >= 65, authentication


def test_fail2ban_pam_generic_failures(corpora: Path) -> None:
    parser = parsers.get("syslog")()
    checked = 0
    for label, line in fail2ban(corpora, "pam-generic"):
        if not label.get("match"):
            continue
        event = parser.parse(line)
        assert event is not None
        assert get(event, "event.action") == "pam_authentication_failure", line
        assert get(event, "source.address") == _host(label), line
        if "user" in label:
            assert get(event, "user.name") == label["user"], line
        checked += 1
    assert checked == 8


REAL = "203.0.113.7"
FORMS = [
    "Failed password for invalid user {u} from {ip} port 50022 ssh2",
    "Failed publickey for invalid user {u} from {ip} port 50022 ssh2: RSA SHA256:n8pQyF4tZ",
    "Failed keyboard-interactive/pam for invalid user {u} from {ip} port 50022 ssh2 [preauth]",
    "Accepted password for {u} from {ip} port 50022 ssh2",
    "Invalid user {u} from {ip} port 50022",
    "error: PAM: Authentication failure for illegal user {u} from {ip}",
    "User {u} from {ip} not allowed because not listed in AllowUsers",
    "error: maximum authentication attempts exceeded for invalid user {u} from {ip} port 50022 ssh2 [preauth]",
    "Connection closed by invalid user {u} {ip} port 50022 [preauth]",
    "Disconnected from authenticating user {u} {ip} port 50022 [preauth]",
    "Disconnecting invalid user {u} {ip} port 50022: Too many authentication failures [preauth]",
    "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={u}",
]
PIECES = ["from", "6.6.6.6", "::ffff:6.6.6.6", "port", "1", "ssh2", "ssh2:", ":", "RSA", "SHA256:x", "[preauth]",
          "invalid", "user", "rhost=6.6.6.6", "user=x", "x", "via", "not allowed because", "6.6.6.6:", "("]
# user names that imitate what sshd writes after a name: "<x> from <addr>[ port n][ sshN][tail]"
FAKE_TAILS = st.builds(
    lambda pre, addr, port, proto, tail: f"{pre}from {addr}{port}{proto}{tail}",
    st.sampled_from(["", "a ", "a b "]),
    st.sampled_from(["6.6.6.6", "::ffff:6.6.6.6", "evil.example", "6.6.6.6 6.6.6.6"]),
    st.sampled_from(["", " port 1"]),
    st.sampled_from(["", " ssh2", " ssh1"]),
    st.sampled_from(["", ":", ": ", ": b", ": RSA SHA256:x", " [preauth]", " b", ": ruser x", " 6.6.6.6 port 2"]),
)
USER_NAMES = st.one_of(FAKE_TAILS, st.builds(lambda p, g: g.join(p), st.lists(st.sampled_from(PIECES), max_size=10),
                                             st.sampled_from([" ", ""])))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(FORMS), USER_NAMES)
def test_user_name_injection_never_moves_the_source_address(form: str, user: str) -> None:
    """A client chooses its user name: whatever it writes there, the address is the real one."""
    line = "Nov 20 08:10:07 db01 sshd[2117]: " + form.format(u=user, ip=REAL)
    event: Event | None
    try:
        event = parsers.get("syslog")().parse(line)
    except ParseError:
        return
    assert event is not None
    assert get(event, "source.address") in (REAL, None), line
    if user and " " not in user and "[" not in user:  # an ordinary name is always read
        assert get(event, "source.ip") == REAL, line
