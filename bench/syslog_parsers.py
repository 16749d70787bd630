"""Syslog, CEF, LEEF and access-log parsers: lines parsed per second.

Run: python bench/syslog_parsers.py [--lines 200000]
Measured side by side in one run, each on --lines lines (inputs replayed):
- linux.auth and syslog (this version) against linux.auth as first committed (98ec73d, the
  baseline), on the fail2ban sshd sample lines both versions read;
- web.access (this version) against web.access at 98ec73d, on Elastic's 10,000 Apache lines;
- cef and leef on the test samples (vendor formats), with the syslog parser's rate for scale.
The machine is shared: each rate is the best of --rounds rounds, the rounds interleaving all the
parsers, so that a burst of other work does not favour one of them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "ingest"))

import test_parser_cef
import test_parser_leef
from tests_paths import fail2ban

from cert.core.config import load_settings
from cert.core.parser import ParseError, Parser, parsers
from cert.core.registry import load_plugins

BASELINE = "98ec73d"


def _baseline_modules() -> None:
    """The modules BASELINE's parsers import, under the names they had then: ``cert.ecs`` (today
    ``cert.core.ecs``) and ``cert.ingestion`` (today ``cert.core.parser``), with a registry of
    their own so that the old classes never replace today's."""
    from cert.core import ecs, parser
    from cert.core.registry import Registry

    ingestion = types.ModuleType("cert.ingestion")
    ingestion.__dict__.update(Parser=parser.Parser, ParseError=parser.ParseError,
                              parsers=Registry("baseline parser"))
    sys.modules.setdefault("cert.ecs", ecs)
    sys.modules.setdefault("cert.ingestion", ingestion)


def old_parser(module: str, cls: str, deps: tuple[str, ...] = ()) -> Parser:
    """A parser class as it was at BASELINE, registered under another name."""
    _baseline_modules()
    for dep in deps:
        src = subprocess.run(["git", "show", f"{BASELINE}:ingest/parsers/{dep}.py"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        mod = types.ModuleType(f"baseline_{dep}")
        sys.modules[mod.__name__] = mod
        exec(compile(src, f"{BASELINE}:{dep}.py", "exec"), mod.__dict__)  # noqa: S102 - our own history
    src = subprocess.run(["git", "show", f"{BASELINE}:ingest/parsers/{module}.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    for dep in deps:
        src = src.replace(f"ingest.parsers.{dep}", f"baseline_{dep}")
    src = src.replace('name = "', 'name = "baseline.')
    mod = types.ModuleType(f"baseline_{module}")
    exec(compile(src, f"{BASELINE}:{module}.py", "exec"), mod.__dict__)  # noqa: S102
    parser: Parser = getattr(mod, cls)()
    return parser


def rate(parser: Parser, lines: list[str], total: int) -> float:
    reps = max(1, total // len(lines))
    parse: Callable[[str], object] = parser.parse
    start = time.perf_counter()
    for _ in range(reps):
        for line in lines:
            parse(line)
    return reps * len(lines) / (time.perf_counter() - start)


def readable(parsers_: list[Parser], lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        try:
            if all(p.parse(line) is not None for p in parsers_):
                out.append(line)
        except ParseError:
            continue
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    load_plugins(["ingest.parsers"])
    corpora = load_settings().corpora_dir
    auth_new, syslog = parsers.get("linux.auth")(), parsers.get("syslog")()
    auth_old = old_parser("linux_auth", "LinuxAuthParser", ("_syslog",))
    sshd = readable([auth_old, auth_new], [line for _, line in fail2ban(corpora, "sshd")])
    web_new = parsers.get("web.access")()
    web_old = old_parser("web_access", "WebAccessParser")
    apache = (corpora / "web" / "elastic-examples" / "apache_logs").read_text().splitlines()
    cef = [line for line, _ in test_parser_cef.TestCef.samples]
    leef = [line for line, _ in test_parser_leef.TestLeef.samples]
    n = args.lines
    print(f"{len(sshd)} sshd lines, {len(apache)} Apache lines, {len(cef)} CEF and {len(leef)} LEEF samples; "
          f"{n:,} lines each")
    runs: list[tuple[str, Parser, list[str]]] = [
        ("linux.auth, baseline " + BASELINE, auth_old, sshd),
        ("linux.auth (this version)", auth_new, sshd),
        ("syslog (this version)", syslog, sshd),
        ("web.access, baseline " + BASELINE, web_old, apache),
        ("web.access (this version)", web_new, apache),
        ("cef", parsers.get("cef")(), cef),
        ("leef", parsers.get("leef")(), leef),
    ]
    base: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, parser, lines in runs:
            base[name] = max(base.get(name, 0.0), rate(parser, lines, n))
    for name, value in base.items():
        ref = "web.access" if name.startswith("web") else "linux.auth"
        ratio = value / base[f"{ref}, baseline {BASELINE}"]
        print(f"{name:34} {value:>10,.0f} lines/s   {ratio:5.2f}x the {ref} baseline")


if __name__ == "__main__":
    main()
