"""The bundled demo scenario and the ``cert demo`` set-up."""

from __future__ import annotations

import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from cert.accounts.users import create_user
from cert.core.lines import read_lines
from cert.incidents.templates import ensure_defaults as ensure_default_templates
from cert.pipeline.ingestor import Ingestor, IngestSummary
from cert.runtime.platform import Platform
from cert.storage.models import User

SCENARIO_DIR = Path(__file__).resolve().parent / "scenario"
DEMO_USERS = (("analyste", "analyst"), ("intervenant", "responder"), ("admin", "admin"))


@dataclass(frozen=True)
class DemoSource:
    path: Path
    parser: str
    fields: dict[str, str]


def scenario_sources(directory: Path = SCENARIO_DIR) -> list[DemoSource]:
    data = tomllib.loads((directory / "scenario.toml").read_text(encoding="utf-8"))
    return [
        DemoSource(directory / s["file"], s["parser"], {str(k): str(v) for k, v in s.get("fields", {}).items()})
        for s in data["source"]
    ]


def ensure_demo_users(platform: Platform) -> dict[str, str]:
    """Create the demo accounts once; their passwords are kept (0600) in the data directory."""
    cred_file = platform.settings.data_dir / "demo-credentials.txt"
    known: dict[str, str] = {}
    if cred_file.exists():
        for line in cred_file.read_text().splitlines():
            user, _, pw = line.partition(" ")
            known[user] = pw
    with platform.db.session() as s:
        for username, role in DEMO_USERS:
            if s.scalar(select(User).where(User.username == username)) is None:
                known[username] = secrets.token_urlsafe(12)
                create_user(s, username, known[username], role, "demo")
        ensure_default_templates(s, "demo")  # the incident templates a fresh platform starts with
    cred_file.write_text("".join(f"{u} {p}\n" for u, p in known.items()))
    cred_file.chmod(0o600)
    return known


def ingest_scenario(platform: Platform) -> list[tuple[DemoSource, IngestSummary]]:
    results = []
    for src in scenario_sources():
        ingestor = Ingestor(platform, src.parser, static_fields=src.fields)
        results.append((src, ingestor.ingest(read_lines(str(src.path)), source=src.path.name)))
    return results
