"""Enrichment and task steps as a responder sees them, on real data: Zeek DNS logs of the WRCCDC
2018 capture ingested with Vigie's own parser, then a playbook run on an incident: passive DNS
(the addresses a domain resolved to, first and last seen, who asked; the names behind an
address), GeoIP/ASN from local MMDB files (private addresses said so; no database: said, not a
failure), YARA on the incident's real attached files with a rule written after the upload, and a
task opened for the ministry that must act. Results are on the timeline in French and English,
hostile values render inert, and a later step uses an earlier one's output."""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from sqlalchemy import select
from support import INTERIEUR

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "web"))  # the web tests' helpers
from account_support import logged_in

from cert.accounts.users import create_user
from cert.core.config import Settings
from cert.incidents.attachments import attach, case_folder
from cert.incidents.cases import add_observable
from cert.pipeline.ingestor import Ingestor
from cert.response.runs import plan_playbook, start_run
from cert.runtime.platform import Platform
from cert.storage.models import Attachment, AuditEntry, Case, PlaybookRun, StepRun, Task
from web.app import create_app

DNS = "zeek/brimdata-zed-sample-data/zeek-json/dns.json.gz"
EVTX = "evtx/evtx-to-mitre-attack/TA0008-Lateral Movement"
PTH = f"{EVTX}/T1550-Use Alternate Authentication Material/ID4624-Mimikatz Pass the hash.evtx"
WSMAN = f"{EVTX}/T1021.006-Windows Remote Management/ID4656-WS Management listener enumeration.evtx"
DOMAIN, ADDRESS = "docs.microsoft.com", "54.68.141.132"
PASSWORD = "a-long-password-1"

ENRICH = """
id: enrich
version: 2
title: {fr: Enquête sur un domaine, en: Domain investigation}
steps:
  - id: pdns
    step: passive_dns
    with: {days: 3650, limit: 1000}
  - id: geo
    step: geoip
  - id: files
    step: yara_files
  - id: task
    step: open_task
    when: {found: pdns.resolved_ips}
    with:
      title: {fr: "Bloquer les adresses du domaine", en: "Block the domain's addresses"}
      description:
        fr: "Bloquez en sortie les adresses relevées par le CERT."
        en: "Block outgoing traffic to the addresses the CERT found."
      due_hours: 48
"""
RULE = """
rule Evtx_PassTheHash_admmig : lateral_movement
{
    meta:
        description = "Security log of the pass-the-hash test account admmigOFFSEC"
        severity = "high"
    strings:
        $magic = "ElfFile" ascii
        $account = "admmigOFFSEC" wide
    condition:
        $magic at 0 and $account
}
"""


def _city_db(path: Path) -> Path:
    w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City", languages=["en"])
    w.insert_network(IPSet(["23.32.0.0/11"]), {"country": {"iso_code": "US", "names": {"en": "United States"}},
                                               "city": {"names": {"en": "Cambridge"}}})
    w.insert_network(IPSet(["54.68.0.0/16"]), {"country": {"iso_code": "US", "names": {"en": "United States"}},
                                               "city": {"names": {"en": "Boardman"}}})
    w.insert_network(IPSet(["10.0.0.0/8"]), {"country": {"iso_code": "ZZ", "names": {"en": "Nowhere"}}})
    w.to_db_file(str(path))
    return path


def _asn_db(path: Path) -> Path:
    w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN", languages=["en"])
    w.insert_network(IPSet(["23.32.0.0/11"]), {"autonomous_system_number": 16625,
                                               "autonomous_system_organization": "AKAMAI-AS"})
    w.insert_network(IPSet(["54.68.0.0/16"]), {"autonomous_system_number": 16509,
                                               "autonomous_system_organization": "AMAZON-02"})
    w.to_db_file(str(path))
    return path


def _platform(settings: Settings, tmp_path: Path, geoip: bool) -> Platform:
    books = tmp_path / "playbooks"
    books.mkdir(exist_ok=True)
    (books / "enrich.yml").write_text(ENRICH, encoding="utf-8")
    rules = tmp_path / "rules"
    (rules / "yara").mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {}
    if geoip:
        extra = {"geoip_city_file": _city_db(tmp_path / "city.mmdb"), "geoip_asn_file": _asn_db(tmp_path / "asn.mmdb")}
    p = Platform(replace(settings, playbooks_dir=books, rules_dir=rules, **extra))
    p.db.upgrade()
    with p.db.session() as s:
        create_user(s, "rita", PASSWORD, "responder")
    return p


