"""sshd and Linux-PAM failure forms, and how many attempts each line adds to the brute-force counts
(``event.count``, ``ingest/parsers/_attempts.py``): every attempt counts once, whatever the number of
lines sshd and PAM write about it.

The sequences are those sshd writes: Linux with PAM (Ubuntu's auth.log, as in Loghub's OpenSSH
sample ``LabSZ``), macOS (OpenPAM, the unified-log form with two blanks after the time, as in
Wazuh's sshd rule tests), the old Red Hat PAM tag form ``sshd(pam_unix)[pid]:`` (fail2ban's
``pam-generic`` samples), and rsyslog's ``message repeated N times: [ ...]`` (rsyslog's
``$RepeatedMsgReduction``)."""

from __future__ import annotations

import pytest

from cert.core.ecs import Event, get
from cert.core.parser import ParseError, Parser, parsers
from cert.core.registry import load_plugins

load_plugins(["ingest.parsers"])

HOST = "Dec 10 11:04:42 LabSZ sshd[25539]: "
INVALID_USER_WITH_PAM = [
    "Invalid user webmaster from 103.99.0.122",
    "Failed none for invalid user webmaster from 103.99.0.122 port 52683 ssh2",
    "input_userauth_request: invalid user webmaster [preauth]",
    "pam_unix(sshd:auth): check pass; user unknown",
    "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=103.99.0.122",
    "Failed password for invalid user webmaster from 103.99.0.122 port 52683 ssh2",
]
THREE_PASSWORDS_WITH_PAM = [
    "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=183.62.140.253  "
    "user=root",
    "Failed password for root from 183.62.140.253 port 46112 ssh2",
    "Failed password for root from 183.62.140.253 port 46112 ssh2",
    "Failed password for root from 183.62.140.253 port 46112 ssh2",
    "Disconnecting: Too many authentication failures for root [preauth]",
    "PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=183.62.140.253  user=root",
]
MACOS = "2020-03-23 06:47:42.801612-0700  localhost sshd[3186]: "
MACOS_INVALID_USER = [
    "Postponed keyboard-interactive for invalid user ZZZZZ from 172.16.114.1 port 59701 ssh2 [preauth]",
    "error: PAM: unknown user for illegal user ZZZZZ from 172.16.114.1",
    "Failed keyboard-interactive/pam for invalid user ZZZZZ from 172.16.114.1 port 59701 ssh2",
]


def parser() -> Parser:
    return parsers.get("syslog")().for_source("auth.log")


def events(lines: list[str], prefix: str = HOST) -> list[Event]:
    p = parser()
    out = []
    for line in lines:
        ev = p.parse(prefix + line)
        assert ev is not None
        out.append(ev)
    return out


def failures(evs: list[Event]) -> list[Event]:
    return [e for e in evs if get(e, "event.outcome") == "failure" and get(e, "event.category") == ["authentication"]
            and get(e, "event.action") in ("ssh_login", "pam_authentication_failure")]


def attempts(evs: list[Event]) -> int:
    """What a brute-force event_count adds up for these events."""
    return sum(get(e, "event.count") if get(e, "event.count") is not None else 1 for e in failures(evs))


def test_an_invalid_user_attempt_counts_once() -> None:
    evs = events(INVALID_USER_WITH_PAM)
    assert len(failures(evs)) == 6  # each line is a failure for whoever reads it alone
    assert attempts(evs) == 1
    assert get(evs[0], "event.count") is None  # the first line of the attempt carries it
    assert [get(e, "event.count") for e in evs[1:]] == [0, 0, 0, 0, 0]


def test_three_passwords_on_one_connection_count_three() -> None:
    evs = events(THREE_PASSWORDS_WITH_PAM)
    assert attempts(evs) == 3
    summary = evs[-1]
    assert get(summary, "event.action") == "pam_authentication_failure"
    assert get(summary, "system.auth.pam.more_failures") == 2 and get(summary, "event.count") == 0
    assert get(summary, "source.ip") == "183.62.140.253" and get(summary, "user.name") == "root"


def test_macos_keyboard_interactive_forms_with_two_blanks_after_the_time() -> None:
    evs = events(MACOS_INVALID_USER, MACOS)
    assert all(e["message"] for e in evs)
    postponed, unknown, failed = evs
    assert get(postponed, "event.outcome") == "failure" and get(postponed, "event.reason") == "invalid user"
    assert get(postponed, "user.name") == "ZZZZZ" and get(postponed, "source.ip") == "172.16.114.1"
    assert get(postponed, "system.auth.ssh.event") == "Postponed"
    assert get(unknown, "event.reason") == "user unknown" and get(unknown, "user.name") == "ZZZZZ"
    assert get(unknown, "source.ip") == "172.16.114.1" and get(unknown, "host.name") == "localhost"
    assert get(failed, "@timestamp") == "2020-03-23T13:47:42.801Z"
    assert attempts(evs) == 1


def test_postponed_for_a_valid_user_is_not_a_failure() -> None:
    (ev,) = events(["Postponed keyboard-interactive for alice from 10.0.0.5 port 50000 ssh2 [preauth]"])
    assert get(ev, "event.action") == "ssh_login" and get(ev, "event.outcome") == "unknown"
    assert get(ev, "user.name") == "alice" and not failures([ev])


