"""windows.json: Windows event records exported as JSON (evtx_dump's json and jsonl, SigmaHQ's
regression data, JSON arrays) give the event windows.evtx gives for the same record."""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import evtx
import orjson
import pytest
from harness import ParserCase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from test_parser_windows_evtx import FAILED_LOGON, PROCESS_CREATION
from windows_corpus import attack_files, regression_cases

from cert.core.ecs import Event, get
from cert.core.parser import ParseError, Parser, Unreadable, parsers
from cert.pipeline.ingestor import Ingestor, finalize
from cert.runtime.platform import Platform
from cert.storage.models import DeadLetter
from ingest.parsers import _json_stream

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s{}\[\],:"]+')


def pretty(record: str) -> str:
    """A compact record laid out as ``evtx_dump -o json`` writes it (serde_json's pretty
    printer: two spaces, ``": "``), every token kept as written (evtx's own escapes)."""
    tokens, out, depth = _TOKENS.findall(record), [], 0
    for i, token in enumerate(tokens):
        if token in ("{", "["):
            out.append(token)
            if tokens[i + 1] not in ("}", "]"):
                depth += 1
                out.append("\n" + "  " * depth)
        elif token in ("}", "]"):
            if tokens[i - 1] not in ("{", "["):
                depth -= 1
                out.append("\n" + "  " * depth)
            out.append(token)
        elif token == ",":
            out.append(",\n" + "  " * depth)
        else:
            out.append(": " if token == ":" else token)
    return "".join(out)


def separate_attributes(node: Any) -> Any:
    """A record as evtx writes it with ``separate_json_attributes`` (Chainsaw, Hayabusa): an
    element's attributes in a sibling ``<name>_attributes`` object, its text as its value."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict) and "#attributes" in value:
            out[f"{key}_attributes"] = value["#attributes"]
            rest = {k: v for k, v in value.items() if k != "#attributes"}
            if set(rest) == {"#text"}:
                out[key] = rest["#text"]
            elif rest:
                out[key] = separate_attributes(rest)
            else:
                out[key] = None
        else:
            out[key] = separate_attributes(value)
    return out


SEPARATE = json.dumps({"Event": separate_attributes(json.loads(FAILED_LOGON)["Event"])})


class TestWindowsJsonRecords(ParserCase):
    parser_name = "windows.json"
    samples = [
        (pretty(FAILED_LOGON), {
            "@timestamp": "2026-11-20T08:02:11.512Z",
            "winlog.channel": "Security",
            "winlog.event_id": 4625,
            "winlog.record_id": 93211,
            "winlog.provider_guid": "{54849625-5478-4994-a5ba-3e3b0328c30d}",
            "winlog.process.pid": 636,
            "winlog.event_data.LogonType": "3",
            "winlog.logon.type": "Network",
            "event.code": "4625",
            "event.dataset": "windows.security",
            "event.outcome": "failure",
            "event.action": "logon-failed",
            "user.name": "administrateur",
            "source.ip": "196.200.131.7",
            "source.port": 51515,
            "host.name": "dc01.interieur.gouv.example",
        }),
        (PROCESS_CREATION, {
            "winlog.event_data.CommandLine": "powershell.exe -nop -w hidden -enc SQBFAFgA",
            "winlog.user.identifier": "S-1-5-18",
            "event.dataset": "windows.sysmon_operational",
            "process.executable": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "process.parent.executable": "C:\\Windows\\explorer.exe",
            "log.level": "information",
        }),
        (SEPARATE, {  # the same logon with separate attributes: the same fields
            "@timestamp": "2026-11-20T08:02:11.512Z",
            "winlog.provider_name": "Microsoft-Windows-Security-Auditing",
            "winlog.provider_guid": "{54849625-5478-4994-a5ba-3e3b0328c30d}",
            "winlog.process": {"pid": 636, "thread": {"id": 5988}},
            "event.action": "logon-failed",
            "source.ip": "196.200.131.7",
        }),
    ]
    malformed = [
        "not json",
        "[1, 2]",
        '{"Event": "x"}',
        '{"Event": []}',
        '{"EventID": 4625, "Channel": "Security"}',  # a flattened record: not read (see the module)
        '{"Event": {"System": {"EventID": 4625}}}',
        '{"Event": {"System": {"EventID": {"#text": [1]}, "TimeCreated": {"#attributes": {"SystemTime": "2026-01-01T00:00:00Z"}}}}}',
        '{"Event": {"System": {"EventID": 1, "TimeCreated": {"#attributes": {"SystemTime": "yesterday"}}}}}',
        '{"Event": {"System": {"EventID": 99999999999999999999999, "TimeCreated": {"#attributes": {"SystemTime": "2026-01-01T00:00:00Z"}}}}}',
        '{"Event": {"System": {"EventID": 1, "TimeCreated": {"#attributes": {"SystemTime": "2026-01-01T00:00:00Z"}}}, '
        '"EventData": {"X": ' + "[" * 300 + "]" * 300 + "}}}",
    ]


@pytest.fixture(scope="module")
def evtx_parser() -> Parser:
    return parsers.get("windows.evtx")()


@pytest.fixture(scope="module")
def json_parser() -> Parser:
    return parsers.get("windows.json")()


def _events(parser: Parser, path: Path) -> list[Event]:
    out = []
    for item in parser.read(str(path)):
        assert not isinstance(item, Unreadable), (path, item)
        out.append(finalize(parser.parse(item[1]) or {}, parser, item[1], str(path)))
    return out


def _same_record(ev: Event) -> Event:
    """The event without what depends on where it was read from (the file, so ``event.id``; the
    parser that read it, ``labels.vigie_parser``) and when (``event.ingested``)."""
    out = copy.deepcopy(ev)
    for key in ("id", "ingested"):
        out["event"].pop(key)
    out["log"].pop("file")
    out["labels"].pop("vigie_parser")
    if not out["labels"]:
        del out["labels"]
    return out


def _rstripped(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rstripped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rstripped(v) for v in value]
    return value.rstrip() if isinstance(value, str) else value


def test_sigma_regression_json_gives_the_evtx_event(corpora: Path, evtx_parser: Parser,
                                                    json_parser: Parser) -> None:
    """Every event of SigmaHQ's regression data read from its .json is the event read from its
    .evtx, field for field (event.original included). The only difference is SigmaHQ's: its JSON
    trims the trailing blanks the log has (61 ParentCommandLine, 12 CommandLine...), so those
    records' values, the ECS fields derived from them and event.original lack that blank."""
    cases = regression_cases(corpora)
    assert len(cases) >= 130
    same = trimmed = 0
    for json_path, evtx_path in cases:
        expected = {get(ev, "winlog.record_id"): _same_record(ev) for ev in _events(evtx_parser, evtx_path)}
        for ev in _events(json_parser, json_path):
            ours, theirs = _same_record(ev), expected[get(ev, "winlog.record_id")]
            if ours == theirs:
                same += 1
                continue
            trimmed += 1
            original, logged = ours["event"].pop("original"), theirs["event"].pop("original")
            assert _rstripped(orjson.loads(original)) == _rstripped(orjson.loads(logged)), json_path
            assert ours == _rstripped(theirs), json_path
    assert same >= 90 and 0 < trimmed <= 70, (same, trimmed)


