"""The forensic run as a responder feels it: a folder of EVTX files to alerts, with SigmaHQ's
Windows rules, Vigie against the approach Zircolite uses, side by side.

Run: python bench/detect/forensic_bench.py [--rounds 3] [--json results.json]

- Rules: ../shared/corpora/sigma/rules/windows (every file; no rule of Vigie's own).
- Events: every ``*.evtx`` under ../shared/corpora/evtx, each read once (not replayed).
- Vigie: fresh processes on a fresh embedded data directory, as a responder types them:
  ``cert investigate --parser windows.evtx FILES`` when that command exists, else ``cert init``,
  ``cert ingest --parser windows.evtx FILES`` and ``cert detect``. *Cold*: no compiled rules on
  disk (an empty ``sigma_cache_dir``); *warm*: the compiled rules of an earlier run present.
- Baseline: ``sqlite_baseline.py`` (the approach Zircolite uses, built from PyPI packages:
  pysigma-backend-sqlite with the sysmon and windows-logsources pipelines, events flattened into
  an in-memory SQLite table, every rule's query run). *Cold*: rule conversion then the run;
  *warm*: the run on rules converted earlier (the conversion is its cache, as ours is); the
  conversion alone is reported too.
- Each figure: wall time, CPU time (user + system) and peak RSS of the whole process tree (a
  wrapper process's ``getrusage(RUSAGE_CHILDREN)``; its commands run one after the other, so the
  peak is the largest of theirs). Rounds alternate the order of the runs; medians are reported.
- First pass: the detector's streaming throughput on events seen once (a fresh process, rules
  warm, events parsed from the EVTX files beforehand), beside a second pass over the same events.
The machine is shared: the load average is printed with the figures, and CPU time is the
steadier one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PY = sys.executable

WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
out = ""
for argv in json.loads(sys.argv[1]):
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        print(json.dumps({"error": f"{argv[:4]}: exit {done.returncode}: {done.stderr[-800:]}"}))
        sys.exit(1)
    out = done.stdout.strip().splitlines()[-1:] or [""]
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": time.perf_counter() - start, "cpu": ru.ru_utime + ru.ru_stime,
                  "rss_mb": ru.ru_maxrss / 1024, "last": out[0][-300:]}))
"""

STREAMING_SCRIPT = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from cert.core.config import load_settings
from cert.core.parser import parsers
from cert.core.registry import load_plugins
load_plugins(["ingest.parsers", "detectors"])
from detectors.sigma.detector import SigmaDetector
parser = parsers.get("windows.evtx")()
events = []
for path in json.loads(open(sys.argv[2]).read()):
    for item in parser.read(path):
        if isinstance(item, tuple) and (ev := parser.parse(item[1])) is not None:
            events.append(ev)
det = SigmaDetector(load_settings())
out = {"events": len(events)}
for name in ("first", "second"):
    w, c = time.perf_counter(), time.process_time()
    hits = len(det.match(events))
    out[name] = {"wall": time.perf_counter() - w, "cpu": time.process_time() - c, "matched": hits}
