"""Web attack detection (detectors/waf) measured: per-class recall on labelled attack requests
and the false-alert rate on the 10,000 real Apache lines of the corpora, beside a baseline
measured in the same run: Vigie's Sigma rules.

Run: python bench/web_attacks/evaluate.py [--paranoia 1] [--exclude 913101,913102] [--json out.json]

Baseline: the Sigma detector as ``cert detect`` builds it (``detectors.sigma``) with the rules of
``rules/sigma`` only (``sigma_paths`` emptied; the web rules are those of ``rules/sigma/web``),
its compiled-rule cache and correlation state in a temporary directory. A request is detected by
the baseline when ``detect`` over that request alone returns a hit; a scanning source when a Sigma
hit has one of its requests as evidence (``rules/sigma`` has no rule on 404 answers, so this
counts any Sigma hit on the source). The union (WAF or Sigma) is per request or source, as an
analyst sees it from ``cert detect``, which runs both.

1. ``labelled.tsv`` beside this file: attack requests by class, each with the document its
   payload form comes from (OWASP WSTG and cheat sheets, CRS regression tests, CVEs). Each row
   becomes an Apache combined line, parsed by the ``web.access`` parser; a row is detected when
   the detector finds an attack in its request.
2. Scanning by behaviour (class ``scanner_behaviour``): three sources each requesting 25
   sensitive paths (the ``sensitive_file`` and scanner paths of the labelled set) answered 404,
   with a browser's user agent, one request every 4 s; detected when the correlation raises
   that source.
3. False alerts: every line of ``web/elastic-examples/apache_logs`` (setting ``corpora_dir``)
   through ``detect``, in batches of 1,000 oldest first (the Sigma detector's open correlation
   windows closed at the end with ``flush``); an alerted line is one that is evidence of a hit.
   The union counts a line alerted by either detector.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
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
from detectors.sigma.detector import SigmaDetector
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


def _sigma_rule(sigma: SigmaDetector, rule_id: str) -> str:
    """A Sigma rule as reported: its title and id."""
    info = sigma.ruleset.info(rule_id)
    return f"{info.title} ({rule_id})" if info else rule_id


def _figures(found: dict[str, list[bool]], missed: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    return {cls: {"n": len(v), "detected": sum(v), "recall": round(sum(v) / len(v), 3), "missed": missed.get(cls, [])}
            for cls, v in found.items()}


def recall(detector: WebAttackDetector,
           sigma: SigmaDetector) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, int]]:
    """Per class, for the WAF, the Sigma baseline and their union: requests (or sources) detected;
    and the Sigma hits by rule."""
    parser = WebAccessParser()
    t0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    by_class: dict[str, dict[str, list[bool]]] = {k: defaultdict(list) for k in ("waf", "sigma", "union")}
    missed: dict[str, dict[str, list[str]]] = {k: defaultdict(list) for k in ("waf", "sigma", "union")}
    sigma_rules: Counter[str] = Counter()
    for n, (cls, _source, method, target, status, referrer, agent) in enumerate(labelled_rows()):
        ev = _event(parser, combined_line("203.0.113.5", t0, method, target, status, referrer, agent), n)
        sigma_hits = sigma.detect([ev])
        sigma_rules.update(_sigma_rule(sigma, h.rule_id) for h in sigma_hits)
        found = {"waf": detector.inspect(ev) is not None, "sigma": bool(sigma_hits)}
        found["union"] = found["waf"] or found["sigma"]
        for k, f in found.items():
            by_class[k][cls].append(f)
            if not f:
                missed[k][cls].append(target if agent == BROWSER else f"{target} UA={agent}")
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
        ids = {str(get(ev, "event.id")) for ev in events}
        sigma_hits = [h for h in [*sigma.detect(events), *sigma.flush()] if ids & set(h.event_ids)]
        sigma_rules.update(_sigma_rule(sigma, h.rule_id) for h in sigma_hits)
        found = {"waf": any(h.rule_id == PROBE_RULE for h in hits), "sigma": bool(sigma_hits)}
        found["union"] = found["waf"] or found["sigma"]
        for k, f in found.items():
            by_class[k]["scanner_behaviour"].append(f)
            if not f:
                missed[k]["scanner_behaviour"].append(f"source {source}")
    return {k: _figures(by_class[k], missed[k]) for k in by_class}, dict(sigma_rules.most_common())


def false_alerts(detector: WebAttackDetector | SigmaDetector, corpus: Path) -> tuple[dict[str, Any], set[str]]:
    """The detector's alerted lines among the real ones: figures, and the alerted event ids."""
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
    batches = [detector.detect(events[i:i + 1000]) for i in range(0, len(events), 1000)]
    if isinstance(detector, SigmaDetector):
        batches.append(detector.flush())
    seconds = time.perf_counter() - start
    for hit in (h for batch in batches for h in batch):
        alerted.update(hit.event_ids)
        name = _sigma_rule(detector, hit.rule_id) if isinstance(detector, SigmaDetector) else hit.rule_id
        rules[name] += len(hit.event_ids)
    return {"lines": len(events), "alerted": len(alerted), "rate_percent": _percent(len(alerted), len(events)),
            "by_rule": dict(rules.most_common()), "seconds": round(seconds, 1),
            "events_per_second": round(len(events) / seconds)}, alerted


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 3)