def _dump(path: Path, out: Path, layout: str) -> int:
    """What evtx_dump writes for an EVTX file (it is the evtx package's Rust library): ``jsonl``
    one compact record per line, ``json`` pretty records after ``Record N`` lines; ``array``: the
    records as a pretty JSON array."""
    records = list(evtx.PyEvtxParser(str(path), 1).records_json())
    with out.open("w", encoding="utf-8") as fh:
        if layout == "jsonl":
            fh.writelines(r["data"] + "\n" for r in records)
        elif layout == "json":
            fh.writelines(f"Record {r['event_record_id']}\n{pretty(r['data'])}\n" for r in records)
        else:
            fh.write("[\n" + ",\n".join(pretty(r["data"]) for r in records) + "\n]\n")
    return len(records)


@pytest.mark.parametrize("layout", ["jsonl", "json", "array"])
def test_evtx_dump_output_gives_the_evtx_event(corpora: Path, tmp_path: Path, evtx_parser: Parser,
                                               json_parser: Parser, layout: str) -> None:
    """The attack corpus dumped as evtx_dump does, read by windows.json: every record is the
    event windows.evtx reads from the EVTX file, event.original included."""
    files = attack_files(corpora)[::3] if layout != "jsonl" else attack_files(corpora)
    total, kinds = 0, Counter[str]()
    for path in files:
        dumped = tmp_path / f"{path.stem}.{layout}"
        count = _dump(path, dumped, layout)
        expected = [_same_record(ev) for ev in _events(evtx_parser, path)]
        got = [_same_record(ev) for ev in _events(json_parser, dumped)]
        assert len(got) == len(expected) == count, path
        for ours, theirs in zip(got, expected, strict=True):
            assert ours == theirs, (path, get(theirs, "winlog.record_id"))
            kinds[get(ours, "event.dataset")] += 1
        total += count
    assert total >= (10_000 if layout == "jsonl" else 2_000), total
    assert len(kinds) >= 5, kinds


