"""Static checks of the container deployment: docker/Dockerfile, docker/compose.yaml, docker/.env.example.

Nothing here needs a Docker engine. The checks are:

* the compose file, interpolated the way Compose does it, validates against the official Compose
  Specification JSON schema (compose-spec/compose-spec ``schema/compose-spec.json``, Apache-2.0).
  The schema is loaded offline from the copy that the ``check-jsonschema`` package vendors (and
  keeps up to date) in ``check_jsonschema/builtin_schemas/vendor/compose-spec.json``;
* semantic rules a schema cannot express (dependencies, health, exposure, shared configuration);
* the Dockerfile's structure, parsed with ``dockerfile-parse``;
* ``docker/.env.example`` documents exactly the variables the compose file interpolates.

Test-only dependencies: ``pyyaml``, ``jsonschema``, ``check-jsonschema``, ``dockerfile-parse``.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCKER_DIR = REPO_ROOT / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
ENV_EXAMPLE = DOCKER_DIR / ".env.example"

STATEFUL_SERVICES = {"elasticsearch", "redis", "postgres"}
APP_SERVICES = {"init", "web", "worker", "ingest", "detect", "sharing-pull", "notify"}
LONG_RUNNING_APP_SERVICES = APP_SERVICES - {"init"}
# Variables that must be supplied by the operator: Compose must refuse to start without them.
REQUIRED_SECRETS = ("POSTGRES_PASSWORD", "CERT_SECRET_KEY", "CERT_ADMIN_PASSWORD")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY$")
# Where each CERT_*_URL must point: (service, default port of that service).
BACKEND_URLS = {
    "CERT_ELASTICSEARCH_URL": ("elasticsearch", 9200),
    "CERT_REDIS_URL": ("redis", 6379),
    "CERT_DATABASE_URL": ("postgres", 5432),
}


# ---------------------------------------------------------------------------------------------------
# Compose-style variable interpolation
# ---------------------------------------------------------------------------------------------------


class InterpolationError(ValueError):
    """A template Compose would reject, or a required variable that is unset or empty."""


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.DOTALL)


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``${`` whose ``{`` is at ``start`` (nested ``${...}`` allowed)."""
    depth = 1
    i = start + 1
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InterpolationError(f"invalid template {text!r}: unterminated '${{'")


