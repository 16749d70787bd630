"""Exact Sigma semantics on both evaluators: an escaped wildcard is the character itself, and a
keyword searches the log's own content only, not the fields Vigie adds (``Both.ids`` asserts the
fast engine and the naive oracle agree on every event)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sigma_testkit import Both, event, one
from support import corpora_dir

from cert.core.config import Settings
from cert.core.contracts import RuleOverrides
from cert.core.parser import parsers
from cert.core.registry import load_plugins
from cert.pipeline.ingestor import Ingestor
from cert.runtime.platform import Platform
from detectors.sigma.hunt import Plan
from detectors.sigma.keywords import own_content
from detectors.sigma.load import load
from detectors.sigma.runtime import compile_ruleset

load_plugins(["ingest.parsers", "detectors"])

SIGMA = corpora_dir() / "sigma"
RULES = SIGMA / "rules"
PROCESS_CREATION = RULES / "windows" / "process_creation"
# A Sysmon process creation (event 1) of SigmaHQ's regression data: the template of the events below.
SYSMON_1 = (SIGMA / "regression_data" / "rules" / "windows" / "process_creation"
            / "proc_creation_win_bitsadmin_download")


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"SigmaHQ corpus not found: {path}")
    return path


def sigmahq(*files: Path) -> Both:
    """Both evaluators over SigmaHQ rule files, unmodified."""
    return Both(load([_need(f) for f in files]))


# -- escaped wildcards ---------------------------------------------------------------------------

def test_an_escaped_question_mark_alone_is_the_character(tmp_path: Path) -> None:
    b = one(tmp_path, "  sel:\n    Description: '\\?'\n  condition: sel\n")
    assert b.hit(event(Description="?"))
    assert not b.hit(event(Description="x"))
    assert not b.hit(event(Description="-"))
    assert not b.hit(event(Description="??"))


def test_an_escaped_star_alone_is_the_character(tmp_path: Path) -> None:
    b = one(tmp_path, "  sel:\n    Description: '\\*'\n  condition: sel\n")
    assert b.hit(event(Description="*"))
    assert not b.hit(event(Description="BITS administration utility"))
    assert not b.hit(event(Description=""))
    assert not b.hit(event(Description="**"))


def test_contains_an_escaped_question_mark(tmp_path: Path) -> None:
    b = one(tmp_path, "  sel:\n    CommandLine|contains: '\\?'\n  condition: sel\n")
    assert b.hit(event(CommandLine="Pester.bat /?"))
    assert not b.hit(event(CommandLine="cmd.exe /c dir"))
    b = one(tmp_path, "  sel:\n    CommandLine|endswith: '\\*'\n  condition: sel\n")
    assert b.hit(event(CommandLine="del C:\\Temp\\*"))
    assert not b.hit(event(CommandLine="del C:\\Temp\\x"))


def test_escaped_and_real_wildcards_mixed(tmp_path: Path) -> None:
    b = one(tmp_path, "  sel:\n    Name: 'a?b\\*c*d\\?'\n  condition: sel\n")
    assert b.hit(event(Name="aXb*c and d?"))
    assert not b.hit(event(Name="aXbYc and d?"))  # the escaped star is a star
    assert not b.hit(event(Name="aXb*c and dY"))  # the escaped question mark is a question mark
    assert not b.hit(event(Name="ab*cd?"))  # the real ? is one character
    b = one(tmp_path, "  keywords:\n    - 'really\\?'\n  condition: keywords\n")
    assert b.hit(event(message="are you really? yes"))
    assert not b.hit(event(message="really!"))
    b = one(tmp_path, "  sel:\n    Name|cased: 'A\\?'\n  condition: sel\n")
    assert b.hit(event(Name="A?")) and not b.hit(event(Name="AB")) and not b.hit(event(Name="a?"))


def _sysmon_process(**event_data: str) -> dict[str, Any]:
    """SigmaHQ's regression Sysmon event 1 with other EventData values, parsed by windows.evtx."""
    parser = parsers.get("windows.evtx")()
    sample = next(_need(SYSMON_1).glob("*.evtx"))
    raw = next(item[1] for item in parser.read(str(sample)) if isinstance(item, tuple))
    record = json.loads(raw)
    record["Event"]["EventData"].update(event_data)
    ev = parser.parse(json.dumps(record))
    assert ev is not None
    return ev


