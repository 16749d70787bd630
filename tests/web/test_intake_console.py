"""The incident reports' console (/intake): a report filed by hand (its body shown inert), the
list and its filters, linking to incidents, rejecting only with a reason, opening an incident,
and the report of an alert by its number."""

from __future__ import annotations

import re
from typing import Any

import pytest
from account_support import logged_in
from flask import Flask
from support import INTERIEUR, JUSTICE, csrf_token, seed_by_organization

from cert.accounts.users import create_user
from cert.runtime.platform import Platform
from cert.storage.models import Case, IncidentReport
from web.app import create_app

PASSWORD = "a-long-password-1"
HOSTILE = '</pre><script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def app(platform: Platform) -> Flask:
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
        create_user(s, "pf", PASSWORD, "focal_point", organization="min-interieur", constituency=platform.constituency)
    return create_app(platform=platform)


def file_by_hand(client: Any, **fields: str) -> Any:
    page = client.get("/intake/new").get_data(as_text=True)
    data = {"subject": "Appel du ministère", "body": "", "reporter": "", "organization": "", "tlp": "amber",
            **fields, "csrf_token": csrf_token(page)}
    return client.post("/intake/new", data=data)


def report_id(resp: Any) -> int:
    assert resp.status_code == 303, resp.get_data(as_text=True)[:800]
    m = re.search(r"/intake/(\d+)$", resp.headers["Location"])
    assert m, resp.headers["Location"]
    return int(m.group(1))


def post_form(client: Any, report: int, action: str, **fields: str) -> Any:
    page = client.get(f"/intake/{report}").get_data(as_text=True)
    return client.post(f"/intake/{report}/{action}", data={**fields, "csrf_token": csrf_token(page)})


def test_a_report_filed_by_hand_is_shown_inert(platform: Platform, app: Flask) -> None:
    client = logged_in(app, "ana", PASSWORD)
    report = report_id(file_by_hand(client, subject="<b>Site défiguré</b>", body=HOSTILE, reporter="M. Diallo",
                                    organization="min-justice", tlp="green"))
    with platform.db.session() as s:
        stored = s.get(IncidentReport, report)
        assert stored is not None and (stored.source, stored.body, stored.organization, stored.created_by) == (
            "console", HOSTILE, JUSTICE, "ana")
    page = client.get(f"/intake/{report}").get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>Site" not in page
    assert "&lt;/pre&gt;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "&lt;b&gt;Site défiguré&lt;/b&gt;" in page
    assert f"Signalement d&#39;incident n° {report} déposé." in page  # the flash
    assert "TLP:GREEN" in page and "M. Diallo" in page
    assert re.search(r"\d{4}, \d\d:\d\d:\d\d TU</time>", page)  # the date in French, with its time zone
    assert re.search(r"\d{4}, \d+:\d\d:\d\d\W*[AP]M UTC</time>", client.get(f"/intake/{report}?lang=en").get_data(
        as_text=True))
    client.get("/intake/?lang=fr")
    listing = client.get("/intake/").get_data(as_text=True)
    assert f'href="/intake/{report}"' in listing and "&lt;b&gt;Site défiguré&lt;/b&gt;" in listing


def test_a_bad_report_by_hand_is_refused_in_french(platform: Platform, app: Flask) -> None:
    client = logged_in(app, "ana", PASSWORD)
    resp = file_by_hand(client, subject="   ")
    assert resp.status_code == 400 and "Objet: Ce champ est requis." in resp.get_data(as_text=True)
    resp = file_by_hand(client, subject="x", organization="ailleurs")
    assert resp.status_code == 400
    assert "Aucune organisation ailleurs dans le périmètre du CERT." in resp.get_data(as_text=True)
    resp = file_by_hand(client, subject="x" * 301)
    assert resp.status_code == 400
    with platform.db.session() as s:
        assert s.query(IncidentReport).count() == 0


def test_the_list_filters(platform: Platform, app: Flask) -> None:
    client = logged_in(app, "ana", PASSWORD)
    a = report_id(file_by_hand(client, subject="Rançongiciel à la Justice", organization="min-justice"))
    b = report_id(file_by_hand(client, subject="Hameçonnage", body="lien vers faux portail",
                               organization="min-interieur"))
    assert post_form(client, a, "reject", reason="doublon").status_code == 303

    def shown(qs: str) -> set[int]:
        page = client.get(f"/intake/?{qs}").get_data(as_text=True)
        return {int(n) for n in re.findall(r'href="/intake/(\d+)"', page)}

    assert shown("") == {a, b}
    assert shown("status=rejected") == {a} and shown("status=new") == {b}
    assert shown("organization=min-interieur") == {b}
    assert shown("q=faux+portail") == {b} and shown("q=Ran%C3%A7ongiciel") == {a}
    assert shown("source=alert") == set()
    assert "Aucun signalement d'incident ne correspond." in client.get("/intake/?source=alert").get_data(
        as_text=True)