def test_separate_attributes_give_the_same_event(corpora: Path, json_parser: Parser, evtx_parser: Parser) -> None:
    """Records written with evtx's separate attributes (``Provider_attributes``) read as the
    usual form, on the regression data's EVTX files."""
    seen = 0
    for _, evtx_path in regression_cases(corpora):
        for ev in _events(evtx_parser, evtx_path):
            record = orjson.loads(ev["event"]["original"])
            separate = json.dumps({"Event": separate_attributes(record["Event"])})
            assert "Provider_attributes" in separate
            ours = finalize(json_parser.parse(separate) or {}, json_parser, separate, "x.json")
            for key in ("winlog", "event.code", "event.dataset", "@timestamp", "process", "user", "source"):
                assert get(ours, key) == get(ev, key), (evtx_path, key)
            seen += 1
    assert seen >= 150


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reader_dead_letters_what_is_no_record(tmp_path: Path, json_parser: Parser) -> None:
    good = pretty(FAILED_LOGON)
    path = _write(tmp_path, "mixed.json", "\n".join([
        "Record 1", good,                                     # 1: read
        "this line is no JSON",                               # 2: text between records
        '{"Event": {"System": {"EventID": 1,',                # 3: an object cut short...
        "Record 3", PROCESS_CREATION,                         # 4: ...and the next record still read
        "[1, " + json.dumps(json.loads(FAILED_LOGON)) + "]",  # 5: a non-object element, 6: read
        '{"Event": {"unclosed": "',                           # 7: open at the end of the file
    ]))
    items = list(json_parser.read(str(path)))
    readable = [i for i in items if isinstance(i, tuple)]
    reasons = [i.reason for i in items if isinstance(i, Unreadable)]
    assert [get(json_parser.parse(raw) or {}, "winlog.event_id") for _, raw in readable] == [4625, 1, 4625]
    junk = len(good.splitlines()) + 2  # after "Record 1" and the record
    assert reasons == [f"line {junk}: not a JSON object: 'this line is no JSON'",
                       f"the object from line {junk + 1} does not close before line {junk + 2}",
                       f"line {junk + 4}: not a JSON object: '1, '",
                       f"the object from line {junk + 5} does not close before the end of the file"]
    assert [i[0] if isinstance(i, tuple) else i.position for i in items] == [1, 2, 3, 4, 5, 6, 7]


