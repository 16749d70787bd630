"""The community MISP feed folder goes through the sharing policy on its own terms
(``share_tlp_ceiling``, ``share_pap``): its events hold what leaves, under the folder's neutral
title when the title stays, with the description only when the incident's TLP allows it, TLP,
PAP and ATT&CK tags and our sightings; they read back with PyMISP."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pymisp import MISPEvent

from cert.core.config import Settings, load_settings
from cert.core.errors import Forbidden
from cert.core.tlp import PAP, TLP
from cert.incidents.cases import add_observable
from cert.runtime.platform import Platform
from cert.sharing.targets.misp_feed import export_case
from cert.storage.models import Alert, Case

SEEN = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(Settings(), data_dir=tmp_path / "data", secret_key="test-secret-key", org_name="CERT-T",
                   share_tlp_ceiling=TLP.GREEN, share_pap=PAP.GREEN)


def _incident(platform: Platform, tlp: str = "green") -> int:
    with platform.db.session() as s:
        case = Case(title="Compromission du serveur de M. Z", title_tlp="amber", tlp=tlp, pap="green",
                    description="Relais par le serveur de la direction", created_by="ana",
                    organization="Ministère de l'Intérieur", attack=["T1110"], rsit_class="intrusions:system-compromise")
        s.add(case)
        s.flush()
        for kind, value, label in (("ip", "203.0.113.50", "clear"), ("domain", "c2.example", "green"),
                                   ("ip", "203.0.113.51", "amber"), ("domain", "pap-red.example", "green")):
            obs = add_observable(s, case, kind, value, tlp=label)
            if obs is not None and value == "pap-red.example":
                obs.pap = "red"
        s.add(Alert(rule_id="r", rule_title="t", detector="sigma", severity="high", case_id=case.id, tlp="clear",
                    entities={"url.domain": "c2.example"}, first_seen=SEEN, last_seen=SEEN))
        return case.id


def test_the_folder_exports_what_its_terms_let_leave(platform: Platform) -> None:
    case_id = _incident(platform)
    with platform.db.session() as s:
        result = export_case(s, s.get_one(Case, case_id), platform.settings, "ana")
    assert result.exported == 2 and result.withheld == 2  # the AMBER address, the PAP:RED domain
    text = result.path.read_text()
    for stays in ("203.0.113.51", "pap-red.example", "M. Z", "Ministère"):
        assert stays not in text, stays
    event = MISPEvent()
    event.load(text)
    assert event.info == f"CERT-T — incident #{case_id} (intrusions:system-compromise)"
    values = {a.value: a for a in event.attributes}
    assert set(values) == {"203.0.113.50", "c2.example", "Relais par le serveur de la direction"}
    description = values["Relais par le serveur de la direction"]
    assert description.type == "text" and description.category == "Other" and not description.to_ids
    assert {t.name for t in event.tags} >= {"tlp:green", "PAP:GREEN", 'misp-galaxy:mitre-attack-pattern="T1110"',
                                             'rsit:intrusions="system-compromise"'}
    [sighting] = values["c2.example"].sightings
    assert sighting.source == "CERT-T" and sighting.type == "0" and int(sighting.date_sighting) == int(SEEN.timestamp())
    assert not values["203.0.113.50"].sightings
    manifest = json.loads((platform.settings.feed_dir / "manifest.json").read_text())
    assert list(manifest) == [result.event_uuid]


def test_the_folder_refuses_an_incident_above_its_ceiling_and_sends_no_description_above_it(
        platform: Platform) -> None:
    amber = _incident(platform, tlp="amber")
    with platform.db.session() as s, pytest.raises(Forbidden):
        export_case(s, s.get_one(Case, amber), platform.settings, "ana")
    wider = replace(platform.settings, share_tlp_ceiling=TLP.AMBER, share_pap=PAP.RED)
    with platform.db.session() as s:
        case = s.get_one(Case, amber)
        case.tlp, case.title_tlp = "amber", "red"
        result = export_case(s, case, wider, "ana")
    event = MISPEvent()
    event.load(result.path.read_text())
    assert {a.value for a in event.attributes} >= {"203.0.113.51", "pap-red.example",
                                                   "Relais par le serveur de la direction"}
    assert "M. Z" not in event.info and {t.name for t in event.tags} >= {"tlp:amber", "PAP:RED"}


def test_share_pap_is_read_from_the_configuration() -> None:
    assert load_settings(env={"CERT_SHARE_PAP": "green"}).share_pap is PAP.GREEN
    assert load_settings(env={}).share_pap is PAP.RED  # every PAP marking, each attribute tagged with its own
