"""Files attached to an incident (a sample, a script, a memory extract), with their chain of custody.

Each upload is stored under DATA_DIR/cases/<id>/ (never under the web root) with a safe name,
hashed (SHA-256) as it is written, its content type read from its first bytes (the client's
claim is ignored), and scanned by the file scanner (YARA, see ``cert.detection.files``): the
result goes on the incident's timeline, matches become alerts linked to the incident. The
``Attachment`` row keeps its name, size, SHA-256 and TLP; each addition, download, refused
download and removal is a ``CustodyEntry`` (who, when, from where). A download reads the file
back and checks its SHA-256 first: a file changed on disk is refused, and the refusal recorded.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.core.errors import N_, Conflict, InvalidInput, NotFound
from cert.core.tlp import TLP
from cert.detection.files import ScanOutcome, max_bytes, record, scanner_for
from cert.incidents.cases import add_observable, add_timeline, get_case
from cert.runtime.platform import Platform
from cert.storage import audit
from cert.storage.models import Alert, Attachment, Case, CustodyEntry

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
CHUNK = 1 << 20

#: content types recognised by their first bytes (the longest signatures first where they overlap)
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (b"\x7fELF", "application/x-elf"),
    (b"MZ", "application/x-msdownload"),
    (b"\xd4\xc3\xb2\xa1", "application/vnd.tcpdump.pcap"),
    (b"\xa1\xb2\xc3\xd4", "application/vnd.tcpdump.pcap"),
    (b"\x0a\x0d\x0d\x0a", "application/x-pcapng"),
)


def safe_name(name: str) -> str:
    """A file name safe to store: last path component, letters, digits, ``._-`` only."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip("._")[:100]
    return base or "upload"


def sniff(head: bytes) -> str:
    """The content type of a file from its first bytes: a known signature, else text when they
    decode as UTF-8 without control characters, else ``application/octet-stream``."""
    for magic, kind in _SIGNATURES:
        if head.startswith(magic):
            return kind
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        try:  # the last character may be cut in two by the end of the head
            text = head[:-3].decode("utf-8") if len(head) > 3 else ""
        except UnicodeDecodeError:
            return "application/octet-stream"
    if text and all(c.isprintable() or c in "\t\r\n\f" for c in text):
        return "text/plain"
    return "application/octet-stream"


@dataclass(frozen=True)
class Stored:
    path: Path
    size: int
    sha256: str
    content_type: str


