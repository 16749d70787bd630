"""The monthly activity report: its numbers on a known month, for the constituency and for one
organisation; titles only when they may go at the report's TLP; every PDF page marked; a focal
point gets only their organisation's report."""

from __future__ import annotations

import html as markup
import io
from datetime import UTC, datetime, timedelta

from pypdf import PdfReader
from sqlalchemy import select
from support import DGPN, INTERIEUR, JUSTICE, login

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.incidents.activity import Month, monthly
from cert.runtime.platform import Platform
from cert.storage.models import Alert, AuditEntry, Case
from web.app import create_app

PASSWORD = "a long analyst passphrase"
H = timedelta(hours=1)


def at(day: int, hour: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


def seed(platform: Platform) -> None:
    """March 2025: three incidents opened (two at the Interior, one at Justice), one of February
    closed in March, one opened in April; five alerts in March, one in February."""
    with platform.db.session() as s:
        s.add_all([
            # opened in March, acknowledged 1 h after detection, closed 24 h after detection
            Case(title="Hameçonnage à la préfecture", severity="high", rsit_class="fraud:phishing", tlp="amber",
                 title_tlp="amber", organization=INTERIEUR, created_by="t", created_at=at(3, 10),
                 detected_at=at(3, 9), acknowledged_at=at(3, 10), closed_at=at(4, 9), status="closed"),
            # opened in March, acknowledged 3 h after its opening (no detection time)
            Case(title="Balayage des serveurs de la DGPN", severity="high", rsit_class="information-gathering:scanner",
                 tlp="green", title_tlp="green", organization=DGPN, created_by="t", created_at=at(10, 8),
                 acknowledged_at=at(10, 11)),
            Case(title="Source confidentielle au tribunal", severity="medium", rsit_class="", tlp="red",
                 title_tlp="red", organization=JUSTICE, created_by="t", created_at=at(20, 12)),
            # opened in February, detected 48 h before it was closed in March
            Case(title="Compromission ancienne", severity="critical", rsit_class="intrusions:system-compromise",
                 tlp="amber", title_tlp="amber", organization=JUSTICE, created_by="t", created_at=at(27, 0, 2),
                 detected_at=at(27, 0, 2), closed_at=at(1, 0), status="closed"),
            Case(title="Avril", severity="low", organization=INTERIEUR, created_by="t", created_at=at(1, 0, 4)),
        ])
        for sev, org, day, ack in (("high", INTERIEUR, 2, 2), ("high", INTERIEUR, 3, 4), ("low", JUSTICE, 5, None),
                                   ("critical", DGPN, 6, None), ("high", JUSTICE, 7, None)):
            s.add(Alert(rule_id="r", rule_title="r", detector="sigma", severity=sev, organization=org,
                        first_seen=at(day), last_seen=at(day), created_at=at(day),
                        acknowledged_at=at(day) + ack * H if ack else None))
        s.add(Alert(rule_id="r", rule_title="r", detector="sigma", severity="high", organization=INTERIEUR,
                    first_seen=at(1, 0, 2), last_seen=at(1, 0, 2), created_at=at(1, 0, 2)))


def test_the_numbers_of_a_known_month(platform: Platform) -> None:
    seed(platform)
    with platform.db.session() as s:
        whole = monthly(s, Month.parse("2025-03"))
        interior = monthly(s, Month.parse("2025-03"),
                           organizations=platform.constituency.names_of(platform.constituency.scope_of("min-interieur")))
    assert (whole.opened, whole.closed, whole.alerts) == (3, 2, 5)
    assert whole.opened_by_severity == {"high": 2, "medium": 1}
    assert whole.closed_by_severity == {"high": 1, "critical": 1}
    assert whole.opened_by_class == {"fraud": 1, "information-gathering": 1, "unclassified": 1}
    assert whole.closed_by_class == {"fraud": 1, "intrusions": 1}
    assert whole.alerts_by_severity == {"high": 3, "low": 1, "critical": 1}
    assert whole.top_organizations == [(DGPN, 1), (INTERIEUR, 1), (JUSTICE, 1)]
    assert whole.mean_acknowledge_alerts is not None and round(whole.mean_acknowledge_alerts) == 3 * 3600
    assert whole.mean_acknowledge_incidents is not None and round(whole.mean_acknowledge_incidents) == 2 * 3600
    assert whole.mean_resolve_incidents is not None and round(whole.mean_resolve_incidents) == 36 * 3600
    assert [c.title for c in whole.incidents] == ["Hameçonnage à la préfecture", "Balayage des serveurs de la DGPN",
                                                  "Source confidentielle au tribunal"]
    # the Interior with the DGPN under it
    assert (interior.opened, interior.closed, interior.alerts) == (2, 1, 3)
    assert interior.alerts_by_severity == {"high": 2, "critical": 1}


def test_the_report_in_french_with_titles_allowed_at_its_tlp(platform: Platform) -> None:
    seed(platform)
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
    client = create_app(platform=platform).test_client()
    assert login(client, "ana", PASSWORD).status_code == 302
    assert "Rapport d'activité mensuel" in markup.unescape(client.get("/reports/monthly").get_data(as_text=True))
    html = markup.unescape(client.get("/reports/monthly.html?month=2025-03").get_data(as_text=True))
    assert "Rapport d'activité de mars 2025 — ensemble du périmètre" in html
    assert 'id="opened">3<' in html and 'id="closed">2<' in html and 'id="alerts">5<' in html
    assert 'id="mttr">36,0 h<' in html and 'id="mtta-alerts">3,0 h<' in html  # French decimals
    assert "Hameçonnage à la préfecture" in html and "Balayage des serveurs" in html  # AMBER, GREEN at AMBER
    assert "Source confidentielle" not in html and "Incident n°" in html  # RED never
    green = markup.unescape(client.get("/reports/monthly.html?month=2025-03&tlp=green").get_data(as_text=True))
    assert "Hameçonnage" not in green and "Balayage des serveurs" in green
    assert "Titres marqués au-dessus de TLP:GREEN, remplacés par le numéro de l'incident : 2." in green
    pdf = client.get("/reports/monthly.pdf?month=2025-03&organization=min-interieur")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    pages = [" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf.data)).pages]
    assert pages and all("TLP:AMBER" in p for p in pages)
    assert "Ministère de l'Intérieur" in pages[0] and "Incidents ouverts 2" in " ".join(pages)
    english = client.get("/reports/monthly.html?month=2025-03&lang=en").get_data(as_text=True)
    assert "Activity report for March 2025" in english and 'id="mttr">36.0 h<' in english
    assert client.get("/reports/monthly.html?month=2025-13").status_code == 400
    assert client.get("/reports/monthly.html?month=2025-03&organization=nowhere").status_code == 404
    with platform.db.session() as s:
        audited = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "document.monthly_report")))
    assert [(a.actor, a.details["month"], a.details["tlp"]) for a in audited][:2] == [
        ("ana", "2025-03", "amber"), ("ana", "2025-03", "green")]


