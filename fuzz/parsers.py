"""Coverage-guided fuzzing of the ingest parsers with atheris (libFuzzer for Python).

    python fuzz/parsers.py --parser suricata.eve -runs=20000
    python fuzz/parsers.py --parser zeek --corpus fuzz-corpus/zeek -max_total_time=3600
    python fuzz/parsers.py --list

One parser, chosen by its name in the registry (``cert.pipeline.ingestor.parsers``), is fuzzed through its
unit contract, the way the pipeline drives it:

- a line parser gets the input as the lines ``cert ingest`` would read from a file (split on
  newlines, undecodable bytes kept as surrogates, one ``Parser.for_source`` instance per input);
- a parser that reads its own files (``windows.evtx``) gets the input as a file for ``read()``,
  which must yield only ``(position, text)`` pairs or ``Unreadable`` items, never raise;
- ``netflow`` gets the input as a datagram for the collector's decoder (one decoder for the
  whole run, so templates learned from one input decode the next), which must never raise; each
  record it decodes must become a JSON line the ``netflow`` parser turns into an event.
  ``--unit line`` fuzzes these parsers' ``parse()`` on lines instead.

Each line then goes through ``parse`` and ``finalize`` as the Ingestor runs them, and the event
through ``orjson.dumps`` as the event stores serialise it. Only ``ParseError`` may come out:
anything else is a crash, reported by libFuzzer with the input saved as ``crash-<sha1>``
(``-artifact_prefix=DIR/`` chooses where).

Seeds: lines of the third-party corpora (``--corpora``, env ``CERT_CORPORA_DIR``, default
``../shared/corpora``) and the samples of the parser's own tests; ``--corpus DIR`` keeps the
corpus libFuzzer grows between campaigns (default: a temporary directory). Any other argument
is handed to libFuzzer (``-runs=N``, ``-max_total_time=S``, ``-max_len=N``, ``-jobs=N``...).
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import importlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import atheris

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))



def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(module: str) -> set[str]:
    """The ``ingest``/``cert`` modules a module imports, transitively (read, not imported)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        base = ROOT.joinpath(*name.split("."))
        path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if not path.is_file():
            continue
        todo.extend(node.module for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ingest."))
    return seen


def instrumented_modules(parser: str | None, unit: str) -> set[str] | None:
    """The modules whose coverage guides the fuzzer: the parser's module and what it imports from
    ``ingest``, plus the pipeline's ``cert.pipeline.ingestor`` and ``cert.core.ecs``. Instrumenting only these
    keeps the start quick. None (every module of ``ingest``) when the parser is not found."""
    pattern = re.compile(rf"^\s+name = [\"']{re.escape(parser or '')}[\"']\s*$", re.MULTILINE)
    for path in sorted((ROOT / "ingest" / "parsers").glob("*.py")):
        if parser and pattern.search(path.read_text(encoding="utf-8")):
            found = _imports(_module_name(path))
            if parser == "netflow" and unit == "native":
                found |= _imports("ingest.netflow.decoder")
            return found | {"cert.pipeline.ingestor", "cert.core.ecs"}
    return None


def _instrumentation(argv: list[str]) -> Any:
    """``atheris.instrument_imports`` for the parser named on the command line."""
    wanted = instrumented_modules(_flag(argv, "--parser"), _flag(argv, "--unit") or "native")
    if wanted is None:
        return atheris.instrument_imports(include=["ingest", "cert.pipeline.ingestor", "cert.core.ecs"],
                                          exclude=_all_modules("cert") - {"cert.pipeline.ingestor", "cert.core.ecs"})
    return atheris.instrument_imports(include=["ingest", "cert"],
                                      exclude=(_all_modules("cert") | _all_modules("ingest")) - wanted)


def _all_modules(package: str) -> set[str]:
    return {_module_name(p) for p in (ROOT / package).rglob("*.py")}


def _flag(argv: list[str], flag: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


with _instrumentation(sys.argv):
    import orjson

    from cert.core.parser import ParseError, Parser, Unreadable, parsers
    from cert.core.registry import load_plugins
    from cert.pipeline.ingestor import finalize

    load_plugins(["ingest.parsers"])
    from ingest.netflow.decoder import NetflowDecoder

# corpus files (globs under the corpora directory) whose lines seed each parser
CORPUS_SEEDS: dict[str, tuple[str, ...]] = {
    "syslog": ("linux/fail2ban-samples/sshd", "linux/fail2ban-samples/named-refused",
               "linux/fail2ban-samples/postfix", "linux/fail2ban-samples/dropbear"),
    "linux.auth": ("linux/fail2ban-samples/sshd", "linux/fail2ban-samples/sshd-journal"),
    "web.access": ("web/elastic-examples/apache_logs/apache_logs", "linux/fail2ban-samples/apache-auth"),
    "suricata.eve": ("suricata/frankhassanabad-suricata-sample-data/*/*.eve.jsonl",),
    "zeek": ("zeek/zeek-btest-baselines/opt.basic/*.log", "zeek/zeek-btest-baselines/*.http.*/http.log",
             "zeek/brimdata-zed-sample-data/zeek-default/dns.log.gz",
             "zeek/brimdata-zed-sample-data/zeek-json/ssl.log.gz"),
    "windows.evtx": ("evtx/evtx-to-mitre-attack/TA0008-Lateral Movement/*/*.evtx",),
    "windows.json": ("sigma/regression_data/rules/windows/process_creation/*/*.json",),
}
MAX_SEEDS = 150
MAX_SEED_BYTES = 2048  # a line seed groups consecutive lines up to this size
EXPORTER = ("192.0.2.10", 2055)


class ContractError(AssertionError):
    """A parser broke its unit contract without raising (a wrong type yielded or returned)."""


# ---- what one input goes through -----------------------------------------------------------------
def check_line(parser: Parser, raw: str, source: str = "fuzz.log") -> dict[str, Any] | None:
    """``parse`` + ``finalize`` as the Ingestor runs them, then the stores' serialisation."""
    try:
        event = parser.parse(raw)
    except ParseError:
        return None
    if event is None:
        return None
    if not isinstance(event, dict):
        raise ContractError(f"{parser.name}.parse returned {type(event).__name__}, not an event or None")
    try:
        finalize(event, parser, raw, source)
    except ParseError:
        return None
    orjson.dumps(event)  # what the embedded and Elasticsearch stores do with it
    return event


def lines_of(data: bytes) -> list[str]:
    """The lines ``cert.core.lines.FileReader`` would read from a file holding ``data``."""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p.decode("utf-8", "surrogateescape").rstrip("\r\n") for p in parts]


def line_target(name: str) -> Callable[[bytes], None]:
    shared = parsers.get(name)()

    def run(data: bytes) -> None:
        parser = shared.for_source("fuzz.log")
        for line in lines_of(data):
            check_line(parser, line)
    return run


def file_target(name: str, workdir: Path) -> Callable[[bytes], None]:
    parser = parsers.get(name)()
    path = workdir / f"input.{name}"

    def run(data: bytes) -> None:
        path.write_bytes(data)
        for item in parser.read(str(path)):
            if isinstance(item, Unreadable):
                if not isinstance(item.reason, str) or not item.reason or not isinstance(item.position, int):
                    raise ContractError(f"{name}.read yielded a malformed Unreadable: {item!r}")
                continue
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], int)
                    and isinstance(item[1], str)):
                raise ContractError(f"{name}.read yielded {item!r}, not (position, text) or Unreadable")
            check_line(parser, item[1], str(path))
    return run