def test_input_userauth_request_and_disconnecting_invalid_user() -> None:
    req, disc = events(["input_userauth_request: invalid user oracle [preauth]",
                        "Disconnecting invalid user oracle 198.51.100.7 port 40022: Too many authentication failures "
                        "[preauth]"])
    assert get(req, "event.outcome") == "failure" and get(req, "user.name") == "oracle"
    assert get(req, "event.reason") == "invalid user"
    assert get(disc, "source.ip") == "198.51.100.7" and get(disc, "source.port") == 40022
    assert get(disc, "event.count") == 0  # a summary: its attempts have their own lines


def test_identical_lines_of_one_process_are_separate_attempts() -> None:
    """Eight identical announcements (a scanner's user names, a program writing PAM lines only): eight."""
    same = events(["Invalid user admin from 203.0.113.50 port 22"] * 8)
    assert attempts(same) == 8
    pam = events(["pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
                  "rhost=203.0.113.50  user=root"] * 8)
    assert attempts(pam) == 8


def test_old_pam_tag_form() -> None:
    p = parser()
    ev = p.parse("Jan 10 12:00:00 srv sshd(pam_unix)[1234]: authentication failure; logname= uid=0 euid=0 "
                 "tty=NODEVssh ruser= rhost=198.51.100.9  user=root")
    assert ev is not None
    assert get(ev, "event.action") == "pam_authentication_failure" and get(ev, "event.outcome") == "failure"
    assert get(ev, "source.ip") == "198.51.100.9" and get(ev, "user.name") == "root"
    assert get(ev, "process.name") == "sshd" and get(ev, "process.pid") == 1234
    assert get(ev, "system.auth.pam.module") == "pam_unix" and get(ev, "event.dataset") == "system.auth"
    ftp = p.parse("Feb 6 12:02:29 server vsftpd(pam_unix)[15522]: authentication failure; logname= uid=0 euid=0 "
                  "tty= ruser= rhost=64.168.103.1 user=user1")
    assert ftp is not None and get(ftp, "source.ip") == "64.168.103.1" and get(ftp, "user.name") == "user1"
    assert get(ftp, "system.auth.pam.service") == "vsftpd"


def test_message_repeated_counts_its_repetitions() -> None:
    first, repeated = events(["Failed password for root from 1.2.3.4 port 22 ssh2",
                              "message repeated 4 times: [ Failed password for root from 1.2.3.4 port 22 ssh2]"])
    assert get(repeated, "event.action") == "ssh_login" and get(repeated, "source.ip") == "1.2.3.4"
    assert get(repeated, "log.syslog.repeated") == 4 and get(repeated, "event.count") == 4
    assert repeated["message"].startswith("message repeated 4 times")
    assert attempts([first, repeated]) == 5


def test_a_bad_repetition_count_is_a_dead_letter() -> None:
    with pytest.raises(ParseError, match="repetition"):
        parser().parse(HOST + "message repeated 0 times: [ Failed password for root from 1.2.3.4 port 22 ssh2]")


def test_the_state_is_per_source() -> None:
    shared = parsers.get("syslog")()
    a, b = shared.for_source("a.log"), shared.for_source("b.log")
    assert a.parse(HOST + INVALID_USER_WITH_PAM[0]) is not None
    failed = b.parse(HOST + INVALID_USER_WITH_PAM[-1])  # another source: not the same attempt
    assert failed is not None and get(failed, "event.count") is None
    # the same source named again (a listener's next batch) goes on where it stopped
    again = shared.for_source("a.log").parse(HOST + INVALID_USER_WITH_PAM[-1])
    assert again is not None and get(again, "event.count") == 0


def test_syslogd_last_message_repeated_repeats_the_previous_record_of_its_host() -> None:
    """sysklogd's ``host last message repeated N times`` and macOS/BSD's ``--- last message repeated
    N times ---`` (no host: the source's previous record) stand for N more copies of that record."""
    p = parser()
    lines = ["Mar 24 08:38:42 mac sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2",
             "Mar 24 08:38:43 db01 cron[5]: (root) CMD (run-parts /etc/cron.hourly)",
             "Mar 24 08:38:50 mac last message repeated 3 times",
             "Mar 24 08:38:51 db01 last message repeated 2 times",
             "Mar 24 08:38:52 --- last message repeated 1 time ---",
             "Mar 24 08:38:53 web9 last message repeated 2 times"]  # nothing before it from web9
    evs = [p.parse(line) for line in lines]
    assert all(e is not None for e in evs)
    failed, _cron, mac, db, bsd, alone = evs
    assert get(mac, "event.action") == "ssh_login" and get(mac, "source.ip") == "1.2.3.4"
    assert get(mac, "user.name") == "root" and get(mac, "log.syslog.repeated") == 3
    assert get(mac, "event.count") == 3 and mac["@timestamp"].endswith("08:38:50.000Z")
    assert mac["message"] == "last message repeated 3 times"
    assert attempts([failed, mac]) == 4
    assert get(db, "process.name") == "cron" and get(db, "log.syslog.repeated") == 2 and not failures([db])
    assert get(bsd, "process.name") == "cron" and get(bsd, "host.name") == "db01"  # the source's last record
    assert get(alone, "event.action") is None and alone["message"] == "last message repeated 2 times"
