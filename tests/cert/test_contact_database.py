"""The contact database: seeded from the constituency file, edited (validated, audited), seen by
another process's platform, exported and imported as CSV (round trip, a bad file refused whole),
and from the command line."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import gnupg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from cert.cli import main
from cert.constituency import csv_files
from cert.constituency import database as contacts_db
from cert.constituency.database import ContactDraft, OrganizationDraft
from cert.core.config import Settings
from cert.core.errors import Conflict, InvalidInput
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry, ConstituencyOrganization


@pytest.fixture
def live_settings(settings: Settings) -> Settings:
    return replace(settings, constituency_refresh_seconds=0)


@pytest.fixture
def pair(live_settings: Settings) -> Iterator[tuple[Platform, Platform]]:
    """Two platforms on one data directory: what two processes (a web worker, an ingest worker) see."""
    a, b = Platform(live_settings), Platform(live_settings)
    a.upgrade()
    yield a, b
    a.close()
    b.close()


def pgp_public_key() -> str:
    home = tempfile.mkdtemp(prefix="vigie-test-gpg-")
    try:
        gpg = gnupg.GPG(gnupghome=home)
        key = gpg.gen_key(gpg.gen_key_input(key_type="EDDSA", key_curve="ed25519", key_usage="sign",
                                            name_email="rssi@sante.gouv.example", no_protection=True))
        return str(gpg.export_keys(key.fingerprint))
    finally:
        shutil.rmtree(home, ignore_errors=True)


def smime_certificate() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.EMAIL_ADDRESS, "rssi@sante.gouv.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_reading_an_unseeded_database_reads_the_file_and_writes_nothing(live_settings: Settings) -> None:
    p = Platform(live_settings)
    p.db.upgrade()
    with p.db.session() as s:  # an open write transaction: a read that seeded would wait on SQLite's lock
        s.add(AuditEntry(actor="test", action="test.hold"))
        s.flush()
        assert p.constituency.find("min-interieur").focal_point is not None
    with p.db.session() as s:
        assert contacts_db.version(s) is None
    assert p.live_constituency.seed() is True and p.live_constituency.seed() is False
    with p.db.session() as s:
        assert contacts_db.version(s) == 1
    p.close()


def test_upgrade_seeds_the_database_from_the_constituency_file(pair: tuple[Platform, Platform]) -> None:
    a, _ = pair
    c = a.constituency
    interieur = c.find("min-interieur")
    assert [x.role for x in interieur.contacts] == ["focal_point", "deputy", "ciso"]
    assert interieur.contacts_with("ciso")[0].language == "en"
    assert interieur.focal_point is not None and interieur.focal_point.email == "pf-cyber@interieur.gouv.example"
    assert interieur.domains == ("interieur.gouv.example",) and c.find("dgpn").parent == "min-interieur"
    assert c.lookup("10.13.4.5").id == "dgpn" and c.lookup("198.51.100.7").id == "dc-national"
    assert {p.id for p in c.partners} == {"cert-voisin", "cert-regional"}  # partners stay in the file
    with a.db.session() as s:
        assert contacts_db.version(s) == 1
        assert s.scalar(select(AuditEntry.action).where(AuditEntry.action == "constituency.seed"))
        # emptied by an administrator: it is not seeded again
        for org_id in ("dgpn", "dc-national", "min-interieur", "min-justice", "min-finances", "primature",
                       "presidence"):
            contacts_db.delete_organization(s, org_id, "chef")
    assert Platform(a.settings).constituency.organizations == []


def test_an_edit_reaches_another_process_and_its_lookups(pair: tuple[Platform, Platform]) -> None:
    a, b = pair
    assert b.constituency.lookup("10.77.1.2") is None  # b read (and cached) before the edit
    with a.db.session() as s:
        contacts_db.create_organization(s, OrganizationDraft("min-sante", "Ministère de la Santé", None, "ministry",
                                                             "health"), "chef", "192.0.2.1")
        contacts_db.add_network_object(s, "min-sante", "cidr", "10.77.0.0/16", "chef")
        contacts_db.add_contact(s, "min-sante", ContactDraft("Awa Sarr", "pf@sante.gouv.example"), "chef")
    org = b.constituency.lookup("10.77.1.2")
    assert org is not None and org.id == "min-sante" and org.focal_point is not None
    assert org.focal_point.name == "Awa Sarr"
    with a.db.session() as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action.like("constituency.%"))
                                 .order_by(AuditEntry.id)))
    actions = [e.action for e in entries]
    assert actions[-3:] == ["constituency.organization_create", "constituency.network_add",
                            "constituency.contact_add"]
    assert entries[-2].details == {"kind": "cidr", "value": "10.77.0.0/16"} and entries[-3].remote_addr == "192.0.2.1"


def test_a_process_checks_the_version_at_most_every_refresh_interval(settings: Settings) -> None:
    a = Platform(settings)
    a.upgrade()
    now = [100.0]
    b = Platform(settings)
    b.live_constituency.clock = lambda: now[0]
    assert b.constituency.lookup("10.77.0.1") is None
    with a.db.session() as s:
        contacts_db.add_network_object(s, "min-justice", "cidr", "10.77.0.0/16", "chef")
    assert b.constituency.lookup("10.77.0.1") is None  # within the interval: no query, the last read
    now[0] += settings.constituency_refresh_seconds
    assert b.constituency.lookup("10.77.0.1").id == "min-justice"
    a.close()
    b.close()


def test_edits_are_validated(pair: tuple[Platform, Platform]) -> None:
    a, _ = pair
    a.constituency  # noqa: B018
    with a.db.session() as s:
        bad = [lambda: contacts_db.add_network_object(s, "min-justice", "cidr", "10.1.2.3/8", "chef"),
               lambda: contacts_db.add_network_object(s, "min-justice", "cidr", "not-a-range", "chef"),
               lambda: contacts_db.add_network_object(s, "min-justice", "domain", "justice", "chef"),
               lambda: contacts_db.add_network_object(s, "min-justice", "domain", "a..b.example", "chef"),
               lambda: contacts_db.add_network_object(s, "min-justice", "asn", "AS99999999999", "chef"),
               lambda: contacts_db.add_contact(s, "min-justice", ContactDraft("X", "not an address"), "chef"),
               lambda: contacts_db.add_contact(s, "min-justice", ContactDraft("X", "a@b@c.example"), "chef"),
               lambda: contacts_db.add_contact(s, "min-justice", ContactDraft("X", "x@j.example", role="boss"), "chef"),
               lambda: contacts_db.add_contact(s, "min-justice", ContactDraft(
                   "X", "x@j.example", pgp_key="-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnope\n"
                                             "-----END PGP PUBLIC KEY BLOCK-----"), "chef"),
               lambda: contacts_db.add_contact(s, "min-justice", ContactDraft(
                   "X", "x@j.example", smime_cert="-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"),
                   "chef"),
               lambda: contacts_db.create_organization(s, OrganizationDraft("Bad Id", "X"), "chef"),
               lambda: contacts_db.update_organization(s, "min-interieur", OrganizationDraft(
                   "min-interieur", "Ministère de l'Intérieur", parent="dgpn"), "chef")]
        for attempt in bad:
            with pytest.raises(InvalidInput):
                attempt()
        with pytest.raises(Conflict):  # a range belongs to one organisation
            contacts_db.add_network_object(s, "min-justice", "cidr", "10.10.0.0/16", "chef")
        with pytest.raises(Conflict):  # it has a sub-organisation
            contacts_db.delete_organization(s, "min-interieur", "chef")
        key, cert = pgp_public_key(), smime_certificate()
        row = contacts_db.add_contact(s, "min-justice", ContactDraft(
            "Claire Diop", " CLAIRE@Justice.Gouv.Example ", "ciso", "+000 20 00", "en", key, cert), "chef")
        assert row.email.endswith("@justice.gouv.example") and row.pgp_key.startswith("-----BEGIN PGP")
        contacts_db.add_network_object(s, "min-justice", "asn", "AS64500", "chef")
        contacts_db.add_network_object(s, "min-justice", "domain", "Justice.Gouv.Example.", "chef")
    org = a.constituency.find("min-justice")
    assert org.asns == (64500,) and org.domains == ("justice.gouv.example",)
    assert org.contacts_with("ciso")[0].smime_cert.startswith("-----BEGIN CERTIFICATE-----")


def test_csv_round_trip_changes_nothing_and_moves_the_database(pair: tuple[Platform, Platform]) -> None:
    a, b = pair
    a.constituency  # noqa: B018
    with a.db.session() as s:
        contacts_db.add_contact(s, "min-justice", ContactDraft("=HYPERLINK(\"http://x\")", "x@justice.gouv.example",
                                                               "technical", pgp_key=pgp_public_key()), "chef")
        orgs, people = csv_files.export_organizations(s), csv_files.export_contacts(s)
    assert "'=HYPERLINK" in people and "'-----BEGIN PGP" in people  # no formula reaches a spreadsheet
    assert "'+000 20 000 0010" in people
    before = a.constituency.organizations
    with a.db.session() as s:
        assert csv_files.import_csv(s, orgs, "chef").kind == "organizations"
        assert csv_files.import_csv(s, people, "chef").kind == "contacts"
    with a.db.session() as s:
        assert (csv_files.export_organizations(s), csv_files.export_contacts(s)) == (orgs, people)
    assert b.constituency.organizations == before
    assert b.constituency.find("min-justice").contacts_with("technical")[0].name == "=HYPERLINK(\"http://x\")"
    # an edited file: a range moves from one ministry to another, a new directorate under one
    edited = orgs.replace("10.11.0.0/16", "").replace("10.12.0.0/16", "10.12.0.0/16 10.11.0.0/16")
    edited += "dgsn,Direction de la sûreté nationale,min-interieur,directorate,,10.14.0.0/16,,\r\n"
    with a.db.session() as s:
        csv_files.import_csv(s, edited, "chef")
    c = b.constituency
    assert c.lookup("10.11.0.1").id == "min-finances" and c.lookup("10.14.0.1").id == "dgsn"
    assert "dgsn" in c.scope_of("min-interieur")


def test_a_bad_file_is_refused_whole_with_its_rows(pair: tuple[Platform, Platform]) -> None:
    a, _ = pair
    a.constituency  # noqa: B018
    with a.db.session() as s:
        orgs = csv_files.export_organizations(s)
    bad = (orgs + "min-sante,Ministère de la Santé,,,,10.20.0.0/16,,\r\n"  # good, not imported either
                  "min-eau,Eau,min-inconnu,,,,,\r\n"
                  "min-air,Air,,,,10.30.0.0/33,,\r\n"
                  "min-feu,Feu,,,,10.10.0.0/16,,\r\n")
    with a.db.session() as s, pytest.raises(csv_files.ImportRefused) as refused:
        csv_files.import_csv(s, bad, "chef")
    assert [n for n, _ in refused.value.problems] == [10, 11, 12]
    assert "min-inconnu" in str(refused.value.problems[0][1]) and "10.30.0.0/33" in str(refused.value.problems[1][1])
    assert "min-interieur" in str(refused.value.problems[2][1])  # 10.10.0.0/16 is the ministry's
    with a.db.session() as s:
        assert s.get(ConstituencyOrganization, "min-sante") is None
        assert contacts_db.version(s) == 1
    contacts = "organization,name,role,email,phone,language,pgp_key,smime_cert\r\n" \
               "min-justice,A,focal_point,a@justice.gouv.example,,fr,,\r\n" \
               "min-justice,B,chef,b@justice.gouv.example,,de,,\r\n"
    with a.db.session() as s, pytest.raises(csv_files.ImportRefused) as refused:
        csv_files.import_csv(s, contacts, "chef")
    assert [n for n, _ in refused.value.problems] == [3]
    assert a.constituency.find("min-justice").contacts[0].name == "Ibrahima Sow"
    with a.db.session() as s, pytest.raises(InvalidInput):
        csv_files.import_csv(s, "a,b\r\n1,2\r\n", "chef")


def test_command_line_export_and_import(live_settings: Settings, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    data = str(live_settings.data_dir)
    orgs, people = tmp_path / "orgs.csv", tmp_path / "contacts.csv"
    assert main(["--data-dir", data, "init"]) == 0
    assert main(["--data-dir", data, "constituency", "export", str(orgs)]) == 0
    assert main(["--data-dir", data, "constituency", "export", "--contacts", str(people)]) == 0
    assert "min-interieur" in orgs.read_text(encoding="utf-8")
    orgs.write_text(orgs.read_text(encoding="utf-8") + "min-sante,Santé,,,,10.20.0.0/16,,\r\n", encoding="utf-8")
    assert main(["--data-dir", data, "constituency", "import", str(orgs), "--actor", "awa"]) == 0
    assert main(["--data-dir", data, "constituency", "import", str(people)]) == 0
    p = Platform(live_settings)
    assert p.constituency.lookup("10.20.1.1").name == "Santé"
    with p.db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "constituency.import")
                          .order_by(AuditEntry.id)).first()
        assert entry is not None and entry.actor == "cli:awa" and entry.details["kind"] == "organizations"
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,parent,kind,sector,networks,domains,asns\r\nx,X,,,,999.1.1.1/8,,\r\n", encoding="utf-8")
    assert main(["--data-dir", data, "constituency", "import", str(bad)]) == 2
    assert "row 2: 999.1.1.1/8 is not a network" in capsys.readouterr().err
    p.close()