def test_sigmahq_missing_file_characteristics_rule_wants_question_marks() -> None:
    """Sysmon writes ``?`` for a version field the executable lacks; a one-character value that
    is not ``?`` is no missing field."""
    b = sigmahq(PROCESS_CREATION / "proc_creation_win_susp_file_characteristics.yml")
    downloaded = {"Image": "C:\\Users\\xodih\\Downloads\\setup-helper.exe", "CommandLine": "setup-helper.exe /S",
                  "OriginalFileName": "setup-helper.exe"}
    assert not b.hit(_sysmon_process(**downloaded, Description="-", FileVersion="1", Product="-", Company="-"))
    assert b.hit(_sysmon_process(**downloaded, Description="?", FileVersion="?", Product="?", Company="?"))
    assert not b.hit(_sysmon_process(**downloaded, Description="?", FileVersion="1", Product="-", Company="-"))


def test_sigmahq_pester_rule_wants_help_or_a_question_mark() -> None:
    b = sigmahq(PROCESS_CREATION / "proc_creation_win_lolbin_pester_1.yml")
    cmd = {"Image": "C:\\Windows\\System32\\cmd.exe", "OriginalFileName": "Cmd.Exe",
           "Description": "Windows Command Processor"}
    # a build agent running its Pester tests: neither "help" nor "?" in the command line
    ci = "cmd.exe /c \"cd C:\\agent\\_work\\1\\s && pester; powershell -c Invoke-Pester -Path .\\tests\""
    assert not b.hit(_sysmon_process(**cmd, CommandLine=ci))
    assert b.hit(_sysmon_process(**cmd, CommandLine="cmd.exe /c \"C:\\tools\\Pester.bat /?; calc.exe\""))
    assert b.hit(_sysmon_process(**cmd, CommandLine="cmd.exe /c pester.bat help; calc.exe"))


def test_hunt_queries_escape_a_literal_star_and_question_mark(tmp_path: Path) -> None:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "r.yml").write_text(
        "title: t\nid: 5d0c6f3e-4b1a-4c55-9a57-1f0c2b9f7a10\nlogsource:\n  product: vigie\n  service: test\n"
        "detection:\n  sel:\n    Description: '\\?'\n    Company: '\\*'\n    CommandLine|contains: '\\?'\n"
        "    Name: 'a?b\\*c'\n  condition: sel\n", encoding="utf-8")
    (query,) = Plan(compile_ruleset(load([d]), RuleOverrides())).queries
    assert "Description.caseless:\\?" in query and "Company.caseless:\\*" in query
    assert "CommandLine.caseless:*\\?*" in query and "Name.caseless:a?b\\*c" in query


# -- keyword scope ---------------------------------------------------------------------------------

def test_own_content_is_message_original_and_the_sources_fields() -> None:
    ev = {"@timestamp": "2026-03-02T10:00:00.000Z", "message": "m",
          "event": {"original": "o", "dataset": "cisco.aaa", "module": "cisco", "id": "i", "ingested": "t"},
          "cisco": {"ios": {"facility": "PARSER"}}, "eventName": "ConsoleLogin", "log": {"file": {"path": "p"}},
          "ecs": {"version": "8.11.0"}, "organization": {"name": "Ministry"}, "agent": {"name": "a"},
          "tags": ["t"], "data_stream": {"dataset": "d"}, "related": {"ip": ["10.0.0.1"]},
          "vigie": {"claimed_organization": "x"}, "host": {"name": "rtr1"}}
    assert own_content(ev) == {"message": "m", "event": {"original": "o"}, "cisco": {"ios": {"facility": "PARSER"}},
                               "eventName": "ConsoleLogin"}
    windows = {"winlog": {"event_data": {"CommandLine": "c"}}, "event": {"original": "{\"Event\": {}}"},
               "message": "rendered"}
    assert own_content(windows) == {"winlog": {"event_data": {"CommandLine": "c"}}, "message": "rendered"}
    flat = {"winlog.channel": "Security", "event.original": "o", "event.dataset": "d", "message": "m"}
    assert own_content(flat) == {"winlog.channel": "Security", "message": "m"}
    assert own_content({"event.original": "o", "log.file.path": "p"}) == {"event.original": "o"}


@pytest.fixture
def ingest_platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(replace(Settings(), data_dir=tmp_path / "data", secret_key="x"))
    p.db.upgrade()
    yield p
    p.close()


def _ingest(p: Platform, sample: Path, source: str) -> list[dict[str, Any]]:
    collected: list[dict[str, Any]] = []
    lock = threading.Lock()

    def keep(events: list[dict[str, Any]]) -> None:
        with lock:
            collected.extend(events)

    ingestor = Ingestor(p, "windows.evtx", on_batch=keep)
    summary = ingestor.ingest(ingestor.parser.read(str(sample)), source=source)
    assert summary.dead_lettered == 0
    return collected


