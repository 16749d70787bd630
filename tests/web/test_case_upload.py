"""A file uploaded to a case: stored safely under the data directory, scanned with YARA, the
result on the timeline, matches as alerts linked to the case, shown on the alert page."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from support import csrf_token, login

from cert.accounts.users import create_user
from cert.core.config import Settings
from cert.incidents.attachments import safe_name
from cert.runtime.platform import Platform
from cert.storage.models import Alert, AuditEntry, Case
from web.app import create_app

PASSWORD = "correct-horse-battery"
CHOPPER = b'<%@ Page Language="Jscript"%><%eval(Request.Item["z"],"unsafe");%>'


@pytest.fixture
def plat(settings: Settings) -> Iterator[Platform]:
    p = Platform(replace(settings, plugins=("playbooks.steps", "detectors.indicators", "detectors.yara"), yara_max_file_mb=1))
    p.db.upgrade()
    with p.db.session() as s:
        create_user(s, "analyste", PASSWORD, "analyst")
        s.add(Case(title="Compromission du portail", created_by="analyste", tlp="amber",
                   organization="Ministère de la Justice"))
    yield p
    p.close()


@pytest.fixture
def client(plat: Platform) -> Any:
    app: Flask = create_app(platform=plat)
    app.config["TESTING"] = True
    c = app.test_client()
    assert login(c, "analyste", PASSWORD).status_code == 302
    return c


def upload(client: Any, name: str, data: bytes, token: bool = True) -> Any:
    page = client.get("/cases/1").get_data(as_text=True)
    form: dict[str, Any] = {"file": (io.BytesIO(data), name)}
    if token:
        form["csrf_token"] = csrf_token(page)
    return client.post("/cases/1/files", data=form, content_type="multipart/form-data")


def test_a_web_shell_upload_is_stored_scanned_and_raises_an_alert_on_the_case(client: Any, plat: Platform) -> None:
    page = client.get("/cases/1").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'action="/cases/1/files"' in page
    resp = upload(client, "..\\..\\wwwroot\\<img src=x>shell.aspx", CHOPPER)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/cases/1")
    stored = list((plat.settings.data_dir / "cases" / "1").iterdir())
    assert len(stored) == 1 and re.fullmatch(r"\d{8}T\d{6}-[A-Za-z0-9._-]+shell\.aspx", stored[0].name)
    assert stored[0].read_bytes() == CHOPPER and stored[0].stat().st_mode & 0o777 == 0o600

    page = client.get("/cases/1").get_data(as_text=True)
    assert "Webshell_China_Chopper" in page and "<img src=x>" not in page
    with plat.db.session() as s:
        [alert] = s.scalars(select(Alert)).all()
        case = s.get_one(Case, 1)
        timeline = [(t.kind, t.message) for t in case.timeline]
        observables = [(o.type, o.value, o.ioc) for o in case.observables]
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "case.upload")).one()
    assert alert.case_id == 1 and alert.status == "promoted" and alert.severity == "critical"
    assert alert.rule_id == "yara:webshells.Webshell_China_Chopper" and alert.detector == "yara"
    assert alert.organization == "Ministère de la Justice"
    sha = alert.entities["yara"]["file"]["sha256"]
    assert timeline[-1][0] == "file" and f"SHA-256 {sha}" in timeline[-1][1]
    assert "YARA: Webshell_China_Chopper" in timeline[-1][1]
    assert observables == [("sha256", sha, True)]
    assert audit.actor == "analyste" and audit.details["yara"] == ["Webshell_China_Chopper"]

    alert_page = client.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert 'id="yara"' in alert_page and "$aspx" in alert_page and "@ 0" in alert_page
    assert "&lt;%@ Page Language=" in alert_page  # matched bytes shown as text, escaped


def test_a_clean_file_only_goes_to_the_timeline(client: Any, plat: Platform) -> None:
    assert upload(client, "note.txt", "Compte rendu de réunion.\n".encode()).status_code == 303
    with plat.db.session() as s:
        assert s.scalars(select(Alert)).all() == []
        case = s.get_one(Case, 1)
        assert case.timeline[-1].message.endswith("YARA: no rule matched")
        assert [(o.type, o.ioc) for o in case.observables] == [("sha256", False)]


def test_refused_uploads(client: Any, plat: Platform) -> None:
    assert upload(client, "a.php", b"x", token=False).status_code == 400  # CSRF
    too_big = upload(client, "dump.bin", b"\x00" * (1024 * 1024 + 1))
    assert too_big.status_code == 400 and "Le fichier dépasse 1 Mo." in too_big.get_data(as_text=True)
    assert upload(client, "empty.txt", b"").status_code == 400
    folder = plat.settings.data_dir / "cases" / "1"
    assert not folder.exists() or list(folder.iterdir()) == []  # nothing partial left behind
    page = client.get("/cases/1").get_data(as_text=True)
    resp = client.post("/cases/999/files", data={"csrf_token": csrf_token(page), "file": (io.BytesIO(b"x"), "a")},
                       content_type="multipart/form-data")
    assert resp.status_code == 404


def test_safe_names() -> None:
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("..\\..\\wwwroot\\<img src=x>shell.aspx") == "img_src_x_shell.aspx"
    assert safe_name("...") == "upload" and safe_name("") == "upload"
    assert safe_name("rapport d'incident (v2).pdf") == "rapport_d_incident_v2_.pdf"
