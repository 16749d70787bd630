"""``cert investigate`` end to end, as a responder runs it: a subprocess over folders and globs of
real attack EVTX files with SigmaHQ's Windows rules, the alerts a responder expects from those
attacks in the table, the CSV and the JSON, and the temporary store gone afterwards."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS = Path("evtx") / "evtx-to-mitre-attack" / "TA0006-Credential Access"
#: SigmaHQ rules that fire on the attacks these files recorded
DCSYNC = "611eab06-a145-4dfa-a295-3ccc5c20f59a"  # ID4662-DCsync attack using Mimikatz
RC4_TICKET = "496a0e47-0a33-4dca-b009-9e6ca3591f39"  # ID4769-Kerberoast ticket with low encryption
MIMIKATZ = "a642964e-bead-4bed-8910-1bb4d63e3b4d"  # Mimikatz run (Sysmon process creation)
WDIGEST = "d6a9b252-c666-4de6-8806-5561bbbd3bdc"  # Wdigest authentication activation


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    return {**env, "PYTHONPATH": str(ROOT), "TMPDIR": str(temp), "CERT_DATA_DIR": str(tmp_path / "configured")}


def _cert(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cert.cli", *args], env=_env(tmp_path), cwd=ROOT,
                          capture_output=True, text=True, timeout=240)


def test_investigate_a_folder_and_a_glob_with_sigmahq_rules(corpora: Path, tmp_path: Path) -> None:
    rules = corpora / "sigma" / "rules" / "windows"
    if not rules.is_dir():
        pytest.skip("SigmaHQ rules not found")
    creds = corpora / CREDENTIALS
    dumping = creds / "T1003-Credential dumping"
    tickets = f"{creds}/T1558-Steal or Forge Kerberos Tickets/**/*.evtx"
    out_csv, out_json = tmp_path / "alerts.csv", tmp_path / "run.json"

    done = _cert(["investigate", str(dumping), tickets, "--rules", str(rules), "--csv", str(out_csv),
                  "--json", str(out_json)], tmp_path)

    assert done.returncode == 0, done.stderr
    report = json.loads(out_json.read_text())
    files = [f["path"] for f in report["files"]]
    assert len(files) == len(list(dumping.glob("*.evtx"))) + 5 and all(f.endswith(".evtx") for f in files)
    assert report["events"] > 300 and report["dead_lettered"] == 0 and report["rules"] > 2000
    fired = {a["rule_id"] for a in report["alerts"]}
    assert {DCSYNC, RC4_TICKET, MIMIKATZ, WDIGEST} <= fired
    dcsync = next(a for a in report["alerts"] if a["rule_id"] == DCSYNC)
    assert dcsync["host"] == "rootdc1.offsec.lan" and dcsync["first_seen"].startswith("20")
    assert dcsync["first_seen"].endswith("+00:00")  # ISO 8601 with the time zone
    levels = [a["level"] for a in report["alerts"]]
    assert levels == sorted(levels, key=("critical", "high", "medium", "low", "informational").index)
    # the table a responder reads, and the same alerts as CSV
    assert "Mimikatz" in done.stdout and "rootdc1.offsec.lan" in done.stdout
    with out_csv.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["rule_id"] for r in rows] == [a["rule_id"] for a in report["alerts"]]
    assert f"{len(report['alerts'])} alert(s)" in done.stderr
    # the temporary store is gone; of the configured data directory, only its compiled-rule cache
    # is used (the next investigation starts warm), never its database or events
    assert report["data_dir"] is None
    assert not list((tmp_path / "tmp").iterdir())
    assert sorted(p.name for p in (tmp_path / "configured").iterdir()) == ["cache"]


def test_a_named_data_dir_keeps_the_alerts_for_cert_alerts(corpora: Path, tmp_path: Path) -> None:
    rules = corpora / "sigma" / "rules" / "windows" / "builtin" / "security"
    kerberoast = corpora / CREDENTIALS / "T1558-Steal or Forge Kerberos Tickets"
    case = tmp_path / "case"

    done = _cert(["investigate", str(kerberoast), "--rules", str(rules), "--data-dir", str(case),
                  "--fail-on-alert"], tmp_path)

    assert done.returncode == 1, done.stderr  # alerts found, as --fail-on-alert asks
    assert f"kept in {case}" in done.stderr
    listed = _cert(["--data-dir", str(case), "alerts", "--json", "--rule", RC4_TICKET], tmp_path)
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert found["total"] == 1 and found["alerts"][0]["host"] == "rootdc1.offsec.lan"


def test_files_it_cannot_read_are_refused_before_reading(corpora: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("a responder's notes, not a log\n")
    evtx = next((corpora / CREDENTIALS).rglob("*.evtx"))
    refused = _cert(["investigate", str(evtx), str(notes)], tmp_path)
    assert refused.returncode == 2 and "cannot tell the format" in refused.stderr and str(notes) in refused.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = _cert(["investigate", str(empty)], tmp_path)
    assert nothing.returncode == 2 and "no file to read" in nothing.stderr
    missing = _cert(["investigate", str(evtx), "--rules", str(tmp_path / "no-rules")], tmp_path)
    assert missing.returncode == 2 and "--rules" in missing.stderr
    unknown = _cert(["investigate", str(evtx), "--parser", "no.such.parser"], tmp_path)
    assert unknown.returncode == 2
    assert not list((tmp_path / "tmp").iterdir())


def test_files_of_a_folder_whose_format_cannot_be_told_are_left_out_loudly(corpora: Path, tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    (evidence / "host1").mkdir(parents=True)
    evtx = next((corpora / CREDENTIALS).rglob("ID4662-DCsync attack using Mimikatz.evtx"))
    (evidence / "host1" / "Security.evtx").symlink_to(evtx)
    (evidence / "host1" / "triage-report.json").write_text('{"analyst": "a responder", "hosts": 1}\n')
    (evidence / "README.txt").write_text("chain of custody\n")
    report = tmp_path / "run.json"
    done = _cert(["investigate", str(evidence), "--json", str(report)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "triage-report.json left out: format not recognised" in done.stderr
    assert [f["path"] for f in json.loads(report.read_text())["files"]] == [str(evidence / "host1" / "Security.evtx")]
