"""Every Sigma 2 value modifier, condition form and keyword search, on both evaluators (the fast
engine and the naive oracle must agree on every event; ``Both.ids`` asserts it)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from sigma_testkit import event, load_text, one, rule_yaml


def test_plain_values_are_case_insensitive_with_wildcards(tmp_path: Path) -> None:
    # in Sigma a backslash escapes a wildcard: '\\*' is a backslash then the wildcard
    b = one(tmp_path, "  sel:\n    CommandLine: 'C:\\Windows\\\\*\\cmd.exe /c ?ho'\n  condition: sel\n")
    assert b.hit(event(CommandLine="c:\\WINDOWS\\system32\\CMD.EXE /c who"))
    assert not b.hit(event(CommandLine="c:\\windows\\system32\\cmd.exe /c whoami"))  # ? is one character
    assert not b.hit(event(CommandLine="d:\\windows\\x\\cmd.exe /c who"))


def test_escaped_wildcards_are_literal(tmp_path: Path) -> None:
    b = one(tmp_path, "  sel:\n    Msg: 'done\\*'\n  condition: sel\n")
    assert b.hit(event(Msg="DONE*")) and not b.hit(event(Msg="done!"))


def test_contains_startswith_endswith(tmp_path: Path) -> None:
    b = one(tmp_path, "  a:\n    Image|endswith: '\\rundll32.exe'\n    CommandLine|contains: 'javascript:'\n"
                      "    ParentImage|startswith: 'C:\\Users\\'\n  condition: a\n")
    good = event(Image="C:\\Windows\\System32\\RUNDLL32.EXE", CommandLine='x "JavaScript:alert"',
                 ParentImage="c:\\users\\bob\\evil.exe")
    assert b.hit(good)
    assert not b.hit({**good, "Image": "C:\\rundll32.exe.bak"})
    assert not b.hit({**good, "ParentImage": "D:\\Users\\x"})


def test_lists_are_or_and_all_makes_them_and(tmp_path: Path) -> None:
    b = one(tmp_path, "  a:\n    CommandLine|contains|all: ['-nop', '-w hidden']\n  condition: a\n")
    assert b.hit(event(CommandLine="powershell -NoP -w hidden -enc"[0:0] + "powershell -nop -W HIDDEN"))
    assert not b.hit(event(CommandLine="powershell -nop"))
    b = one(tmp_path, "  a:\n    CommandLine|contains: ['-nop', '-w hidden']\n  condition: a\n")
    assert b.hit(event(CommandLine="powershell -nop"))


def test_keyword_lists_and_all(tmp_path: Path) -> None:
    b = one(tmp_path, "  keywords:\n    - 'event::clear'\n    - 'sekurlsa::*pass'\n  condition: keywords\n")
    assert b.hit(event(message="mimikatz # EVENT::Clear"))
    assert b.hit(event(nested__deep__text="sekurlsa::logonpasswords"))  # any string of the event
    assert not b.hit(event(message="clear event log"))
    b = one(tmp_path, "  keywords:\n    '|all':\n      - 'OabVirtualDirectory'\n      - ' -ExternalUrl '\n"
                      "  condition: keywords\n")
    assert b.hit(event(message="Set-OabVirtualDirectory -ExternalUrl http://x"))
    assert not b.hit(event(message="Set-OabVirtualDirectory"))


@pytest.mark.parametrize(("flags", "value", "hit"), [
    ("", "Invoke-Expression", True), ("", "invoke-expression", False), ("|i", "invoke-expression", True),
    ("", "line1\nInvoke-Expression", True),
])
def test_re_and_its_flags(tmp_path: Path, flags: str, value: str, hit: bool) -> None:
    b = one(tmp_path, f"  a:\n    ScriptBlockText|re{flags}: 'I[a-z]+-Expr'\n  condition: a\n")
    assert b.hit(event(ScriptBlockText=value)) is hit


def test_re_multiline_and_dotall(tmp_path: Path) -> None:
    m = one(tmp_path, "  a:\n    Text|re|m: '^second$'\n  condition: a\n")
    assert m.hit(event(Text="first\nsecond\nthird"))
    assert not one(tmp_path, "  a:\n    Text|re: '^second$'\n  condition: a\n").hit(event(Text="first\nsecond\nthird"))
    s = one(tmp_path, "  a:\n    Text|re|s: 'first.second'\n  condition: a\n")
    assert s.hit(event(Text="first\nsecond"))
    assert not one(tmp_path, "  a:\n    Text|re: 'first.second'\n  condition: a\n").hit(event(Text="first\nsecond"))


def test_cidr_v4_and_v6(tmp_path: Path) -> None:
    b = one(tmp_path, "  a:\n    DestinationIp|cidr: ['10.0.0.0/8', 'fd00::/8']\n  condition: a\n")
    assert b.hit(event(DestinationIp="10.1.2.3")) and b.hit(event(DestinationIp="fd12::1"))
    assert not b.hit(event(DestinationIp="11.0.0.1")) and not b.hit(event(DestinationIp="not an ip"))


def test_base64_and_base64offset(tmp_path: Path) -> None:
    b = one(tmp_path, "  a:\n    CommandLine|base64: 'http://'\n  condition: a\n")
    assert b.hit(event(CommandLine=base64.b64encode(b"http://").decode()))
    b = one(tmp_path, "  a:\n    CommandLine|base64offset|contains: 'IEX (New-Object'\n  condition: a\n")
    for prefix in (b"", b"x", b"xy"):  # the three alignments
        encoded = base64.b64encode(prefix + b"IEX (New-Object Net.WebClient)").decode()
        assert b.hit(event(CommandLine=f"powershell -enc {encoded}")), prefix
    assert not b.hit(event(CommandLine=base64.b64encode(b"Get-Process").decode()))


@pytest.mark.parametrize(("modifier", "encoding"), [("wide", "utf-16le"), ("utf16le", "utf-16le"),
                                                   ("utf16be", "utf-16be")])
def test_utf16_encodings_with_base64(tmp_path: Path, modifier: str, encoding: str) -> None:
    b = one(tmp_path, f"  a:\n    CommandLine|{modifier}|base64offset|contains: 'ping'\n  condition: a\n")
    for prefix in ("", "x", "xy"):
        raw = f"{prefix}ping 10.0.0.1".encode(encoding)  # e.g. powershell -EncodedCommand (UTF-16LE)
        assert b.hit(event(CommandLine=base64.b64encode(raw).decode())), prefix
    assert not b.hit(event(CommandLine=base64.b64encode(b"ping 10.0.0.1").decode()))


def test_utf16_prepends_a_byte_order_mark(tmp_path: Path) -> None:
    # pySigma builds encoded values as text: the BOM is the character U+FEFF before the UTF-16LE
    # code units (so combined with base64 it is UTF-8 encoded, a pySigma limitation)
    b = one(tmp_path, "  a:\n    Blob|utf16|startswith: 'MZ'\n  condition: a\n")
    assert b.hit(event(Blob="\ufeffM\x00Z\x00\x90\x00"))
    assert not b.hit(event(Blob="M\x00Z\x00"))


def test_windash_expands_dash_and_slash(tmp_path: Path) -> None:
    b = one(tmp_path, "  a:\n    CommandLine|windash|contains: ' -encodedcommand '\n  condition: a\n")
    for dash in ("-", "/", "\u2013", "\u2014", "\u2015"):
        assert b.hit(event(CommandLine=f"powershell {dash}EncodedCommand abc")), dash
    assert not b.hit(event(CommandLine="powershell +encodedcommand abc"))


def test_exists(tmp_path: Path) -> None:
    b = one(tmp_path, "  a:\n    Hashes|exists: true\n  condition: a\n")
    assert b.hit(event(Hashes="")) and not b.hit(event(Other="x"))
    b = one(tmp_path, "  a:\n    Hashes|exists: false\n  condition: a\n")
    assert b.hit(event(Other="x")) and not b.hit(event(Hashes="SHA1=00"))


def test_null_and_empty(tmp_path: Path) -> None:
    b = one(tmp_path, "  a:\n    PasswordLastSet: null\n  condition: a\n")
    assert b.hit(event(Other=1)) and b.hit(event(PasswordLastSet=""))
    assert not b.hit(event(PasswordLastSet="2026-01-01"))
    b = one(tmp_path, "  a:\n    Description: ''\n  condition: a\n")
    assert b.hit(event(Description="")) and not b.hit(event(Description="x")) and not b.hit(event(Other=1))


def test_cased(tmp_path: Path) -> None:
    b = one(tmp_path, "  a:\n    CommandLine|cased|contains: 'NET.WebClient'\n  condition: a\n")
    assert b.hit(event(CommandLine="(New-Object NET.WebClient)"))
    assert not b.hit(event(CommandLine="(new-object net.webclient)"))


def test_neq_on_strings_and_numbers(tmp_path: Path) -> None:
    b = one(tmp_path, "  a:\n    User|neq: 'SYSTEM'\n    LogonType|neq: 3\n  condition: a\n")
    assert b.hit(event(User="alice", LogonType="10"))
    assert not b.hit(event(User="system", LogonType="10")) and not b.hit(event(User="alice", LogonType=3))


@pytest.mark.parametrize(("mod", "hits"), [("lt", [1]), ("lte", [1, 5]), ("gt", [9]), ("gte", [5, 9])])
def test_numeric_comparisons(tmp_path: Path, mod: str, hits: list[int]) -> None:
    b = one(tmp_path, f"  a:\n    Count|{mod}: 5\n  condition: a\n")
    got = [n for n in (1, 5, 9) if b.hit(event(Count=str(n)))]  # strings that parse as numbers count
    assert got == hits
    assert not b.hit(event(Count="many"))


def test_numbers_match_numeric_strings(tmp_path: Path) -> None:
    b = one(tmp_path, "  a:\n    EventID: 4625\n    LogonType: '10'\n  condition: a\n")
    assert b.hit(event(EventID="4625", LogonType=10))
    assert not b.hit(event(EventID=4624, LogonType=10))


def test_fieldref_with_contains_startswith_endswith(tmp_path: Path) -> None:
    b = one(tmp_path, "  a:\n    TargetUserName|fieldref: SubjectUserName\n  condition: a\n")
    assert b.hit(event(TargetUserName="Bob", SubjectUserName="bob"))
    assert not b.hit(event(TargetUserName="bob", SubjectUserName="alice"))
    assert not b.hit(event(TargetUserName="bob"))
    b = one(tmp_path, "  a:\n    CommandLine|fieldref|contains: Image\n  condition: a\n")
    assert b.hit(event(CommandLine='"C:\\x\\a.exe" -y', Image="c:\\x\\A.exe"))
    b = one(tmp_path, "  a:\n    CommandLine|fieldref|startswith: Image\n  condition: a\n")
    assert b.hit(event(CommandLine="c:\\a.exe -y", Image="c:\\a.exe"))
    assert not b.hit(event(CommandLine="x c:\\a.exe", Image="c:\\a.exe"))
    b = one(tmp_path, "  a:\n    CommandLine|fieldref|endswith: Image\n  condition: a\n")
    assert b.hit(event(CommandLine="run c:\\a.exe", Image="c:\\a.exe"))


def test_fieldref_with_neq(tmp_path: Path) -> None:
    b = one(tmp_path, "  a:\n    ParentUser|fieldref|neq: User\n  condition: a\n")
    assert b.hit(event(ParentUser="alice", User="bob")) and not b.hit(event(ParentUser="bob", User="BOB"))


def test_expand_uses_configured_placeholders(tmp_path: Path) -> None:
    det = "  a:\n    ComputerName|expand: '%DomainControllers%'\n  condition: a\n"
    b = one(tmp_path, det, placeholders={"DomainControllers": ["dc01", "dc-*"]})
    assert b.hit(event(ComputerName="DC01")) and b.hit(event(ComputerName="dc-yaounde"))
    assert not b.hit(event(ComputerName="ws01"))
    rs = load_text(tmp_path, rule_yaml(det))  # no value configured: the rule is refused, with the reason
    assert not rs.rules and "DomainControllers" in rs.rejected[0].reason


@pytest.mark.parametrize(("modifier", "value", "hit", "miss"), [
    ("hour", 3, "2026-11-20T03:15:00Z", "2026-11-20T04:15:00Z"),
    ("minute", 15, "2026-11-20T03:15:00Z", "2026-11-20T03:16:00Z"),
    ("day", 20, "2026-11-20T03:15:00Z", "2026-11-21T03:15:00Z"),
    ("week", 47, "2026-11-20T03:15:00Z", "2026-11-30T03:15:00Z"),
    ("month", 11, "2026-11-20T03:15:00Z", "2026-12-20T03:15:00Z"),
    ("year", 2026, "2026-11-20T03:15:00Z", "2025-11-20T03:15:00Z"),
])
def test_time_part_modifiers(tmp_path: Path, modifier: str, value: int, hit: str, miss: str) -> None:
    b = one(tmp_path, f"  a:\n    LoginTime|{modifier}: {value}\n  condition: a\n")
    assert b.hit(event(LoginTime=hit)) and not b.hit(event(LoginTime=miss))


def test_conditions_one_of_all_of_them_and_precedence(tmp_path: Path) -> None:
    det = ("  selection_img:\n    Image|endswith: '\\net.exe'\n  selection_cli:\n    CommandLine|contains: ' user '\n"
           "  filter_main:\n    User: 'admin'\n  _hidden:\n    Image: 'x'\n")
    ev_both = event(Image="c:\\net.exe", CommandLine="net user bob", User="eve")
    ev_img = event(Image="c:\\net.exe", CommandLine="net view", User="eve")
    cases = {
        "all of selection_* and not 1 of filter_*": (True, False),
        "1 of selection_*": (True, True),
        "1 of them": (True, True),
        "all of them": (False, False),  # filter_main does not match; _hidden is not in "them"
        "selection_img and not selection_cli or filter_main": (False, True),
        "not (selection_img and selection_cli)": (False, True),
    }
    for cond, want in cases.items():
        b = one(tmp_path, det + f"  condition: {cond}\n")
        assert (b.hit(ev_both), b.hit(ev_img)) == want, cond


def test_several_conditions_are_or_linked(tmp_path: Path) -> None:
    b = one(tmp_path, "  a:\n    X: 1\n  b:\n    Y: 2\n  condition:\n    - a\n    - b\n")
    assert b.hit(event(X=1)) and b.hit(event(Y=2)) and not b.hit(event(Z=3))


def test_lists_in_events_match_any_element(tmp_path: Path) -> None:
    b = one(tmp_path, "  a:\n    Tags|endswith: 'admin'\n  condition: a\n")
    assert b.hit(event(Tags=["users", "domain admin"])) and not b.hit(event(Tags=["users"]))


def test_sigma_filter_excludes_from_the_rules_it_names(tmp_path: Path) -> None:
    rule = rule_yaml("  a:\n    Image|endswith: '\\psexec.exe'\n  condition: a\n", rule_id="11111111-1111-4111-8111-111111111111")
    other = rule_yaml("  a:\n    Image|endswith: '\\psexec.exe'\n  condition: a\n", rule_id="22222222-2222-4222-8222-222222222222")
    flt = """title: Our admins run PsExec from the jump host