def test_a_focal_point_gets_only_their_organisations_report(platform: Platform) -> None:
    seed(platform)
    with platform.db.session() as s:
        create_user(s, "fp", PASSWORD, "focal_point", organization="min-justice", constituency=platform.constituency)
        _token, secret = create_token(s, "interior", "tests", actor="test", scopes=["read"],
                                      organization=platform.constituency.find("min-interieur"))
    client = create_app(platform=platform).test_client()
    assert login(client, "fp", PASSWORD).status_code == 302
    assert client.get("/reports/monthly.html?month=2025-03&organization=min-interieur").status_code == 404
    assert client.get(f"/reports/monthly.pdf?month=2025-03&organization={INTERIEUR}").status_code == 404
    own = markup.unescape(client.get("/reports/monthly.html?month=2025-03").get_data(as_text=True))
    assert JUSTICE in own and 'id="opened">1<' in own and 'id="closed">1<' in own and 'id="alerts">2<' in own
    assert "Hameçonnage" not in own
    bearer = create_app(platform=platform).test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    assert bearer.get("/api/v1/reports/monthly?month=2025-03&organization=min-justice",
                      headers=auth).status_code == 404
    mine = bearer.get("/api/v1/reports/monthly?month=2025-03&format=html", headers=auth)
    assert mine.status_code == 200 and 'id="opened">2<' in mine.get_data(as_text=True)
    bad = bearer.get("/api/v1/reports/monthly?month=March", headers=auth)
    assert bad.status_code == 400 and bad.get_json()["message"].startswith("La requête n'est pas valide")
