"""The YARA file scanner the core calls for a watched folder and for files uploaded to a case
(``cert.core.contracts.file_scanners``): the rules of ``rules/yara``, the settings' timeout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cert.core.config import Settings
from cert.core.contracts import Event, FileScanner, Hit, ScanReport, file_scanners
from detectors.yara.scan import file_event, hits_for_scan, load_rules, scan_file


@file_scanners.register
class YaraFileScanner(FileScanner):
    name = "yara"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.ruleset = load_rules(settings.rules_dir / "yara")  # cached by content: edited rules are picked up

    @property
    def rules_hash(self) -> str:
        return self.ruleset.hash

    @property
    def rejected(self) -> tuple[tuple[str, str], ...]:
        return self.ruleset.rejected

    def scan_file(self, path: Path, *, max_bytes: int | None = None, size: int | None = None,
                  hash_always: bool = False) -> ScanReport:
        return scan_file(self.ruleset, path, self.settings.yara_timeout_seconds, max_bytes,
                         hash_always=hash_always, size=size)

    def file_event(self, report: ScanReport, dataset: str, fields: dict[str, Any] | None = None) -> Event:
        return file_event(report, dataset, self.ruleset.hash, fields)

    def hits_for(self, report: ScanReport, event: Event, group: str) -> list[Hit]:
        return hits_for_scan(report, event, group)