def netflow_target() -> Callable[[bytes], None]:
    decoder = NetflowDecoder(hold_seconds=0.0)  # data without its template is an error at once
    parser = parsers.get("netflow")()

    def run(data: bytes) -> None:
        result = decoder.decode(data, EXPORTER)
        for error in result.errors:
            if not (isinstance(error.reason, str) and error.reason and isinstance(error.raw, bytes)):
                raise ContractError(f"decoder error without a reason or raw bytes: {error!r}")
        for record in result.records:
            line = record.to_line()
            try:
                event = check_line(parser, line, "netflow://192.0.2.10")
            except ParseError:  # pragma: no cover - check_line lets none out
                raise
            if event is None:
                raise ContractError(f"the netflow parser refused a record the decoder produced: {line[:500]}")
    return run


def target(name: str, unit: str, workdir: Path) -> Callable[[bytes], None]:
    cls = parsers.get(name)
    if unit == "line":
        return line_target(name)
    if name == "netflow":
        return netflow_target()
    if cls.read is not Parser.read:
        return file_target(name, workdir)
    return line_target(name)


# ---- seeds ---------------------------------------------------------------------------------------
def _corpus_files(corpora: Path, name: str, unit: str) -> Iterator[Path]:
    for pattern in CORPUS_SEEDS.get(name, ()):
        yield from sorted(corpora.glob(pattern))


def _read_text(path: Path, limit: int = 256 * 1024) -> bytes:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data: bytes = fh.read(limit)
    return data[: data.rfind(b"\n") + 1] if b"\n" in data else data


def _line_groups(data: bytes) -> Iterator[bytes]:
    """Consecutive lines up to MAX_SEED_BYTES; a file's header lines (Zeek's ``#fields``...) lead
    every group, so that a group is readable on its own."""
    lines = data.splitlines(keepends=True)
    header = b"".join(line for line in lines if line.startswith(b"#") and not line.startswith(b"# "))
    group = header
    for line in lines:
        if line.startswith(b"#"):
            continue
        if len(group) + len(line) > MAX_SEED_BYTES and group != header:
            yield group
            group = header
        group += line
    if group != header:
        yield group