def test_link_reject_and_open_from_the_console(platform: Platform, app: Flask) -> None:
    client = logged_in(app, "ana", PASSWORD)
    report = report_id(file_by_hand(client, subject="Fuite", tlp="red"))
    with platform.db.session() as s:
        cases = [Case(title=t, tlp="amber", created_by="test") for t in ("un", "deux")]
        s.add_all(cases)
        s.flush()
        one, two = (c.id for c in cases)
    linked = post_form(client, report, "links", incidents=f"#{one}, {two}")
    assert linked.status_code == 303
    page = client.get(f"/intake/{report}").get_data(as_text=True)
    assert f"Signalement lié aux incidents #{one}, #{two}." in page
    assert f"Le TLP de l&#39;incident n° {one} a été relevé de TLP:AMBER à TLP:RED" in page
    assert f'href="/cases/{one}"' in page and f'href="/cases/{two}"' in page
    for case_id in (one, two):
        case_page = client.get(f"/cases/{case_id}").get_data(as_text=True)
        assert f"Signalement d&#39;incident n° {report} lié : Fuite" in case_page
    bad = post_form(client, report, "links", incidents="12abc")
    assert bad.status_code == 303
    assert "12abc n&#39;est pas un numéro d&#39;incident." in client.get(f"/intake/{report}").get_data(as_text=True)
    assert post_form(client, report, f"links/{one}/remove").status_code == 303
    assert post_form(client, report, f"links/{two}/remove").status_code == 303
    refused = post_form(client, report, "reject", reason="  ")
    assert refused.status_code == 303
    page = client.get(f"/intake/{report}").get_data(as_text=True)
    assert "Rejeter un signalement nécessite un motif." in page
    with platform.db.session() as s:
        assert s.get(IncidentReport, report).status == "new"  # type: ignore[union-attr]
    post_form(client, report, "reject", reason="<i>spam</i>")
    page = client.get(f"/intake/{report}").get_data(as_text=True)
    assert "Signalement rejeté." in page and "&lt;i&gt;spam&lt;/i&gt;" in page and 'id="reopen-report"' in page
    post_form(client, report, "reopen")
    opened = post_form(client, report, "incident", severity="critical")
    assert opened.status_code == 303
    with platform.db.session() as s:
        case = s.query(Case).filter_by(title="Fuite").one()
        assert (case.tlp, case.severity) == ("red", "critical")
        assert s.get(IncidentReport, report).status == "linked"  # type: ignore[union-attr]
    assert f"Incident n° {case.id} ouvert à partir du signalement." in client.get(f"/intake/{report}").get_data(
        as_text=True)


def test_the_report_of_an_alert_by_its_number(platform: Platform, app: Flask) -> None:
    ids = seed_by_organization(platform)
    client = logged_in(app, "ana", PASSWORD)
    page = client.get("/intake/").get_data(as_text=True)
    resp = client.post("/intake/from-alert", data={"alert": ids[INTERIEUR][0], "csrf_token": csrf_token(page)})
    report = report_id(resp)
    with platform.db.session() as s:
        stored = s.get(IncidentReport, report)
        assert stored is not None and (stored.source, stored.alert_id) == ("alert", ids[INTERIEUR][0])
    again = client.post("/intake/from-alert", data={"alert": ids[INTERIEUR][0], "csrf_token": csrf_token(page)})
    assert report_id(again) == report  # back to the report it already has, saying so
    assert (f"L&#39;alerte n° {ids[INTERIEUR][0]} a déjà le signalement d&#39;incident n° {report}."
            in client.get(f"/intake/{report}").get_data(as_text=True))
    missing = client.post("/intake/from-alert", data={"alert": 999_999, "csrf_token": csrf_token(page)})
    assert missing.status_code == 404


def test_the_console_is_for_staff(platform: Platform, app: Flask) -> None:
    focal = logged_in(app, "pf", PASSWORD)
    for url in ("/intake/", "/intake/new", "/intake/1"):
        assert focal.get(url).status_code == 403, url