@pytest.fixture
def plat(settings: Settings, tmp_path: Path) -> Iterator[Platform]:
    p = _platform(settings, tmp_path, geoip=True)
    yield p
    p.close()


@pytest.fixture
def bare(settings: Settings, tmp_path: Path) -> Iterator[Platform]:
    """No GeoIP database configured."""
    p = _platform(settings, tmp_path, geoip=False)
    yield p
    p.close()


def dns_lines(corpora: Path) -> list[str]:
    """The log's lines naming the domain or the address, and its first 2,000 lines besides."""
    out = []
    with gzip.open(corpora / DNS, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if n < 2000 or f'"{DOMAIN}"' in line or f'"{ADDRESS}"' in line:
                out.append(line.rstrip("\n"))
    return out


def ingest_dns(p: Platform, corpora: Path) -> list[dict[str, Any]]:
    lines = dns_lines(corpora)
    summary = Ingestor(p, "zeek").ingest(iter(enumerate(lines, 1)), source=str(corpora / DNS))
    assert summary.ingested == len(lines) and summary.dead_lettered == 0
    p.events.refresh()
    return [json.loads(line) for line in lines]


def incident(p: Platform, observables: list[tuple[str, str]], organization: str | None = INTERIEUR,
             pap: str = "amber") -> int:
    with p.db.session() as s:
        case = Case(title="Machines du ministère vers un domaine suspect", severity="high", created_by="ana",
                    organization=organization, pap=pap)
        s.add(case)
        s.flush()
        for kind, value in observables:
            add_observable(s, case, kind, value)
        return case.id


def run(p: Platform, case_id: int) -> dict[str, StepRun]:
    run_id = start_run(p, case_id, "enrich", "rita")
    p.jobs.wait()
    with p.db.session() as s:
        rows = list(s.scalars(select(StepRun).where(StepRun.run_id == run_id).order_by(StepRun.position)))
        for row in rows:
            s.expunge(row)
        assert s.get_one(PlaybookRun, run_id).version == 2
        return {r.step_id: r for r in rows}


def timeline(app: Flask, case_id: int, lang: str) -> list[str]:
    client = logged_in(app, "rita", PASSWORD)
    body = client.get(f"/api/v1/incidents/{case_id}?lang={lang}").get_json()
    return [t["message"] for t in body["timeline"]]


def test_passive_dns_geoip_and_a_task_for_the_ministry(plat: Platform, corpora: Path) -> None:
    records = ingest_dns(plat, corpora)
    case_id = incident(plat, [("domain", "Docs.Microsoft.com."), ("ip", ADDRESS), ("ip", "10.47.1.10"),
                              ("ip", "198.189.255.199")])
    dry = plan_playbook(plat, case_id, "enrich", "rita")
    assert [s["kind"] for s in dry["steps"]] == ["step"] * 4
    steps = run(plat, case_id)
    assert {k: r.status for k, r in steps.items()} == {"pdns": "done", "geo": "done", "files": "done", "task": "done"}

    # passive DNS, against what the raw log says
    asked = [r for r in records if r.get("query") == DOMAIN]
    expected = Counter(a for r in asked for a in r.get("answers") or [] if a[0].isdigit())
    pdns = steps["pdns"].result["data"]
    got = {x["ip"]: x["count"] for x in pdns["domains"][DOMAIN]["resolutions"]}
    assert got == dict(expected) == {"23.38.181.32": 4, "23.221.23.197": 4, "23.75.51.218": 2}
    assert set(pdns["resolved_ips"]) == set(expected)
    first = next(x for x in pdns["domains"][DOMAIN]["resolutions"] if x["ip"] == "23.75.51.218")
    assert first["first_seen"].startswith("2018-03-24T17:35:40") and first["last_seen"].startswith("2018-03-24T17:35:40")
    clients = {c["ip"] for c in pdns["domains"][DOMAIN]["clients"]}
    assert clients == {r["id.orig_h"] for r in asked} == {"10.47.1.10", "10.47.2.10", "10.47.3.10", "10.47.5.10",
                                                          "10.47.6.10"}
    names = {x["name"] for x in pdns["ips"][ADDRESS]["names"]}
    assert names == {r["query"] for r in records if ADDRESS in (r.get("answers") or [])}
    assert {"incoming.telemetry.mozilla.org", "telemetry-incoming.r53-2.services.mozilla.com"} <= names
    assert pdns["domains"][DOMAIN]["events"] == len(asked) == pdns["domains"][DOMAIN]["read"]

    # GeoIP: located, private said so, a public address the databases do not hold
    geo = steps["geo"].result["data"]
    assert geo["geoip"][ADDRESS] == {"country_iso_code": "US", "country": "United States", "city": "Boardman",
                                     "asn": 16509, "as_organization": "AMAZON-02"}
    assert geo["private_ips"] == ["10.47.1.10"] and geo["unknown_ips"] == ["198.189.255.199"]
    assert geo["countries"] == ["US"] and geo["asns"] == [16509]

    # the task, in French, for the ministry, English in its description, due in 48 hours
    task_data = steps["task"].result["data"]
    with plat.db.session() as s:
        [task] = s.scalars(select(Task).where(Task.case_id == case_id)).all()
        assert task.title == f"Bloquer les adresses du domaine — {INTERIEUR}" and task.status == "open"
        assert f"Organisation qui doit agir : {INTERIEUR}" in task.description
        assert "Block the domain's addresses" in task.description and "Block outgoing traffic" in task.description
        assert task.assignee is None and task.due_at is not None and task_data["task_id"] == task.id
        assert ("rita", "case.task.add") in {(a.actor, a.action) for a in s.scalars(select(AuditEntry))}

    app = create_app(platform=plat)
    english, french = timeline(app, case_id, "en"), timeline(app, case_id, "fr")
    said = next(m for m in english if m.startswith("[passive_dns]"))
    assert "23.38.181.32 (4×, 2018-03-24 17:17 → 2018-03-24 17:18 UTC)" in said
    assert f"{ADDRESS} ← " in said and "10.47.1.10 (" in said and "Internal hosts that asked" in said
    assert any(m.startswith("[passive_dns] DNS passif des 3650 derniers jours") and "Hôtes internes" in m
               for m in french)
    assert any(m.startswith("[geoip] Located: ") and "54.68.141.132 (US, Boardman — AS16509 AMAZON-02)" in m and "10.47.1.10" in m for m in english)
    assert any(m.startswith("[geoip] Localisées") and "privées ou réservées" in m for m in french)
    assert any(m.startswith(f"[open_task] Task #{task.id} opened for {INTERIEUR}: Block the domain's addresses, "
                            "due ") for m in english)
    assert any(m.startswith(f"[open_task] Tâche n° {task.id} ouverte pour {INTERIEUR} : Bloquer les adresses du "
                            "domaine, échéance ") for m in french)
    assert f"Tâche n° {task.id} ajoutée : {task.title}" in french

    # run again: nothing new, the task is not opened twice
    again = run(plat, case_id)["task"].result["data"]
    assert again == {**task_data, "created": False}
    with plat.db.session() as s:
        assert len(s.scalars(select(Task).where(Task.case_id == case_id)).all()) == 1


def test_yara_on_attached_files_with_a_rule_written_after_the_upload(plat: Platform, corpora: Path) -> None:
    case_id = incident(plat, [])
    with (corpora / PTH).open("rb") as fh:
        hit = attach(plat, case_id, "<img src=x onerror=alert(1)>pth.evtx", fh, "rita")
    with (corpora / WSMAN).open("rb") as fh:
        attach(plat, case_id, "wsman.evtx", fh, "rita")
    with (corpora / WSMAN).open("rb") as fh:
        tampered = attach(plat, case_id, "copy.evtx", fh, "rita")
    assert hit.outcome.result.matches == []  # no rule at upload time
    (plat.settings.rules_dir / "yara" / "lateral.yar").write_text(RULE, encoding="utf-8")
    with plat.db.session() as s:
        stored = {a.id: (a.name, a.sha256, a.stored_name) for a in s.scalars(select(Attachment))}
    name, sha, _ = stored[hit.attachment_id]
    assert "<" not in name and name.endswith("pth.evtx")
    (case_folder(plat, case_id) / stored[tampered.attachment_id][2]).write_bytes(b"ElfFile\x00 altered")

    files = run(plat, case_id)["files"]
    assert files.status == "done"
    data = files.result["data"]
    assert data["matched_sha256"] == [sha] and data["rules"] == ["Evtx_PassTheHash_admmig"]
    by_name = {f["name"]: f for f in data["files"]}
    assert by_name[name]["new_rules"] == ["Evtx_PassTheHash_admmig"]
    assert by_name["wsman.evtx"]["rules"] == [] and by_name["wsman.evtx"]["error"] == ""
    assert by_name["copy.evtx"]["error"] == "changed" and len(data["changed"]) == 1

    app = create_app(platform=plat)
    english = timeline(app, case_id, "en")
    said = next(m for m in english if m.startswith("[yara_files]"))
    assert said.startswith("[yara_files] 3 file(s) scanned with the current YARA rules, 1 matching: ")
    assert f"{name} (SHA-256 {sha}): Evtx_PassTheHash_admmig" in said and "copy.evtx (" in said
    assert any(m.startswith("[yara_files] 3 fichier(s) analysé(s)") for m in timeline(app, case_id, "fr"))
    page = logged_in(app, "rita", PASSWORD).get(f"/cases/{case_id}?lang=en").get_data(as_text=True)
    assert "<img src=x" not in page and "Evtx_PassTheHash_admmig" in page


def test_nothing_found_no_database_hostile_values_and_pap_red(bare: Platform, corpora: Path) -> None:
    records = ingest_dns(bare, corpora)
    hostile = "<script>alert(1)</script>.evil.example"
    nothing = incident(bare, [("domain", hostile), ("domain", "bücher.example"), ("ip", "203.0.113.9")], pap="red")
    steps = run(bare, nothing)
    assert {k: r.status for k, r in steps.items()} == {"pdns": "done", "geo": "done", "files": "done",
                                                       "task": "skipped"}
    pdns = steps["pdns"].result["data"]
    assert pdns["resolved_ips"] == [] and set(pdns["domains"]) == {"xn--bcher-kva.example"}
    assert steps["geo"].result["data"]["geoip"] == {}
    app = create_app(platform=bare)
    english, french = timeline(app, nothing, "en"), timeline(app, nothing, "fr")
    assert "[passive_dns] No DNS event of the last 3650 days names the incident's domains (xn--bcher-kva.example) " \
           "or addresses (203.0.113.9)." in english
    assert any(m.startswith("[geoip] No GeoIP database is configured") for m in english)
    assert any(m.startswith("[geoip] Aucune base GeoIP n'est configurée") for m in french)
    assert "[open_task] skipped: pdns.resolved_ips found nothing" in english
    assert "[open_task] ignoré : pdns.resolved_ips n'a rien trouvé" in french  # the reason in French too
    page = logged_in(app, "rita", PASSWORD).get(f"/cases/{nothing}?lang=fr").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page

    # a name the machines asked for and never got: who asked, no address, no task
    unresolved = "videosearch.ubuntu.com"
    case_id = incident(bare, [("domain", unresolved)], pap="red")
    steps = run(bare, case_id)
    pdns = steps["pdns"].result["data"]
    asked = [r for r in records if r.get("query") == unresolved]
    assert len(asked) == pdns["domains"][unresolved]["events"] > 0 and pdns["resolved_ips"] == []
    assert set(pdns["clients"]) == {r["id.orig_h"] for r in asked} and len(pdns["clients"]) > 5
    assert steps["task"].status == "skipped"
    said = next(m for m in timeline(app, case_id, "en") if m.startswith("[passive_dns]"))
    [(top, n)] = Counter(r["id.orig_h"] for r in asked).most_common(1)
    assert f"{unresolved} → -. Internal hosts that asked: {top} ({n}), " in said


def test_a_task_needs_an_organisation_and_a_title(plat: Platform, corpora: Path) -> None:
    ingest_dns(plat, corpora)
    case_id = incident(plat, [("domain", DOMAIN)], organization=None)
    steps = run(plat, case_id)
    assert steps["task"].status == "failed" and "names no organisation" in steps["task"].error
    app = create_app(platform=plat)
    assert "[open_task] l'incident ne nomme aucune organisation : personne pour qui ouvrir la tâche." \
        in timeline(app, case_id, "fr")
    (plat.settings.playbooks_dir / "untitled.yml").write_text(
        "id: untitled\nsteps:\n  - step: open_task\n    with: {title: {de: Aufgabe}, due_hours: 0}\n",
        encoding="utf-8")
    other = incident(plat, [])
    run_id = start_run(plat, other, "untitled", "rita")
    plat.jobs.wait()
    with plat.db.session() as s:
        assert s.get_one(PlaybookRun, run_id).status == "failed"
        assert s.scalars(select(Task)).all() == []
    assert "[open_task] the parameter title needs a French or English text." in timeline(app, other, "en")
