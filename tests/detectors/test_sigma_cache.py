"""The compiled Sigma rules kept on disk: a second load does not parse the rules again, a changed
rule file is the only one compiled again, a damaged or tampered cache is ignored and rebuilt
(never executed), and the detections are the same with and without it."""

from __future__ import annotations

import enum
import pickle
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import pytest

import detectors.sigma.detector as detector_module
import detectors.sigma.load as load_module
from cert.core.config import Settings
from cert.core.parser import parsers
from cert.core.registry import load_plugins
from detectors.sigma.cache import CACHE_FILE, Codec, Invalid, RuleCache, encode
from detectors.sigma.detector import SigmaDetector
from detectors.sigma.fast import Entry, FastEngine
from detectors.sigma.load import RuleSet, load
from tests.detectors.sigma_testkit import rule_yaml
from tests.ingest.windows_corpus import attack_files
from tests.support import corpora, settings  # noqa: F401 - fixtures

RULES = {
    "whoami.yml": rule_yaml("  sel:\n    CommandLine|contains: whoami\n  condition: sel\n", title="whoami",
                            rule_id="11111111-1111-4111-8111-111111111111"),
    "mimikatz.yml": rule_yaml("  sel:\n    CommandLine|contains|all:\n      - sekurlsa\n      - logonpasswords\n"
                              "  condition: sel\n", title="mimikatz", rule_id="22222222-2222-4222-8222-222222222222"),
    "regex.yml": rule_yaml("  sel:\n    CommandLine|re: 'ba(se)?64'\n  filter:\n    User: SYSTEM\n"
                           "  condition: sel and not filter\n", title="base64",
                           rule_id="33333333-3333-4333-8333-333333333333"),
}
EVENTS = [
    {"event": {"dataset": "vigie.test"}, "CommandLine": "cmd /c whoami /all", "User": "alice"},
    {"event": {"dataset": "vigie.test"}, "CommandLine": "mimikatz sekurlsa::logonpasswords", "User": "bob"},
    {"event": {"dataset": "vigie.test"}, "CommandLine": "certutil -decode base64.txt", "User": "SYSTEM"},
    {"event": {"dataset": "vigie.test"}, "CommandLine": "certutil -decode b64.txt", "User": "carol"},
    {"event": {"dataset": "vigie.test"}, "CommandLine": "powershell -enc ba64", "User": "carol"},
]