def test_a_windows_keyword_is_not_found_in_the_evidence_folders_name(ingest_platform: Platform) -> None:
    b = sigmahq(RULES / "windows" / "builtin" / "win_alert_mimikatz_keywords.yml")
    sample = _need(corpora_dir() / "evtx" / "evtx-to-mitre-attack" / "TA0001-Initial access" / "T1078-Valid accounts"
                   / "ID4625-failed login with denied access due to account restriction.evtx")
    events = _ingest(ingest_platform, sample, f"/cases/CERT-2026-041 mimidrv.sys on DC01/{sample.name}")
    assert events and all("mimidrv.sys" in e["log"]["file"]["path"] for e in events)
    assert not any(b.hit(e) for e in events)
    found = copy.deepcopy(events[0])
    found["winlog"]["event_data"]["ProcessName"] = "C:\\Users\\bob\\Downloads\\mimidrv.sys"
    assert b.hit(found)
    rendered = copy.deepcopy(events[0])
    rendered["message"] = "An account failed to log on. Process Name: C:\\Temp\\mimidrv.sys"
    assert b.hit(rendered)


def test_a_printnightmare_keyword_in_the_corpus_file_name_is_not_in_the_log(ingest_platform: Platform) -> None:
    """The attack corpus names its file after Mimispool; its event 316 (a "Generic / Text Only"
    driver added) holds none of SigmaHQ's CVE-2021-1675 keywords."""
    b = sigmahq(SIGMA / "rules-emerging-threats" / "2021" / "Exploits" / "CVE-2021-1675"
                / "win_exploit_cve_2021_1675_printspooler_operational.yml")
    sample = _need(corpora_dir() / "evtx" / "evtx-to-mitre-attack" / "TA0004-Privilege Escalation"
                   / "T1574-DLL side-loading" / "ID354-808-Mimispool printer installation (PrintNightmare).evtx")
    events = _ingest(ingest_platform, sample, str(sample))
    driver_added = [e for e in events if e["winlog"]["event_id"] == 316]
    assert driver_added and "Mimispool" in driver_added[0]["log"]["file"]["path"]
    assert not any(b.hit(e) for e in driver_added)
    mimispool = copy.deepcopy(driver_added[0])
    mimispool["winlog"]["user_data"]["Param1"] = "mimispool"
    assert b.hit(mimispool)


def _cisco_aaa(message: str) -> dict[str, Any]:
    """A Cisco IOS accounting record as a syslog parser for Cisco stores it (Filebeat's Cisco
    module layout: the line in event.original, its text in message, the facility under cisco.ios)."""
    line = f"<189>1041: rtr-core-01: *Mar  2 10:00:00.123: %PARSER-5-CFGLOG_LOGGEDCMD: {message}"
    return {
        "@timestamp": "2026-03-02T10:00:00.123Z", "message": message,
        "event": {"dataset": "cisco.aaa", "module": "cisco", "kind": "event", "code": "CFGLOG_LOGGEDCMD",
                  "severity": 5, "original": line, "id": "5f2c0b1e", "ingested": "2026-03-02T10:00:01.000Z"},
        "cisco": {"ios": {"facility": "PARSER", "sequence": "1041"}},
        "log": {"level": "notice", "file": {"path": "/evidence/aaa-accounting/rtr-core-01.log"},
                "syslog": {"priority": 189, "facility": {"code": 23}, "severity": {"code": 5}}},
        "observer": {"vendor": "Cisco", "product": "IOS", "type": "router", "hostname": "rtr-core-01"},
        "host": {"hostname": "rtr-core-01"}, "ecs": {"version": "8.11.0"},
        "organization": {"id": 3, "name": "Ministry of Finance"},
    }


def test_the_cisco_aaa_keyword_rule_needs_the_keyword_in_the_log() -> None:
    b = sigmahq(RULES / "network" / "cisco" / "aaa" / "cisco_cli_local_accounts.yml")  # keywords: username, aaa
    assert not b.hit(_cisco_aaa("User:netops  logged command:show ip interface brief"))
    assert b.hit(_cisco_aaa("User:netops  logged command:username backup privilege 15 secret 0 x"))
    assert b.hit(_cisco_aaa("User:netops  logged command:no aaa new-model"))
    original_only = _cisco_aaa("")
    original_only["event"]["original"] += "User:netops  logged command:username backup"
    assert b.hit(original_only)  # a record whose text stayed in event.original
