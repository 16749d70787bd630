"""The common test harness every parser's tests inherit (the IntelMQ way): subclasses give a parser
name, sample lines with the ECS fields expected, and malformed lines; the harness checks them and
fuzzes the parser so that no exception other than ParseError escapes."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cert.core.ecs import get
from cert.core.parser import ParseError, Parser, parsers
from cert.core.registry import load_plugins
from cert.pipeline.ingestor import finalize

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

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.differing_executors])
    @given(st.text(max_size=300))
    def test_fuzz_no_exception_escapes(self, line: str) -> None:
        try:
            self.parser.parse(line)
        except ParseError:
            pass

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.differing_executors])
    @given(st.data())
    def test_fuzz_mutated_samples(self, data: st.DataObject) -> None:
        line, _ = data.draw(st.sampled_from(self.samples))
        cut = data.draw(st.integers(0, len(line)))
        junk = data.draw(st.text(max_size=20))
        try:
            self.parser.parse(line[:cut] + junk + line[cut:])
        except ParseError:
            pass
