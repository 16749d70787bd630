"""User-agent parsing for ``user_agent.*`` (cert/enrichment/user_agent.py): the ua-parser project's
Rust engine (``ua_parser.regex.Resolver``, shipped) against its pure-Python one
(``ua_parser.BasicResolver``), same uap-core regexes, over the distinct user agents of the
corpora's real Apache log (cache cold: each agent parsed once), and over long made-up agents such
as an attacker can send. Also counts the agents on which the two engines disagree.

    .venv/bin/python bench/ingest/user_agents.py [--rounds 3] [--corpora ../shared/corpora]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ua_parser import BasicResolver, Domain, load_builtins
from ua_parser.regex import Resolver

from cert.core.config import Settings

AGENT = re.compile(r'"([^"]*)"\s*$', re.M)


def agents(corpora: Path) -> list[str]:
    text = (corpora / "web" / "elastic-examples" / "apache_logs").read_text(errors="replace")
    return sorted({m.group(1) for m in AGENT.finditer(text)} - {"-", ""})


def per_agent(resolve: Callable[[str, Domain], Any], items: list[str]) -> float:
    start = time.perf_counter()
    for agent in items:
        resolve(agent, Domain.ALL).complete()
    return (time.perf_counter() - start) / len(items) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--corpora", type=Path, default=Settings().corpora_dir)
    args = ap.parse_args()
    real = agents(args.corpora)
    hostile = [f"Mozilla/5.0 ({i}; " + "x" * 500 + ")" for i in range(50)]
    engines: dict[str, Callable[[str, Domain], Any]] = {"rust": Resolver(load_builtins()),
                                                         "python": BasicResolver(load_builtins())}
    for label, items in (("real distinct agents", real), ("500-character agents", hostile)):
        times: dict[str, list[float]] = {name: [] for name in engines}
        for _ in range(args.rounds):
            for name, engine in engines.items():  # alternating: both see the same machine load
                times[name].append(per_agent(engine, items))
        rust, python = statistics.median(times["rust"]), statistics.median(times["python"])
        print(f"{label} ({len(items)}): rust {rust:,.1f} µs/agent, python {python:,.1f} µs/agent, "
              f"{python / rust:,.1f}x")
    differ = 0
    for agent in real:
        x, y = engines["rust"](agent, Domain.ALL).complete(), engines["python"](agent, Domain.ALL).complete()
        differ += (x.user_agent, x.os, x.device) != (y.user_agent, y.os, y.device)
    print(f"agents where the engines disagree: {differ} of {len(real)}")


if __name__ == "__main__":
    main()
