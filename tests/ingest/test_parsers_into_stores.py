"""What the syslog, firewall, CEF, LEEF and access-log parsers produce is stored as it is by both
event stores: in Elasticsearch every ``*.ip`` is an address, every number fits a long and no field
is a string in one event and an object or a number in another (a conflict rejects the document)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_parser_cef
import test_parser_firewall
import test_parser_leef
import test_parser_syslog
import test_parser_syslog_auth
import test_web_access
from tests_paths import fail2ban

from cert.core.ecs import Event
from cert.core.parser import ParseError, parsers
from cert.pipeline.ingestor import finalize
from cert.storage.events import EventStore
from cert.storage.events.elasticsearch import ElasticsearchEventStore
from cert.storage.events.embedded import EmbeddedEventStore

# the modules, not their classes: a Test* name here would run those tests a second time
CASES = (test_parser_syslog.TestSyslog, test_parser_syslog_auth.TestSyslogAuth, test_parser_firewall.TestFirewall,
         test_parser_cef.TestCef, test_parser_leef.TestLeef, test_web_access.TestWebAccess)
CORPUS = ("sshd", "pam-generic", "dropbear", "sshd-journal", "apache-badbots", "nginx-bad-request", "postfix")


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    if request.param == "embedded":
        s: EventStore = EmbeddedEventStore(tmp_path / "events.sqlite3")
    else:
        s = ElasticsearchEventStore(request.getfixturevalue("es_url"), prefix=f"t{uuid.uuid4().hex[:10]}")
    yield s
    s.close()


def _events(corpora: Path) -> list[Event]:
    events: list[Event] = []
    for case in CASES:
        parser = parsers.get(case.parser_name)()
        events += [finalize(parser.parse(line) or {}, parser, line, case.__name__) for line, _ in case.samples]
    for name in ("syslog", "web.access"):
        parser = parsers.get(name)()
        for file in CORPUS:
            for _, line in fail2ban(corpora, file):
                try:
                    parsed = parser.parse(line)
                except ParseError:
                    continue
                if parsed is not None:
                    events.append(finalize(parsed, parser, line, file))
    return events


def test_every_parsed_event_is_stored(store: EventStore, corpora: Path) -> None:
    events = _events(corpora)
    assert len(events) > 300
    result = store.write(events)
    assert result.failed == [], result.failed[:3]
    assert result.written + result.duplicates == len(events)