id: 33333333-3333-4333-8333-333333333333
logsource:
  product: vigie
  service: test
filter:
  rules:
    - 11111111-1111-4111-8111-111111111111
  selection:
    ComputerName: 'jump01'
  condition: not selection
"""
    from sigma_testkit import Both

    b = Both(load_text(tmp_path, rule, other, flt))
    ev = event(Image="c:\\tools\\PsExec.exe", ComputerName="JUMP01")
    assert b.ids(ev) == ["22222222-2222-4222-8222-222222222222"]  # the filter applies to the named rule only
    assert len(b.ids({**ev, "ComputerName": "ws17"})) == 2


def test_rules_that_cannot_run_are_reported_with_reasons(tmp_path: Path) -> None:
    bad_regex = rule_yaml("  a:\n    X|re: '(?<name'\n  condition: a\n")
    no_source = """title: AWS thing on an unknown product
id: 44444444-4444-4444-8444-444444444444
logsource:
  category: database
detection:
  a:
    x: 1
  condition: a
"""
    rs = load_text(tmp_path, bad_regex, no_source, "title: [unclosed\n")
    reasons = " | ".join(r.reason for r in rs.rejected)
    assert len(rs.rejected) == 3 and not rs.rules
    assert "regular expression" in reasons.lower() and "database" in reasons and "unreadable file" in reasons


def test_flat_dotted_keys_are_read_like_nested_ones(tmp_path: Path) -> None:
    b = one(tmp_path, "  a:\n    process.command_line|contains: 'mimikatz'\n  condition: a\n")
    flat = {"@timestamp": "2026-11-20T08:00:00.000Z", "event.dataset": "vigie.test",
            "process.command_line": "C:\\t\\MIMIKATZ.exe"}
    assert b.hit(flat) and b.hit(event(process__command_line="mimikatz"))
    assert not b.hit({**flat, "process.command_line": "notepad"})
