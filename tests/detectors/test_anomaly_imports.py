"""The anomaly detectors cost nothing to commands that do not run them: registering and building
every detector (as `cert ingest --detect`, `cert investigate` and the console do) imports neither
pandas, numpy nor scikit-learn; running one does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "numpy", "sklearn", "scipy")


def loaded_after(code: str) -> list[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=True)
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def test_building_every_detector_imports_no_data_library() -> None:
    assert loaded_after(
        "from cert.core.config import Settings\n"
        "from cert.core.registry import load_plugins\n"
        "from cert.core.contracts import detectors\n"
        "load_plugins(Settings().plugins)\n"
        "engines = [cls(Settings()) for cls in detectors]\n"
        "assert any(e.name.startswith('anomaly.') for e in engines), [e.name for e in engines]\n") == []


def test_running_an_anomaly_detector_does(tmp_path: Path) -> None:
    assert {"pandas", "numpy"} <= set(loaded_after(
        "from datetime import UTC, datetime\n"
        "from cert.core.config import Settings\n"
        "from cert.storage.events.embedded import EmbeddedEventStore\n"
        "from detectors.anomaly.beacon import BeaconDetector\n"
        f"store = EmbeddedEventStore({str(tmp_path / 'e.sqlite3')!r})\n"
        "BeaconDetector(Settings()).find(store, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))\n"))
