"""The shape of the code, checked on the source: dependencies run one way (web -> cert <- ingest,
detectors, playbooks), the core's packages are layered, and no module imports another that
imports it back, counting every import (top level, ``TYPE_CHECKING`` blocks, inside functions)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cert", "ingest", "detectors", "web", "playbooks")

#: The core's packages, bottom up: a package imports only from packages of a lower layer.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"core"}),
    frozenset({"storage", "enrichment"}),
    frozenset({"constituency"}),
    frozenset({"runtime", "accounts"}),
    frozenset({"pipeline", "detection"}),
    frozenset({"incidents"}),
    frozenset({"response", "sharing"}),
    frozenset({"notify"}),
    frozenset({"demo", "cli"}),
)


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts and "versions" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(module: str, path: Path) -> Iterator[str]:
    """Every module name an import statement of ``module`` names, resolved against the tree."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield name
            yield from (f"{name}.{a.name}" for a in node.names)


def graph() -> dict[str, set[str]]:
    mods = modules()
    edges: dict[str, set[str]] = {}
    for module, path in mods.items():
        deps = {name for name in imports(module, path) if name in mods}
        deps.discard(module)
        edges[module] = deps
    return edges


def top(module: str) -> str:
    return module.split(".")[0]


def test_core_imports_no_plugin_package_and_no_flask() -> None:
    for path in (ROOT / "cert").rglob("*.py"):
        names = {n.split(".")[0] for n in imports("cert.x", path)}
        assert not names & {"web", "ingest", "detectors", "playbooks", "flask", "flask_login", "flask_wtf"}, path


def test_plugins_and_console_depend_on_core_only() -> None:
    allowed = {"ingest": {"cert", "ingest"}, "detectors": {"cert", "detectors"}, "web": {"cert", "web"},
               "playbooks": {"cert", "playbooks"}}
    for module, deps in graph().items():
        if top(module) in allowed:
            assert {top(d) for d in deps} <= allowed[top(module)], (module, sorted(deps))


def test_core_packages_are_layered() -> None:
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    packages = {p.name for p in (ROOT / "cert").iterdir() if (p / "__init__.py").is_file()}
    assert packages <= set(layer), f"cert packages missing from LAYERS: {sorted(packages - set(layer))}"
    for module, deps in graph().items():
        parts = module.split(".")
        if parts[0] != "cert" or len(parts) < 3:
            continue
        for dep in deps:
            d = dep.split(".")
            if d[0] == "cert" and len(d) > 1 and d[1] != parts[1]:
                assert layer[d[1]] < layer[parts[1]], f"{module} (layer {layer[parts[1]]}) imports {dep}"
    for module, deps in graph().items():
        if module.startswith("cert.core"):
            assert all(d.startswith("cert.core") for d in deps if top(d) == "cert"), (module, sorted(deps))


def test_no_import_cycle() -> None:
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert cycles == []


def test_each_registry_has_a_real_member() -> None:
    from cert.core.contracts import detectors, file_scanners
    from cert.core.parser import parsers
    from cert.core.registry import load_plugins
    from cert.response.playbooks import steps
    from cert.sharing.target import targets

    load_plugins(["ingest.parsers", "detectors", "playbooks.steps", "cert.sharing.targets"])
    assert {"linux.auth", "web.access"} <= set(parsers.names())
    assert {"sigma", "indicators", "yara_payloads"} <= set(detectors.names())
    assert "yara" in file_scanners.names()
    assert {"sightings", "notify_focal_point"} <= set(steps.names())
    assert "misp-feed" in targets.names()


def test_an_engine_package_registers_its_plugins_and_its_helpers_register_none() -> None:
    from cert.core.contracts import detectors, file_scanners
    from cert.core.registry import load_plugins

    load_plugins(["detectors"])  # each engine package, as the default settings do
    registered = (detectors.names(), file_scanners.names())
    load_plugins(["detectors.sigma", "detectors.indicators", "detectors.yara"])  # every module of each engine
    assert (detectors.names(), file_scanners.names()) == registered
