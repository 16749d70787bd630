"""Coverage-guided fuzzing (atheris, ``fuzz/parsers.py``) of every registered parser through its
unit contract, a short bounded campaign each, seeded with the corpora: a crash (any exception
other than ParseError out of parse + finalize, a read() or decoder that raises, an event the
stores cannot serialise) fails the test with libFuzzer's report. Longer campaigns: README,
"Run the tests"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cert.core.parser import parsers
from cert.core.registry import load_plugins

pytest.importorskip("atheris", reason="atheris is not installed (pip install -e '.[test]' on Linux x86-64)")

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "fuzz" / "parsers.py"
load_plugins(["ingest.parsers"])
RUNS, SECONDS = 5000, 3  # per parser: whichever comes first, after the seeds


def fuzz(parser: str, corpora: Path, workdir: Path, *extra: str, env: dict[str, str] | None = None,
         timeout: float = 90) -> subprocess.CompletedProcess[str]:
    artifacts = workdir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, str(HARNESS), "--parser", parser, "--corpora", str(corpora), f"-runs={RUNS}",
         f"-max_total_time={SECONDS}", "-timeout=20", f"-artifact_prefix={artifacts}/", *extra],
        capture_output=True, text=True, timeout=timeout, cwd=workdir,
        # a stalled EVTX chunk is given up well before libFuzzer's own timeout
        env={**os.environ, "VIGIE_EVTX_STALL_SECONDS": "5", **(env or {})},
    )


def report(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stdout + done.stderr).splitlines()
    return "\n".join(line for line in lines if not line.startswith(("INFO:", "#")))[-4000:]


@pytest.mark.parametrize("parser", parsers.names())
def test_no_exception_escapes_the_parser(parser: str, corpora: Path, tmp_path: Path) -> None:
    done = fuzz(parser, corpora, tmp_path)
    assert done.returncode == 0, f"atheris found a crash in {parser}:\n{report(done)}"
    assert "Done " in done.stdout + done.stderr, report(done)
    assert not list((tmp_path / "artifacts").iterdir())


def test_the_harness_reports_a_crashing_parser(corpora: Path, tmp_path: Path) -> None:
    """A parser that lets a KeyError out on one input: the harness must say so (and save it)."""
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "crashy_parser.py").write_text(
        "from cert.pipeline.ingestor import ParseError, Parser, parsers\n\n\n"
        "@parsers.register\n"
        "class Crashy(Parser):\n"
        "    name = 'test.crashy'\n    dataset = 'test.crashy'\n    module = 'test'\n\n"
        "    def parse(self, line):\n"
        "        if 'kaboom' in line:\n            return {}['missing']\n"
        "        raise ParseError('never readable')\n")
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "one").write_bytes(b"a line\nkaboom\n")
    done = fuzz("test.crashy", corpora, tmp_path, "--plugins", "crashy_parser", "--corpus", str(seeds),
                env={"PYTHONPATH": str(plugin)})
    assert done.returncode != 0
    assert "KeyError: 'missing'" in done.stdout + done.stderr
    [crash] = list((tmp_path / "artifacts").iterdir())
    assert b"kaboom" in crash.read_bytes()
