"""Signed bundles between networks with no link: one CERT exports an incident for a TLP:GREEN
partner as a signed STIX 2.1 bundle (only the GREEN and CLEAR indicators in it), the partner
imports it into its indicator store; a bundle altered by one byte, signed by an untrusted key, or
without its signature is refused whole and nothing of it is stored."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support import INTERIEUR

from cert.cli import main
from cert.core.config import Settings
from cert.core.errors import InvalidInput
from cert.incidents.cases import add_observable
from cert.runtime.platform import Platform
from cert.sharing.signed_bundles import generate, import_bundle
from cert.storage.models import AuditEntry, Case, Indicator


def cert_at(tmp_path: Path, name: str, **settings: object) -> Platform:
    p = Platform(replace(Settings(), data_dir=tmp_path / name, secret_key="test-secret-key", **settings))  # type: ignore[arg-type]
    p.db.upgrade()
    return p


def test_export_for_a_green_partner_and_import_on_the_other_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    ours_key, ours_pub = generate(tmp_path / "keys", "cert-national")
    _, stranger_pub = generate(tmp_path / "keys", "stranger")
    ours = cert_at(tmp_path, "ours", sharing_signing_key_file=ours_key)
    with ours.db.session() as s:
        case = Case(title="Le ministre X visé", title_tlp="amber", tlp="amber", pap="green", created_by="ana",
                    description="Détail AMBER", organization=INTERIEUR)
        s.add(case)
        s.flush()
        for kind, value, tlp in (("ip", "198.51.100.10", "clear"), ("domain", "green-c2.example", "green"),
                                 ("ip", "203.0.113.20", "amber"), ("ip", "192.0.2.30", "red")):
            add_observable(s, case, kind, value, tlp=tlp)
        case_id = case.id
    ours.close()
    bundle = tmp_path / "usb" / "incident.json"
    bundle.parent.mkdir()
    monkeypatch.setenv("CERT_SHARING_SIGNING_KEY_FILE", str(ours_key))
    assert main(["--data-dir", str(tmp_path / "ours"), "sharing", "export-bundle", str(case_id), "--partner",
                 "cert-voisin", "--out", str(bundle)]) == 0
    assert "2 indicator(s) for cert-voisin, 2 withheld" in capsys.readouterr().out
    text = bundle.read_text(encoding="utf-8")
    for secret in ("203.0.113.20", "192.0.2.30", "ministre X", "Détail AMBER"):
        assert secret not in text
    ours = cert_at(tmp_path, "ours")
    with ours.db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "sharing.bundle_export")).one()
        assert entry.details["partner"] == "cert-voisin" and len(entry.details["items"]) == 2
    ours.close()

    theirs = cert_at(tmp_path, "theirs")
    with theirs.db.session() as s:
        report = import_bundle(s, bundle, [ours_pub], "cert-national")
    assert (report.read, report.inserted, report.errors) == (2, 2, [])
    with theirs.db.session() as s:
        stored = {(i.value, i.tlp, i.source) for i in s.scalars(select(Indicator))}
    assert stored == {("198.51.100.10", "clear", "cert-national"), ("green-c2.example", "green", "cert-national")}

    # refused whole: untrusted key, altered byte, no signature
    with theirs.db.session() as s:
        with pytest.raises(InvalidInput, match="does not trust"):
            import_bundle(s, bundle, [stranger_pub], "cert-national")
        altered = tmp_path / "usb" / "altered.json"
        altered.write_bytes(bundle.read_bytes().replace(b"198.51.100.10", b"198.51.100.11"))
        (tmp_path / "usb" / "altered.json.sig").write_bytes((tmp_path / "usb" / "incident.json.sig").read_bytes())
        with pytest.raises(InvalidInput, match="does not match its signature"):
            import_bundle(s, altered, [ours_pub], "evil")
        (tmp_path / "usb" / "altered.json.sig").unlink()
        with pytest.raises(InvalidInput, match="no signature found"):
            import_bundle(s, altered, [ours_pub], "evil")
    with theirs.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Indicator).where(Indicator.source == "evil")) == 0
        assert s.scalar(select(func.count()).select_from(Indicator).where(Indicator.value == "198.51.100.11")) == 0
    theirs.close()
