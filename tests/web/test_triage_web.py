"""Alert triage in the console and through /api/v1: filters, sorting, groups, bulk actions (explicit
POSTs, audited), incidents from alerts, saved filters; GETs change nothing; an organisation's
token cannot touch another organisation's alerts; the console speaks French and English."""

from __future__ import annotations

import re
from typing import Any

import pytest
from account_support import api_csrf, logged_in
from flask import Flask
from sqlalchemy import func, select
from support import DGPN, INTERIEUR, JUSTICE, csrf_token
from triage_data import Seeded, seed

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.detection import triage
from cert.runtime.platform import Platform
from cert.storage.models import Alert, AuditEntry, Case, SavedFilter
from web.app import create_app

PASSWORD = "a-long-password-1"


@pytest.fixture
def seeded(platform: Platform) -> Seeded:
    with platform.db.session() as s:
        create_user(s, "chef", PASSWORD, "admin")
        create_user(s, "ana", PASSWORD, "analyst")
        create_user(s, "bea", PASSWORD, "analyst")
    return seed(platform)


@pytest.fixture
def app(platform: Platform, seeded: Seeded) -> Flask:
    platform.constituency  # noqa: B018 - seeded from the constituency file, as `cert init` does
    return create_app(platform=platform)


def queue_ids(html: str) -> list[int]:
    rows = html.split('id="alert-queue"')[1].split("</table>")[0]
    return [int(x) for x in re.findall(r'href="/alerts/(\d+)"', rows)]


def snapshot(platform: Platform) -> tuple[int, int, list[tuple[Any, ...]]]:
    with platform.db.session() as s:
        rows = [(a.id, a.status, a.assignee, a.close_reason, a.case_id)
                for a in s.scalars(select(Alert).order_by(Alert.id))]
        return (int(s.scalar(select(func.count()).select_from(AuditEntry)) or 0),
                int(s.scalar(select(func.count()).select_from(Case)) or 0), rows)


def test_the_console_filters_sorts_and_pages(app: Flask, platform: Platform, seeded: Seeded) -> None:
    client = logged_in(app, "ana", PASSWORD)
    page = client.get("/alerts/?severity=critical&severity=low").get_data(as_text=True)
    assert set(queue_ids(page)) == set(seeded.beacon + seeded.scan) and "1–25 sur 25" in page
    page = client.get("/alerts/?source=198.51.100.0/24&tactic=credential_access").get_data(as_text=True)
    assert set(queue_ids(page)) == set(seeded.brute[200:]) and "1–50 sur 50" in page
    assert set(queue_ids(client.get("/alerts/?q=evil.example").get_data(as_text=True))) == set(seeded.beacon)
    # sorted by severity: the critical first; the sort links keep the filter and flip the order
    page = client.get("/alerts/?sort=-severity").get_data(as_text=True)
    assert queue_ids(page)[:5] == sorted(seeded.beacon, reverse=True)
    assert 'href="/alerts/?sort=severity"' in page
    filtered = client.get("/alerts/?organization=" + JUSTICE + "&sort=count").get_data(as_text=True)
    assert "sort=-count" in filtered and set(queue_ids(filtered)) == set(seeded.sqli)
    # the pages keep every value of a filter
    page = client.get("/alerts/?severity=high&severity=medium").get_data(as_text=True)
    assert "1–50 sur 280" in page and 'href="/alerts/?severity=high&amp;severity=medium&amp;page=2"' in page
    second = client.get("/alerts/?severity=high&severity=medium&page=2").get_data(as_text=True)
    assert not set(queue_ids(page)) & set(queue_ids(second))
    # a bad value is a 400 that names it, never a 500
    for bad in ("severity=urgent", "source=300.1.1.1", "from=hier", "sort=id", "view=source&source=x"):
        resp = client.get(f"/alerts/?{bad}")
        assert resp.status_code == 400, bad