def rules_dir(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    for name, text in RULES.items():
        (d / name).write_text(text, encoding="utf-8")
    return d


def shape(rs: RuleSet) -> list[tuple[Any, ...]]:
    """What the engine and the console get from a load: descriptions and conditions."""
    return [(vars(r.info), [(v.name, v.condition, v.field_of) for v in r.variants]) for r in rs.rules]


def matches(rs: RuleSet, events: list[dict[str, Any]]) -> list[list[str]]:
    engine = FastEngine([Entry(r.info.id, v.condition) for r in rs.rules for v in r.variants])
    return [sorted(engine.matches(e)) for e in events]


def no_pysigma(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the rules were parsed again")

    monkeypatch.setattr(load_module.SigmaCollection, "from_dicts", refuse)


def test_second_load_comes_from_the_cache_without_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d, cache_dir = rules_dir(tmp_path), tmp_path / "cache"
    first = load([d], cache=RuleCache(cache_dir))
    assert first.compiled_files == 3 and (cache_dir / CACHE_FILE).is_file()
    assert matches(first, EVENTS) == [["11111111-1111-4111-8111-111111111111"],
                                      ["22222222-2222-4222-8222-222222222222"], [], [],
                                      ["33333333-3333-4333-8333-333333333333"]]
    no_pysigma(monkeypatch)
    second = load([d], cache=RuleCache(cache_dir), keep_sigma=False)
    assert second.compiled_files == 0
    assert shape(second) == shape(first)
    assert matches(second, EVENTS) == matches(first, EVENTS)


def test_changed_rule_file_is_the_only_one_compiled_again(tmp_path: Path) -> None:
    d, cache_dir = rules_dir(tmp_path), tmp_path / "cache"
    load([d], cache=RuleCache(cache_dir))
    (d / "whoami.yml").write_text(RULES["whoami.yml"].replace("whoami", "net1 user"), encoding="utf-8")
    again = load([d], cache=RuleCache(cache_dir))
    assert again.compiled_files == 1
    assert matches(again, [EVENTS[0], {**EVENTS[0], "CommandLine": "net1 user admin /add"}]) == [
        [], ["11111111-1111-4111-8111-111111111111"]]
    assert load([d], cache=RuleCache(cache_dir)).compiled_files == 0  # the cache holds the new version


def test_pysigma_objects_are_derived_again_when_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d, cache_dir = rules_dir(tmp_path), tmp_path / "cache"
    kept = load([d], cache=RuleCache(cache_dir))
    warm = load([d], cache=RuleCache(cache_dir), keep_sigma=False)
    for a, b in zip(kept.rules, warm.rules, strict=True):
        assert b.variants[0].rule.title == a.variants[0].rule.title
        assert len(b.variants[0].trees) == len(a.variants[0].trees)


def test_changed_placeholders_recompile_everything(tmp_path: Path) -> None:
    d, cache_dir = rules_dir(tmp_path), tmp_path / "cache"
    load([d], cache=RuleCache(cache_dir))
    assert load([d], cache=RuleCache(cache_dir), placeholders={"admins": ["root"]}).compiled_files == 3


FILTER = """title: not alice
id: 44444444-4444-4444-8444-444444444444
logsource:
  product: vigie
  service: test
filter:
  rules:
    - 11111111-1111-4111-8111-111111111111
  selection:
    User: alice
  condition: not selection
"""


def test_sigma_filter_change_recompiles_the_rules_it_may_touch(tmp_path: Path) -> None:
    d, cache_dir = rules_dir(tmp_path), tmp_path / "cache"
    (d / "filter.yml").write_text(FILTER, encoding="utf-8")
    first = load([d], cache=RuleCache(cache_dir))
    assert matches(first, EVENTS[:1]) == [[]]  # alice is filtered out
    assert load([d], cache=RuleCache(cache_dir)).compiled_files == 1  # the filter file itself, always read
    (d / "filter.yml").write_text(FILTER.replace("User: alice", "User: nobody"), encoding="utf-8")
    changed = load([d], cache=RuleCache(cache_dir))
    assert changed.compiled_files == 4
    assert matches(changed, EVENTS[:1]) == [["11111111-1111-4111-8111-111111111111"]]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong-format", "pickle"])
def test_damaged_cache_file_is_ignored_and_rebuilt(tmp_path: Path, damage: str) -> None:
    d, cache_dir = rules_dir(tmp_path), tmp_path / "cache"
    fresh = load([d], cache=RuleCache(cache_dir))
    path = cache_dir / CACHE_FILE
    marker = tmp_path / "executed"
    body = path.read_bytes()
    path.write_bytes({
        "garbage": b"\x00\xff not json",
        "truncated": body[: len(body) // 2],
        "wrong-format": orjson.dumps({"format": 99, "files": []}),
        "pickle": pickle.dumps(_Touch(marker)),
    }[damage])
    rebuilt = load([d], cache=RuleCache(cache_dir))
    assert not marker.exists()
    assert rebuilt.compiled_files == 3
    assert shape(rebuilt) == shape(fresh)
    assert load([d], cache=RuleCache(cache_dir)).compiled_files == 0  # written again, valid


class _Touch:
    """Unpickling it would create a file: proof that the cache is never unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


@pytest.mark.parametrize(("old", "new"), [
    ('"Str"', '"Popen"'),                      # a class that is not part of the rule IR
    ('"contains"', '"__import__"'),            # a string test the engine does not know
    ('"ba(se)?64"', '"ba(se?64"'),             # a regular expression that does not compile
    ('"whoami"', "12"),                        # a number where the IR holds a string
    ('"Match":[', '"Match":[1,'),               # a field too many
])
def test_tampered_entry_is_compiled_again(tmp_path: Path, old: str, new: str) -> None:
    d, cache_dir = rules_dir(tmp_path), tmp_path / "cache"
    fresh = load([d], cache=RuleCache(cache_dir))
    path = cache_dir / CACHE_FILE
    data = orjson.loads(path.read_bytes())
    digests = [k for k, v in data["files"].items() if old in v]  # each entry is JSON text
    assert digests
    data["files"][digests[0]] = data["files"][digests[0]].replace(old, new, 1)
    path.write_bytes(orjson.dumps(data))
    again = load([d], cache=RuleCache(cache_dir))
    assert again.compiled_files == 1
    assert shape(again) == shape(fresh)


def test_unwritable_cache_directory_only_costs_a_compilation(tmp_path: Path) -> None:
    d = rules_dir(tmp_path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory would be", encoding="utf-8")
    rs = load([d], cache=RuleCache(blocker / "cache"))
    assert len(rs.rules) == 3 and rs.compiled_files == 3


def test_same_detections_with_and_without_cache_on_corpus_events(corpora: Path, tmp_path: Path,  # noqa: F811
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """SigmaHQ's rules for the Windows built-in channels, over every event of the EVTX attack corpus."""
    rules = corpora / "sigma" / "rules" / "windows" / "builtin"
    files = attack_files(corpora)
    if not rules.is_dir() or not files:
        pytest.skip("SigmaHQ rules or the EVTX corpus missing")
    local = tmp_path / "rules"
    shutil.copytree(rules, local)  # a private copy: its content is what the cache keys on
    load_plugins(["ingest.parsers"])
    parser = parsers.get("windows.evtx")()
    events = [ev for f in files for item in parser.read(str(f))
              if isinstance(item, tuple) and (ev := parser.parse(item[1])) is not None]
    plain = load([local])
    load([local], cache=RuleCache(tmp_path / "cache"))
    no_pysigma(monkeypatch)
    cached = load([local], cache=RuleCache(tmp_path / "cache"), keep_sigma=False)
    assert cached.compiled_files == 0 and len(cached.rules) == len(plain.rules) > 200
    found = matches(cached, events)
    assert found == matches(plain, events)
    assert sum(1 for ids in found if ids) > 100  # the corpus does fire these rules


class Token(enum.Enum):
    MANY = "*"
    ONE = "?"


@dataclass(frozen=True)
class Pattern:
    parts: tuple[str | Token, ...]
    cased: bool = False


def test_codec_keeps_enum_tokens_apart_from_the_same_text() -> None:
    """Wildcards as tokens beside literal text (a literal ``*`` is a plain one-character string)."""
    codec = Codec([Pattern, Token])
    value = Pattern(("a", Token.MANY, "*", Token.ONE, "?"), True)
    back = codec.decode(orjson.loads(orjson.dumps(encode(value))), Pattern)
    assert back == value
    assert [type(p) for p in back.parts] == [str, Token, str, Token, str]
    with pytest.raises(Invalid):
        codec.decode({"Pattern": [[{"Token": "EVAL"}], False]}, Pattern)
    with pytest.raises(Invalid):
        codec.decode({"Pattern": [[{"Token": "MANY"}], "no"]}, Pattern)


def test_detector_of_a_new_process_reads_the_compiled_rules_of_the_last(settings: Settings, tmp_path: Path,  # noqa: F811
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``cert detect`` does: the first run writes the cache of the configured directory, the
    next one (a fresh process: no rule set in memory) loads from it and detects the same."""
    (tmp_path / "own" / "sigma").mkdir(parents=True)  # no rule of Vigie's own: their correlations are always read
    conf = replace(settings, rules_dir=tmp_path / "own", sigma_paths=(str(rules_dir(tmp_path)),),
                   sigma_cache_dir=tmp_path / "compiled")
    monkeypatch.setattr(detector_module, "_CACHE", {})
    monkeypatch.setattr(detector_module, "_COMPILED", {})
    first = SigmaDetector(conf)
    assert (tmp_path / "compiled" / CACHE_FILE).is_file()
    expected = [sorted(first.matches(e)) for e in EVENTS]
    monkeypatch.setattr(detector_module, "_CACHE", {})  # as in a new process
    monkeypatch.setattr(detector_module, "_COMPILED", {})
    no_pysigma(monkeypatch)
    second = SigmaDetector(conf)
    assert second.ruleset.compiled_files == 0 and len(second.rules) == len(first.rules)
    assert [sorted(second.matches(e)) for e in EVENTS] == expected
    assert ["11111111-1111-4111-8111-111111111111"] in expected


def test_correlations_and_the_rules_they_hide_survive_the_cache(tmp_path: Path) -> None:
    """Vigie's own rules hold correlations: their files and the files of the rules they refer to
    are read again, so references resolve and a base rule hidden by a correlation stays hidden."""
    own = Path(__file__).resolve().parents[2] / "rules" / "sigma"
    first = load([own], cache=RuleCache(tmp_path / "cache"))
    second = load([own], cache=RuleCache(tmp_path / "cache"), keep_sigma=False)
    assert first.correlations and not first.rejected
    assert 0 < second.compiled_files < first.compiled_files
    assert [c.info.id for c in second.correlations] == [c.info.id for c in first.correlations]
    assert shape(second) == shape(first)
    assert any(not r.info.output for r in second.rules)  # generate: false


ESCAPED_RULE = """
title: A literal question mark
id: 11111111-2222-3333-4444-555555555555
status: test
logsource: {product: windows, category: process_creation}
detection:
  sel: {Description: '\\?', CommandLine|contains: 'a*b'}
  condition: sel
level: high
"""


def test_escaped_and_real_wildcards_come_back_from_the_cache(tmp_path: Path) -> None:
    """A rule with a literal ``?`` and a real ``*`` matches the same events compiled and from the cache."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "escaped.yml").write_text(ESCAPED_RULE, encoding="utf-8")
    configured = replace(Settings(), data_dir=tmp_path, sigma_paths=(str(rules),), sigma_cache_dir=tmp_path / "cache")

    def event(description: str, command: str) -> dict[str, Any]:
        return {"@timestamp": "2026-01-01T00:00:00Z",
                "event": {"id": description + command, "category": ["process"], "type": ["start"], "code": "1"},
                "host": {"os": {"type": "windows"}}, "process": {"command_line": command},
                "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": 1,
                           "event_data": {"Description": description, "CommandLine": command}}}

    events = [event("?", "xaZZb"), event("x", "xaZZb"), event("?", "a?b"), event("?", "ba")]
    found = []
    for _ in range(2):
        hits = SigmaDetector(configured).detect(events)
        found.append(sorted(i for h in hits if h.rule_id.startswith("11111111") for i in h.event_ids))
    assert (tmp_path / "cache" / CACHE_FILE).is_file()
    assert found == [["?a?b", "?xaZZb"]] * 2
