"""A watched folder: each file scanned once (by path, size and mtime, across restarts), matches
stored as file events and alerts, timeouts in the dead-letter store; ``cert yara`` commands."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from cert.cli import main
from cert.core.config import Settings
from cert.detection.files import FolderWatcher
from cert.runtime.platform import Platform
from cert.storage.models import Alert, DeadLetter
from cert.storage.models.indicators import FileScan

WEBSHELL = b"<?php\n// uploaded via the CMS image form\n@eval(base64_decode($_POST['x']));\n?>\n"
NOTE = ("Tous vos fichiers ont été chiffrés.\nPayez 0,3 bitcoin pour la clé de déchiffrement.\n"
        "Ne renommez pas les fichiers.\n").encode()


@pytest.fixture
def plat(settings: Settings) -> Iterator[Platform]:
    p = Platform(replace(settings, plugins=("detectors.yara",)))  # the file scanner only
    p.db.upgrade()
    yield p
    p.close()


def test_each_file_is_scanned_once_and_matches_become_alerts(plat: Platform, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    (drop / "sub").mkdir(parents=True)
    (drop / "shell.php").write_bytes(WEBSHELL)
    (drop / "sub" / "LISEZMOI.txt").write_bytes(NOTE)
    (drop / "rapport.txt").write_text("Rapport mensuel du ministère.\n")
    (drop / "link.php").symlink_to(drop / "shell.php")  # never followed
    watcher = FolderWatcher(plat, drop, settle_seconds=0, fields={"organization.name": "Ministère des Finances"})
    outcomes = watcher.poll()
    by_name = {Path(o.result.target).name: o for o in outcomes}
    assert set(by_name) == {"shell.php", "LISEZMOI.txt", "rapport.txt"}
    assert [m.rule for m in by_name["shell.php"].result.matches] == ["Webshell_PHP_Eval_Of_Decoded_Or_Request_Data"]
    assert [m.rule for m in by_name["LISEZMOI.txt"].result.matches] == ["Ransomware_Note_Generic"]
    assert by_name["rapport.txt"].event_id is None and by_name["rapport.txt"].alerts_new == 0
    with plat.db.session() as s:
        alerts = {a.rule_id: a for a in s.scalars(select(Alert))}
        assert len(s.scalars(select(FileScan)).all()) == 3
    shell = alerts["yara:webshells.Webshell_PHP_Eval_Of_Decoded_Or_Request_Data"]
    assert shell.severity == "high" and shell.organization == "Ministère des Finances"
    assert shell.entities["yara"]["file"]["path"] == str((drop / "shell.php").resolve())
    assert {s["id"] for s in shell.entities["yara"]["strings"]} == {"$php", "$eval_decode"}
    assert alerts["yara:ransomware.Ransomware_Note_Generic"].severity == "critical"
    [evidence] = plat.events.get([by_name["shell.php"].event_id or ""])
    assert evidence["file"]["hash"]["sha256"] == shell.entities["yara"]["file"]["sha256"]
    assert evidence["event"]["kind"] == "alert" and evidence["yara"]["matches"][0]["meta"]["author"] == "Vigie project"

    assert watcher.poll() == []  # nothing new
    assert FolderWatcher(plat, drop, settle_seconds=0).poll() == []  # nor after a restart
    (drop / "rapport.txt").write_text("Rapport mensuel, version 2.\n")
    again = FolderWatcher(plat, drop, settle_seconds=0).poll()
    assert [Path(o.result.target).name for o in again] == ["rapport.txt"]


def test_files_still_being_written_wait_for_the_next_poll(plat: Platform, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "partial.php").write_bytes(WEBSHELL[:10])
    assert FolderWatcher(plat, drop, settle_seconds=3600).poll() == []
    old = drop / "partial.php"
    os.utime(old, (old.stat().st_atime - 7200, old.stat().st_mtime - 7200))
    assert len(FolderWatcher(plat, drop, settle_seconds=3600).poll()) == 1


def test_a_timeout_is_a_dead_letter(plat: Platform, tmp_path: Path) -> None:
    rules = tmp_path / "rules" / "yara"
    rules.mkdir(parents=True)
    (rules / "slow.yar").write_text(
        "rule Slow { condition: for all i in (0..filesize - 1) : ( for all j in (0..filesize - 1) : "
        "( uint8(i) != 1 ) ) }")
    slow = Platform(replace(plat.settings, rules_dir=tmp_path / "rules", yara_timeout_seconds=1))
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "dump.bin").write_bytes(b"\x00" * 200_000)
    [outcome] = FolderWatcher(slow, drop, settle_seconds=0).poll()
    assert outcome.result.timed_out and outcome.alerts_new == 0
    with slow.db.session() as s:
        [dead] = s.scalars(select(DeadLetter)).all()
        [scan] = s.scalars(select(FileScan)).all()
    assert dead.parser == "yara" and dead.source.endswith("dump.bin") and "timeout" in dead.reason
    assert scan.error.startswith("timeout") and len(scan.sha256) == 64
    slow.close()


def test_cli_scan_and_watch_once(plat: Platform, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERT_PLUGINS", "detectors.yara")  # this command needs the file scanner, no parser
    data_dir = str(plat.settings.data_dir)
    sample = tmp_path / "drop" / "shell.php"
    sample.parent.mkdir()
    sample.write_bytes(WEBSHELL)
    assert main(["--data-dir", data_dir, "yara", "scan", str(sample)]) == 1
    assert "Webshell_PHP_Eval_Of_Decoded_Or_Request_Data [high]" in capsys.readouterr().out
    assert main(["--data-dir", data_dir, "yara", "watch", str(sample.parent), "--once", "--settle", "0"]) == 0
    assert "1 new alert(s)" in capsys.readouterr().out
    assert main(["--data-dir", data_dir, "yara", "watch", str(tmp_path / "absent"), "--once"]) == 2


def test_a_rule_disabled_by_the_analysts_raises_no_alert(plat: Platform, tmp_path: Path) -> None:
    from cert.detection import overrides as rules

    with plat.db.session() as s:
        rules.set_enabled(s, "yara:webshells.Webshell_PHP_Eval_Of_Decoded_Or_Request_Data", False, "analyste")
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "shell.php").write_bytes(WEBSHELL)
    [outcome] = FolderWatcher(plat, drop, settle_seconds=0).poll()
    assert [m.rule for m in outcome.result.matches] == ["Webshell_PHP_Eval_Of_Decoded_Or_Request_Data"]
    assert outcome.alerts_new == 0 and outcome.alert_ids == []
    with plat.db.session() as s:
        assert s.scalars(select(Alert)).all() == []