def test_a_search_or_tactic_is_counted_only_so_far_and_its_pages_go_on(app: Flask, seeded: Seeded,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``COUNT_LIMIT`` rows (and past the page asked for) the queue says "more than", in the
    reader's language, and still offers the next page; the last pages are counted exactly."""
    monkeypatch.setattr(triage, "COUNT_LIMIT", 100)
    client = logged_in(app, "ana", PASSWORD)
    brute = sorted(seeded.brute, reverse=True)  # 250 alerts, the most recently raised first
    page = client.get("/alerts/?tactic=credential-access").get_data(as_text=True)
    assert "1–50 sur plus de 100" in page and "page 1 sur plus de 2" in page
    assert queue_ids(page) == brute[:50] and 'rel="next" href="/alerts/?tactic=credential-access&amp;page=2"' in page
    english = client.get("/alerts/?tactic=credential-access&lang=en").get_data(as_text=True)
    assert "1–50 of more than 100" in english and "page 1 of more than 2" in english
    third = client.get("/alerts/?tactic=credential-access&page=3&lang=fr").get_data(as_text=True)
    assert "101–150 sur plus de 150" in third and queue_ids(third) == brute[100:150] and 'rel="next"' in third
    last = client.get("/alerts/?tactic=credential-access&page=5").get_data(as_text=True)
    assert "201–250 sur 250" in last and queue_ids(last) == brute[200:] and 'rel="next"' not in last
    searched = client.get("/alerts/?q=SSH brute&lang=en").get_data(as_text=True)
    assert "1–50 of more than 100" in searched and queue_ids(searched) == brute[:50]
    # a filter counted from indexes alone is counted exactly
    assert "1–50 of 280" in client.get("/alerts/?severity=high&severity=medium").get_data(as_text=True)


def test_french_and_english_labels(app: Flask, seeded: Seeded) -> None:
    client = logged_in(app, "ana", PASSWORD)
    fr = client.get("/alerts/").get_data(as_text=True)
    for label in ("Filtrer", "Filtres enregistrés", "Acquitter", "Fermer", "faux positif", "Assigner",
                  "Ouvrir un incident", "groupées par règle", "Tactique ATT", "Accès aux identifiants"):
        assert label in fr, label
    en = client.get("/alerts/?lang=en").get_data(as_text=True)
    for label in ("Filter", "Saved filters", "Acknowledge", "Close", "false positive", "Open one incident",
                  "grouped by rule", "Credential Access"):
        assert label in en, label


WEEK = "from=2025-03-10T00:00:00%2B00:00&to=2025-03-17T00:00:00%2B00:00"  # the seeded alerts' week


def test_the_grouped_view_collapses_250_addresses_into_one_row(app: Flask, seeded: Seeded) -> None:
    client = logged_in(app, "ana", PASSWORD)
    page = client.get(f"/alerts/?view=rule&{WEEK}").get_data(as_text=True)
    rows = page.split('id="alert-groups"')[1].split("</table>")[0]
    assert rows.count('class="group-expand') == 4
    # a group expands to its alerts of the same range
    expand = "/alerts/?rule=ssh-bruteforce&amp;from=2025-03-10T00:00:00%2B00:00&amp;to=2025-03-17T00:00:00%2B00:00"
    assert f'href="{expand}"' in rows and ">250<" in rows
    expanded = client.get(expand.replace("&amp;", "&")).get_data(as_text=True)
    assert "1–50 sur 250" in expanded
    by_source = client.get(f"/alerts/?view=source&rule=ssh-bruteforce&{WEEK}").get_data(as_text=True)
    assert "1–50 sur 250" in by_source and 'href="/alerts/?rule=ssh-bruteforce&amp;source=198.51.100.49' in by_source
    api = client.get(f"/api/v1/alerts/groups?by=rule&{WEEK}").get_json()
    assert api["total"] == 4 and api["since"] == "2025-03-10T00:00:00+00:00"
    brute = next(g for g in api["items"] if g["key"] == "ssh-bruteforce")
    assert (brute["alerts"], brute["severity"], brute["statuses"], brute["expand"]["rule"]) == \
        (250, "high", {"new": 250}, ["ssh-bruteforce"])
    assert client.get(f"/api/v1/alerts/groups?by=source&limit=1&{WEEK}").get_json()["total"] == 301
    # the seeded alerts are older than the default window (the last 7 days): no group
    recent = client.get("/alerts/?view=rule").get_data(as_text=True)
    assert 'id="alert-groups"' not in recent and "les 7 derniers jours" in recent
    assert client.get("/api/v1/alerts/groups?by=rule&window=24h").get_json()["total"] == 0


def test_the_grouped_view_refuses_more_than_7_days_in_both_languages(app: Flask, seeded: Seeded) -> None:
    client = logged_in(app, "ana", PASSWORD)
    month = "from=2025-03-01T00:00:00%2B00:00&to=2025-03-31T00:00:00%2B00:00"
    fr = client.get(f"/alerts/?view=rule&{month}")
    assert fr.status_code == 400
    text = fr.get_data(as_text=True)
    assert "La vue groupée couvre au plus 7 jours" in text and 'id="alert-filters"' in text
    en = client.get(f"/alerts/?view=source&{month}&lang=en")
    assert en.status_code == 400 and "The grouped view covers at most 7 days" in en.get_data(as_text=True)
    api = client.get(f"/api/v1/alerts/groups?by=rule&{month}")
    assert api.status_code == 400 and "7" in api.get_json()["message"]
    assert client.get("/alerts/?view=rule&window=30d").status_code == 400
    # the queue itself takes the month
    assert client.get(f"/alerts/?{month}").status_code == 200


def test_gets_never_change_state(app: Flask, platform: Platform, seeded: Seeded) -> None:
    client = logged_in(app, "ana", PASSWORD)
    before = snapshot(platform)
    for url in ("/alerts/", "/alerts/?status=new&assignee=me", "/alerts/?view=source", "/alerts/?view=rule",
                f"/alerts/{seeded.sqli[0]}", "/api/v1/alerts?status=new", "/api/v1/alerts/groups",
                "/api/v1/alerts/filters", "/alerts/bulk", "/alerts/filters", "/api/v1/alerts/bulk",
                f"/api/v1/alerts/{seeded.sqli[0]}/close", "/api/v1/incidents/from-alerts"):
        assert client.get(url).status_code in (200, 405), url
    assert snapshot(platform) == before


def test_bulk_close_as_false_positive_in_the_console(app: Flask, platform: Platform, seeded: Seeded) -> None:
    client = logged_in(app, "ana", PASSWORD)
    page = client.get("/alerts/?rule=web-sqli").get_data(as_text=True)
    chosen = queue_ids(page)[:12]
    form = {"ids": [str(i) for i in chosen], "action": "close", "reason": "false-positive",
            "comment": "authorised scan", "back": "rule=web-sqli", "tlp": "amber"}
    untouched = snapshot(platform)
    assert client.post("/alerts/bulk", data=form).status_code == 400  # no CSRF token: refused
    assert snapshot(platform) == untouched
    resp = client.post("/alerts/bulk", data={**form, "csrf_token": csrf_token(page)})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/alerts/?rule=web-sqli")
    with platform.db.session() as s:
        closed = s.scalars(select(Alert).where(Alert.id.in_(chosen))).all()
        assert {(a.status, a.close_reason, a.close_comment, a.closed_by) for a in closed} == \
            {("closed", "false-positive", "authorised scan", "ana")}
        audited = s.scalars(select(AuditEntry.object_id).where(AuditEntry.action == "alert.close")).all()
    assert sorted(int(i) for i in audited) == sorted(chosen)
    after = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Alertes fermées : 12." in after and "faux positif" in after
    # assign to an unknown user: refused, nothing changes
    before = snapshot(platform)
    resp = client.post("/alerts/bulk", data={**form, "action": "assign", "assignee": "personne",
                                             "csrf_token": csrf_token(page)})
    assert resp.status_code == 400 and "personne" in resp.get_data(as_text=True)
    assert snapshot(platform) == before
    client.post("/alerts/bulk", data={**form, "ids": [str(seeded.sqli[-1])], "action": "assign", "assignee": "bea",
                                      "csrf_token": csrf_token(page)})
    assert "bea" in client.get("/alerts/?assignee=bea").get_data(as_text=True)


def test_the_api_filters_and_acts(app: Flask, platform: Platform, seeded: Seeded) -> None:
    client = logged_in(app, "ana", PASSWORD)
    headers = api_csrf(client)
    body = client.get(f"/api/v1/alerts?severity=low&source=2001:db8::/124&organization={DGPN}&limit=5").get_json()
    assert body["total"] == 15 and len(body["items"]) == 5
    body = client.get("/api/v1/alerts?tactic=T1190&sort=-count&limit=100").get_json()
    assert {a["id"] for a in body["items"]} == set(seeded.sqli)
    counts = [a["count"] for a in body["items"]]
    assert counts == sorted(counts, reverse=True)
    assert client.get("/api/v1/alerts?from=2030-01-01T00:00:00Z").get_json()["total"] == 0
    resp = client.get("/api/v1/alerts?severity=urgent")
    assert resp.status_code == 400 and "severity" in resp.get_json()["message"]
    # bulk close as false positives, then the one-alert actions
    resp = client.post("/api/v1/alerts/bulk", headers=headers,
                       json={"action": "close", "ids": seeded.scan[:4], "reason": "false-positive"})
    assert resp.status_code == 200 and sorted(resp.get_json()["changed"]) == sorted(seeded.scan[:4])
    again = client.post("/api/v1/alerts/bulk", headers=headers,
                        json={"action": "close", "ids": seeded.scan[:2], "reason": "benign"}).get_json()
    assert again["changed"] == [] and {s["id"] for s in again["skipped"]} == set(seeded.scan[:2])
    assert client.get("/api/v1/alerts?status=closed").get_json()["total"] == 4
    one = client.post(f"/api/v1/alerts/{seeded.scan[0]}/reopen", headers=headers).get_json()
    assert one["status"] == "new" and one["close_reason"] is None
    shut = client.post(f"/api/v1/alerts/{seeded.scan[5]}/close", headers=headers,
                       json={"reason": "duplicate", "comment": "see #1"}).get_json()
    assert (shut["status"], shut["close_reason"], shut["close_comment"], shut["closed_by"]) == \
        ("closed", "duplicate", "see #1", "ana")
    given = client.post(f"/api/v1/alerts/{seeded.scan[6]}/assign", headers=headers, json={"assignee": "bea"})
    assert given.get_json()["assignee"] == "bea"
    for who in ("nobody", "token:x"):
        refused = client.post(f"/api/v1/alerts/{seeded.scan[6]}/assign", headers=headers, json={"assignee": who})
        assert refused.status_code == 400 and who in refused.get_json()["message"]
    assert client.get("/api/v1/alerts?assignee=bea").get_json()["total"] == 1
    assert client.post("/api/v1/alerts/bulk", headers=headers,
                       json={"action": "close", "ids": [], "reason": "benign"}).status_code == 400


def test_open_one_incident_from_many_alerts_and_link_more(app: Flask, platform: Platform, seeded: Seeded) -> None:
    client = logged_in(app, "ana", PASSWORD)
    headers = api_csrf(client)
    chosen = seeded.brute[:5] + seeded.brute[200:202] + seeded.sqli[:2] + seeded.beacon[:1]
    resp = client.post("/api/v1/incidents/from-alerts", headers=headers,
                       json={"ids": chosen, "title": "Campagne coordonnée", "tlp": "green"})
    assert resp.status_code == 201, resp.get_json()
    case = resp.get_json()
    assert (case["severity"], case["organization"], case["title"]) == ("critical", INTERIEUR, "Campagne coordonnée")
    with platform.db.session() as s:
        linked = s.scalars(select(Alert.id).where(Alert.case_id == case["id"])).all()
        affected = {o.organization for o in s.get_one(Case, case["id"]).affected}
    assert sorted(linked) == sorted(chosen) and affected == {INTERIEUR, JUSTICE}
    conflict = client.post("/api/v1/incidents/from-alerts", headers=headers,
                           json={"ids": [seeded.sqli[5], chosen[0]]})
    assert conflict.status_code == 409 and f"#{chosen[0]}" in conflict.get_json()["message"]
    assert conflict.get_json()["alert_ids"] == [chosen[0]]
    added = client.post(f"/api/v1/incidents/{case['id']}/alerts", headers=headers,
                        json={"ids": [seeded.sqli[5], chosen[1]]}).get_json()
    assert added == {"case_id": case["id"], "added": [seeded.sqli[5]],
                     "skipped": [{"id": chosen[1], "case_id": case["id"]}]}
    # the same from the console: one incident, then a redirect to it
    page = client.get("/alerts/?rule=v6-scan").get_data(as_text=True)
    resp = client.post("/alerts/bulk", data={"ids": [str(i) for i in seeded.scan[:3]], "action": "open",
                                             "title": "Scan IPv6", "tlp": "amber", "reason": "benign",
                                             "csrf_token": csrf_token(page)})
    assert resp.status_code == 303 and "/cases/" in resp.headers["Location"]
    with platform.db.session() as s:
        opened = s.scalar(select(Case).where(Case.title == "Scan IPv6"))
        assert opened is not None and opened.organization == DGPN and opened.severity == "low"
        assert sorted(s.scalars(select(Alert.id).where(Alert.case_id == opened.id)).all()) == sorted(seeded.scan[:3])


def test_an_organisation_token_cannot_act_on_another_organisations_alerts(app: Flask, platform: Platform,
                                                                          seeded: Seeded) -> None:
    with platform.db.session() as s:
        org = next(o for o in platform.constituency.organizations if o.name == JUSTICE)
        _t, secret = create_token(s, "justice-bot", "chef", "chef", ["read", "triage"], organization=org)
    bot = app.test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    assert bot.get("/api/v1/alerts?limit=1000", headers=auth).get_json()["total"] == 30
    assert {g["key"] for g in bot.get(f"/api/v1/alerts/groups?{WEEK}", headers=auth).get_json()["items"]} == {"web-sqli"}
    before = snapshot(platform)
    for method, url, body in (
        ("post", "/api/v1/alerts/bulk", {"action": "close", "ids": [seeded.sqli[0], seeded.brute[0]],
                                         "reason": "benign"}),
        ("post", f"/api/v1/alerts/{seeded.brute[0]}/close", {"reason": "benign"}),
        ("post", f"/api/v1/alerts/{seeded.beacon[0]}/reopen", None),
        ("post", "/api/v1/incidents/from-alerts", {"ids": [seeded.sqli[0], seeded.scan[0]]}),
    ):
        resp = bot.open(url, method=method.upper(), headers=auth, json=body)
        assert resp.status_code == 404 and resp.get_json()["error"] == "not_found", url
    assert snapshot(platform) == before
    ok = bot.post("/api/v1/alerts/bulk", headers=auth,
                  json={"action": "close", "ids": seeded.sqli[:2], "reason": "benign"}).get_json()
    assert sorted(ok["changed"]) == sorted(seeded.sqli[:2])
    reader = create_token_for(platform, ["read"])
    assert bot.post("/api/v1/alerts/bulk", headers={"Authorization": f"Bearer {reader}"},
                    json={"action": "acknowledge", "ids": seeded.sqli[:2]}).status_code == 403


def create_token_for(platform: Platform, scopes: list[str]) -> str:
    with platform.db.session() as s:
        return create_token(s, "reader", "chef", "chef", scopes)[1]


def test_a_focal_point_cannot_act(app: Flask, platform: Platform, seeded: Seeded) -> None:
    with platform.db.session() as s:
        justice = next(o for o in platform.constituency.organizations if o.name == JUSTICE)
        create_user(s, "pf", PASSWORD, "focal_point", organization=justice.id, constituency=platform.constituency)
    client = logged_in(app, "pf", PASSWORD)
    assert client.get("/api/v1/alerts?limit=1").status_code == 403  # the CERT's queue is not a focal point's
    resp = client.post("/api/v1/alerts/bulk", headers=api_csrf(client),
                       json={"action": "close", "ids": seeded.sqli[:1], "reason": "benign"})
    assert resp.status_code == 403


def test_saved_filters_in_the_console_and_the_api(app: Flask, platform: Platform, seeded: Seeded) -> None:
    ana = logged_in(app, "ana", PASSWORD)
    page = ana.get("/alerts/?severity=high&tactic=credential-access").get_data(as_text=True)
    resp = ana.post("/alerts/filters", data={"name": "Force brute", "shared": "y", "csrf_token": csrf_token(page),
                                             "back": "severity=high&tactic=credential_access"})
    assert resp.status_code == 303
    with platform.db.session() as s:
        saved = s.scalar(select(SavedFilter).where(SavedFilter.name == "Force brute"))
        assert saved is not None and saved.owner == "ana" and saved.shared
        saved_id = saved.id
    bea = logged_in(app, "bea", PASSWORD)
    listed = bea.get("/alerts/").get_data(as_text=True)
    assert "Force brute" in listed
    applied = bea.get(f"/alerts/?saved={saved_id}")
    assert applied.status_code == 303
    assert "1–50 sur 250" in bea.get(applied.headers["Location"]).get_data(as_text=True)
    # bea may not delete ana's shared filter; ana and an admin may
    assert bea.post(f"/api/v1/alerts/filters/{saved_id}", headers=api_csrf(bea)).status_code == 405
    resp = bea.delete(f"/api/v1/alerts/filters/{saved_id}", headers=api_csrf(bea))
    assert resp.status_code == 403
    own = bea.post("/api/v1/alerts/filters", headers=api_csrf(bea),
                   json={"name": "Mes alertes", "query": {"assignee": ["me"], "status": ["new", "acknowledged"]}})
    assert own.status_code == 201 and own.get_json()["query"] == {"status": ["new", "acknowledged"],
                                                                  "assignee": ["me"]}
    names = [f["name"] for f in bea.get("/api/v1/alerts/filters").get_json()["items"]]
    assert names == ["Force brute", "Mes alertes"]
    assert [f["name"] for f in ana.get("/api/v1/alerts/filters").get_json()["items"]] == ["Force brute"]
    bad = bea.post("/api/v1/alerts/filters", headers=api_csrf(bea), json={"name": "x", "query": {"severity": ["x"]}})
    assert bad.status_code == 400
    chef = logged_in(app, "chef", PASSWORD)
    assert chef.delete(f"/api/v1/alerts/filters/{saved_id}", headers=api_csrf(chef)).status_code == 204
    assert bea.delete(f"/api/v1/alerts/filters/{own.get_json()['id']}", headers=api_csrf(bea)).status_code == 204
    assert bea.get("/api/v1/alerts/filters").get_json()["items"] == []
