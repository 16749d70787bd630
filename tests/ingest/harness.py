"""The common test harness every parser's tests inherit (the IntelMQ way): subclasses give a parser
name, sample lines with the ECS fields expected, and malformed lines; the harness checks them,
runs them through the real ingest pipeline into an embedded store (the common ECS fields, a
stable ``event.id``, malformed input dead-lettered with its reason and nothing lost), and fuzzes
the parser so that no exception other than ParseError escapes.
``tests/ingest/test_parser_contract.py`` checks that every registered parser has such a test."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cert.core.config import Settings
from cert.core.ecs import get
from cert.core.parser import ParseError, Parser, parsers
from cert.core.registry import load_plugins
from cert.pipeline.ingestor import Ingestor, finalize
from cert.runtime.platform import Platform
from cert.storage.events import EventQuery

load_plugins(["ingest.parsers"])


class ParserCase:
    parser_name: ClassVar[str]
    samples: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    malformed: ClassVar[list[str]] = []

    @property
    def parser(self) -> Parser:
        return parsers.get(self.parser_name)()

    def test_samples_map_to_ecs(self) -> None:
        assert self.samples, "a parser test needs samples"
        for line, expected in self.samples:
            event = self.parser.parse(line)
            assert event is not None, line
            for field, value in expected.items():
                assert get(event, field) == value, f"{field} of {line!r}: {get(event, field)!r} != {value!r}"

    def test_finalized_events_carry_the_common_fields(self) -> None:
        for line, _ in self.samples:
            parser = self.parser
            event = finalize(parser.parse(line) or {}, parser, line, "sample.log")
            for field in (
                "@timestamp",
                "event.id",
                "event.dataset",
                "event.module",
                "event.kind",
                "event.ingested",
                "event.original",
                "ecs.version",
            ):
                assert get(event, field), f"{field} missing for {line!r}"

    def test_malformed_lines_raise_parse_error(self) -> None:
        for line in self.malformed:
            with pytest.raises(ParseError):
                self.parser.parse(line)

    def test_event_id_is_stable_and_depends_on_the_source(self) -> None:
        for line, _ in self.samples:
            parser = self.parser
            first = get(finalize(parser.parse(line) or {}, parser, line, "a.log"), "event.id")
            again = get(finalize(self.parser.parse(line) or {}, self.parser, line, "a.log"), "event.id")
            other = get(finalize(self.parser.parse(line) or {}, self.parser, line, "b.log"), "event.id")
            assert first == again, f"event.id of {line!r} changes between two reads"
            assert first != other, f"event.id of {line!r} is the same from two sources"

    def test_pipeline_stores_samples_and_dead_letters_the_rest(self, tmp_path: Path) -> None:
        """Samples and malformed lines through the Ingestor into a real embedded store: every
        sample stored once (ingested twice: no duplicate), every malformed line a dead letter with
        a reason, and no exception."""
        garbage = [*self.malformed, "\x00\x01garbage\udcff", "{" * 200]
        lines = [line for line, _ in self.samples] + garbage
        p = Platform(replace(Settings(), data_dir=tmp_path / "data", secret_key="contract"))
        try:
            p.db.upgrade()
            ingestor = Ingestor(p, self.parser_name)
            summary = ingestor.ingest(enumerate(lines, 1), "contract.log")
            p.events.refresh()
            stored = p.events.search(EventQuery(limit=10_000))
            again = Ingestor(p, self.parser_name).ingest(enumerate(lines, 1), "contract.log")
        finally:
            p.close()
        assert summary.read == len(lines)
        samples = [line for line, _ in self.samples]  # a sample given twice is two events
        assert summary.ingested == len(samples), summary
        assert len(stored) == len(samples)
        for event in stored:
            for field in ("@timestamp", "event.id", "event.dataset", "event.original", "ecs.version"):
                assert get(event, field), f"{field} missing in the stored event of {self.parser_name}"
        assert summary.ingested + summary.skipped + summary.dead_lettered == len(lines), summary
        assert summary.dead_lettered >= len(self.malformed), summary
        assert all(reason for _, reason in summary.errors)
        assert again.ingested == 0 and again.duplicates == len(samples), again

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.differing_executors])
    @given(st.text(max_size=300))
    def test_fuzz_no_exception_escapes(self, line: str) -> None:
        with contextlib.suppress(ParseError):
            self.parser.parse(line)

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.differing_executors])
    @given(st.data())
    def test_fuzz_mutated_samples(self, data: st.DataObject) -> None:
        line, _ = data.draw(st.sampled_from(self.samples))
        cut = data.draw(st.integers(0, len(line)))
        junk = data.draw(st.text(max_size=20))
        with contextlib.suppress(ParseError):
            self.parser.parse(line[:cut] + junk + line[cut:])
