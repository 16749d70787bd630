"""In a real browser: an anomaly alert's chart drawn from a real finding.

The console runs as `cert demo --no-serve` then `cert serve` (embedded mode). Before it serves, the
volume detector hunts twice over the data directory's store through the scheduled hunts' own code:
the benign host's day of Zeek flows (its baseline is learnt), then the same day with the nmap
capture's flows sent by that host at 09:00 (an alert). The analyst opens the alert: the chart is
drawn by Chart.js with the host's series and the baseline band, its legend in the reader's
language, with no console error, uncaught exception or CSP violation.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from test_analyst_day import ANALYST, browser_context  # noqa: F401 - fixture
from test_browser import CHROMIUM, LOOPBACK, Processes, free_port, wait_healthy

pytestmark = pytest.mark.browser

HOST = "147.32.81.167"
SCANS = "zeek_conn_nmap-scans.labeled.jsonl.gz"


def hunt_volume(data_dir: Path) -> int:
    """The two hunts, through ``hunt_window`` as the scheduler runs them; the alert's id."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "detectors"))
    from test_anomaly_volume import DAY, NETWORK, zeek  # the detector tests' corpus reader

    from cert.core.config import load_settings
    from cert.detection.hunts import hunt_window
    from cert.runtime.platform import Platform
    from cert.storage.models import Alert
    from detectors.anomaly.volume import VolumeAnomaly

    settings = replace(load_settings(env={}), data_dir=data_dir)
    p = Platform(replace(settings, sigma_cache_dir=data_dir / "cache"))
    p.events.write(zeek("zeek_conn_ctu-normal-40_day1.labeled.log.gz"))
    assert hunt_window(p, [VolumeAnomaly(p.settings)], *DAY, DAY[1] - DAY[0]).alerts_new == 0
    with gzip.open(NETWORK / SCANS, "rt") as f:
        first = json.loads(f.readline())["ts"]
    p.events.write(zeek(SCANS, {"shift": datetime(2022, 6, 13, 9, 0, tzinfo=UTC).timestamp() - first}))
    assert hunt_window(p, [VolumeAnomaly(p.settings)], *DAY, DAY[1] - DAY[0]).alerts_new == 1
    from sqlalchemy import select

    with p.db.session() as s:
        alert = s.scalars(select(Alert).where(Alert.detector == "anomaly.volume")).one()
        assert alert.group_key == f"host|{HOST}" and alert.last_seen.replace(tzinfo=UTC) > datetime(2022, 6, 13, 9,
                                                                                                     tzinfo=UTC)
        return alert.id


@pytest.fixture
def console(tmp_path: Path) -> Iterator[tuple[str, str, int]]:
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    data_dir, workdir = tmp_path / "data", tmp_path / "run"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1")
    procs = Processes(workdir, env)
    base = ["--data-dir", str(data_dir)]
    try:
        procs.run("demo", *base, "demo", "--no-serve", timeout=120)
        creds = dict(line.split(" ", 1) for line in (data_dir / "demo-credentials.txt").read_text().splitlines())
        alert_id = hunt_volume(data_dir)
        url = f"http://{LOOPBACK}:{free_port()}"
        server = procs.spawn("serve", *base, "serve", "--host", LOOPBACK, "--port", url.rsplit(":", 1)[1])
        wait_healthy(url, server, procs.logs["serve"])
        yield url, creds[ANALYST], alert_id
    finally:
        procs.stop_all()


def test_the_volume_alert_draws_its_series_and_baseline_band(console: tuple[str, str, int],
                                                            browser_context: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    url, password, alert_id = console
    page = browser_context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.goto(url + "/login")
    page.fill("input[name=username]", ANALYST)
    page.fill("input[name=password]", password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/alerts/"))
    for lang, low in (("fr", "Bande de référence, bas"), ("en", "Baseline band, low")):
        page.goto(f"{url}/alerts/{alert_id}?lang={lang}")
        expect(page.locator("#anomaly-chart")).to_be_visible()
        drawn = page.evaluate("""() => {
            const chart = window.Chart.getChart(document.getElementById('anomaly-chart'));
            return chart ? {type: chart.config.type, labels: chart.data.datasets.map(d => d.label),
                            points: chart.data.datasets.map(d => d.data.length),
                            top: Math.max(...chart.data.datasets[0].data), high: chart.data.datasets[2].data[0],
                            legend: chart.legend.legendItems.map(i => i.text)} : null;
        }""")
        assert drawn is not None, "no chart drawn"
        assert drawn["type"] == "line" and drawn["labels"][1] == low and len(set(drawn["points"])) == 1
        assert drawn["top"] > drawn["high"] > 0  # the scan's window stands above the band
        assert low in drawn["legend"], drawn
        assert not problems, problems
