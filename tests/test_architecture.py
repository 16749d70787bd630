"""Dependencies run one way: web -> cert <- ingest, detectors. Checked on the source, by import."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_top_levels(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_core_imports_no_plugin_package_and_no_flask() -> None:
    for path, names in imported_top_levels("cert").items():
        assert not names & {"web", "ingest", "detectors", "flask", "flask_login", "flask_wtf"}, path


def test_plugins_and_console_depend_on_core_only() -> None:
    for package, forbidden in (("ingest", {"web", "detectors"}), ("detectors", {"web", "ingest"}),
                               ("web", {"ingest", "detectors"})):
        for path, names in imported_top_levels(package).items():
            assert not names & forbidden, path


def test_each_registry_has_a_real_member() -> None:
    from cert.core.contracts import detectors, file_scanners
    from cert.core.parser import parsers
    from cert.core.registry import load_plugins
    from cert.response.playbooks import steps

    load_plugins(["ingest.parsers", "detectors", "playbooks.steps"])
    assert {"linux.auth", "web.access"} <= set(parsers.names())
    assert {"sigma", "indicators", "yara_payloads"} <= set(detectors.names())
    assert "yara" in file_scanners.names()
    assert {"sightings", "notify_focal_point"} <= set(steps.names())


def test_an_engine_package_registers_its_plugins_and_its_helpers_register_none() -> None:
    from cert.core.contracts import detectors, file_scanners
    from cert.core.registry import load_plugins

    load_plugins(["detectors"])  # each engine package, as the default settings do
    registered = (detectors.names(), file_scanners.names())
    load_plugins(["detectors.sigma", "detectors.indicators", "detectors.yara"])  # every module of each engine
    assert (detectors.names(), file_scanners.names()) == registered
