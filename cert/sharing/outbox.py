"""The outbox: messages for the CERT's mail gateway, one RFC 5322 ``.eml`` file each in the data
directory's ``outbox`` folder, written whole or not at all (a relay never reads half a message)."""

from __future__ import annotations

import os
import re
import tempfile
from email.message import EmailMessage
from pathlib import Path

from cert.core.config import Settings

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def queue_message(settings: Settings, msg: EmailMessage, stem: str) -> Path:
    """Write ``msg`` to the outbox as ``<stem>-<message id>.eml``; its path."""
    outbox = settings.outbox_dir
    outbox.mkdir(parents=True, exist_ok=True)
    ident = str(msg["Message-ID"] or "").strip("<>").split("@")[0]
    path = outbox / _SAFE.sub("_", f"{stem}-{ident}.eml")
    fd, tmp = tempfile.mkstemp(dir=outbox, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(bytes(msg))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