print(json.dumps(out))
"""


def measure(commands: list[list[str]], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([PY, "-c", WRAPPER, json.dumps(commands)], env=env, cwd=ROOT, capture_output=True,
                          text=True, check=False)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


def has_investigate() -> bool:
    return (ROOT / "cert" / "cli" / "investigate.py").is_file()


def vigie_commands(files: list[str]) -> list[list[str]]:
    cert = [PY, "-m", "cert.cli"]
    if has_investigate():
        return [[*cert, "investigate", "--parser", "windows.evtx", *files]]
    return [[*cert, "init"], [*cert, "ingest", "--parser", "windows.evtx", *files], [*cert, "detect"]]


class Bench:
    def __init__(self, rules: Path, files: list[str], work: Path) -> None:
        self.rules, self.files, self.work = rules, files, work
        self.empty_rules = work / "no-local-rules"
        (self.empty_rules / "sigma").mkdir(parents=True)
        self.warm_cache = work / "warm-cache"
        self.converted = work / "converted.json"
        self.n = 0

    def _env(self, cache: Path) -> dict[str, str]:
        self.n += 1
        data = self.work / f"data-{self.n}"
        env = dict(os.environ, PYTHONPATH=str(ROOT), CERT_DATA_DIR=str(data), CERT_SIGMA_PATHS=str(self.rules),
                   CERT_RULES_DIR=str(self.empty_rules), CERT_SIGMA_CACHE_DIR=str(cache))
        env.pop("CERT_CONFIG", None)
        return env

    def vigie(self, warm: bool) -> dict[str, Any]:
        cache = self.warm_cache if warm else self.work / f"cold-cache-{self.n}"
        env = self._env(cache)
        try:
            return measure(vigie_commands(self.files), env)
        finally:
            shutil.rmtree(env["CERT_DATA_DIR"], ignore_errors=True)
            if not warm:
                shutil.rmtree(cache, ignore_errors=True)

    def baseline_convert(self, out: Path) -> dict[str, Any]:
        return measure([[PY, str(HERE / "sqlite_baseline.py"), "convert", str(self.rules), str(out)]], dict(os.environ))

    def baseline_run(self, converted: Path) -> dict[str, Any]:
        results = self.work / "baseline-results.json"
        return measure([[PY, str(HERE / "sqlite_baseline.py"), "run", str(converted), str(results), *self.files]],
                       dict(os.environ))

    def baseline(self, warm: bool) -> dict[str, Any]:
        if warm:
            return self.baseline_run(self.converted)
        fresh = self.work / "converted-cold.json"
        conv = self.baseline_convert(fresh)
        run = self.baseline_run(fresh)
        return {"wall": conv["wall"] + run["wall"], "cpu": conv["cpu"] + run["cpu"],
                "rss_mb": max(conv["rss_mb"], run["rss_mb"]), "last": run["last"], "conversion": conv}

    def first_pass(self) -> dict[str, Any]:
        listing = self.work / "files.json"
        listing.write_text(json.dumps(self.files), encoding="utf-8")
        env = self._env(self.warm_cache)
        done = subprocess.run([PY, "-c", STREAMING_SCRIPT, str(ROOT), str(listing)], env=env, cwd=ROOT,
                              capture_output=True, text=True, check=True)
        out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return out


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    ap.add_argument("--json", type=Path, help="write every measure as JSON")
    args = ap.parse_args()
    rules = args.corpora / "sigma" / "rules" / "windows"
    files = sorted(str(p) for p in (args.corpora / "evtx").rglob("*.evtx"))
    if not files or not rules.is_dir():
        sys.exit(f"no EVTX file under {args.corpora / 'evtx'} or no rules at {rules} (--corpora)")
    work = Path(tempfile.mkdtemp(prefix="vigie-forensic-bench-"))
    bench = Bench(rules, files, work)
    load = [os.getloadavg()]
    print(f"{len(files)} EVTX files, {sum(1 for _ in rules.rglob('*.yml'))} rule files; "
          f"Vigie runs {'cert investigate' if has_investigate() else 'cert init + ingest + detect'}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {load[0][0]:.2f}")
    # the caches the warm runs start from (untimed): Vigie's compiled rules, the baseline's converted rules
    bench.vigie(warm=True)
    bench.baseline_convert(bench.converted)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in ("vigie cold", "baseline cold", "vigie warm",
                                                             "baseline warm")}
    for r in range(args.rounds):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for name in order:
            who, state = name.split()
            got = bench.vigie(state == "warm") if who == "vigie" else bench.baseline(state == "warm")
            runs[name].append(got)
            print(f"round {r + 1} {name:14} wall {got['wall']:6.2f} s  cpu {got['cpu']:6.2f} s  "
                  f"peak {got['rss_mb']:6.1f} MB  load {os.getloadavg()[0]:.2f}  | {got['last'][:110]}",
                  flush=True)
        load.append(os.getloadavg())
    passes = bench.first_pass()
    conversion = [r["conversion"] for r in runs["baseline cold"]]
    print("\nmedians of", args.rounds, "rounds")
    print(f"{'':16}{'wall s':>9}{'cpu s':>9}{'peak MB':>9}")
    for name, rs in runs.items():
        print(f"{name:16}{median(rs, 'wall'):9.2f}{median(rs, 'cpu'):9.2f}{median(rs, 'rss_mb'):9.1f}")
    print(f"{'(conversion)':16}{median(conversion, 'wall'):9.2f}{median(conversion, 'cpu'):9.2f}"
          f"{median(conversion, 'rss_mb'):9.1f}")
    for state in ("cold", "warm"):
        v, b = runs[f"vigie {state}"], runs[f"baseline {state}"]
        print(f"{state}: Vigie {median(b, 'wall') / median(v, 'wall'):.2f}x the baseline's speed (wall), "
              f"{median(b, 'cpu') / median(v, 'cpu'):.2f}x (CPU); peak memory "
              f"{median(v, 'rss_mb') / median(b, 'rss_mb'):.2f}x the baseline's")
    n = passes["events"]
    for name in ("first", "second"):
        p = passes[name]
        print(f"{name} pass over {n} events: {n / p['cpu']:,.0f} events/s (CPU), {n / p['wall']:,.0f} events/s "
              f"(wall), {p['matched']} events matched")
    print("load average (1, 5, 15 min) at start and after each round:",
          "; ".join(", ".join(f"{x:.2f}" for x in la) for la in load))
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "first_pass": passes, "load": load,
                                         "files": len(files), "date": time.strftime("%Y-%m-%d")}, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
