"""The MISP feed under concurrent exports: every exported case is in the manifest and in hashes.csv."""

from __future__ import annotations

import csv
import io
import json
import threading

from cert.incidents.cases import add_observable
from cert.runtime.platform import Platform
from cert.sharing.targets.misp_feed import export_case
from cert.storage.models import Case

N = 12


def _case(platform: Platform, i: int) -> int:
    with platform.db.session() as s:
        case = Case(title=f"Incident {i}", tlp="green", pap="amber", created_by="test")
        s.add(case)
        s.flush()
        add_observable(s, case, "ip", f"198.51.100.{i + 1}")
        add_observable(s, case, "domain", f"c2-{i}.example.org")
        return case.id


def test_concurrent_exports_keep_every_event_in_manifest_and_hashes(platform: Platform) -> None:
    ids = [_case(platform, i) for i in range(N)]
    barrier = threading.Barrier(N)
    errors: list[BaseException] = []

    def export(case_id: int) -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(3):  # re-exports update the same event; each rewrites the metadata
                with platform.db.session() as s:
                    export_case(s, s.get(Case, case_id), platform.settings, "test")  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=export, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors

    feed = platform.settings.feed_dir
    with platform.db.session() as s:
        uuids = {str(s.get(Case, i).misp_uuid) for i in ids}  # type: ignore[union-attr]
    assert len(uuids) == N
    manifest = json.loads((feed / "manifest.json").read_text())
    assert set(manifest) == uuids
    assert {p.stem for p in feed.glob("*.json") if p.name != "manifest.json"} == uuids
    rows = list(csv.reader(io.StringIO((feed / "hashes.csv").read_text())))
    assert len(rows) == 2 * N and {r[1] for r in rows} == uuids
    assert not list(feed.glob("*.tmp")) and not list(feed.glob(".*.tmp"))