def _store_upload(folder: Path, name: str, stream: IO[bytes], limit: int) -> Stored:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = folder / f"{stamp}-{name}"
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{stamp}-{n}-{name}"
    size = 0
    digest = hashlib.sha256()
    head = b""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise InvalidInput(N_("The file is larger than %(max)s MB."), max=limit // (1024 * 1024))
                if len(head) < 4096:
                    head += chunk[: 4096 - len(head)]
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if size == 0:
        target.unlink(missing_ok=True)
        raise InvalidInput(N_("The file is empty."))
    return Stored(target, size, digest.hexdigest(), sniff(head))


def case_folder(p: Platform, case_id: int) -> Path:
    return p.settings.data_dir / "cases" / str(case_id)


@dataclass(frozen=True)
class Upload:
    """A stored upload: its attachment row's id and the file scanner's outcome."""

    attachment_id: int
    outcome: ScanOutcome


def attach(p: Platform, case_id: int, filename: str, stream: IO[bytes], actor: str, remote_addr: str = "", *,
           tlp: str | None = None, organizations: Collection[str] | None = None) -> Upload:
    """Store a file uploaded to an incident, scan it, record it (attachment, custody, timeline,
    audit); matches become alerts linked to the incident. ``organizations``: the incident must be
    of one of these (NotFound otherwise, before anything is written)."""
    with p.db.session() as s:
        case = get_case(s, case_id, organizations=organizations)
        organization = case.organization
        label = TLP.parse(tlp or case.tlp).tag_value
    scanner = scanner_for(p)  # NotFound when no file scanner is configured, before anything is written
    name = safe_name(filename)
    stored = _store_upload(case_folder(p, case_id), name, stream, max_bytes(p))
    result = scanner.scan_file(stored.path, hash_always=True)
    fields: dict[str, Any] = {"file.name": name}
    if organization:
        fields["organization.name"] = organization  # the alert names the ministry of the case
    outcome = record(p, result, scanner, f"case:{case_id}", fields=fields)
    rules = [m.rule for m in result.matches]
    params: dict[str, object] = {"name": name, "size": stored.size, "sha256": stored.sha256}
    if result.error:
        message = N_("File %(name)s uploaded (%(size)s bytes, SHA-256 %(sha256)s). YARA scan failed: %(error)s")
        params["error"] = result.error
    elif rules:
        message = N_("File %(name)s uploaded (%(size)s bytes, SHA-256 %(sha256)s). YARA: %(rules)s")
        params["rules"] = ", ".join(rules)
    else:
        message = N_("File %(name)s uploaded (%(size)s bytes, SHA-256 %(sha256)s). YARA: no rule matched")
    with p.db.session() as s:
        case = get_case(s, case_id)
        attachment = Attachment(case_id=case.id, name=name, stored_name=stored.path.name, size=stored.size,
                                sha256=stored.sha256, content_type=stored.content_type, tlp=label,
                                uploaded_by=actor, scan={"matches": rules, "error": result.error,
                                                         "alert_ids": outcome.alert_ids})
        s.add(attachment)
        s.flush()
        s.add(CustodyEntry(attachment_id=attachment.id, actor=actor, action="added", remote_addr=remote_addr[:64],
                           sha256=stored.sha256))
        add_timeline(s, case, actor, "file", message,
                     {"file": stored.path.name, "attachment_id": attachment.id, "sha256": stored.sha256,
                      "size": stored.size, "matches": [m.as_dict() for m in result.matches], "error": result.error,
                      "alert_ids": outcome.alert_ids}, params=params)
        add_observable(s, case, "sha256", stored.sha256, ioc=bool(rules), comment=f"uploaded file {name}")
        for alert in s.scalars(select(Alert).where(Alert.id.in_(outcome.alert_ids))):
            if alert.case_id is None:
                alert.case_id = case.id
                alert.status = "promoted" if alert.status == "new" else alert.status
        audit.record(s, actor, "case.upload", "case", case_id, remote_addr, file=name, size=stored.size,
                     sha256=stored.sha256, yara=rules, error=result.error, attachment_id=attachment.id,
                     content_type=stored.content_type)
        return Upload(attachment.id, outcome)


def upload_to_case(p: Platform, case_id: int, filename: str, stream: IO[bytes], actor: str,
                   remote_addr: str = "") -> ScanOutcome:
    """Store a file uploaded to a case (``attach``); the file scanner's outcome."""
    return attach(p, case_id, filename, stream, actor, remote_addr).outcome


def list_attachments(s: Session, case_id: int, *, removed: bool = False) -> list[Attachment]:
    """The incident's attachments, oldest first; ``removed``: the removed ones too."""
    q = select(Attachment).where(Attachment.case_id == case_id)
    if not removed:
        q = q.where(Attachment.deleted_at.is_(None))
    return list(s.scalars(q.order_by(Attachment.id)))


def get_attachment(s: Session, case: Case, attachment_id: int, *, removed: bool = False) -> Attachment:
    found = s.get(Attachment, attachment_id)
    if found is None or found.case_id != case.id or (found.deleted_at is not None and not removed):
        raise NotFound(N_("Incident #%(case)s has no attachment #%(id)s."), case=case.id, id=attachment_id)
    return found


def custody(s: Session, attachment_ids: Collection[int]) -> dict[int, list[CustodyEntry]]:
    """The chain of custody of each attachment, oldest first (one query)."""
    out: dict[int, list[CustodyEntry]] = {i: [] for i in attachment_ids}
    if out:
        q = select(CustodyEntry).where(CustodyEntry.attachment_id.in_(list(out))).order_by(CustodyEntry.id)
        for entry in s.scalars(q):
            out[entry.attachment_id].append(entry)
    return out


@dataclass
class Download:
    """An attachment opened for download: its file, positioned at the start, already checked."""

    name: str
    size: int
    sha256: str
    file: IO[bytes]

    def chunks(self) -> Iterator[bytes]:
        try:
            while chunk := self.file.read(CHUNK):
                yield chunk
        finally:
            self.file.close()


def _open_checked(path: Path, sha256: str) -> IO[bytes] | None:
    """The file, at its start, when its content still has this SHA-256; None otherwise (changed,
    missing or unreadable). Hashed and served through the same open file."""
    try:
        fh = path.open("rb")
    except OSError:
        return None
    digest = hashlib.sha256()
    try:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
        fh.seek(0)
    except OSError:
        fh.close()
        return None
    if digest.hexdigest() != sha256:
        fh.close()
        return None
    return fh


def open_download(p: Platform, case_id: int, attachment_id: int, actor: str, remote_addr: str = "", *,
                  organizations: Collection[str] | None = None) -> Download:
    """Open an attachment for download and record it in its chain of custody. A file whose
    content no longer matches its SHA-256 (or that is gone) is refused (Conflict), and the
    refusal is recorded too: custody, timeline, audit."""
    with p.db.session() as s:
        case = get_case(s, case_id, organizations=organizations)
        att = get_attachment(s, case, attachment_id)
        folder = case_folder(p, case_id).resolve()
        path = (folder / att.stored_name).resolve()
        fh = _open_checked(path, att.sha256) if path.parent == folder else None
        if fh is not None:
            s.add(CustodyEntry(attachment_id=att.id, actor=actor, action="downloaded", remote_addr=remote_addr[:64],
                               sha256=att.sha256))
            audit.record(s, actor, "case.attachment.download", "case", case_id, remote_addr, attachment_id=att.id,
                         sha256=att.sha256)
            return Download(att.name, att.size, att.sha256, fh)
        s.add(CustodyEntry(attachment_id=att.id, actor=actor, action="refused", remote_addr=remote_addr[:64],
                           sha256=att.sha256))
        add_timeline(s, case, actor, "file",
                     N_("Download of %(name)s refused: the stored file no longer matches its SHA-256 %(sha256)s"),
                     {"attachment_id": att.id}, params={"name": att.name, "sha256": att.sha256})
        audit.record(s, actor, "case.attachment.tampered", "case", case_id, remote_addr, attachment_id=att.id,
                     sha256=att.sha256)
        name = att.name
    raise Conflict(N_("The stored file of %(name)s no longer matches its SHA-256: the download is refused, and "
                      "the refusal recorded."), name=name, attachment_id=attachment_id)


def remove_attachment(s: Session, case: Case, attachment_id: int, actor: str, remote_addr: str = "") -> Attachment:
    """Take an attachment off the incident. The file is kept (it is evidence) and the removal is
    in its chain of custody."""
    att = get_attachment(s, case, attachment_id)
    att.deleted_at = datetime.now(UTC)
    s.add(CustodyEntry(attachment_id=att.id, actor=actor, action="removed", remote_addr=remote_addr[:64],
                       sha256=att.sha256))
    add_timeline(s, case, actor, "file", N_("File %(name)s removed from the incident"), {"attachment_id": att.id},
                 params={"name": att.name})
    audit.record(s, actor, "case.attachment.remove", "case", case.id, remote_addr, attachment_id=att.id,
                 sha256=att.sha256)
    return att
