"""The audit trail: who did what, to which object, when and from where."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert.storage.models import AuditEntry

SECRET_KEYS = {"password", "secret", "token", "api_key", "authorization"}


def _scrub(details: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if any(s in k.lower() for s in SECRET_KEYS) else v) for k, v in details.items()}


def record(
    s: Session,
    actor: str,
    action: str,
    object_type: str = "",
    object_id: object = "",
    remote_addr: str = "",
    **details: Any,
) -> AuditEntry:
    entry = AuditEntry(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details=_scrub(details),
        remote_addr=remote_addr,
    )
    s.add(entry)
    return entry


def recent(s: Session, limit: int = 200) -> list[AuditEntry]:
    return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))