def sigma_baseline(settings: Settings, work: Path, stream: str) -> SigmaDetector:
    """The Sigma detector over ``rules/sigma`` alone, one correlation state per ``stream``."""
    return SigmaDetector(replace(settings, rules_dir=ROOT / "rules", sigma_paths=(), data_dir=work / stream,
                                 sigma_cache_dir=work / "cache"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paranoia", type=int, default=None, help="CRS paranoia level (default: the setting)")
    ap.add_argument("--exclude", default=None,
                    help="CRS rule ids excluded, comma separated ('' for none; default: the setting)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    settings: Settings = load_settings()
    if args.paranoia is not None:
        settings = replace(settings, waf_paranoia_level=args.paranoia)
    if args.exclude is not None:
        settings = replace(settings, waf_excluded_rules=tuple(p for p in args.exclude.split(",") if p))
    detector = WebAttackDetector(settings)
    ruleset = detector.summary()["ruleset"]
    corpus = settings.corpora_dir / "web" / "elastic-examples" / "apache_logs"
    with tempfile.TemporaryDirectory(prefix="vigie-web-attacks-") as tmp:
        sigma = sigma_baseline(settings, Path(tmp), "recall")
        sigma_summary = sigma.summary()
        rec, sigma_rules = recall(detector, sigma)
        fa, waf_alerted = false_alerts(WebAttackDetector(settings), corpus)
        sfa, sigma_alerted = false_alerts(sigma_baseline(settings, Path(tmp), "false-alerts"), corpus)
    union_alerted = waf_alerted | sigma_alerted
    ufa = {"lines": fa["lines"], "alerted": len(union_alerted),
           "rate_percent": _percent(len(union_alerted), fa["lines"])}
    web_rules = (ROOT / "rules" / "sigma" / "web").resolve()
    sigma_web = [r for r in sigma.rules if Path(r.info.source).resolve().is_relative_to(web_rules)]
    baseline = (f"Sigma rules/sigma ({sigma_summary['rules']} rules, {sigma_summary['correlations']} correlations; "
                f"{len(sigma_web)} rules in rules/sigma/web)")
    print(f"paranoia level {settings.waf_paranoia_level}, rules excluded "
          f"{','.join(settings.waf_excluded_rules) or 'none'}, {ruleset}; baseline in the same run: {baseline}")
    print(f"{'class':<20}{'WAF':>10}{'recall':>8}{'Sigma':>10}{'recall':>8}{'union':>10}{'recall':>8}{'WAF/Sigma':>11}")
    for cls, r in rec["waf"].items():
        b, u = rec["sigma"][cls], rec["union"][cls]
        ratio = f"{r['recall'] / b['recall']:.2f}x" if b["recall"] else "n/a"
        print(f"{cls:<20}{r['detected']:>6}/{r['n']:<3}{r['recall']:>8}{b['detected']:>6}/{b['n']:<3}{b['recall']:>8}"
              f"{u['detected']:>6}/{u['n']:<3}{u['recall']:>8}{ratio:>11}")
        for m in r["missed"]:
            print(f"{'':<22}WAF missed: {m}{' (Sigma: detected)' if m not in b['missed'] else ''}")
    print(f"Sigma hits on the labelled set by rule: {sigma_rules}")
    print(f"false alerts, WAF: {fa['alerted']} of {fa['lines']} real lines ({fa['rate_percent']} %), "
          f"{fa['events_per_second']} events/s; by rule {fa['by_rule']}")
    print(f"false alerts, Sigma (baseline): {sfa['alerted']} of {sfa['lines']} real lines ({sfa['rate_percent']} %), "
          f"{sfa['events_per_second']} events/s; by rule {sfa['by_rule']}")
    print(f"false alerts, union: {ufa['alerted']} of {ufa['lines']} real lines ({ufa['rate_percent']} %)")
    result = {"paranoia_level": settings.waf_paranoia_level, "ruleset": ruleset, "recall": rec["waf"],
              "false_alerts": fa,
              "baseline_sigma": {"ruleset": baseline, "recall": rec["sigma"], "by_rule": sigma_rules,
                                 "false_alerts": sfa},
              "union": {"recall": rec["union"], "false_alerts": ufa}}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