def _test_samples(name: str) -> list[bytes]:
    """The sample and malformed lines of the parser's ParserCase tests (tests/ingest)."""
    sys.path.insert(0, str(ROOT / "tests" / "ingest"))
    sys.path.insert(0, str(ROOT / "tests"))
    out: list[bytes] = []
    for path in sorted((ROOT / "tests" / "ingest").glob("test_*.py")):
        if f'parser_name = "{name}"' not in path.read_text(encoding="utf-8"):
            continue
        try:
            module = importlib.import_module(path.stem)
        except Exception:  # noqa: BLE001, S112 - a test module that needs more than we have: no seeds from it
            continue
        for obj in vars(module).values():
            if isinstance(obj, type) and getattr(obj, "parser_name", None) == name:
                out += [line.encode("utf-8", "surrogateescape") for line, _ in getattr(obj, "samples", [])]
                out += [line.encode("utf-8", "surrogateescape") for line in getattr(obj, "malformed", [])]
    return out


def _netflow_seeds() -> list[bytes]:
    sys.path.insert(0, str(ROOT / "tests" / "ingest"))
    try:
        import netflow_packets as nf
    except ImportError:
        return []
    template = nf.v9_template(256, nf.V9_FLOW_FIELDS)
    flows = b"".join(nf.v9_flow(f"10.20.0.{i}", "203.0.113.80", 40000 + i, 443) for i in range(1, 4))
    ipfix_template = nf.ipfix_template(300, [nf.ie(8, 4), nf.ie(12, 4), nf.ie(7, 2), nf.ie(11, 2), nf.ie(4, 1),
                                             nf.ie(1, 8), nf.ie(2, 8)])
    ipfix_flow = nf.ip4("10.30.0.1") + nf.ip4("192.0.2.53") + bytes.fromhex("14e9003511") + bytes(8) + bytes(8)
    return [
        nf.v5([nf.v5_record("10.40.0.1", "198.51.100.22", 51515, 22)], sequence=9),
        nf.v9([nf.flowset(0, template), nf.flowset(256, flows)], sequence=1),
        nf.ipfix([nf.flowset(2, ipfix_template), nf.flowset(300, ipfix_flow)]),
    ]


def seeds(name: str, unit: str, corpora: Path) -> list[bytes]:
    cls = parsers.get(name)
    out: list[bytes] = []
    whole_files = unit == "native" and cls.read is not Parser.read
    own_reader = cls.read is not Parser.read
    for path in _corpus_files(corpora, name, unit):
        if whole_files:
            if path.stat().st_size <= 256 * 1024:
                out.append(path.read_bytes())
        elif own_reader:  # --unit line: the records the parser's reader extracts (EVTX as JSON)
            out += [item[1].encode("utf-8", "surrogateescape") for item in cls().read(str(path))
                    if isinstance(item, tuple)][:20]
        else:
            out += list(_line_groups(_read_text(path)))[:40]
    if unit == "native" and name == "netflow":
        out += _netflow_seeds()
    elif not whole_files:
        out += _test_samples(name)
    return out[:MAX_SEEDS]


def write_seeds(directory: Path, items: list[bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for item in items:
        (directory / hashlib.sha1(item).hexdigest()).write_bytes(item)  # noqa: S324 - a file name


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=True)
    ap.add_argument("--parser", help="registered parser name (see --list)")
    ap.add_argument("--unit", choices=("native", "line"), default="native",
                    help="native: the parser's own unit (files for windows.evtx, datagrams for netflow); "
                         "line: parse() on lines")
    ap.add_argument("--corpus", type=Path, help="corpus directory kept between runs (default: temporary)")
    ap.add_argument("--corpora", type=Path,
                    default=Path(os.environ.get("CERT_CORPORA_DIR", ROOT.parent / "shared" / "corpora")))
    ap.add_argument("--no-seeds", action="store_true", help="start from an empty corpus")
    ap.add_argument("--plugins", default="", help="more plug-in modules to load (comma separated)")
    ap.add_argument("--list", action="store_true", help="list the parsers and exit")
    args, fuzzer_args = ap.parse_known_args(argv[1:])
    load_plugins([m for m in args.plugins.split(",") if m])
    if args.list:
        print("\n".join(parsers.names()))
        return
    if not args.parser or args.parser not in parsers:
        ap.error(f"--parser: one of {', '.join(parsers.names())}")
    with tempfile.TemporaryDirectory(prefix="vigie-fuzz-") as tmp:
        corpus = args.corpus or Path(tmp) / "corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        if not args.no_seeds:
            write_seeds(corpus, seeds(args.parser, args.unit, args.corpora))
        run = target(args.parser, args.unit, Path(tmp))
        atheris.Setup([argv[0], *fuzzer_args, str(corpus)], run)
        atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
