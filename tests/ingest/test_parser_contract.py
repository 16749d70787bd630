"""Every registered parser gets the harness's contract checks: it has a test class built on
``harness.ParserCase`` with samples and malformed lines. A new parser without one fails here."""

from __future__ import annotations

import ast
from pathlib import Path

from cert.core.parser import parsers
from cert.core.registry import load_plugins

HERE = Path(__file__).resolve().parent


def _harness_tests() -> dict[str, list[str]]:
    """parser name -> test classes (module:Class) that subclass ParserCase and set samples."""
    found: dict[str, list[str]] = {}
    for path in sorted(HERE.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            if not any(isinstance(b, ast.Name) and b.id == "ParserCase" for b in node.bases):
                continue
            attrs = {t.id: stmt.value for stmt in node.body if isinstance(stmt, ast.Assign)
                     for t in stmt.targets if isinstance(t, ast.Name)}
            attrs.update({stmt.target.id: stmt.value for stmt in node.body
                          if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value})
            name = attrs.get("parser_name")
            if isinstance(name, ast.Constant) and "samples" in attrs:
                found.setdefault(str(name.value), []).append(f"{path.name}:{node.name}")
    return found


def test_every_registered_parser_has_a_contract_test() -> None:
    load_plugins(["ingest.parsers"])
    tests = _harness_tests()
    missing = sorted(set(parsers.names()) - set(tests))
    assert not missing, f"parsers without a ParserCase test (tests/ingest/harness.py): {missing}"
