"""windows.evtx: EVTX files read with the evtx package, on real attack logs (EVTX-to-MITRE-Attack)
and on SigmaHQ's regression data (each event both as .evtx and as .json)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from itertools import zip_longest
from pathlib import Path

import pytest
from harness import ParserCase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from windows_corpus import attack_files, json_documents, regression_cases

from cert.core.ecs import get
from cert.core.parser import ParseError, Unreadable, parsers
from cert.pipeline.ingestor import Ingestor, finalize
from cert.runtime.platform import Platform

# Records as the evtx package renders them (the JSON of the record's XML), written for these tests
# after the documented schemas of Security 4625 and Sysmon 1 (learn.microsoft.com, "4625(F) An
# account failed to log on"; Sysinternals Sysmon "Event ID 1: Process creation").
FAILED_LOGON = json.dumps({"Event": {
    "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
    "System": {
        "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing",
                                     "Guid": "54849625-5478-4994-A5BA-3E3B0328C30D"}},
        "EventID": 4625, "Version": 0, "Level": 0, "Task": 12544, "Opcode": 0, "Keywords": "0x8010000000000000",
        "TimeCreated": {"#attributes": {"SystemTime": "2026-11-20T08:02:11.512345Z"}},
        "EventRecordID": 93211, "Correlation": None,
        "Execution": {"#attributes": {"ProcessID": 636, "ThreadID": 5988}},
        "Channel": "Security", "Computer": "dc01.interieur.gouv.example", "Security": None},
    "EventData": {
        "SubjectUserSid": "S-1-0-0", "SubjectUserName": "-", "SubjectDomainName": "-", "SubjectLogonId": "0x0",
        "TargetUserSid": "S-1-0-0", "TargetUserName": "administrateur", "TargetDomainName": "INTERIEUR",
        "Status": "0xc000006d", "FailureReason": "%%2313", "SubStatus": "0xc000006a", "LogonType": 3,
        "LogonProcessName": "NtLmSsp ", "AuthenticationPackageName": "NTLM", "WorkstationName": "KALI",
        "TransmittedServices": "-", "LmPackageName": "-", "KeyLength": 0, "ProcessId": "0x0",
        "ProcessName": "-", "IpAddress": "196.200.131.7", "IpPort": "51515"}}})
PROCESS_CREATION = json.dumps({"Event": {
    "System": {
        "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon",
                                     "Guid": "5770385F-C22A-43E0-BF4C-06F5698FFBD9"}},
        "EventID": 1, "Version": 5, "Level": 4, "Task": 1, "Opcode": 0, "Keywords": "0x8000000000000000",
        "TimeCreated": {"#attributes": {"SystemTime": "2026-11-20T08:05:00.100200Z"}},
        "EventRecordID": 5121, "Execution": {"#attributes": {"ProcessID": 2044, "ThreadID": 3120}},
        "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "pc-042.finances.example",
        "Security": {"#attributes": {"UserID": "S-1-5-18"}}},
    "EventData": {
        "RuleName": "-", "UtcTime": "2026-11-20 08:05:00.099", "ProcessGuid": "0197231E-8BFF-6926-1308-000000000D00",
        "ProcessId": 6120, "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "OriginalFileName": "PowerShell.EXE", "CommandLine": "powershell.exe -nop -w hidden -enc SQBFAFgA",
        "CurrentDirectory": "C:\\Users\\awa\\", "User": "FINANCES\\awa", "LogonId": "0x3b5e64",
        "TerminalSessionId": 1, "IntegrityLevel": "Medium",
        "Hashes": "MD5=7353F60B1739074EB17C5F4DDDEFE239,SHA256=DE96A6E69944335375DC1AC238336066889D9FFC7D73628EF4FE1B1B160AB32C",
        "ParentProcessId": 4800, "ParentImage": "C:\\Windows\\explorer.exe",
        "ParentCommandLine": "C:\\Windows\\Explorer.EXE", "ParentUser": "FINANCES\\awa"}}})


class TestWindowsEvtxRecords(ParserCase):
    parser_name = "windows.evtx"
    samples = [
        (FAILED_LOGON, {
            "@timestamp": "2026-11-20T08:02:11.512Z",
            "winlog.channel": "Security",
            "winlog.event_id": 4625,
            "winlog.record_id": 93211,
            "winlog.computer_name": "dc01.interieur.gouv.example",
            "winlog.provider_guid": "{54849625-5478-4994-a5ba-3e3b0328c30d}",
            "winlog.event_data.LogonType": "3",
            "winlog.event_data.KeyLength": "0",
            "winlog.event_data.IpAddress": "196.200.131.7",
            "winlog.logon.type": "Network",
            "winlog.logon.failure.sub_status": "User logon with misspelled or bad password",
            "event.code": "4625",
            "event.module": "security",
            "event.dataset": "windows.security",
            "event.category": ["authentication"],
            "event.outcome": "failure",
            "event.action": "logon-failed",
            "user.name": "administrateur",
            "user.domain": "INTERIEUR",
            "source.ip": "196.200.131.7",
            "source.port": 51515,
            "source.domain": "KALI",
            "host.name": "dc01.interieur.gouv.example",
        }),
        (PROCESS_CREATION, {
            "winlog.event_data.ProcessId": "6120",
            "winlog.event_data.Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "winlog.user.identifier": "S-1-5-18",
            "event.module": "sysmon",
            "event.dataset": "windows.sysmon_operational",
            "event.category": ["process"],
            "event.type": ["start"],
            "process.executable": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "process.name": "powershell.exe",
            "process.pid": 6120,
            "process.command_line": "powershell.exe -nop -w hidden -enc SQBFAFgA",
            "process.args": ["powershell.exe", "-nop", "-w", "hidden", "-enc", "SQBFAFgA"],
            "process.parent.executable": "C:\\Windows\\explorer.exe",
            "process.parent.pid": 4800,
            "process.pe.original_file_name": "PowerShell.EXE",
            "process.hash.md5": "7353f60b1739074eb17c5f4dddefe239",
            "user.name": "awa",
            "user.domain": "FINANCES",
            "rule.name": None,
            "log.level": "information",
        }),
    ]
    malformed = [
        "not json",
        "[1, 2]",
        '{"Event": "x"}',
        '{"Event": {"EventData": {}}}',
        '{"Event": {"System": {"EventID": 4625}}}',
        '{"Event": {"System": {"EventID": "x", "TimeCreated": {"#attributes": {"SystemTime": "2026-01-01T00:00:00Z"}}}}}',
        '{"Event": {"System": {"EventID": 1, "TimeCreated": {"#attributes": {"SystemTime": "yesterday"}}}}}',
    ]


@pytest.fixture(scope="module")
def evtx_parser():  # type: ignore[no-untyped-def]
    return parsers.get("windows.evtx")()


def test_every_attack_record_parses(corpora: Path, evtx_parser) -> None:  # type: ignore[no-untyped-def]
    """Every record of the 281 attack logs is read and normalised; none is dead-lettered."""
    files = attack_files(corpora)
    assert len(files) >= 270
    read, dead, channels = 0, Counter[str](), Counter[str]()
    for path in files:
        for item in evtx_parser.read(str(path)):
            if isinstance(item, Unreadable):
                dead[item.reason] += 1
                continue
            try:
                event = finalize(evtx_parser.parse(item[1]), evtx_parser, item[1], str(path))
            except ParseError as exc:
                dead[str(exc)] += 1
                continue
            read += 1
            channels[get(event, "event.dataset")] += 1
            assert get(event, "winlog.event_id") == int(get(event, "event.code"))
            assert all(isinstance(v, str) for v in (get(event, "winlog.event_data") or {}).values())
    assert not dead, dead.most_common(5)
    assert read >= 10_000
    assert channels["windows.security"] > 7000 and channels["windows.sysmon_operational"] > 100
    assert channels["windows.powershell_operational"] > 300 and channels["windows.system"] > 800


def _records(parser, path: Path) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    return [parser.parse(raw) for _, raw in parser.read(str(path))]


def test_logons_carry_their_source(corpora: Path, evtx_parser) -> None:  # type: ignore[no-untyped-def]
    """Every logon (4624) and failed logon (4625) of the attack logs: the address stays in
    winlog.event_data.IpAddress and is source.ip; the target account is user.name."""
    seen = 0
    for path in attack_files(corpora):
        for ev in _records(evtx_parser, path):
            if get(ev, "winlog.event_id") not in (4624, 4625):
                continue
            data = ev["winlog"]["event_data"]
            failed = get(ev, "winlog.event_id") == 4625
            assert get(ev, "event.outcome") == ("failure" if failed else "success")
            assert get(ev, "event.category") == ["authentication"]
            assert get(ev, "winlog.logon.type") is not None
            if data["IpAddress"] not in ("-", ""):
                assert get(ev, "source.ip") == data["IpAddress"].removeprefix("::ffff:")
                seen += 1
            if data["TargetUserName"] not in ("-", ""):
                assert get(ev, "user.name") == data["TargetUserName"].split("@")[0]  # as Winlogbeat
    assert seen >= 150
    known = corpora / "evtx/evtx-to-mitre-attack/TA0001-Initial access/T1078-Valid accounts"
    ev = _records(evtx_parser, known / "ID4625-failed login with denied access due to account restriction.evtx")[0]
    assert get(ev, "winlog.record_id") == 90907
    assert get(ev, "@timestamp") == "2021-10-23T21:50:11.666Z"
    assert get(ev, "winlog.event_data.IpAddress") == get(ev, "source.ip") == "10.23.23.9"
    assert get(ev, "winlog.event_data.LogonType") == "10" and get(ev, "winlog.logon.type") == "RemoteInteractive"
    assert get(ev, "winlog.event_data.ProcessId") == "0x1310" and get(ev, "process.pid") == 4880
    assert get(ev, "process.name") == "winlogon.exe"
    assert get(ev, "winlog.logon.failure.status") == "Unknown user name or bad password."
    assert get(ev, "host.name") == "FS03.offsec.lan"


def test_sysmon_process_creation(corpora: Path, evtx_parser) -> None:  # type: ignore[no-untyped-def]
    path = corpora / "evtx/evtx-to-mitre-attack/TA0007-Discovery/T1087-Account discovery/ID1-SPN discovery (SYSMON process).evtx"
    (ev,) = _records(evtx_parser, path)
    assert get(ev, "winlog.channel") == "Microsoft-Windows-Sysmon/Operational"
    assert get(ev, "winlog.event_data.CommandLine") == get(ev, "process.command_line") == "setspn  -T offsec -Q */*"
    assert get(ev, "process.executable") == "C:\\Windows\\System32\\setspn.exe"
    assert get(ev, "process.parent.executable") == "C:\\Windows\\System32\\cmd.exe"
    assert get(ev, "process.parent.command_line") == '"C:\\Windows\\system32\\cmd.exe" '
    assert get(ev, "process.pid") == 3360 and get(ev, "winlog.event_data.ProcessId") == "3360"
    assert get(ev, "process.hash.sha256") == "e3b06217d90bd1a2c12852398ea0e85c12e58f0ecba35465e3dc60ac29ac0dc9"
    assert get(ev, "process.pe.imphash") == "6cbde380709080aa31fa97fc18ef504e"
    assert (get(ev, "user.domain"), get(ev, "user.name")) == ("OFFSEC", "admmig")
    assert get(ev, "rule.name") == "technique_id=T1015,technique_name=Accessibility Features"


def _as_logged(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def test_sigma_regression_events_match_their_json(corpora: Path, evtx_parser) -> None:  # type: ignore[no-untyped-def]
    """SigmaHQ ships each regression event as .evtx and as .json: the EventData we read from the
    .evtx is the JSON's, field for field, as strings. The JSON trims trailing blanks that the log
    has (61 ParentCommandLine end with a space): only that difference is allowed."""
    cases = regression_cases(corpora)
    assert len(cases) >= 130
    events = trimmed = 0
    for json_path, evtx_path in cases:
        parsed = {get(ev, "winlog.record_id"): ev for ev in _records(evtx_parser, evtx_path)}
        for doc in json_documents(json_path.read_text(encoding="utf-8-sig")):
            expected = doc["Event"]
            ev = parsed[expected["System"]["EventRecordID"]]
            events += 1
            assert get(ev, "winlog.event_id") == int(expected["System"]["EventID"]) or \
                get(ev, "winlog.event_id") == int(expected["System"]["EventID"]["#text"])
            assert get(ev, "winlog.channel") == expected["System"]["Channel"]
            ours = get(ev, "winlog.event_data") or {}
            theirs = {k: _as_logged(v) for k, v in (expected.get("EventData") or {}).items()
                      if not (k == "Binary" and v is None) and k != "#attributes"}
            assert set(ours) == set(theirs), json_path
            for name, value in theirs.items():
                if ours[name] != value:
                    assert ours[name].rstrip() == value, (json_path, name)
                    trimmed += 1
            if "UserData" in expected:
                ((xml_name, _),) = expected["UserData"].items()
                assert get(ev, "winlog.user_data.xml_name") == xml_name
    assert events >= 150
    assert trimmed < events


def test_reader_reports_what_it_cannot_read(tmp_path: Path, evtx_parser) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.evtx"
    junk.write_bytes(b"MZ\x90\x00 this is not an event log" * 10)
    empty = tmp_path / "empty.evtx"
    empty.write_bytes(b"")
    for path in (junk, empty, tmp_path / "missing.evtx"):
        (item,) = list(evtx_parser.read(str(path)))
        assert isinstance(item, Unreadable) and item.reason.startswith("not a readable EVTX file"), item


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzz_truncated_and_corrupted_files(corpora: Path, tmp_path_factory: pytest.TempPathFactory,
                                            data: st.DataObject) -> None:
    """Cut or damaged files never raise: every record comes out parsed, or as a dead letter
    (Unreadable, ParseError) with a reason; a cut inside a chunk is reported as truncation."""
    parser = parsers.get("windows.evtx")()
    source = data.draw(st.sampled_from([p for p in attack_files(corpora) if p.stat().st_size > 4096][:40]))
    raw = bytearray(source.read_bytes())
    cut = data.draw(st.integers(0, len(raw)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, max(0, cut - 1)), st.integers(0, 255)), max_size=30))
    for offset, value in flips:
        if offset < cut:
            raw[offset] = value
    path = tmp_path_factory.mktemp("fuzz") / "damaged.evtx"
    path.write_bytes(bytes(raw[:cut]))
    items = list(parser.read(str(path)))
    refused: list[ParseError] = []
    for item in items:
        if isinstance(item, Unreadable):
            assert item.reason
            continue
        try:
            parser.parse(item[1])
        except ParseError as exc:
            refused.append(exc)
    assert all(str(exc) for exc in refused), refused
    if cut > 4096 and (cut - 4096) % 65536 and not flips:
        assert any(isinstance(i, Unreadable) and "truncated" in i.reason for i in items)


def test_ingest_dead_letters_a_truncated_file_and_never_duplicates(platform: Platform, corpora: Path,
                                                                   tmp_path: Path) -> None:
    from cert.storage.models import DeadLetter

    parser = parsers.get("windows.evtx")()
    source = next(p for p in attack_files(corpora) if p.stat().st_size > 1_000_000)  # several chunks
    whole = tmp_path / source.name
    shutil.copy(source, whole)
    count = sum(1 for i in parser.read(str(whole)) if not isinstance(i, Unreadable))
    ingestor = Ingestor(platform, "windows.evtx")
    first = ingestor.ingest(parser.read(str(whole)), source=str(whole))
    assert (first.read, first.ingested, first.dead_lettered) == (count, count, 0)
    again = ingestor.ingest(parser.read(str(whole)), source=str(whole))
    assert (again.ingested, again.duplicates) == (0, count)

    cut = tmp_path / "cut.evtx"
    cut.write_bytes(whole.read_bytes()[: 4096 + 65536 + 30_000])
    summary = ingestor.ingest(parser.read(str(cut)), source=str(cut))
    assert summary.dead_lettered == 1 and 0 < summary.ingested < count
    with platform.db.session() as s:
        letters = s.scalars(select(DeadLetter).where(DeadLetter.source == str(cut))).all()
    assert [dl.parser for dl in letters] == ["windows.evtx"]
    assert letters[0].position.startswith("record ") and "truncated EVTX file" in letters[0].reason


def test_cli_ingests_an_evtx_file(corpora: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from cert.cli import main

    for key in [k for k in __import__("os").environ if k.startswith("CERT_")]:
        monkeypatch.delenv(key)
    path = corpora / "evtx/evtx-to-mitre-attack/TA0007-Discovery/T1087-Account discovery/ID1-SPN discovery (SYSMON process).evtx"
    data_dir = str(tmp_path / "data")
    assert main(["--data-dir", data_dir, "init"]) == 0
    assert main(["--data-dir", data_dir, "ingest", "--parser", "windows.evtx", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 records read, 1 events ingested" in out, out
    assert main(["--data-dir", data_dir, "ingest", "--follow", "--parser", "windows.evtx", str(path)]) == 2
    assert "cannot --follow" in capsys.readouterr().err


def _argv_reference(cmd: str) -> list[str]:
    """Go's syscall commandLineToArgv (the algorithm Winlogbeat's pipelines port), char by char."""
    args: list[str] = []
    while cmd:
        if cmd[0] in " \t":
            cmd = cmd[1:]
            continue
        buf, inquote, nslash = "", False, 0
        while cmd:
            c = cmd[0]
            if c in " \t" and not inquote:
                cmd = cmd[1:]
                break
            if c == '"':
                buf += "\\" * (nslash // 2)
                if nslash % 2 == 0:
                    if inquote and len(cmd) > 1 and cmd[1] == '"':
                        buf += c
                        cmd = cmd[1:]
                    inquote = not inquote
                else:
                    buf += c
                nslash = 0
            elif c == "\\":
                nslash += 1
            else:
                buf += "\\" * nslash + c
                nslash = 0
            cmd = cmd[1:]
        args.append(buf + "\\" * nslash)
    return args


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=' \t"\\ab', max_size=40))
def test_command_lines_split_like_windows(cmd: str) -> None:
    from ingest.parsers._windows_fields import argv

    assert argv(cmd) == _argv_reference(cmd)
    assert argv('"C:\\Program Files\\a b\\x.exe" -p "a \\"q\\" b" c:\\d\\') == \
        ["C:\\Program Files\\a b\\x.exe", "-p", 'a "q" b', "c:\\d\\"]


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def event_store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    import uuid

    from cert.storage.events.elasticsearch import ElasticsearchEventStore
    from cert.storage.events.embedded import EmbeddedEventStore

    if request.param == "embedded":
        store = EmbeddedEventStore(tmp_path / "events.sqlite3")
    else:
        store = ElasticsearchEventStore(request.getfixturevalue("es_url"), prefix=f"w{uuid.uuid4().hex[:10]}")
    yield store
    store.close()


def test_every_normalised_record_is_stored(corpora: Path, evtx_parser, event_store) -> None:  # type: ignore[no-untyped-def]
    """Up to 5 records of every (channel, event id) of the attack corpus go into both stores
    without one rejected document: no field takes two types (an address is a valid IP or absent,
    numbers are numbers, EventData strings)."""
    events, per_kind = [], Counter[tuple[str, int]]()
    for path in attack_files(corpora):
        for _, raw in evtx_parser.read(str(path)):
            event = finalize(evtx_parser.parse(raw), evtx_parser, raw, str(path))
            kind = (get(event, "winlog.channel"), get(event, "winlog.event_id"))
            per_kind[kind] += 1
            if per_kind[kind] <= 5:
                event["@timestamp"] = "2026-11-20T08:00:00.000Z"  # one monthly index: one mapping for all
                events.append(event)
    written = failed = 0
    for i in range(0, len(events), 2000):
        result = event_store.write(events[i:i + 2000])
        written += result.written
        failed += len(result.failed)
        assert not result.failed, result.failed[:1][0][1] if result.failed else None
    event_store.refresh()
    assert written == len(events) >= 400
    assert event_store.count() == len(events)


def test_a_chunk_the_evtx_library_loops_on_costs_that_chunk_not_the_ingest(platform: Platform, corpora: Path,
                                                                           tmp_path: Path) -> None:
    """One byte of a chunk header (found by atheris) sends the ``evtx`` library into an endless
    loop that holds the GIL. EVTX files come from the watched machines: the chunks are parsed in a
    child process, which is killed when it stalls, and the reading goes on at the next chunk."""
    source = (corpora / "evtx/evtx-to-mitre-attack/TA0008-Lateral Movement/T1021.002-SMB Windows Admin Shares"
              / "ID4688-Network share manipulation via commandline.evtx")
    good = source.read_bytes()
    assert len(good) == 4096 + 65536  # the header and one chunk
    bad = bytearray(good)
    bad[4096 + 256] = 63  # was 31
    path = tmp_path / "stalling.evtx"
    path.write_bytes(good + bytes(bad[4096:]) + good[4096:])  # a good chunk, the bad one, a good one
    from ingest.parsers.windows_evtx import read_evtx

    items = list(read_evtx(str(path), stall_seconds=2))
    records = [i for i in items if not isinstance(i, Unreadable)]
    letters = [i for i in items if isinstance(i, Unreadable)]
    per_chunk = sum(1 for i in read_evtx(str(source)) if not isinstance(i, Unreadable))
    assert per_chunk >= 1 and len(records) == 2 * per_chunk
    [letter] = letters
    assert "corrupt EVTX chunk 1" in letter.reason and "no progress for 2 s" in letter.reason

    summary = Ingestor(platform, "windows.evtx").ingest(read_evtx(str(path), stall_seconds=2), source=str(path))
    # the same records twice (the good chunk is repeated): stored once, the bad chunk dead-lettered
    assert (summary.ingested, summary.duplicates, summary.dead_lettered) == (per_chunk, per_chunk, 1)


def test_the_evtx_reader_process_is_kept_between_files_and_replaced_after_a_stall(corpora: Path,
                                                                                  tmp_path: Path) -> None:
    from ingest.parsers import _evtx_chunks
    from ingest.parsers.windows_evtx import read_evtx

    files = attack_files(corpora)[:3]
    for f in files:
        assert any(not isinstance(i, Unreadable) for i in list(read_evtx(str(f))))
    reader = _evtx_chunks._READER
    assert reader.proc is not None
    pid = reader.proc.pid
    assert all(not isinstance(i, Unreadable) for i in read_evtx(str(files[0])))
    assert reader.proc is not None and reader.proc.pid == pid  # one child for every file

    bad = bytearray((corpora / "evtx/evtx-to-mitre-attack/TA0008-Lateral Movement/T1021.002-SMB Windows Admin Shares"
                     / "ID4688-Network share manipulation via commandline.evtx").read_bytes())
    bad[4096 + 256] = 63  # the chunk the library loops on (previous test)
    stalling = tmp_path / "stalling.evtx"
    stalling.write_bytes(bytes(bad))
    list(read_evtx(str(stalling), stall_seconds=1))
    assert reader.proc is None  # killed
    reading = read_evtx(str(files[0]))
    next(reading)
    reading.close()  # a read left unfinished: that child is not reused
    assert reader.proc is None
    reader.stop()


def test_two_evtx_files_read_at_once_both_come_out_whole(corpora: Path, tmp_path: Path) -> None:
    """Two reads interleaved in one thread (the second gets a child of its own), from a path with
    a tab, a newline and non-ASCII in it."""
    from ingest.parsers.windows_evtx import read_evtx

    first, second = attack_files(corpora)[:2]
    odd = tmp_path / "é\tvénement\nlog.evtx"
    shutil.copy(second, odd)
    alone = [list(read_evtx(str(p))) for p in (first, second)]
    a, b = read_evtx(str(first)), read_evtx(str(odd))
    together: list[list[object]] = [[], []]
    for pair in zip_longest(a, b):  # one item of each in turn
        for side, item in enumerate(pair):
            if item is not None:
                together[side].append(item)
    assert together == alone and all(not isinstance(i, Unreadable) for i in together[0] + together[1])


def test_an_evtx_file_on_stdin_reads_as_the_file(corpora: Path, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    """`cert ingest --parser windows.evtx -`: stdin is kept in a temporary file for the reader's
    child process, and that file is gone afterwards."""
    import io
    import tempfile
    import types

    from ingest.parsers.windows_evtx import read_evtx

    source = attack_files(corpora)[0]
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr("sys.stdin", types.SimpleNamespace(buffer=io.BytesIO(source.read_bytes())))
    from_stdin = list(read_evtx("-"))
    assert from_stdin == list(read_evtx(str(source))) and len(from_stdin) >= 1
    assert list(tmp_path.iterdir()) == []
