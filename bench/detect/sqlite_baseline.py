"""The approach Zircolite uses, built from PyPI packages: the baseline of ``forensic_bench.py``.

    python bench/detect/sqlite_baseline.py convert RULES_DIR OUT.json
    python bench/detect/sqlite_baseline.py run OUT.json RESULTS.json EVTX_FILE...

``convert``: every Sigma rule under RULES_DIR converted once to an SQLite query with
``pysigma-backend-sqlite`` (its ``zircolite`` output format) and the ``sysmon`` and
``windows-logsources`` pipelines, as Zircolite's rule sets are built; a rule that does not convert
is skipped. ``run``: each EVTX file parsed with the ``evtx`` package (the library of
``evtx_dump``, which Zircolite runs), each event flattened to one column per field (the leaf
names of ``System`` and ``EventData``/``UserData``, attributes as ``Parent_attribute``), the
events loaded into an in-memory SQLite table (``TEXT COLLATE NOCASE`` columns, as Zircolite
creates them), then every rule's query run over it (``REGEXP`` by Python's ``re``); the matches
are written to RESULTS.json with a summary on stdout.

This is the baseline of the benchmark, not Zircolite itself (which is not installable from the
package registries here).
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Any


def convert(rules_dir: Path, out: Path) -> None:
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection
    from sigma.pipelines.sysmon import sysmon_pipeline
    from sigma.pipelines.windows import windows_logsource_pipeline

    backend = sqliteBackend(processing_pipeline=sysmon_pipeline() + windows_logsource_pipeline())
    rules: list[dict[str, Any]] = []
    failed = 0
    files = sorted([*rules_dir.rglob("*.yml"), *rules_dir.rglob("*.yaml")])
    for path in files:
        try:
            collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))
            converted = json.loads(backend.convert(collection, "zircolite"))
        except Exception:  # noqa: BLE001 - any rule the backend cannot convert is skipped, as Zircolite does
            failed += 1
            continue
        rules.extend(converted)
    out.write_text(json.dumps(rules), encoding="utf-8")
    print(f"{len(rules)} rules converted from {len(files)} files, {failed} not convertible")


def _flatten(node: Any, name: str, out: dict[str, Any]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "#attributes" and isinstance(v, dict):
                for a, av in v.items():
                    _flatten(av, f"{name}_{a}" if name else a, out)
            elif k == "#text":
                _flatten(v, name, out)
            else:
                _flatten(v, k, out)
    elif isinstance(node, list):
        out[name] = " ".join(str(x) for x in node)
    elif node is not None and name:
        out[name] = node if isinstance(node, str) else str(node)  # TEXT columns


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    event = record.get("Event", {})
    out: dict[str, Any] = {}
    _flatten(event.get("System", {}), "", out)
    for part in ("EventData", "UserData"):
        if part in event:
            _flatten(event[part], "", out)
    return out


def _quote(name: str) -> str:
    """An SQL identifier (field names come from the logs)."""
    return '"' + name.replace('"', '""') + '"'


@lru_cache(maxsize=4096)
def _pattern(p: str) -> re.Pattern[str]:
    return re.compile(p)


def _regexp(pattern: str, value: Any) -> bool:
    if value is None:
        return False
    try:
        return _pattern(pattern).search(str(value)) is not None
    except re.error:
        return False


def run(converted: Path, results: Path, evtx_files: list[str]) -> None:
    from evtx import PyEvtxParser

    t0 = time.perf_counter()
    events: list[dict[str, Any]] = []
    for f in evtx_files:
        try:
            events.extend(flatten(json.loads(rec["data"])) for rec in PyEvtxParser(f).records_json())
        except (OSError, RuntimeError, ValueError) as exc:
            print(f"{f}: {exc}", file=sys.stderr)
    t1 = time.perf_counter()
    columns: dict[str, str] = {}  # SQLite column names ignore case: field name -> its column
    for ev in events:
        for k in ev:
            columns.setdefault(k.lower(), k)
    names = list(columns.values())
    rows = ([ev.get(c, lowered.get(c.lower())) for c in names]
            for ev in events for lowered in ({k.lower(): v for k, v in ev.items()},))
    db = sqlite3.connect(":memory:")
    db.create_function("regexp", 2, _regexp, deterministic=True)
    cols = ", ".join(f"{_quote(c)} TEXT COLLATE NOCASE" for c in names)
    db.execute(f"CREATE TABLE logs (row_id INTEGER PRIMARY KEY, {cols})")
    marks = ", ".join("?" for _ in names)
    quoted = ", ".join(_quote(c) for c in names)
    db.executemany(f"INSERT INTO logs ({quoted}) VALUES ({marks})", rows)  # noqa: S608 - quoted identifiers
    db.commit()
    del events
    t2 = time.perf_counter()
    rules = json.loads(converted.read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = []
    broken = 0
    for rule in rules:
        rows: list[Any] = []
        for query in rule["rule"]:
            try:
                rows.extend(db.execute(query).fetchall())
            except sqlite3.Error:
                broken += 1
        if rows:
            found.append({"id": rule["id"], "title": rule["title"], "level": rule["level"], "count": len(rows),
                          "rows": [r[0] for r in rows]})
    t3 = time.perf_counter()
    results.write_text(json.dumps(found), encoding="utf-8")
    matched = len({r for f in found for r in f["rows"]})
    count = db.execute("SELECT count(*) FROM logs").fetchone()[0]
    print(f"{len(names)} columns, {count} events; "
          f"{len(found)} rules fired on {matched} events ({broken} queries failed: missing column); "
          f"parse {t1 - t0:.2f} s, load {t2 - t1:.2f} s, queries {t3 - t2:.2f} s")


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "convert":
        convert(Path(argv[1]), Path(argv[2]))
        return 0
    if len(argv) >= 4 and argv[0] == "run":
        run(Path(argv[1]), Path(argv[2]), argv[3:])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