def _expand_braced(inner: str, env: Mapping[str, str]) -> str:
    m = _BRACED.fullmatch(inner)
    if m is None:
        raise InterpolationError(f"invalid template: '${{{inner}}}'")
    name, op, arg = m.group("name", "op", "arg")
    value = env.get(name)
    if op is None:
        return value or ""
    # With a colon the test is "set and non-empty", without it only "set" (as in POSIX sh).
    present = bool(value) if op.startswith(":") else value is not None
    kind = op[-1]
    if kind == "-":
        return value if present and value is not None else interpolate(arg, env)
    if kind == "+":
        return interpolate(arg, env) if present else ""
    # kind == "?"
    if present and value is not None:
        return value
    raise InterpolationError(f"required variable {name} is missing a value: {interpolate(arg, env)}")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Expand ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``,
    ``${VAR?error}``, ``${VAR:+alt}``, ``${VAR+alt}`` and the ``$$`` escape, like Compose."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
        elif text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 1)
            out.append(_expand_braced(text[i + 2 : end], env))
            i = end + 1
        elif m := _NAME.match(text, i + 1):
            out.append(env.get(m.group(), ""))
            i = m.end()
        else:
            raise InterpolationError(f"invalid template {text!r}: lone '$' (write '$$' for a literal '$')")
    return "".join(out)


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    """Interpolate every string value (not mapping keys) of a loaded YAML document."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolate_tree(v, env) for v in node]
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env) for k, v in node.items()}
    return node


_REFERENCE = re.compile(
    r"\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def variable_references(text: str) -> Iterator[tuple[str, str | None, str]]:
    """(name, operator, default-or-message) for every variable reference in ``text``, ``$$`` excluded.

    The third item is the literal text up to the closing brace (for ``:-``/``-`` the default).
    """
    text = text.replace("$$", "\0\0")  # keep offsets, drop escaped dollars
    for m in _REFERENCE.finditer(text):
        if m.group("bare"):
            yield m.group("bare"), None, ""
            continue
        arg = ""
        if m.group("op"):
            arg = text[m.end() : _closing_brace(text, m.start() + 1)]
        yield m.group("braced"), m.group("op"), arg


# ---------------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def raw_compose(compose_text: str) -> dict[str, Any]:
    """The compose file as YAML (anchors and merge keys resolved), not interpolated."""
    data = yaml.safe_load(compose_text)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def dummy_env(compose_text: str) -> dict[str, str]:
    """A value for every required variable; everything else is left unset (defaults apply)."""
    required = {name for name, op, _ in variable_references(compose_text) if op in (":?", "?")}
    return {name: f"dummy-{name.lower().replace('_', '-')}" for name in sorted(required)}


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any], dummy_env: dict[str, str]) -> dict[str, Any]:
    """The compose model as Compose sees it with only the required variables set."""
    result = interpolate_tree(raw_compose, dummy_env)
    assert isinstance(result, dict)
    return result


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]  # type: ignore[no-any-return]


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``depends_on`` in its long form (the short list form means ``service_started``)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return dict(deps)


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, None) for item in env)
        return dict(pairs)
    return {k: None if v is None else str(v) for k, v in env.items()}


def is_named_volume_source(source: str) -> bool:
    return bool(source) and not source.startswith(("/", ".", "~", "$")) and "/" not in source


def volume_mounts(service: dict[str, Any]) -> list[dict[str, Any]]:
    """Service volumes in the long syntax (type, source, target, read_only)."""
    mounts = []
    for vol in service.get("volumes") or []:
        if isinstance(vol, dict):
            mounts.append(vol)
            continue
        parts = vol.split(":")
        if len(parts) == 1:
            mounts.append({"type": "volume", "target": parts[0]})
            continue
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) > 2 else ""
        kind = "volume" if is_named_volume_source(source) else "bind"
        mounts.append(
            {"type": kind, "source": source, "target": target, "read_only": "ro" in mode.split(",")}
        )
    return mounts


def published_ports(service: dict[str, Any]) -> list[tuple[str | None, str | None, str]]:
    """(host_ip, published, target) for each entry of ``ports``; host_ip None means all interfaces."""
    result: list[tuple[str | None, str | None, str]] = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            published = port.get("published")
            result.append(
                (port.get("host_ip"), None if published is None else str(published), str(port["target"]))
            )
            continue
        spec = str(port)
        host_ip: str | None = None
        if spec.startswith("["):  # [IPv6]:published:target
            host_ip, spec = spec[1:].split("]", 1)
            spec = spec.lstrip(":")
            published, _, target = spec.rpartition(":")
            result.append((host_ip, published or None, target))
            continue
        parts = spec.rsplit(":", 2)
        if len(parts) == 3:
            host_ip, published, target = parts
        elif len(parts) == 2:
            published, target = parts
        else:
            published, target = "", parts[0]
        result.append((host_ip or None, published or None, target))
    return result


# ---------------------------------------------------------------------------------------------------
# (a) Interpolation and the Compose Specification schema
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "env", "expected"),
    [
        ("plain", {}, "plain"),
        ("${A}", {"A": "x"}, "x"),
        ("$A/b", {"A": "x"}, "x/b"),
        ("${A}", {}, ""),
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A:-d}", {"A": "x"}, "x"),
        ("${A:-${B:-inner}}", {}, "inner"),
        ("${A:?boom}", {"A": "x"}, "x"),
        ("${A?boom}", {"A": ""}, ""),
        ("${A:+alt}", {"A": "x"}, "alt"),
        ("${A:+alt}", {}, ""),
        ("$${A}", {"A": "x"}, "${A}"),
        ("$$$A", {"A": "x"}, "$x"),
        ("u:${U:-vigie}@h/${D:-db}", {"D": "prod"}, "u:vigie@h/prod"),
    ],
)
def test_interpolation_helper(template: str, env: dict[str, str], expected: str) -> None:
    assert interpolate(template, env) == expected


@pytest.mark.parametrize(
    ("template", "env", "message"),
    [
        ("${A:?set A}", {}, "required variable A is missing a value: set A"),
        ("${A:?set A}", {"A": ""}, "required variable A is missing a value: set A"),
        ("${A?set A}", {}, "required variable A is missing a value: set A"),
        ("${A", {}, "unterminated"),
        ("${A B}", {}, "invalid template"),
        ("cost: 5$", {}, "lone '$'"),
    ],
)
def test_interpolation_helper_errors(template: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(InterpolationError, match=re.escape(message)):
        interpolate(template, env)


def load_compose_spec_schema() -> dict[str, Any]:
    try:
        vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    except ModuleNotFoundError:  # pragma: no cover - environment problem, reported as a failure
        pytest.fail(
            "the test dependency 'check-jsonschema' is not installed: it ships the official Compose "
            "Specification schema (pip install check-jsonschema)"
        )
    schema = json.loads(vendor.joinpath("compose-spec.json").read_text(encoding="utf-8"))
    assert schema.get("title") == "Compose Specification", "unexpected schema in check-jsonschema"
    return schema  # type: ignore[no-any-return]


def test_compose_file_validates_against_compose_spec(compose: dict[str, Any]) -> None:
    import jsonschema

    schema = load_compose_spec_schema()
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(compose), key=lambda e: list(e.absolute_path))
    details = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]
    assert not details, "docker/compose.yaml does not follow the Compose Specification:\n" + "\n".join(
        details
    )


@pytest.mark.parametrize("name", REQUIRED_SECRETS)
@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_missing_secret_aborts_interpolation(
    raw_compose: dict[str, Any], dummy_env: dict[str, str], name: str, value: str | None
) -> None:
    env = dict(dummy_env)
    env.pop(name, None)
    if value is not None:
        env[name] = value
    with pytest.raises(
        InterpolationError, match=rf"^required variable {name} is missing a value: set {name}$"
    ):
        interpolate_tree(raw_compose, env)


def test_secrets_are_only_taken_from_required_variables(
    compose_text: str, raw_compose: dict[str, Any]
) -> None:
    """No default password or key: every secret-looking variable uses ${VAR:?...}, and no
    secret-looking environment entry has a literal value."""
    lax = sorted(
        {
            f"{n} ({op or 'no operator'})"
            for n, op, _ in variable_references(compose_text)
            if SECRET_NAME.search(n) and op != ":?"
        }
    )
    assert not lax, f"secret variables must be referenced as ${{VAR:?message}}: {lax}"
    literal = []
    for name, service in raw_compose["services"].items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key) and value is not None and "${" not in value:
                literal.append(f"{name}.{key}")
    assert not literal, f"literal secrets in docker/compose.yaml: {literal}"


# ---------------------------------------------------------------------------------------------------
# (b) Semantic checks
# ---------------------------------------------------------------------------------------------------


def test_expected_services_are_defined(services: dict[str, Any]) -> None:
    missing = (STATEFUL_SERVICES | APP_SERVICES) - set(services)
    assert not missing, f"services missing from docker/compose.yaml: {sorted(missing)}"


def test_depends_on_targets_exist(services: dict[str, Any]) -> None:
    dangling = [
        f"{name} -> {dep}" for name, svc in services.items() for dep in depends_on(svc) if dep not in services
    ]
    assert not dangling, f"depends_on names undefined services: {dangling}"


def test_dependents_of_stateful_services_wait_until_healthy(services: dict[str, Any]) -> None:
    wrong = [
        f"{name} -> {dep} ({spec.get('condition')})"
        for name, svc in services.items()
        for dep, spec in depends_on(svc).items()
        if dep in STATEFUL_SERVICES and spec.get("condition") != "service_healthy"
    ]
    assert not wrong, f"dependencies on stateful services must use condition: service_healthy: {wrong}"


@pytest.mark.parametrize("name", sorted(STATEFUL_SERVICES))
def test_stateful_service_has_healthcheck_and_named_volume(
    name: str, services: dict[str, Any], compose: dict[str, Any]
) -> None:
    service = services[name]
    check = service.get("healthcheck") or {}
    assert check.get("test") and not check.get("disable"), f"{name} needs a healthcheck"
    assert check["test"] not in (["NONE"], "NONE"), f"{name}: healthcheck test NONE disables it"
    declared = set(compose.get("volumes") or {})
    named = [m["source"] for m in volume_mounts(service) if m.get("type") == "volume" and m.get("source")]
    assert named, f"{name} must keep its data in a named volume"
    undeclared = [v for v in named if v not in declared]
    assert not undeclared, f"{name}: volumes not declared in the top-level volumes: {undeclared}"


def test_named_volumes_are_declared(services: dict[str, Any], compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    missing = [
        f"{name}: {m['source']}"
        for name, svc in services.items()
        for m in volume_mounts(svc)
        if m.get("type") == "volume" and m.get("source") and m["source"] not in declared
    ]
    assert not missing, f"named volumes used but not declared at top level: {missing}"


def test_published_ports_bind_to_loopback_by_default(services: dict[str, Any]) -> None:
    exposed = []
    for name, svc in services.items():
        if svc.get("network_mode") == "host":
            exposed.append(f"{name}: network_mode host")
        for host_ip, published, target in published_ports(svc):
            ip = (host_ip or "").strip("[]")
            try:
                loopback = ipaddress.ip_address(ip).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                exposed.append(f"{name}: {host_ip or '<all interfaces>'}:{published or '<random>'}->{target}")
    assert not exposed, f"ports published beyond 127.0.0.1 with the default settings: {exposed}"


def test_web_console_is_published(services: dict[str, Any]) -> None:
    assert published_ports(services["web"]) == [("127.0.0.1", "8000", "8000")]


@pytest.mark.parametrize("name", sorted(STATEFUL_SERVICES))
def test_stateful_service_is_not_reachable_from_outside(
    name: str, services: dict[str, Any], compose: dict[str, Any]
) -> None:
    service = services[name]
    assert not service.get("ports"), f"{name} must not publish ports"
    assert service.get("network_mode") is None, f"{name} must stay on the compose networks"
    networks = service.get("networks")
    assert networks, f"{name} must be attached explicitly to internal networks only (not 'default')"
    top = compose.get("networks") or {}
    for net in networks:
        assert (top.get(net) or {}).get("internal") is True, f"{name}: network {net!r} is not internal"


def test_app_services_build_from_the_dockerfile(services: dict[str, Any]) -> None:
    for name in sorted(APP_SERVICES):
        build = services[name].get("build")
        assert isinstance(build, dict), f"{name}: build must be a mapping with context and dockerfile"
        context = (DOCKER_DIR / build.get("context", ".")).resolve()
        assert context == REPO_ROOT, f"{name}: build context must be the repository root, got {context}"
        assert build.get("dockerfile") == "docker/Dockerfile", f"{name}: dockerfile must be docker/Dockerfile"
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def _merge_sources(node: yaml.Node) -> list[yaml.Node]:
    """The node itself and every mapping it pulls in through YAML merge keys (<<), recursively."""
    found = [node]
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                for merged in value.value if isinstance(value, yaml.SequenceNode) else [value]:
                    found.extend(_merge_sources(merged))
    return found


def _mapping_value(node: yaml.Node, key: str) -> yaml.Node | None:
    """Value node of ``key`` in a mapping node, honouring merge keys the way a YAML loader does."""
    assert isinstance(node, yaml.MappingNode)
    for k, v in node.value:
        if k.tag != "tag:yaml.org,2002:merge" and k.value == key:
            assert isinstance(v, yaml.Node)
            return v
    for source in _merge_sources(node)[1:]:
        if (found := _mapping_value(source, key)) is not None:
            return found
    return None


def test_app_services_share_the_environment_anchor(compose_text: str) -> None:
    root = yaml.compose(compose_text)
    assert isinstance(root, yaml.MappingNode)
    # Aliases resolve to the very node that carries the anchor: identity tells who shares it.
    extensions = {id(v): k.value for k, v in root.value if k.value.startswith("x-")}
    services_node = _mapping_value(root, "services")
    assert services_node is not None
    shared: set[int] | None = None
    for name in sorted(APP_SERVICES):
        service_node = _mapping_value(services_node, name)
        assert service_node is not None, name
        env_node = _mapping_value(service_node, "environment")
        assert env_node is not None, f"{name}: no environment"
        ids = {id(n) for n in _merge_sources(env_node)}
        shared = ids if shared is None else shared & ids
    anchors = sorted(extensions[i] for i in shared or set() if i in extensions)
    assert anchors, "web, worker, ingest, detect and init must share one x-* environment anchor"
    anchor_node = _mapping_value(root, anchors[0])
    assert anchor_node is not None
    for var in BACKEND_URLS:
        assert _mapping_value(anchor_node, var) is not None, f"{anchors[0]} must define {var}"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_backend_urls_point_at_the_compose_services(name: str, services: dict[str, Any]) -> None:
    env = environment(services[name])
    for var, (target, port) in BACKEND_URLS.items():
        assert env.get(var), f"{name}: {var} is not set"
        url = urlsplit(env[var] or "")
        assert url.hostname == target and target in services, f"{name}: {var} must point at service {target}"
        assert url.port == port, f"{name}: {var} must use port {port}"
    db = urlsplit(env["CERT_DATABASE_URL"] or "")
    assert db.scheme == "postgresql+psycopg"
    pg = environment(services["postgres"])
    assert db.username == pg["POSTGRES_USER"], "CERT_DATABASE_URL user differs from POSTGRES_USER"
    assert db.password == pg["POSTGRES_PASSWORD"], "CERT_DATABASE_URL password differs from POSTGRES_PASSWORD"
    assert db.path.lstrip("/") == pg["POSTGRES_DB"], "CERT_DATABASE_URL database differs from POSTGRES_DB"


def test_init_runs_once_before_the_long_running_services(services: dict[str, Any]) -> None:
    init = services["init"]
    assert init.get("command") == ["init"]
    assert init.get("restart", "no") == "no", "init is one-shot: restart must be 'no'"
    for name in sorted(LONG_RUNNING_APP_SERVICES):
        svc = services[name]
        assert depends_on(svc).get("init") == {"condition": "service_completed_successfully"}, name
        assert svc.get("restart") == "unless-stopped", f"{name}: restart must be unless-stopped"
    for name in sorted(STATEFUL_SERVICES):
        assert services[name].get("restart") == "unless-stopped", f"{name}: restart must be unless-stopped"


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("worker", ["worker"]),
        ("detect", ["detect", "--every", "60"]),
        ("ingest", ["ingest", "--parser", "syslog", "--follow", "/var/log/vigie/*.log"]),
    ],
)
def test_role_commands(name: str, command: list[str], services: dict[str, Any]) -> None:
    svc = services[name]
    assert svc.get("entrypoint") is None, f"{name} must use the image entrypoint (cert)"
    actual = svc.get("command")
    assert (shlex.split(actual) if isinstance(actual, str) else actual) == command


@pytest.mark.parametrize("name", sorted(APP_SERVICES - {"web"}))
def test_service_commands_are_accepted_by_the_real_cli(name: str, services: dict[str, Any]) -> None:
    """Each app service's command must parse with `cert`'s own argument parser (a missing required
    option, such as --parser for ingest, would crash-loop the container)."""
    from cert.cli import build_parser

    command = services[name].get("command")
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse's way of refusing
        raise AssertionError(f"{name}: `cert {' '.join(argv)}` is refused by the CLI") from exc


def test_web_runs_gunicorn_with_healthcheck(services: dict[str, Any]) -> None:
    web = services["web"]
    assert web.get("entrypoint") == ["gunicorn"]
    command = web.get("command")
    assert isinstance(command, list) and command[-1] == "web.app:create_app()"
    assert "--bind=0.0.0.0:8000" in command
    check = web.get("healthcheck") or {}
    assert not check.get("disable") and "/healthz" in " ".join(check.get("test") or [])


@pytest.mark.parametrize("name", sorted(APP_SERVICES - {"web"}))
def test_non_http_roles_disable_the_image_healthcheck(name: str, services: dict[str, Any]) -> None:
    assert (services[name].get("healthcheck") or {}).get("disable") is True, (
        f"{name} serves no HTTP: the image's /healthz HEALTHCHECK would mark it unhealthy"
    )


def test_ingest_reads_logs_from_a_read_only_mount(services: dict[str, Any]) -> None:
    mounts = [m for m in volume_mounts(services["ingest"]) if m.get("target") == "/var/log/vigie"]
    assert len(mounts) == 1, "ingest needs exactly one mount on /var/log/vigie"
    assert mounts[0].get("read_only") is True, "incoming logs must be mounted read-only"


# ---------------------------------------------------------------------------------------------------
# (c) Dockerfile
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dockerfile() -> list[dict[str, Any]]:
    try:
        from dockerfile_parse import DockerfileParser
    except ModuleNotFoundError:  # pragma: no cover - environment problem, reported as a failure
        pytest.fail("the test dependency 'dockerfile-parse' is not installed (pip install dockerfile-parse)")
    parser = DockerfileParser(path=str(DOCKERFILE), cache_content=True)
    return [i for i in parser.structure if i["instruction"] not in ("COMMENT",)]


def stages(instructions: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    result: list[list[dict[str, Any]]] = []
    for ins in instructions:
        if ins["instruction"] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def split_flags(value: str) -> tuple[dict[str, str], list[str]]:
    """``--flag=value`` options and the remaining arguments of COPY/ADD (shell or JSON form)."""
    words = shlex.split(value)
    flags = {}
    while words and words[0].startswith("--"):
        key, _, val = words.pop(0)[2:].partition("=")
        flags[key] = val
    rest = " ".join(words)
    if rest.startswith("["):
        return flags, json.loads(rest)
    return flags, words


def exec_form(value: str) -> list[str]:
    """ENTRYPOINT/CMD/HEALTHCHECK CMD argument as a list (JSON or shell form)."""
    value = value.strip()
    if value.startswith("["):
        return json.loads(value)  # type: ignore[no-any-return]
    return ["/bin/sh", "-c", value]


def last(stage: list[dict[str, Any]], instruction: str) -> str | None:
    found = [i["value"] for i in stage if i["instruction"] == instruction]
    return found[-1] if found else None


def test_dockerfile_is_multi_stage_on_python_311_slim(dockerfile: list[dict[str, Any]]) -> None:
    all_stages = stages(dockerfile)
    assert len(all_stages) >= 2, "expected a builder stage and a runtime stage"
    for stage in all_stages:
        words = [w for w in stage[0]["value"].split() if not w.startswith("--platform")]
        assert words[0] == "python:3.11-slim", f"stage based on {words[0]}, expected python:3.11-slim"
    builder, runtime = all_stages[0], all_stages[-1]
    assert any("pip wheel" in i["value"] for i in builder if i["instruction"] == "RUN"), (
        "builder must build wheels"
    )
    install = [i["value"] for i in runtime if i["instruction"] == "RUN" and "pip install" in i["value"]]
    assert install and ".whl" in install[0] and "--no-index" in install[0], (
        "runtime must install the built wheels"
    )


def test_runtime_has_what_the_pdf_reports_need(dockerfile: list[dict[str, Any]]) -> None:
    """WeasyPrint is a dependency (web/documents): its Pango, HarfBuzz and a font are in the image."""
    assert "weasyprint" in (REPO_ROOT / "pyproject.toml").read_text().lower()
    runtime = " ".join(i["value"] for i in stages(dockerfile)[-1] if i["instruction"] == "RUN")
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0", "fonts-dejavu-core"):
        assert package in runtime, f"the runtime stage does not install {package}"


def test_final_stage_runs_as_non_root(dockerfile: list[dict[str, Any]]) -> None:
    runtime = stages(dockerfile)[-1]
    user = last(runtime, "USER")
    assert user, "the final stage must switch to an unprivileged USER"
    name = user.split(":")[0].strip()
    assert name not in ("root", "0", ""), f"USER {user} is root"


def test_healthcheck_probes_healthz_with_python(dockerfile: list[dict[str, Any]]) -> None:
    value = last(stages(dockerfile)[-1], "HEALTHCHECK")
    assert value, "the final stage needs a HEALTHCHECK"
    assert value.strip().upper() != "NONE"
    _, _, command = value.partition("CMD")
    argv = exec_form(command)
    assert argv[0] == "python", "python:3.11-slim has no curl/wget: the healthcheck must use python"
    assert "/healthz" in " ".join(argv)


def test_entrypoint_cmd_and_expose(dockerfile: list[dict[str, Any]], services: dict[str, Any]) -> None:
    runtime = stages(dockerfile)[-1]
    assert exec_form(last(runtime, "ENTRYPOINT") or "") == ["cert"]
    all_interfaces = "0.0.0.0"  # noqa: S104 - inside the container; compose publishes on loopback
    assert exec_form(last(runtime, "CMD") or "") == ["serve", "--host", all_interfaces, "--port", "8000"]
    exposed = (last(runtime, "EXPOSE") or "").split()
    assert exposed == ["8000"]
    targets = {target for _, _, target in published_ports(services["web"])}
    assert targets <= {p.split("/")[0] for p in exposed}, "compose publishes a port the image does not expose"


def test_oci_labels(dockerfile: list[dict[str, Any]]) -> None:
    runtime = stages(dockerfile)[-1]
    labels = " ".join(i["value"] for i in runtime if i["instruction"] == "LABEL")
    pairs = dict(re.findall(r'(org\.opencontainers\.image\.[a-z.]+)="?([^"\s]*)', labels))
    for key in ("title", "description", "version", "revision", "licenses"):
        assert f"org.opencontainers.image.{key}" in pairs, f"missing LABEL org.opencontainers.image.{key}"
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    licence = project["license"]
    assert pairs["org.opencontainers.image.licenses"] == (licence["text"] if isinstance(licence, dict) else licence)


def context_copies(dockerfile: list[dict[str, Any]]) -> list[tuple[int, list[str], str]]:
    """(stage index, sources, destination) of every COPY/ADD that reads the build context."""
    result = []
    for index, stage in enumerate(stages(dockerfile)):
        for ins in stage:
            if ins["instruction"] in ("COPY", "ADD"):
                flags, args = split_flags(ins["value"])
                if "from" not in flags:
                    result.append((index, args[:-1], args[-1]))
    return result


def test_copied_paths_exist_in_the_repository(dockerfile: list[dict[str, Any]]) -> None:
    missing = []
    for _, sources, _ in context_copies(dockerfile):
        for source in sources:
            if any(ch in source for ch in "*?["):
                if not list(REPO_ROOT.glob(source)):
                    missing.append(source)
            elif not (REPO_ROOT / source).exists():
                missing.append(source)
    assert not missing, f"COPY/ADD sources missing from the repository (build context): {missing}"


def test_rules_and_playbooks_are_installed_in_opt_vigie(dockerfile: list[dict[str, Any]]) -> None:
    final = len(stages(dockerfile)) - 1
    copied = {
        (s.rstrip("/"), d.rstrip("/"))
        for i, srcs, d in context_copies(dockerfile)
        if i == final
        for s in srcs
    }
    assert ("rules", "/opt/vigie/rules") in copied
    assert ("playbooks", "/opt/vigie/playbooks") in copied


def test_builder_gets_everything_the_wheel_build_needs(dockerfile: list[dict[str, Any]]) -> None:
    """pyproject.toml, its readme and every package directory it includes are copied into the builder."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    needed = {"pyproject.toml"}
    readme = pyproject["project"].get("readme")
    if readme:
        needed.add(readme if isinstance(readme, str) else readme["file"])
    for pattern in (
        pyproject.get("tool", {}).get("setuptools", {}).get("packages", {}).get("find", {}).get("include", [])
    ):
        needed.update(
            p.name
            for p in REPO_ROOT.iterdir()
            if p.is_dir() and fnmatch.fnmatch(p.name, pattern) and "." not in pattern.rstrip("*")
        )
    copied = {str(PurePosixPath(s)) for i, srcs, _ in context_copies(dockerfile) if i == 0 for s in srcs}
    missing = sorted(needed - copied)
    assert not missing, f"the builder stage does not COPY what the wheel build needs: {missing}"


