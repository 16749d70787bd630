"""The focal point's notification goes through the sharing policy: at a TLP:GREEN ceiling, an
incident of mixed markings gives its GREEN and CLEAR observables, a neutral title and no
description; nothing AMBER or RED appears anywhere in the message the SMTP server receives,
subject and body included."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mail_support import start_smtp
from support import INTERIEUR

from cert.incidents.cases import add_observable
from cert.notify import deliver_due
from cert.response.runs import start_run
from cert.runtime.platform import Platform
from cert.storage.models import Case, PlaybookRun

TELL = """
id: tell
steps:
  - step: notify_focal_point
    with: {tlp_ceiling: green}
"""


def test_a_green_notification_of_a_mixed_incident(platform: Platform, tmp_path: Path) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tell.yml").write_text(TELL, encoding="utf-8")
    platform.settings = replace(platform.settings, playbooks_dir=folder)
    with platform.db.session() as s:
        case = Case(title="Compte du ministre X compromis", title_tlp="amber", tlp="amber", pap="green",
                    description="Détail AMBER : le mot de passe de M. Y", created_by="ana", organization=INTERIEUR)
        s.add(case)
        s.flush()
        for kind, value, tlp in (("ip", "198.51.100.10", "clear"), ("domain", "green-c2.example", "green"),
                                 ("ip", "203.0.113.20", "amber"), ("ip", "192.0.2.30", "red")):
            add_observable(s, case, kind, value, tlp=tlp)
        case_id = case.id
    run_id = start_run(platform, case_id, "tell", "rita")
    platform.jobs.wait()
    with platform.db.session() as s:
        assert s.get_one(PlaybookRun, run_id).status == "done"
    server = start_smtp()
    try:
        platform.settings = replace(platform.settings, smtp_host="127.0.0.1", smtp_port=server.port)
        assert deliver_due(platform).sent == 1
    finally:
        server.controller.stop()
    (got,) = server.handler.received
    raw, message = got.raw, got.message
    assert got.recipients == ["pf-cyber@interieur.gouv.example"]
    assert str(message["Subject"]).startswith(f"[TLP:GREEN] [VIGIE#{case_id}]") and \
        f"Incident #{case_id} — {INTERIEUR}" in str(message["Subject"])
    body = message.get_body().get_content()  # type: ignore[union-attr]
    assert "ip: 198.51.100.10 (TLP:CLEAR)" in body and "domain: green-c2.example" in body
    text = raw.decode("utf-8", "replace") + str(message["Subject"]) + body
    for secret in ("203.0.113.20", "192.0.2.30", "ministre X", "M. Y", "AMBER :"):
        assert secret not in text
