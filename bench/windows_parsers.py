"""Windows event log parsers: records normalised per second, on the real attack logs
(../shared/corpora/evtx/evtx-to-mitre-attack, about 10,000 records), replayed to --records.

Run: python bench/windows_parsers.py [--records 200000]
Measured side by side in one run:
- windows.evtx reading the .evtx files (the evtx package) and normalising each record;
- windows.evtx, windows.winlogbeat and windows.nxlog normalising the same records from their
  raw text (EVTX JSON, Winlogbeat 8 JSON lines, NXLog JSON lines);
- baselines: orjson.loads of the same raw text alone (the floor: decoding without any mapping),
  and the shipped linux.auth parser on sshd lines (the project's first parser).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ingest"))

from windows_corpus import as_nxlog, as_winlogbeat, attack_files

from cert.core.config import load_settings
from cert.core.parser import Unreadable, parsers
from cert.core.registry import load_plugins


def rate(n: int, fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    args = ap.parse_args()
    load_plugins(["ingest.parsers"])
    corpora = load_settings().corpora_dir
    files = attack_files(corpora)
    evtx = parsers.get("windows.evtx")()
    raws = [raw for path in files for item in evtx.read(str(path)) if not isinstance(item, Unreadable)
            for raw in [item[1]]]
    events = [evtx.parse(r) for r in raws]
    beats = [as_winlogbeat(e) for e in events if e]
    nx = [as_nxlog(e) for e in events if e]
    reps = max(1, args.records // len(raws))
    n = reps * len(raws)
    print(f"{len(files)} files, {len(raws)} records, replayed {reps}x = {n:,} records")

    def read_files() -> None:
        for _ in range(max(1, reps // 4)):
            for path in files:
                for item in evtx.read(str(path)):
                    if not isinstance(item, Unreadable):
                        evtx.parse(item[1])

    def parse_all(parser_name: str, lines: list[str]) -> Callable[[], None]:
        parse = parsers.get(parser_name)().parse

        def run() -> None:
            for _ in range(reps):
                for line in lines:
                    parse(line)
        return run

    def loads_only() -> None:
        for _ in range(reps):
            for line in raws:
                orjson.loads(line)

    sshd = [f"Nov 20 08:0{i % 10}:11 srv-etatcivil sshd[{1000 + i}]: Failed password for invalid user "
            f"admin{i % 97} from 196.200.{i % 250}.{i % 200 + 1} port {40000 + i % 20000} ssh2"
            for i in range(len(raws))]
    rows = [
        ("windows.evtx: read .evtx + normalise", rate(max(1, reps // 4) * len(raws), read_files)),
        ("windows.evtx: normalise record JSON", rate(n, parse_all("windows.evtx", raws))),
        ("windows.winlogbeat: normalise", rate(n, parse_all("windows.winlogbeat", beats))),
        ("windows.nxlog: normalise", rate(n, parse_all("windows.nxlog", nx))),
        ("baseline: orjson.loads of the record JSON", rate(n, loads_only)),
        ("baseline: linux.auth on sshd lines", rate(n, parse_all("linux.auth", sshd))),
    ]
    floor = rows[4][1]
    print(f"{'measure':45} {'records/s':>12} {'vs orjson.loads':>16}")
    for name, r in rows:
        print(f"{name:45} {r:12,.0f} {floor / r:15.1f}x")


if __name__ == "__main__":
    main()
