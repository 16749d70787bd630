"""``cert ingest`` arguments: a directory is read recursively (the files its parser reads), a
recursive glob (``dir/**/*.evtx``) matches at every depth, and an argument that yields no file is
an error (exit 2), never a dead letter with exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from cert.cli.ingest import expand
from cert.core.errors import InvalidInput

ATTACK = Path("evtx") / "evtx-to-mitre-attack"
DISCOVERY = ATTACK / "TA0007-Discovery"


def test_a_directory_gives_its_evtx_files_at_every_depth(corpora: Path) -> None:
    root = corpora / ATTACK
    wanted = sorted(str(p) for p in root.rglob("*.evtx"))
    assert len(wanted) > 200
    assert expand([str(root)], extensions=(".evtx",)) == wanted
    # the licence and README beside them are not Windows event logs
    everything = expand([str(root)])
    assert str(root / "README.md") in everything and len(everything) == len(wanted) + 2


def test_a_recursive_glob_matches_at_every_depth(corpora: Path) -> None:
    root = corpora / DISCOVERY
    nested = sorted(str(p) for p in root.rglob("*.evtx"))
    assert len(nested) > 20 and not list(root.glob("*.evtx"))  # all of them in sub-folders
    assert expand([f"{root}/**/*.evtx"]) == nested
    assert expand([f"{root}/*.evtx"], allow_empty=True) == []


def test_files_named_twice_are_read_once_in_the_order_given(corpora: Path) -> None:
    root = corpora / DISCOVERY
    first = sorted(str(p) for p in root.rglob("*.evtx"))[0]
    got = expand([first, str(root), f"{root}/**/*.evtx"], extensions=(".evtx",))
    assert got[0] == first and len(got) == len(set(got)) == len(list(root.rglob("*.evtx")))


def test_an_argument_that_yields_no_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    with pytest.raises(InvalidInput, match="no file to read"):
        expand([str(empty)])
    (empty / "sub" / "notes.txt").write_text("x")
    assert expand([str(empty)]) == [str(empty / "sub" / "notes.txt")]
    with pytest.raises(InvalidInput, match=r"no file to read \(\.evtx\)"):
        expand([str(empty)], extensions=(".evtx",))
    with pytest.raises(InvalidInput, match="no file matches"):
        expand([f"{tmp_path}/**/*.evtx"])
    assert expand([str(tmp_path / "missing.log")]) == [str(tmp_path / "missing.log")]  # the ingestor says so


def test_cli_ingests_a_folder_of_evtx_and_refuses_an_empty_one(corpora: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from cert.cli import main
    from cert.core.config import load_settings
    from cert.runtime.platform import Platform

    for key in [k for k in __import__("os").environ if k.startswith("CERT_")]:
        monkeypatch.delenv(key)
    folder = corpora / DISCOVERY / "T1087-Account discovery"
    files = sorted(folder.rglob("*.evtx"))
    assert len(files) > 1
    data_dir = tmp_path / "data"
    assert main(["--data-dir", str(data_dir), "init"]) == 0
    assert main(["--data-dir", str(data_dir), "ingest", "--parser", "windows.evtx", str(folder)]) == 0
    out = capsys.readouterr().out
    assert all(f"{f}: " in out for f in files), out
    assert "dead-lettered" in out and " 0 dead-lettered" in out
    from dataclasses import replace

    p = Platform(replace(load_settings(None), data_dir=data_dir))
    try:
        assert p.events.count() >= len(files)
    finally:
        p.close()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--data-dir", str(data_dir), "ingest", "--parser", "windows.evtx", str(empty)]) == 2
    assert "no file to read" in capsys.readouterr().err
