"""The ``syslog`` parser's headers: RFC 5424 (the RFC's own examples), RFC 3164 with and without
PRI, and the variants real senders write, checked on every labelled line of fail2ban's samples."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from harness import ParserCase
from tests_paths import fail2ban, fail2ban_time

from cert.core.ecs import get
from cert.core.errors import InvalidInput
from cert.core.parser import ParseError, ParserOptions, parsers
from ingest.parsers._syslog import bsd_timestamp, parse

BOM = "\ufeff"


class TestSyslog(ParserCase):
    parser_name = "syslog"
    samples = [
        (  # two blanks after the time (macOS unified log, padded rsyslog templates)
            "2020-03-24 08:38:42.344447-0700  localhost sshd[2519]: Failed password for root from 1.2.3.4 port 22 ssh2",
            {"message": "Failed password for root from 1.2.3.4 port 22 ssh2", "host.name": "localhost",
             "process.name": "sshd", "process.pid": 2519, "@timestamp": "2020-03-24T15:38:42.344Z",
             "source.ip": "1.2.3.4", "event.outcome": "failure", "event.dataset": "system.auth"},
        ),
        (  # blanks (and a tab) padding every header field
            "Mar 24 08:38:42   web01 \t  nginx[77]:   upstream timed out",
            {"message": "upstream timed out", "host.name": "web01", "process.name": "nginx", "process.pid": 77},
        ),
        (  # RFC 5424 section 6.5, example 1
            f"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - {BOM}'su root' failed for lonvick on "
            "/dev/pts/8",
            {
                "@timestamp": "2003-10-11T22:14:15.003Z",
                "message": "'su root' failed for lonvick on /dev/pts/8",
                "host.name": "mymachine.example.com",
                "process.name": "su",
                "log.syslog.priority": 34,
                "log.syslog.facility.code": 4,
                "log.syslog.facility.name": "auth",
                "log.syslog.severity.code": 2,
                "log.syslog.severity.name": "critical",
                "log.syslog.version": "1",
                "log.syslog.msgid": "ID47",
                "log.syslog.procid": None,
                "event.dataset": "system.auth",
                "event.action": "su",
                "event.outcome": "failure",
                "user.name": "lonvick",
                "user.effective.name": "root",
            },
        ),
        (  # RFC 5424 section 6.5, example 2: an offset and microseconds
            "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
            {
                "@timestamp": "2003-08-24T12:14:15.000Z",
                "host.name": "192.0.2.1",
                "process.pid": 8710,
                "log.syslog.facility.name": "local4",
                "log.syslog.severity.name": "notice",
                "message": "%% It's time to make the do-nuts.",
                "event.dataset": None,
            },
        ),
        (  # RFC 5424 section 6.5, examples 3 and 4: structured data, no message (the data is the message)
            '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" '
            'eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]',
            {
                "log.syslog.structured_data": {
                    "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
                    "examplePriority@32473": {"class": "high"},
                },
                "log.syslog.appname": "evntslog",
                "message": '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 '
                           'class="high"]',
            },
        ),
        (  # escapes in SD-PARAM values, NILVALUE host, app and procid
            r'<14>1 2024-05-02T10:00:00+02:00 - - - - [meta q="a \"quoted\" \] \\ value"] hello',
            {
                "@timestamp": "2024-05-02T08:00:00.000Z",
                "log.syslog.structured_data": {"meta": {"q": 'a "quoted" ] \\ value'}},
                "host.name": None,
                "process.name": None,
                "message": "hello",
            },
        ),
        (  # RFC 3164 section 5.4: no tag, an address for host name
            "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
            {"host.name": "10.0.0.99", "message": "Use the BFG!", "log.syslog.facility.name": "user",
             "process.name": None},
        ),
        (  # rsyslog's ISO 8601 form, no PRI
            "2015-04-16T18:02:50.321974+00:00 host sshd[2716]: Connection closed by 192.0.2.112 [preauth]",
            {"@timestamp": "2015-04-16T18:02:50.321Z", "process.pid": 2716, "process.name": "sshd",
             "log.syslog.priority": None, "source.ip": "192.0.2.112"},
        ),
        (  # a year after the day, and fractions of a second
            "Mar 16 2010 15:39:29.250 fw01 kernel: link down",
            {"@timestamp": "2010-03-16T15:39:29.250Z", "host.name": "fw01", "process.name": "kernel",
             "message": "link down"},
        ),
        (  # no host name, bracketed tag without colon (fail2ban's samples)
            "Jun 25 23:53:34 [sshd] User root from 1.2.3.4 not allowed because not listed in AllowUsers",
            {"process.name": "sshd", "host.name": None, "source.ip": "1.2.3.4", "event.outcome": "failure"},
        ),
        (
            "Nov 23 21:50:19 sshd[8148]: Disconnecting: Too many authentication failures for root [preauth]",
            {"process.name": "sshd", "process.pid": 8148, "host.name": None, "user.name": "root"},
        ),
        (  # journald and systemd write a space before the offset, some apps a zone name
            "2019-11-26 01:04:49.008 +08:00 vault app[7]: started",
            {"@timestamp": "2019-11-25T17:04:49.008Z", "process.name": "app"},
        ),
        (
            "2005-06-21 14:55:10 UTC machine test-demo[13709]: error from 192.0.2.10",
            {"@timestamp": "2005-06-21T14:55:10.000Z", "host.name": "machine"},
        ),
    ]
    malformed = [
        "not a syslog line",
        "Mar 24 08:38:42 host sshd[1]:",  # a header and no message
        "Mar 24 08:38:42 host sshd[1]:   ",
        "<13>Mar 24 08:38:42 ",
        "2020-03-24 08:38:42.344447-0700  localhost",
        "<34>1 2003-10-11T22:14:15.003Z host app - - -",
        "<34>1 2003-10-11T22:14:15.003Z host app - - - \ufeff",
        "srv sshd[13709]: a journal line has no time",
        "<999>Oct 11 22:14:15 host su: bad PRI",
        "<34>1 2003-10-11T22:14:15.003Z host app - - [unterminated sd",
        "<34>1 2003-10-11T22:14:15.003Z host app - - [a b=c] unquoted",
        "<34>1 2003-10-11 host app - - - a date is not a timestamp",
        "<34>1 2003-13-11T22:14:15Z host app - - - month 13",
        "<34>1 0001-01-01T00:00:00+01:00 host app - - - before year 1 in UTC",
        "Foo 11 22:14:15 host su: no such month",
        "Oct 11 25:14:15 host su: no such hour",
        "Feb 30 10:00:00 host su: no such day",
        "Feb 30 2024 10:00:00 host su: no such day",
    ]


def test_rfc5424_nil_timestamp_is_the_reception_time() -> None:
    event = parsers.get("syslog")().parse("<14>1 - host app - - - no clock on this device")
    assert event is not None
    created = datetime.fromisoformat(event["@timestamp"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60
    assert get(event, "event.created") == event["@timestamp"]


def test_a_yearless_date_is_this_year_or_last_year() -> None:
    now = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)
    assert bsd_timestamp("Dec 31 23:59:59", now) == datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert bsd_timestamp("Jan  3 12:30:00", now) == datetime(2026, 1, 3, 12, 30, tzinfo=UTC)  # clock skew
    assert bsd_timestamp("Feb 29 08:00:00", datetime(2025, 3, 1, tzinfo=UTC)) == datetime(2024, 2, 29, 8, tzinfo=UTC)
    with pytest.raises(ParseError):
        bsd_timestamp("Feb 30 08:00:00", now)


def test_cef_and_leef_are_messages_not_program_names() -> None:
    rec = parse("<189>Jun 18 10:55:50 host CEF:0|Elastic|Vaporware|1.0.0-alpha|18|Web request|low|eventId=3457")
    assert rec.hostname == "host" and rec.program is None
    assert rec.message.startswith("CEF:0|")


SYSLOG_START = re.compile(r"^(?:<\d{1,3}>\d? ?)?(?:[A-Z][a-z]{2} +\d{1,2} (?:\d{4} )?\d\d:\d\d:\d\d"
                          r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?) ")
ZONED = re.compile(r"^(?:<\d+>\d? ?)?\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)? ?(?:Z|[+-]\d\d:?\d\d|UTC|GMT)")
WITH_YEAR = re.compile(r"^(?:<\d+>\d? ?)?(?:\d{4}-|[A-Z][a-z]{2} +\d+ \d{4} )")


def _sample_files(corpora: Path) -> list[str]:
    folder = corpora / "linux" / "fail2ban-samples"
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != "COPYING")


def test_every_syslog_line_of_the_fail2ban_samples_gets_its_labelled_time(corpora: Path) -> None:
    """fail2ban labels ~570 lines of ~100 programs with their time: the header reading must give
    exactly that instant, and every line that starts like syslog must be read."""
    parser = parsers.get("syslog")()
    checked = 0
    for name in _sample_files(corpora):
        for label, line in fail2ban(corpora, name):
            if SYSLOG_START.match(line):
                event = parser.parse(line)  # must not raise
            else:
                try:
                    event = parser.parse(line)
                except ParseError:
                    continue
            if "time" not in label or event is None or not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", label["time"]):
                continue
            ts = datetime.fromisoformat(event["@timestamp"].replace("Z", "+00:00")).replace(microsecond=0)
            year = None if WITH_YEAR.match(line) else ts.year
            assert ts == fail2ban_time(label["time"], bool(ZONED.match(line)), year), f"{name}: {line}"
            checked += 1
    assert checked >= 550, checked


def test_fail2ban_rfc5424_lines_keep_their_structured_data(corpora: Path) -> None:
    parser = parsers.get("syslog")()
    lines = [line for _, line in fail2ban(corpora, "sshd") if line.startswith("<38>1 ")]
    assert len(lines) == 2
    first, second = (parser.parse(line) for line in lines)
    assert first is not None and second is not None
    assert get(first, "log.syslog.structured_data") is None
    assert get(second, "log.syslog.structured_data") == {"timeQuality": {"tzKnown": "1", "isSynced": "0"},
                                                         "xxx@123": {"test": "[brackets]"}}
    assert get(second, "host.name") == "hostname.example.com" and get(second, "process.pid") == 55555
    assert get(second, "source.ip") == "192.0.2.2" and get(second, "user.name") == "redmond"


def test_last_message_repeated_has_no_host() -> None:
    # macOS/BSD syslogd's coalescing line: "Oct  2 00:32:52 --- last message repeated 1 time ---"
    for line in ("Jan 31 19:23:28 --- last message repeated 1 time ---",
                 "<13>Jan 31 19:23:28 --- last message repeated 17 times ---"):
        event = parsers.get("syslog")().parse(line)
        assert event is not None
        assert get(event, "host.hostname") is None and get(event, "host.name") is None
        assert event["message"].startswith("--- last message repeated")


def test_a_timestamp_without_zone_is_in_the_source_time_zone() -> None:
    parser = parsers.get("syslog")().configure(ParserOptions(timezone="America/New_York"))
    bsd = parser.parse("Jul  4 09:15:00 2026 host app: x")  # RFC 3164 with a year, in local time (EDT, -4)
    assert bsd is not None and bsd["@timestamp"] == "2026-07-04T13:15:00.000Z"
    assert get(bsd, "event.timezone") == "America/New_York"
    yearless = parser.parse("Jan  4 09:15:00 host app: x")  # EST, -5
    assert yearless is not None and yearless["@timestamp"].endswith("-01-04T14:15:00.000Z")
    iso = parser.parse("2026-01-04T09:15:00 host app: x")
    assert iso is not None and iso["@timestamp"] == "2026-01-04T14:15:00.000Z"
    zoned = parser.parse("2026-01-04T09:15:00+01:00 host app: x")  # a timestamp with its offset keeps it
    assert zoned is not None and zoned["@timestamp"] == "2026-01-04T08:15:00.000Z"
    assert get(zoned, "event.timezone") is None
    rfc5424 = parser.parse("<34>1 2026-01-04T09:15:00Z host app - - - x")
    assert rfc5424 is not None and rfc5424["@timestamp"] == "2026-01-04T09:15:00.000Z"
    assert get(rfc5424, "event.timezone") is None
    default = parsers.get("syslog")().parse("Jul  4 09:15:00 2026 host app: x")  # no setting: UTC
    assert default is not None and default["@timestamp"] == "2026-07-04T09:15:00.000Z"
    assert get(default, "event.timezone") is None


def test_a_time_zone_setting_is_an_iana_name() -> None:
    assert ParserOptions(timezone="Africa/Abidjan").zone is not None
    for bad in ("Mars/Olympus_Mons", "../../etc/passwd", "", "UTC+25"):
        with pytest.raises(InvalidInput):
            ParserOptions(timezone=bad)
