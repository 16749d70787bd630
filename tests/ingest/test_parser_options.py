"""Per-source parser settings (``cert.core.parser.ParserOptions``) through ``cert ingest`` and the
listener configuration: the time zone of timestamps written without one, and the receive time."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest
from listener_support import events, start, wait_for
from listener_support import net_platform as net_platform  # the fixture

from cert.cli import main
from cert.core.config import Settings
from cert.core.ecs import get
from cert.core.parser import ParserOptions, parsers
from cert.pipeline.ingestor import Ingestor
from cert.pipeline.listeners import Endpoint
from cert.runtime.platform import Platform

# RFC 3164 (section 5.4's example) with a year: a local time of the sender
LINE = "Oct 11 22:14:15 2026 mymachine su: 'su root' failed for lonvick on /dev/pts/8"


def _stored(data_dir: Path) -> list[dict[str, object]]:
    settings = replace(Settings(), data_dir=data_dir, secret_key="test-secret-key", plugins=("ingest.parsers",))
    p = Platform(settings)
    try:
        return events(p)
    finally:
        p.close()


def test_cert_ingest_timezone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CERT_PLUGINS", "ingest.parsers")
    monkeypatch.setenv("CERT_SECRET_KEY", "test-secret-key")
    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "init"]) == 0
    log = tmp_path / "auth.log"
    log.write_text(LINE + "\n")
    assert main(["--data-dir", str(data), "ingest", "--parser", "syslog", "--timezone", "Asia/Tokyo", str(log)]) == 0
    (event,) = _stored(data)
    assert event["@timestamp"] == "2026-10-11T13:14:15.000Z" and get(event, "event.timezone") == "Asia/Tokyo"
    capsys.readouterr()
    assert main(["--data-dir", str(data), "ingest", "--parser", "syslog", "--timezone", "Africa/Nowhere",
                 str(log)]) == 2
    assert "unknown time zone 'Africa/Nowhere'" in capsys.readouterr().err


def test_the_listener_configuration_carries_the_time_zone(net_platform: Platform) -> None:
    listener, bound = start(net_platform, "syslog", udp=(Endpoint("127.0.0.1", 0),),
                            parser_options=ParserOptions(timezone="Africa/Abidjan"))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(f"<34>{LINE}".encode(), bound["udp"])
        assert wait_for(lambda: len(events(net_platform)) == 1)
    finally:
        listener.stop()
    (event,) = events(net_platform)
    assert event["@timestamp"] == "2026-10-11T22:14:15.000Z"  # Abidjan is UTC+0, all year
    assert get(event, "event.timezone") == "Africa/Abidjan"


def test_options_turn_the_fast_path_off_and_are_per_source(ingest_platform: Platform) -> None:
    shared = parsers.get("syslog")()
    configured = shared.configure(ParserOptions(timezone="Asia/Tokyo"))
    assert configured is not shared and shared.options == ParserOptions()
    assert shared.configure(ParserOptions()) is shared
    stored: list[dict[str, object]] = []
    Ingestor(ingest_platform, "syslog", on_batch=stored.extend).ingest([(1, LINE)], source="a.log")
    Ingestor(ingest_platform, "syslog", on_batch=stored.extend,
             options=ParserOptions(timezone="Asia/Tokyo")).ingest([(1, LINE)], source="b.log")
    assert [e["@timestamp"] for e in stored] == ["2026-10-11T22:14:15.000Z", "2026-10-11T13:14:15.000Z"]


def test_the_suricata_fast_path_is_not_used_with_options(ingest_platform: Platform) -> None:
    calls: list[str] = []
    ingestor = Ingestor(ingest_platform, "suricata.eve", options=ParserOptions(receive_time=True))
    parser_type = type(ingestor.parser)

    def fast(line: str, source: str, keep: bool, ingested: str, identity: str, position: int) -> None:
        if line:  # the Ingestor's probe of the fast path's signature is an empty line
            calls.append(line)

    original = parser_type.fast_path
    parser_type.fast_path = property(lambda self: fast)  # type: ignore[method-assign,assignment]
    try:
        ingestor.ingest([(1, '{"timestamp": "2026-01-01T00:00:00.000000+0000", "event_type": "flow"}')],
                        source="eve.json")
        Ingestor(ingest_platform, "suricata.eve").ingest([(1, '{"event_type": "x"}')], source="eve2.json")
    finally:
        parser_type.fast_path = original  # type: ignore[method-assign]
    assert calls == ['{"event_type": "x"}']  # only the source with the default options took it
