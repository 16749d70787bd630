"""Every syslog, authentication and access line of the shared corpora (fail2ban's samples, the
10,000 Apache lines of elastic/examples) through the parsers that read them: each is an event that
says something (a non-empty ``message``, or the access fields of a web event) or a dead letter with
its reason; never an event with an empty message."""

from __future__ import annotations

import re
from pathlib import Path

from cert.core.ecs import Event, get
from cert.core.parser import ParseError, Parser, parsers
from cert.core.registry import load_plugins

load_plugins(["ingest.parsers"])
PADDED = re.compile(r"(?:\d{4}-\d\d-\d\d|[A-Z][a-z]{2} +\d{1,2}) \d\d:\d\d:\d\d {2,}\S")


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
            if line.strip() and not line.startswith("#")]


def _says_something(ev: Event) -> bool:
    if "web" in (get(ev, "event.category") or []):
        return get(ev, "@timestamp") is not None and (
            get(ev, "http.request.method") is not None or get(ev, "event.original") is not None
            or get(ev, "http.response.body.bytes") is not None)
    return bool(str(ev.get("message") or "").strip())


def _walk(parser: Parser, lines: list[str]) -> tuple[int, int]:
    """(events, dead letters); asserts the invariant on each line."""
    events = dead = 0
    for line in lines:
        try:
            ev = parser.parse(line)
        except ParseError as exc:
            reason = str(exc).strip()
            ev = None
            dead += 1
        else:
            reason = "parsed"
        assert reason, f"dead letter without a reason: {line!r}"
        if ev is None:
            continue
        assert _says_something(ev), f"{parser.name}: an event that says nothing: {line!r} -> {ev!r}"
        events += 1
    return events, dead


def test_fail2ban_samples_through_syslog_and_linux_auth(corpora: Path) -> None:
    root = corpora / "linux" / "fail2ban-samples"
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "COPYING")
    lines = [line for path in files for line in _lines(path)]
    assert len(lines) > 1000
    for name in ("syslog", "linux.auth"):
        events, dead = _walk(parsers.get(name)().for_source("corpus"), lines)
        assert events > 600, (name, events, dead)


def test_padded_headers_of_the_corpora_keep_their_message(corpora: Path) -> None:
    """The corpora's lines with several blanks after the time (domino, lighttpd/suhosin)."""
    parser = parsers.get("syslog")()
    padded = [line for path in (corpora / "linux" / "fail2ban-samples").rglob("*") if path.is_file()
              for line in _lines(path) if PADDED.match(line)]
    assert len(padded) >= 4
    for line in padded:
        ev = parser.parse(line)
        assert ev is not None and ev["message"].strip() and ev["message"] in line, line


def test_access_lines_of_the_corpora_through_web_access_and_syslog(corpora: Path) -> None:
    web = parsers.get("web.access")()
    apache = _lines(corpora / "web" / "elastic-examples" / "apache_logs")
    assert len(apache) == 10_000
    events, dead = _walk(web, apache)
    assert events == 10_000 and dead == 0
    root = corpora / "linux" / "fail2ban-samples"
    samples = [line for path in sorted(root.iterdir()) if path.is_file() and path.name.startswith(("apache", "nginx"))
               for line in _lines(path)]
    assert len(samples) > 100
    _walk(web, samples)
    # the same access lines forwarded through syslog keep their request fields
    syslog = parsers.get("syslog")()
    for line in apache[:200]:
        ev = syslog.parse(f"<190>Jan 11 10:13:05 web01 apache: {line}")
        assert ev is not None and get(ev, "http.request.method") is not None, line
        assert get(ev, "host.name") == "web01" and get(ev, "event.dataset") == "apache.access"