def test_huge_records_are_dead_lettered_whole(tmp_path: Path, json_parser: Parser,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A line longer than the reader keeps, or an object longer than MAX_OBJECT_CHARS, is one
    dead letter; the records after it are read."""
    monkeypatch.setattr(_json_stream, "MAX_OBJECT_CHARS", 50_000)
    big = json.loads(FAILED_LOGON)
    big["Event"]["EventData"]["Padding"] = "A" * 60_000
    many_lines = json.dumps(big, indent=2).replace('"A', '"A\\n').replace("AAAA\"", "AAAA\",\n  \"x\": 1")
    long_line = json.dumps({"Event": {"EventData": {"Padding": "B" * (2 << 20)}}})
    path = _write(tmp_path, "huge.json", "\n".join([pretty(json.dumps(big)), PROCESS_CREATION, long_line,
                                                    FAILED_LOGON, many_lines]) + "\n")
    items = list(json_parser.read(str(path)))
    reasons = [i.reason for i in items if isinstance(i, Unreadable)]
    assert len(reasons) == 3, reasons
    assert "longer than 50000 characters" in reasons[0] and "longer than" in reasons[1]
    assert all(len(i.raw) <= 2 << 20 for i in items if isinstance(i, Unreadable))
    assert [get(json_parser.parse(i[1]) or {}, "winlog.event_id") for i in items if isinstance(i, tuple)] == [1, 4625]


def test_ingest_stores_records_and_dead_letters_the_rest(platform: Platform, tmp_path: Path) -> None:
    path = _write(tmp_path, "export.json", "\n".join([
        pretty(FAILED_LOGON), "garbage", '{"Event": {"System": {}}}', PROCESS_CREATION, "[{]",
        '{"Event": {"System": {"EventID": 4625, "TimeCreated": {"#attributes": {"SystemTime": 1e999}}}}}']))
    ingestor = Ingestor(platform, "windows.json")
    summary = ingestor.ingest_file(str(path))
    assert (summary.ingested, summary.dead_lettered) == (2, 4), summary
    again = ingestor.ingest_file(str(path))
    assert (again.ingested, again.duplicates) == (0, 2)
    with platform.db.session() as s:
        letters = s.scalars(select(DeadLetter).where(DeadLetter.parser == "windows.json")).all()
    by_position = {dl.position: dl.reason for dl in letters}
    assert by_position["record 2"] == f"line {len(pretty(FAILED_LOGON).splitlines()) + 1}: not a JSON object: 'garbage'"
    assert by_position["record 3"] == "no readable EventID (None)"
    assert by_position["record 6"].startswith("not JSON")


def test_cli_ingests_an_evtx_dump_file(corpora: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from cert.cli import main

    for key in [k for k in __import__("os").environ if k.startswith("CERT_")]:
        monkeypatch.delenv(key)
    source = corpora / "evtx/evtx-to-mitre-attack/TA0007-Discovery/T1087-Account discovery/ID1-SPN discovery (SYSMON process).evtx"
    dumped = tmp_path / "spn.json"
    _dump(source, dumped, "json")
    data_dir = str(tmp_path / "data")
    assert main(["--data-dir", data_dir, "init"]) == 0
    assert main(["--data-dir", data_dir, "ingest", "--parser", "windows.json", str(dumped)]) == 0
    assert "1 records read, 1 events ingested" in capsys.readouterr().out


def _mutated_dump(data: st.DataObject, seed: bytes) -> bytes:
    raw = bytearray(seed)
    for _ in range(data.draw(st.integers(0, 8))):
        at = data.draw(st.integers(0, len(raw)))
        op = data.draw(st.sampled_from(["cut", "insert", "flip"]))
        if op == "cut":
            del raw[at:at + data.draw(st.integers(1, 400))]
        elif op == "insert":
            raw[at:at] = data.draw(st.sampled_from([b"{", b"}", b"[", b"]", b'"', b"\\", b"\n", b",", b"Record 7\n",
                                                    b"\xff\xfe", b"\x00", b"1e999", b"-0", b"99999999999999999999"]))
        elif at < len(raw):
            raw[at] = data.draw(st.integers(0, 255))
    return bytes(raw)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzz_damaged_dumps(corpora: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    """A damaged evtx_dump export never raises: every object comes out as (ordinal, text) or as
    an Unreadable with a reason, and parsing it gives an event or a ParseError."""
    parser = parsers.get("windows.json")()
    cases = regression_cases(corpora)
    json_path, _ = data.draw(st.sampled_from(cases[:40]))
    layout = data.draw(st.sampled_from(["as shipped", "jsonl", "array"]))
    text = json_path.read_text(encoding="utf-8")
    if layout != "as shipped":
        tmp = tmp_path_factory.mktemp("src") / "src.json"
        tmp.write_text(text)
        records = [raw for _, raw in parser.read(str(tmp))]
        text = "\n".join(records) if layout == "jsonl" else "[" + ",\n".join(map(pretty, records)) + "]"
    path = tmp_path_factory.mktemp("fuzz") / "damaged.json"
    path.write_bytes(_mutated_dump(data, text.encode()))
    positions = []
    for item in parser.read(str(path)):
        if isinstance(item, Unreadable):
            assert item.reason and isinstance(item.position, int)
            positions.append(item.position)
            continue
        position, raw = item
        positions.append(position)
        with contextlib.suppress(ParseError):
            event = parser.parse(raw)
            if event is not None:
                orjson.dumps(finalize(event, parser, raw, str(path)))
    assert positions == list(range(1, len(positions) + 1))


def test_an_open_string_costs_one_pass(tmp_path: Path, json_parser: Parser) -> None:
    """Quotes that never close (600 KB of escaped quotes on a line) are read in one pass: one dead
    letter, then the next record (a pattern that retried each quote took hours on such a line)."""
    path = _write(tmp_path, "quotes.json", "{" + '"\\' * 300_000 + "\n" + FAILED_LOGON + "\n")
    items = list(json_parser.read(str(path)))
    assert [type(i).__name__ for i in items] == ["Unreadable", "tuple"]
    assert isinstance(items[0], Unreadable) and "does not close before line 2" in items[0].reason
