"""An indicator alert shows its provenance (sources, references, TLP, confidence, tags), escaped."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from support import login

from cert.accounts.users import create_user
from cert.core.config import Settings
from cert.core.ecs import put
from cert.core.registry import load_plugins
from cert.detection.alerts import upsert_hits
from cert.detection.indicators.formats import Defaults, load
from cert.runtime.platform import Platform
from cert.storage.db import Database
from cert.storage.models import Alert
from detectors.indicators.detector import IndicatorDetector
from web.app import create_app

load_plugins(["detectors.indicators"])


def test_provenance_on_the_alert_page(settings: Settings, corpora: Path) -> None:
    p = Platform(replace(settings, plugins=("playbooks.steps",)))
    p.db.upgrade()
    db: Database = p.db
    with db.session() as s:
        load(s, corpora / "misp/osint-events/to_delete2.json", "circl-osint <b>", Defaults())
        create_user(s, "analyste", "correct-horse-battery", "analyst")
    ev: dict = {"@timestamp": "2026-11-20T08:00:00.000Z"}
    put(ev, "event.id", "e1")
    put(ev, "source.ip", "10.10.1.15")
    put(ev, "destination.ip", "98.101.211.162")
    hits = IndicatorDetector(p.settings).detect([ev])
    with db.session() as s:
        upsert_hits(s, hits, 60)
        alert_id = s.query(Alert.id).scalar()
    client = create_app(platform=p).test_client()
    assert login(client, "analyste", "correct-horse-battery").status_code == 302
    page = client.get(f"/alerts/{alert_id}?lang=en").get_data(as_text=True)
    section = page.split('id="indicator"')[1].split("</dl>")[0]
    assert "ip 98.101.211.162" in section and "destination.ip = 98.101.211.162" in section
    assert "TLP:CLEAR" in section and "5a0d5bf4-99c8-4f15-9879-22b1950d210f" in section
    assert 'misp-galaxy:threat-actor=&#34;Lazarus Group&#34;' in section
    assert "Confidence</dt><dd>50" in section and "circl-osint &lt;b&gt;" in section and "<b>" not in section  # a source name is data, shown as text
    p.close()
