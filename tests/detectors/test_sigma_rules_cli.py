"""``cert rules check PATH``: loaded, active and unsupported rules, reasons grouped;
``cert rules disable`` recorded and reflected."""

from __future__ import annotations

from pathlib import Path

import pytest

from cert.cli import main

GOOD = """title: Good {n}
id: 00000000-0000-4000-8000-00000000010{n}
logsource:
  category: webserver
detection:
  sel:
    cs-uri-query|contains: 'x{n}'
  condition: sel
level: low
"""
ETW = """title: Needs ETW {n}
id: 00000000-0000-4000-8000-00000000020{n}
logsource:
  product: windows
  category: file_access
detection:
  sel:
    FileName|endswith: '.kdbx'
  condition: sel
level: low
"""


def test_check_reports_loaded_active_and_grouped_reasons(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for n in range(3):
        (tree / f"good{n}.yml").write_text(GOOD.format(n=n))
    for n in range(2):
        (tree / f"etw{n}.yml").write_text(ETW.format(n=n))
    (tree / "broken.yml").write_text("title: [unclosed\n")
    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "init"]) == 0
    status = main(["--data-dir", str(data), "rules", "check", str(tree), "--min-active", "90"])
    out = capsys.readouterr().out
    assert status == 1  # 3 of 6 active: below the 90 % asked
    assert f"{tree}: 6 files, 6 rules loaded, 3 active (50.0%), 0 disabled by analysts, 3 unsupported" in out
    assert "    2  windows/file_access" in out and "    1  unreadable file" in out
    assert main(["--data-dir", str(data), "rules", "disable", "00000000-0000-4000-8000-000000000100"]) == 0
    main(["--data-dir", str(data), "rules", "check", str(tree)])
    assert "2 active (33.3%), 1 disabled by analysts" in capsys.readouterr().out
