"""What the native EVE fast path buys end to end: ``cert ingest --parser suricata.eve FILE`` into
the embedded store, with the native module (``vigie_native``) and with the Python parser alone
(``VIGIE_NATIVE=0``), side by side in the same run.

    .venv/bin/python bench/ingest/eve_native_e2e.py [--copies 200] [--rounds 3] [--corpora ../shared/corpora]

Input: the 548 real alerts of suricata-sample-data, repeated ``--copies`` times with their own
source ports per copy (as eve_workers.py does), written once to a temporary EVE file. Each run
is a fresh ``cert ingest`` process in a fresh data directory (``cert init`` first, not timed);
the wall clock of the whole process is timed (start-up, reading, parsing, the SQLite store,
checkpoints), and its CPU time (user + system, all threads: on a shared machine the steadier
figure). The two modes take turns, the first alternating from round to round; the figure
is the median of ``--rounds`` rounds. Both modes must store the same number of events. The
start-up of a ``cert ingest`` process (a one-line file) is given apart, to be read against the
totals.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eve_workers import eve_lines

from cert.core.config import load_settings


def run(path: Path, native: bool, work: Path) -> tuple[float, float, str]:
    """Wall-clock and CPU seconds of one `cert ingest` process, and its last line of output."""
    with tempfile.TemporaryDirectory(prefix="vigie-e2e-", dir=work) as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
        env.update(CERT_DATA_DIR=data, CERT_PLUGINS="ingest.parsers", VIGIE_NATIVE="1" if native else "0")
        subprocess.run([sys.executable, "-m", "cert.cli", "init"], env=env, cwd=ROOT, check=True, capture_output=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "cert.cli", "ingest", "--parser", "suricata.eve", str(path)],
                              env=env, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        if done.returncode != 0:
            raise RuntimeError(f"cert ingest exited {done.returncode}: {done.stderr[-2000:]}")
        lines = (done.stdout + done.stderr).strip().splitlines()
        return seconds, cpu, lines[-1] if lines else ""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--corpora", default=str(load_settings().corpora_dir))
    args = ap.parse_args()
    try:
        import vigie_native  # noqa: F401
    except ImportError:
        sys.exit("vigie_native is not built (pip install ./native): nothing to compare")
    lines = eve_lines(Path(args.corpora), args.copies)
    print(f"# {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {len(lines):,} EVE lines; embedded store",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="vigie-e2e-") as tmp:
        work = Path(tmp)
        path = work / "eve.json"
        path.write_text("\n".join(lines) + "\n")
        one = work / "one.json"
        one.write_text(lines[0] + "\n")
        startup = [run(one, True, work)[:2] for _ in range(3)]
        print(f"start-up (a one-line file, median of 3): {statistics.median(w for w, _ in startup):.2f} s, "
              f"CPU {statistics.median(c for _, c in startup):.2f} s", flush=True)
        times: dict[bool, list[float]] = {True: [], False: []}
        cpus: dict[bool, list[float]] = {True: [], False: []}
        ingested: set[str] = set()
        for r in range(args.rounds):
            for native in ((True, False) if r % 2 == 0 else (False, True)):
                seconds, cpu, summary = run(path, native, work)
                times[native].append(seconds)
                cpus[native].append(cpu)
                ingested.update(re.findall(r"(\d+) events ingested", summary))
                print(f"round {r + 1} {'native' if native else 'python'}: {seconds:.2f} s "
                      f"({len(lines) / seconds:,.0f} lines/s), CPU {cpu:.2f} s; {summary}", flush=True)
    if len(ingested) != 1:
        sys.exit(f"the two modes stored different numbers of events: {sorted(ingested)}")
    n = len(lines)
    print("| mode | wall clock, median s | lines/s | CPU, median s | lines per CPU second |\n|---|---:|---:|---:|---:|")
    for native, name in ((False, "Python (VIGIE_NATIVE=0)"), (True, "native")):
        wall, cpu = statistics.median(times[native]), statistics.median(cpus[native])
        print(f"| {name} | {wall:.2f} | {n / wall:,.0f} | {cpu:.2f} | {n / cpu:,.0f} |")
    wall_ratio = statistics.median(times[False]) / statistics.median(times[True])
    cpu_ratio = statistics.median(cpus[False]) / statistics.median(cpus[True])
    print(f"native / Python (rate): wall clock {wall_ratio:.2f}x, CPU {cpu_ratio:.2f}x")


if __name__ == "__main__":
    main()
