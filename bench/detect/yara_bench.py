"""YARA in Vigie against raw yara-python on the same inputs, with the same compiled rules.

Run: python bench/detect/yara_bench.py [--rounds 5] [--repeat 20]

- files: every file of ../shared/corpora (EVTX, JSON, Zeek and Suricata logs, Sigma rules, MISP
  events: about 5,000 files); raw = ``rules.match(filepath=..., timeout=...)``; Vigie =
  ``detectors.yara.scan.scan_file`` (size check, match, result objects, hashes of matching files);
- payloads: PowerShell script blocks and command lines of the corpora's Windows event logs,
  parsed by the project's ``windows.evtx`` parser (replayed ``--repeat`` times);
  raw = ``rules.match(data=payload)`` for each payload field; Vigie =
  ``YaraPayloadDetector.detect`` on batches of 5,000 events (field lookup, scan, grouping, hits);
  a second baseline, raw+get, adds the field lookup a caller of raw yara-python needs
  (``cert.core.ecs.get`` of each configured field of each event).

Rounds alternate raw and Vigie (and which goes first); the best round of each is kept (CPU time of this process, which
other work on the machine disturbs less than wall time). The overhead is Vigie / raw - 1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cert.core.config import Settings
from cert.core.ecs import Event, get
from cert.core.parser import Unreadable, parsers
from cert.core.registry import load_plugins
from detectors.yara.payloads import YaraPayloadDetector
from detectors.yara.scan import load_rules, scan_file

TIMEOUT = 10


def windows_events(corpora: Path) -> list[Event]:
    load_plugins(["ingest.parsers"])
    parser = parsers.get("windows.evtx")()
    events: list[Event] = []
    for path in sorted((corpora / "evtx").rglob("*.evtx")):
        for item in parser.read(str(path)):
            if isinstance(item, Unreadable):
                continue
            try:
                ev = parser.parse(item[1])
            except ValueError:
                continue
            if ev is not None:
                ev.setdefault("event", {})["id"] = f"{path.name}:{item[0]}"
                events.append(ev)
    return events


def best(rounds: int, fns: dict[str, Callable[[], Any]]) -> dict[str, tuple[float, float, Any]]:
    """(cpu seconds, wall seconds, result) of the best round of each function, rounds interleaved."""
    out: dict[str, tuple[float, float, Any]] = {}
    names = list(fns)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):  # alternate who runs first (warm caches)
            fn = fns[name]
            c, w = time.process_time(), time.perf_counter()
            result = fn()
            c, w = time.process_time() - c, time.perf_counter() - w
            if name not in out or c < out[name][0]:
                out[name] = (c, w, result)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=20, help="times the Windows events are replayed")
    ap.add_argument("--corpora", default=str(ROOT.parent / "shared" / "corpora"))
    args = ap.parse_args()
    corpora = Path(args.corpora)
    settings = replace(Settings(), data_dir=Path(tempfile.mkdtemp(prefix="vigie-yara-bench-")))
    ruleset = load_rules(settings.rules_dir / "yara")
    rules = ruleset.rules
    files = sorted(p for p in corpora.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in files)

    def raw_files() -> int:
        return sum(len(rules.match(filepath=str(p), timeout=TIMEOUT)) for p in files)

    def vigie_files() -> int:
        return sum(len(scan_file(ruleset, p, TIMEOUT).matches) for p in files)

    r = best(args.rounds, {"raw": raw_files, "vigie": vigie_files})
    assert r["raw"][2] == r["vigie"][2], "both must find the same matches"
    print(f"files: {len(files):,} files, {size / 2**20:,.0f} MiB, {len(ruleset)} rules, {r['raw'][2]} matches")
    for name in ("raw", "vigie"):
        c, w, _ = r[name]
        print(f"  {name:6s} cpu {c:.3f} s  wall {w:.3f} s  ({len(files) / c:,.0f} files/s)")
    print(f"  overhead (cpu): {r['vigie'][0] / r['raw'][0] - 1:+.1%}   (wall: {r['vigie'][1] / r['raw'][1] - 1:+.1%})")

    events = windows_events(corpora) * args.repeat
    det = YaraPayloadDetector(settings)
    payloads = [v for e in events for f in det.fields if isinstance(v := get(e, f), str) and v]
    chars = sum(len(p) for p in payloads)

    def raw_payloads() -> int:
        return sum(len(rules.match(data=p, timeout=TIMEOUT)) for p in payloads)

    def vigie_payloads() -> int:
        return sum(len(h.event_ids) for i in range(0, len(events), 5000) for h in det.detect(events[i:i + 5000]))

    def raw_events() -> int:
        found = 0
        for ev in events:
            for f in det.fields:
                v = get(ev, f)
                if isinstance(v, str) and v:
                    found += len(rules.match(data=v, timeout=TIMEOUT))
        return found

    r = best(args.rounds, {"raw": raw_payloads, "raw+get": raw_events, "vigie": vigie_payloads})
    print(f"\npayloads: {len(events):,} Windows events, {len(payloads):,} payload fields "
          f"({chars / 2**20:.1f} MiB), raw matches {r['raw'][2]}, events in Vigie hits {r['vigie'][2]}")
    for name in ("raw", "raw+get", "vigie"):
        c, w, _ = r[name]
        print(f"  {name:8s} cpu {c:.3f} s  wall {w:.3f} s  ({len(payloads) / c:,.0f} payloads/s)")
    for base in ("raw", "raw+get"):
        print(f"  overhead over {base} (cpu): {r['vigie'][0] / r[base][0] - 1:+.1%}   "
              f"(wall: {r['vigie'][1] / r[base][1] - 1:+.1%})")


if __name__ == "__main__":
    main()
