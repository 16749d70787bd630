"""Web attack detection (detectors/waf) measured: per-class recall on labelled attack requests
and the false-alert rate on the 10,000 real Apache lines of the corpora.

Run: python bench/web_attacks/evaluate.py [--paranoia 1] [--json out.json]

1. ``labelled.tsv`` beside this file: attack requests by class, each with the document its
   payload form comes from (OWASP WSTG and cheat sheets, CRS regression tests, CVEs). Each row
   becomes an Apache combined line, parsed by the ``web.access`` parser; a row is detected when
   the detector finds an attack in its request.
2. Scanning by behaviour (class ``scanner_behaviour``): three sources each requesting 25
   sensitive paths (the ``sensitive_file`` and scanner paths of the labelled set) answered 404,
   with a browser's user agent, one request every 4 s; detected when the correlation raises
   that source.
3. False alerts: every line of ``web/elastic-examples/apache_logs`` (setting ``corpora_dir``)
   through ``detect``, in batches of 1,000 oldest first; an alerted line is one that is evidence
   of a hit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cert.core.config import Settings, load_settings
from cert.core.ecs import Event, get, put
from detectors.waf.detector import PROBE_RULE, WebAttackDetector
from ingest.parsers.web_access import WebAccessParser

LABELLED = Path(__file__).with_name("labelled.tsv")
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def combined_line(client: str, when: datetime, method: str, target: str, status: str, referrer: str, agent: str) -> str:
    stamp = when.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{client} - - [{stamp}] "{method} {target} HTTP/1.1" {status} 512 "{referrer}" "{agent}"'


def labelled_rows() -> list[list[str]]:
    return [row.split("\t") for row in LABELLED.read_text(encoding="utf-8").splitlines()
            if row and not row.startswith("#")]


def _event(parser: WebAccessParser, line: str, n: int) -> Event:
    ev = parser.parse(line)
    if ev is None:
        raise ValueError(f"not parsed: {line}")
    put(ev, "event.id", f"ev-{n}")
    return ev


def recall(detector: WebAttackDetector) -> dict[str, dict[str, Any]]:
    parser = WebAccessParser()
    t0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    by_class: dict[str, list[bool]] = defaultdict(list)
    missed: dict[str, list[str]] = defaultdict(list)
    for n, (cls, _source, method, target, status, referrer, agent) in enumerate(labelled_rows()):
        ev = _event(parser, combined_line("203.0.113.5", t0, method, target, status, referrer, agent), n)
        found = detector.inspect(ev) is not None
        by_class[cls].append(found)
        if not found:
            missed[cls].append(target if agent == BROWSER else f"{target} UA={agent}")
    probe_paths = [r[3] for r in labelled_rows() if r[0] == "sensitive_file"]
    probe_paths += [f"/{name}" for name in ("admin/", "wp-login.php", "phpinfo.php", "test.php", "config.php.old",
                                            "backup.tar.gz", ".svn/entries", "console/", "manager/html",
                                            "solr/admin/", "jmx-console/", "cgi-bin/test-cgi", "xmlrpc.php",
                                            "wp-admin/install.php")]
    for s in range(3):
        source = f"198.51.100.{10 + s}"
        events = [_event(parser, combined_line(source, t0 + timedelta(seconds=4 * i), "GET", p, "404", "-", BROWSER),
                         10_000 + 100 * s + i) for i, p in enumerate(probe_paths[:25])]
        hits = detector.detect(events)
        by_class["scanner_behaviour"].append(any(h.rule_id == PROBE_RULE for h in hits))
    return {cls: {"n": len(v), "detected": sum(v), "recall": round(sum(v) / len(v), 3), "missed": missed.get(cls, [])}
            for cls, v in by_class.items()}


def false_alerts(detector: WebAttackDetector, corpus: Path) -> dict[str, Any]:
    parser = WebAccessParser()
    events: list[Event] = []
    with corpus.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh):
            ev = parser.parse(line.rstrip("\n"))
            if ev is not None:
                put(ev, "event.id", f"real-{n}")
                events.append(ev)
    events.sort(key=lambda e: str(get(e, "@timestamp")))
    alerted: set[str] = set()
    rules: Counter[str] = Counter()
    start = time.perf_counter()
    for i in range(0, len(events), 1000):
        for hit in detector.detect(events[i:i + 1000]):
            alerted.update(hit.event_ids)
            rules[hit.rule_id] += len(hit.event_ids)
    seconds = time.perf_counter() - start
    return {"lines": len(events), "alerted": len(alerted), "rate_percent": round(100 * len(alerted) / len(events), 3),
            "by_rule": dict(rules.most_common()), "seconds": round(seconds, 1),
            "events_per_second": round(len(events) / seconds)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paranoia", type=int, default=None, help="CRS paranoia level (default: the setting)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    settings: Settings = load_settings()
    if args.paranoia is not None:
        settings = replace(settings, waf_paranoia_level=args.paranoia)
    detector = WebAttackDetector(settings)
    ruleset = detector.summary()["ruleset"]
    rec = recall(detector)
    fa = false_alerts(WebAttackDetector(settings), settings.corpora_dir / "web" / "elastic-examples" / "apache_logs")
    print(f"paranoia level {settings.waf_paranoia_level}, {ruleset}")
    print(f"{'class':<20}{'detected':>10}{'recall':>8}")
    for cls, r in rec.items():
        print(f"{cls:<20}{r['detected']:>6}/{r['n']:<3}{r['recall']:>8}")
        for m in r["missed"]:
            print(f"{'':<22}missed: {m}")
    print(f"false alerts: {fa['alerted']} of {fa['lines']} real lines ({fa['rate_percent']} %), "
          f"{fa['events_per_second']} events/s; by rule {fa['by_rule']}")
    result = {"paranoia_level": settings.waf_paranoia_level, "ruleset": ruleset, "recall": rec, "false_alerts": fa}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
