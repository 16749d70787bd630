"""Files attached to a case (a sample, a script, a memory extract): stored under
DATA_DIR/cases/<id>/ with a safe name, scanned by the file scanner (YARA, see
``cert.detection.files``), the result on the case's timeline, matches as alerts linked to the case.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select

from cert.core.errors import N_, InvalidInput
from cert.detection.files import ScanOutcome, max_bytes, record, scanner_for
from cert.incidents.cases import add_observable, add_timeline, get_case
from cert.runtime.platform import Platform
from cert.storage import audit
from cert.storage.models import Alert

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A file name safe to store: last path component, letters, digits, ``._-`` only."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip("._")[:100]
    return base or "upload"


def _store_upload(folder: Path, name: str, stream: IO[bytes], limit: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = folder / f"{stamp}-{name}"
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{stamp}-{n}-{name}"
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise InvalidInput(N_("The file is larger than %(mb)s MB."), mb=limit // (1024 * 1024))
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if size == 0:
        target.unlink(missing_ok=True)
        raise InvalidInput(N_("The file is empty."))
    return target


def upload_to_case(p: Platform, case_id: int, filename: str, stream: IO[bytes], actor: str,
                   remote_addr: str = "") -> ScanOutcome:
    """Store a file uploaded to a case, scan it, and put the result on the case's timeline;
    matches become alerts linked to the case."""
    with p.db.session() as s:
        organization = get_case(s, case_id).organization  # NotFound before anything is written
    scanner = scanner_for(p)  # NotFound when no file scanner is configured, before anything is written
    name = safe_name(filename)
    target = _store_upload(p.settings.data_dir / "cases" / str(case_id), name, stream, max_bytes(p))
    result = scanner.scan_file(target, hash_always=True)
    fields: dict[str, Any] = {"file.name": name}
    if organization:
        fields["organization.name"] = organization  # the alert names the ministry of the case
    outcome = record(p, result, scanner, f"case:{case_id}", fields=fields)
    rules = [m.rule for m in result.matches]
    if result.error:
        message = N_("File %(name)s uploaded (%(size)s bytes, SHA-256 %(sha256)s). YARA scan failed: %(error)s")
    elif rules:
        message = N_("File %(name)s uploaded (%(size)s bytes, SHA-256 %(sha256)s). YARA: %(rules)s")
    else:
        message = N_("File %(name)s uploaded (%(size)s bytes, SHA-256 %(sha256)s). YARA: no rule matched")
    with p.db.session() as s:
        case = get_case(s, case_id)
        add_timeline(s, case, actor, "file", message,
                     {"file": target.name, "sha256": result.sha256, "size": result.size,
                      "matches": [m.as_dict() for m in result.matches], "error": result.error,
                      "alert_ids": outcome.alert_ids},
                     params={"name": name, "size": result.size, "sha256": result.sha256, "error": result.error,
                             "rules": ", ".join(rules)})
        if result.sha256:
            add_observable(s, case, "sha256", result.sha256, ioc=bool(rules), comment=f"uploaded file {name}")
        for alert in s.scalars(select(Alert).where(Alert.id.in_(outcome.alert_ids))):
            if alert.case_id is None:
                alert.case_id = case.id
                alert.status = "promoted" if alert.status == "new" else alert.status
        audit.record(s, actor, "case.upload", "case", case_id, remote_addr, file=name, size=result.size,
                     sha256=result.sha256, yara=rules, error=result.error)
    return outcome
