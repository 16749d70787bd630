"""Sharing with partner CERTs on the incident page: the panel lists the partners with their terms;
the preview for the TLP:GREEN partner of a mixed incident shows its GREEN and CLEAR indicators and
the neutral title, and keeps the AMBER and RED ones with the policy's reasons in French;
publishing through the form (CSRF required) makes the publication live, withdrawing marks it
withdrawn, both on the timeline in French and in the audit trail; errors are flashed; a focal
point gets no panel and may not act; data is escaped; partners' sightings of the observables are
shown with their dates."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

from account_support import logged_in
from flask import Flask
from sqlalchemy import select
from support import INTERIEUR, csrf_token

from cert.accounts.users import create_user
from cert.detection.indicators.store import value_key
from cert.incidents.cases import add_observable
from cert.runtime.platform import Platform
from cert.sharing.publications import published_for
from cert.storage.models import AuditEntry, Case, PartnerSighting
from web.app import create_app

PASSWORD = "a-long-password-1"
HOSTILE = "<script>alert(1)</script>"


def _mixed_case(platform: Platform) -> int:
    c = platform.constituency
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
        create_user(s, "pf-interieur", PASSWORD, "focal_point", organization="min-interieur", constituency=c)
        case = Case(title="Fuite chez le ministre X", title_tlp="amber", tlp="amber", pap="green",
                    description="Le compte de M. Y", created_by="ana", organization=INTERIEUR)
        s.add(case)
        s.flush()
        for kind, value, tlp in (("ip", "198.51.100.10", "clear"), ("domain", "green-c2.example", "green"),
                                 ("ip", "203.0.113.20", "amber"), ("ip", "192.0.2.30", "red"),
                                 ("user-agent", HOSTILE, "amber")):
            add_observable(s, case, kind, value, tlp=tlp)
        return case.id


def _section(html: str, ident: str) -> str:
    """The first element with this id or class, up to its closing tag of the same name (no nesting
    of that tag)."""
    m = re.search(rf'<(\w+)[^>]*(?:id="{re.escape(ident)}"|class="(?:[^"]* )?{re.escape(ident)}[" ])', html)
    assert m, f"no #{ident} in the page"
    end = html.index(f"</{m.group(1)}>", m.end())
    return html[m.start():end]


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_panel_preview_publish_withdraw(platform: Platform) -> None:
    case_id = _mixed_case(platform)
    app: Flask = create_app(platform=platform)
    ana = logged_in(app, "ana", PASSWORD)
    url = f"/cases/{case_id}"
    page = ana.get(url).get_data(as_text=True)

    # the panel: both partners, their terms and channels, not published yet, what would leave
    panel = _section(page, "section-partners")
    assert "Partage avec les partenaires" in panel
    voisin, regional = _text(_section(panel, "partner-cert-voisin")), _text(_section(panel, "partner-cert-regional"))
    assert "TLP:GREEN" in voisin and "PAP:GREEN" in voisin and "misp-feed, taxii, stix, email" in voisin
    assert "TLP:AMBER" in regional and "misp-feed, taxii" in regional
    assert "non publié" in voisin and "2 sortiraient" in voisin and "4 sortiraient" in regional
    assert f'href="/api/v1/incidents/{case_id}/stix?partner=cert-voisin"' in panel
    assert "stix?partner=cert-regional" not in panel  # cert-regional does not take STIX
    bundle = ana.get(f"/api/v1/incidents/{case_id}/stix?partner=cert-voisin")
    assert bundle.status_code == 200 and "green-c2.example" in bundle.get_data(as_text=True)
    assert not any(v in bundle.get_data(as_text=True) for v in ("203.0.113.20", "192.0.2.30", "ministre X"))

    # the preview for cert-voisin: the GREEN and CLEAR items, the neutral title, no description;
    # the AMBER and RED ones stay with the reason in French
    preview = _section(panel, "preview-cert-voisin")
    leaves = _text(_section(preview, "preview-items"))
    assert "198.51.100.10" in leaves and "green-c2.example" in leaves and "TLP:CLEAR" in leaves
    title = _text(_section(preview, "preview-title"))
    assert f"Incident #{case_id}" in title and INTERIEUR not in title and "titre neutre" in title
    assert "ministre X" not in title and "M. Y" not in _text(_section(preview, "preview-description"))
    stays = _text(_section(preview, "preview-withheld"))
    assert "203.0.113.20" in stays and "TLP:AMBER est au-dessus du plafond du destinataire TLP:GREEN" in stays
    assert "192.0.2.30" in stays and "TLP:RED ne sort jamais dans un partage" in stays
    assert "203.0.113.20" not in leaves and "192.0.2.30" not in leaves
    regional_preview = _text(_section(panel, "preview-cert-regional"))
    assert "Fuite chez le ministre X" in regional_preview and "titre neutre" not in regional_preview

    # publishing needs the CSRF token
    publish = f"{url}/partners/publish"
    assert ana.post(publish, data={"partners": ["cert-voisin"]}).status_code == 400
    with platform.db.session() as s:
        assert published_for(s, "cert-voisin") == []
    token = csrf_token(page)
    done = ana.post(publish, data={"partners": ["cert-voisin"], "csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"{url}#section-partners")
    page = ana.get(url).get_data(as_text=True)
    assert "Publié à CERT national voisin : 2 indicateur(s) sortent vers lui, 3 retenu(s)" in unescape(page)
    voisin = _text(_section(page, "partner-cert-voisin"))
    assert "publié" in voisin and "non publié" not in voisin and "par ana, le " in voisin and " TU " in voisin
    assert "2 sortent vers lui maintenant" in voisin
    assert 'id="withdraw-cert-voisin"' in page and 'id="withdraw-cert-regional"' not in page
    with platform.db.session() as s:
        assert [c.id for _p, c in published_for(s, "cert-voisin")] == [case_id]
        sent = s.scalars(select(AuditEntry).where(AuditEntry.action == "sharing.publish")).one()
        assert sent.actor == "ana" and sent.details["partner"] == "cert-voisin"
        assert sent.details["items"] == ["ip:198.51.100.10", "domain:green-c2.example"]
    timeline = _text(_section(page, "timeline"))
    assert "Publié aux partenaires cert-voisin" in timeline

    # withdrawing
    gone = ana.post(f"{url}/partners/cert-voisin/withdraw", data={"csrf_token": token})
    assert gone.status_code == 303
    page = ana.get(url).get_data(as_text=True)
    voisin = _text(_section(page, "partner-cert-voisin"))
    assert "retiré" in voisin and "par ana" in voisin and "2 sortiraient" in voisin
    assert "Retiré de cert-voisin" in page  # the flash
    assert "Retiré des partenaires cert-voisin" in _text(_section(page, "timeline"))
    with platform.db.session() as s:
        assert published_for(s, "cert-voisin") == []
        withdrawn = s.scalars(select(AuditEntry).where(AuditEntry.action == "sharing.withdraw")).one()
        assert withdrawn.actor == "ana" and withdrawn.details["partners"] == ["cert-voisin"]

    # errors are flashed in French, never a 500: withdrawn twice, an unknown partner, none chosen
    again = ana.post(f"{url}/partners/cert-voisin/withdraw", data={"csrf_token": token}, follow_redirects=True)
    assert again.status_code == 200 and f"L'incident n°{case_id} n'est pas publié" in unescape(again.get_data(as_text=True))
    unknown = ana.post(publish, data={"partners": ["nobody"], "csrf_token": token}, follow_redirects=True)
    assert unknown.status_code == 200 and "Aucun partenaire nommé nobody" in unknown.get_data(as_text=True)
    empty = ana.post(publish, data={"csrf_token": token}, follow_redirects=True)
    assert "Choisissez au moins un partenaire" in empty.get_data(as_text=True)

    # in English with the language switch
    english = ana.get(f"{url}?lang=en").get_data(as_text=True)
    preview = _text(_section(english, "preview-cert-voisin"))
    assert "Sharing with partners" in english and "TLP:AMBER is above the recipient's ceiling TLP:GREEN" in preview
    assert "Withdrawn from partners cert-voisin" in _text(_section(english, "timeline"))


def test_nothing_may_leave_is_flashed(platform: Platform) -> None:
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
        case = Case(title="Tout rouge", tlp="red", created_by="ana", organization=INTERIEUR)
        s.add(case)
        s.flush()
        add_observable(s, case, "ip", "192.0.2.31", tlp="red")
        case_id = case.id
    app: Flask = create_app(platform=platform)
    ana = logged_in(app, "ana", PASSWORD)
    page = ana.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Rien ne sort vers ce partenaire" in _text(_section(page, "preview-cert-regional"))
    done = ana.post(f"/cases/{case_id}/partners/publish",
                    data={"partners": ["cert-voisin", "cert-regional"], "csrf_token": csrf_token(page)},
                    follow_redirects=True)
    text = _text(done.get_data(as_text=True))
    assert done.status_code == 200
    assert "Rien de cet incident ne peut sortir vers CERT national voisin" in text
    assert "rien de l'incident ne peut sortir vers ce destinataire" in text
    with platform.db.session() as s:
        assert published_for(s, "cert-voisin") == [] and published_for(s, "cert-regional") == []
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "sharing.publish")).first() is None


def test_a_focal_point_sees_no_panel_and_may_not_act(platform: Platform) -> None:
    case_id = _mixed_case(platform)
    app: Flask = create_app(platform=platform)
    ana = logged_in(app, "ana", PASSWORD)
    token = csrf_token(ana.get(f"/cases/{case_id}").get_data(as_text=True))
    assert ana.post(f"/cases/{case_id}/partners/publish",
                    data={"partners": ["cert-voisin"], "csrf_token": token}).status_code == 303
    pf = logged_in(app, "pf-interieur", PASSWORD)
    page = pf.get(f"/cases/{case_id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 403
    assert "section-partners" not in body and "cert-voisin" not in body and "198.51.100.10" not in body
    pf_token = csrf_token(pf.get("/reports/monthly").get_data(as_text=True))
    refused = pf.post(f"/cases/{case_id}/partners/publish",
                      data={"partners": ["cert-regional"], "csrf_token": pf_token})
    assert refused.status_code == 403
    assert pf.post(f"/cases/{case_id}/partners/cert-voisin/withdraw",
                   data={"csrf_token": pf_token}).status_code == 403
    with platform.db.session() as s:
        assert [c.id for _p, c in published_for(s, "cert-voisin")] == [case_id]
        assert published_for(s, "cert-regional") == []


def test_hostile_values_are_inert_and_partner_sightings_shown(platform: Platform) -> None:
    case_id = _mixed_case(platform)
    with platform.db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        add_observable(s, case, "domain", "Evil-C2.example.", tlp="green")  # normalised: evil-c2.example
        for source, reference, kind, value, count in (
                ("cert-voisin", "s-1", "ip", "198.51.100.10", 4),
                ("cert-regional", "s-2", "ip", "198.51.100.10", 1),
                (HOSTILE, "s-3", "domain", "evil-c2.example", 7),
                ("cert-voisin", "s-4", "ip", "198.51.100.99", 2)):  # not an observable of the incident
            s.add(PartnerSighting(source=source, reference=reference, type=kind, value=value,
                                  value_key=value_key(value), count=count,
                                  first_seen=datetime(2024, 3, 1, 8, 0, tzinfo=UTC),
                                  last_seen=datetime(2024, 3, 5, 14, 30, tzinfo=UTC)))
        s.flush()
        ids = {o.value: o.id for o in case.observables}
    app: Flask = create_app(platform=platform)
    ana = logged_in(app, "ana", PASSWORD)
    page = ana.get(f"/cases/{case_id}").get_data(as_text=True)
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Vu par les partenaires" in page
    seen = _text(_section(page, f"observable-{ids['198.51.100.10']}"))
    assert "cert-voisin · 4 fois" in seen and "cert-regional · 1 fois" in seen
    assert "vu en dernier le 5 mars 2024 14:30:00 TU" in seen
    evil = _section(page, f"observable-{ids['Evil-C2.example.']}")
    assert "&lt;script&gt;" in evil and "7 fois" in _text(evil)
    assert "fois" not in _text(_section(page, f"observable-{ids['203.0.113.20']}"))
    assert "198.51.100.99" not in page
    english = _text(ana.get(f"/cases/{case_id}?lang=en").get_data(as_text=True))
    assert "Seen by partners" in english and "last seen 5 Mar 2024 14:30:00 UTC" in english