# ---------------------------------------------------------------------------------------------------
# (d) docker/.env.example
# ---------------------------------------------------------------------------------------------------


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f".env.example: not NAME=value: {line!r}"
        values[name.strip()] = value.strip()
    return values


def test_env_example_lists_exactly_the_interpolated_variables(compose_text: str) -> None:
    used = {name for name, _, _ in variable_references(compose_text)}
    documented = set(env_example())
    assert not used - documented, (
        f"variables used by compose.yaml but not in .env.example: {sorted(used - documented)}"
    )
    assert not documented - used, (
        f"variables in .env.example that compose.yaml never uses: {sorted(documented - used)}"
    )


def test_env_example_has_no_secrets_and_matches_defaults(compose_text: str) -> None:
    example = env_example()
    for name in REQUIRED_SECRETS:
        assert example.get(name) == "", f".env.example must leave {name} empty (no default secrets)"
    for name, op, arg in variable_references(compose_text):
        if op in (":-", "-") and name in example:
            assert example[name] == arg, (
                f".env.example says {name}={example[name]}, compose.yaml defaults to {arg}"
            )


def test_the_wheel_stage_copies_every_python_package_the_project_installs() -> None:
    """A package left out of the builder stage would be missing from the image's wheel."""
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = sorted(p.name for p in REPO_ROOT.iterdir()
                      if (p / "__init__.py").is_file() and any(fnmatch.fnmatch(p.name, pat) for pat in patterns))
    assert {"cert", "ingest", "detectors", "web", "playbooks"} <= set(packages)
    copies = re.findall(r"^COPY (\S+)/ \./\1/$", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    assert sorted(set(packages) - set(copies)) == []
