"""Step ``yara_files``: the incident's attached files scanned again with the current YARA rules
(``rules/yara`` as it is now: a rule written after the upload is applied), as the upload scanned
them (``cert.detection.files``, the ``yara`` file scanner). Nothing leaves Vigie: permitted under
any PAP.

For each attached file (not removed): its name, SHA-256 and the rules that match, and which of
them did not match when it was uploaded. A stored file whose SHA-256 no longer matches the one
recorded at upload is not evidence any more: it is listed as changed, not as matched. The step
reports; it raises no alert (the upload did, for the rules of that day).

``data``: ``files`` (per file: ``name``, ``sha256``, ``rules``, ``new_rules``, ``error``),
``matched_sha256`` and ``rules`` (lists for later steps), ``changed``, ``failed``.
"""

from __future__ import annotations

from typing import Any

from cert.core.errors import N_, InvalidInput, NotFound
from cert.core.tlp import PAP
from cert.detection.files import max_bytes, scanner_for
from cert.incidents.attachments import case_folder, list_attachments
from cert.response.playbooks import Step, StepContext, StepResult, steps


@steps.register
class YaraFiles(Step):
    name = "yara_files"
    needs_pap = PAP.RED  # a local scan of our own copy

    def run(self, ctx: StepContext) -> StepResult:
        attachments = list_attachments(ctx.session, ctx.case.id)
        if not attachments:
            return StepResult(N_("[%(step)s] The incident has no attached file to scan."),
                              {"files": [], "matched_sha256": [], "rules": [], "changed": [], "failed": []})
        try:
            scanner = scanner_for(ctx.platform)
        except NotFound as exc:
            raise InvalidInput(N_("[%(step)s] no YARA file scanner is available: %(error)s"), step=self.name,
                               error=str(exc)) from exc
        folder = case_folder(ctx.platform, ctx.case.id).resolve()
        files: list[dict[str, Any]] = []
        data: dict[str, Any] = {"files": files, "matched_sha256": [], "rules": [], "changed": [], "failed": []}
        lines: list[str] = []
        new: list[str] = []
        for att in attachments:
            path = (folder / att.stored_name).resolve()
            entry: dict[str, Any] = {"name": att.name, "sha256": att.sha256, "rules": [], "new_rules": [],
                                     "error": ""}
            files.append(entry)
            if path.parent != folder or not path.is_file():
                entry["error"] = "missing"
                data["failed"].append(f"{att.name}: missing")
                continue
            report = scanner.scan_file(path, max_bytes=max_bytes(ctx.platform), hash_always=True)
            if report.error:
                entry["error"] = report.error.replace(str(path), att.name)[:300]
                data["failed"].append(f"{att.name}: {entry['error']}")
                continue
            if report.sha256 != att.sha256:
                entry["error"] = "changed"
                data["changed"].append(f"{att.name} ({report.sha256})")
                continue
            rules = list(dict.fromkeys(m.rule for m in report.matches))
            before = set((att.scan or {}).get("matches") or [])
            entry["rules"], entry["new_rules"] = rules, [r for r in rules if r not in before]
            if rules:
                if att.sha256 not in data["matched_sha256"]:
                    data["matched_sha256"].append(att.sha256)
                data["rules"].extend(r for r in rules if r not in data["rules"])
                lines.append(f"{att.name} (SHA-256 {att.sha256}): {', '.join(rules)}")
                new.extend(f"{att.name}: {r}" for r in entry["new_rules"])
        return StepResult(
            N_("[%(step)s] %(files)s file(s) scanned with the current YARA rules, %(matched)s matching: %(lines)s. "
               "Rules that did not match at upload: %(new)s. Changed on disk since the upload: %(changed)s. "
               "Not scanned: %(failed)s."), data,
            {"files": len(files), "matched": len(lines), "lines": "; ".join(lines) or "-",
             "new": ", ".join(new) or "-", "changed": ", ".join(data["changed"]) or "-",
             "failed": ", ".join(data["failed"]) or "-"})
