"""Incident reports (cert.incidents.reports): filed by hand, by a tool or from an alert; listed
with filters within an organisation's scope; linked to incidents (timeline, TLP raise, audit),
unlinked, rejected with a reason, reopened; an incident opened from a report."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from support import DGPN, INTERIEUR, JUSTICE

from cert.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from cert.incidents import reports
from cert.incidents.reports import ReportDraft, ReportFilter
from cert.runtime.platform import Platform
from cert.storage.models import Alert, AuditEntry, Case, IncidentReport, TimelineEntry


def file(s: Session, platform: Platform, subject: str = "Phishing reçu", **kw: object) -> IncidentReport:
    draft = ReportDraft(subject=subject, **kw)  # type: ignore[arg-type]
    return reports.create_report(s, platform.constituency, "console", draft, "ana")


def new_case(s: Session, title: str = "incident", tlp: str = "amber", organization: str | None = None) -> Case:
    case = Case(title=title, tlp=tlp, organization=organization, created_by="test")
    s.add(case)
    s.flush()
    return case


def new_alert(s: Session, **kw: object) -> Alert:
    now = datetime.now(UTC)
    fields: dict[str, object] = {"rule_id": "ssh-brute", "rule_title": "SSH brute force", "detector": "sigma",
                                 "severity": "high", "organization": INTERIEUR, "source_ip": "203.0.113.9",
                                 "attack": ["attack.t1110"], "event_ids": ["e1", "e2"], "count": 42,
                                 "first_seen": now, "last_seen": now}
    fields.update(kw)
    alert = Alert(**fields)
    s.add(alert)
    s.flush()
    return alert


def actions(s: Session, object_id: int) -> list[str]:
    return list(s.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(object_id))
                          .order_by(AuditEntry.id)))


def test_a_report_filed_by_hand_keeps_its_text_and_validates_its_organisation(platform: Platform) -> None:
    with platform.db.session() as s:
        report = file(s, platform, "  Courriel\r\n suspect\x07 ", body="<script>x()</script>\x00fin\ud800",
                      reporter="agent@interieur.example", organization="min-interieur", tlp="TLP:GREEN")
        assert report.subject == "Courriel suspect"  # one line, control characters gone
        assert report.body == "<script>x()</script>\ufffdfin?"  # kept as text; NUL and a lone surrogate made storable
        assert (report.organization, report.tlp, report.status, report.source) == (INTERIEUR, "green", "new",
                                                                                   "console")
        assert actions(s, report.id) == ["report.create"]
    with platform.db.session() as s:  # what was stored reads back the same
        assert s.get(IncidentReport, report.id).body == "<script>x()</script>\ufffdfin?"  # type: ignore[union-attr]
        with pytest.raises(InvalidInput) as unknown:
            file(s, platform, organization="ministere-inconnu")
        assert unknown.value.params == {"organization": "ministere-inconnu"}
        bad_drafts: list[dict[str, object]] = [{"subject": " \n "}, {"subject": "x" * 301}, {"body": "x" * 100_001},
                                               {"reporter": "r" * 301}, {"tlp": "orange"}]
        for bad in bad_drafts:
            with pytest.raises(InvalidInput):
                file(s, platform, **bad)
        with pytest.raises(InvalidInput):
            reports.create_report(s, platform.constituency, "alert", ReportDraft("x"), "ana")


def test_an_organisation_bound_filer_files_for_its_own_organisations_only(platform: Platform) -> None:
    scope = {INTERIEUR, "min-interieur", DGPN, "dgpn"}
    with platform.db.session() as s:
        ok = reports.create_report(s, platform.constituency, "api", ReportDraft("x", organization="dgpn"),
                                   "token:sensor", organizations=scope)
        assert ok.organization == DGPN
        for organization in ("min-justice", None):
            with pytest.raises(Forbidden):
                reports.create_report(s, platform.constituency, "api", ReportDraft("x", organization=organization),
                                      "token:sensor", organizations=scope)


def test_the_report_of_an_alert_copies_it_and_is_the_only_one(platform: Platform) -> None:
    with platform.db.session() as s:
        alert = new_alert(s, tlp="green", entities={"indicator": {"tlp": "amber+strict"}})
        report = reports.report_from_alert(s, alert, "ana")
        assert (report.source, report.subject, report.alert_id, report.organization) == (
            "alert", "SSH brute force", alert.id, INTERIEUR)
        assert report.tlp == "amber+strict"  # the partner indicator's TLP, above the alert's
        assert "source.ip: 203.0.113.9" in report.body and "event.count: 42" in report.body
        assert "rule.id: ssh-brute" in report.body and "event.id: e1, e2" in report.body
        with pytest.raises(Conflict) as again:
            reports.report_from_alert(s, alert, "bob")
        assert again.value.details["report_id"] == report.id
        assert s.scalar(select(IncidentReport.id).where(IncidentReport.alert_id == alert.id)) == report.id
    duplicate = IncidentReport(source="alert", subject="again", alert_id=report.alert_id, created_by="x")
    with pytest.raises(IntegrityError), platform.db.session() as s:  # the database refuses a second one too
        s.add(duplicate)


def test_the_list_filters_pages_and_keeps_to_an_organisations_scope(platform: Platform) -> None:
    with platform.db.session() as s:
        a = file(s, platform, "Défiguration du site", organization=INTERIEUR, body="page remplacée")
        b = file(s, platform, "Rançongiciel 100%", organization="min-justice", reporter="greffe")
        c = file(s, platform, "Sans organisation")
        alert_report = reports.report_from_alert(s, new_alert(s, organization=DGPN), "ana")
        reports.reject_report(s, c, "doublon", "ana")

        def ids(f: ReportFilter | None = None, **kw: object) -> list[int]:
            return [r.id for r in reports.list_reports(s, f or ReportFilter(), **kw)]  # type: ignore[arg-type]

        assert ids() == [alert_report.id, c.id, b.id, a.id]
        assert ids(ReportFilter(status="rejected")) == [c.id]
        assert ids(ReportFilter(source="alert")) == [alert_report.id]
        assert ids(ReportFilter(organization=JUSTICE)) == [b.id]
        assert ids(ReportFilter(text="PAGE remplacée")) == [a.id]
        assert ids(ReportFilter(text="greffe")) == [b.id]  # the reporter
        assert ids(ReportFilter(text="100%")) == [b.id] and ids(ReportFilter(text="0%R")) == []  # % is literal
        assert ids(limit=2, offset=1) == [c.id, b.id]
        assert reports.count_reports(s, ReportFilter(status="new")) == 3
        interieur = {INTERIEUR, DGPN}
        assert ids(organizations=interieur) == [alert_report.id, a.id]
        assert reports.count_reports(s, organizations=interieur) == 2
        with pytest.raises(NotFound):
            reports.get_report(s, b.id, organizations=interieur)
        with pytest.raises(NotFound):
            reports.get_report(s, c.id, organizations=interieur)  # no organisation: nobody's scope
        with pytest.raises(InvalidInput):
            ids(ReportFilter(status="open"))


def test_linking_to_two_incidents_puts_it_on_both_timelines(platform: Platform) -> None:
    with platform.db.session() as s:
        report = file(s, platform, "Fuite de données", organization=INTERIEUR)
        one, two = new_case(s, "un"), new_case(s, "deux")
        outcome = reports.link_report(s, report, [one.id, two.id, one.id], "ana", "127.0.0.1")
        assert (outcome.linked, outcome.already, outcome.raised) == ([one.id, two.id], [], [])
        assert report.status == "linked"
        for case in (one, two):
            entry = s.scalars(select(TimelineEntry).where(TimelineEntry.case_id == case.id)).one()
            assert entry.message_id == "Incident report #%(report)s linked: %(subject)s"
            assert entry.params == {"report": report.id, "subject": "Fuite de données"}
            assert entry.kind == "report" and entry.actor == "ana"
        assert actions(s, report.id) == ["report.create", "report.link"]
        again = reports.link_report(s, report, [two.id], "ana")
        assert (again.linked, again.already) == ([], [two.id])
        assert [c.id for c, _link in reports.linked_incidents(s, report.id)] == [one.id, two.id]
        assert [r.id for r in reports.reports_for_case(s, two.id)] == [report.id]
        with pytest.raises(NotFound):
            reports.link_report(s, report, [999_999], "ana")
        with pytest.raises(InvalidInput):
            reports.link_report(s, report, [], "ana")


def test_linking_a_report_of_higher_tlp_raises_the_incident_and_says_so(platform: Platform) -> None:
    hooked: list[int] = []
    with platform.db.session() as s:
        report = file(s, platform, "Indicateurs partenaires", tlp="red")
        lower, higher = new_case(s, "ambre", tlp="amber"), new_case(s, "rouge", tlp="red")
        outcome = reports.link_report(s, report, [lower.id, higher.id], "ana",
                                      on_tlp_raised=lambda _s, case: hooked.append(case.id))
        assert [(r.case_id, r.old.label, r.new.label) for r in outcome.raised] == [(lower.id, "TLP:AMBER", "TLP:RED")]
        assert (lower.tlp, higher.tlp) == ("red", "red")
        assert hooked == [lower.id]
        raised = s.scalars(select(TimelineEntry).where(TimelineEntry.case_id == lower.id,
                                                       TimelineEntry.kind == "tlp_raised")).one()
        assert raised.params == {"old": "TLP:AMBER", "new": "TLP:RED", "report": report.id}
        assert not s.scalars(select(TimelineEntry).where(TimelineEntry.case_id == higher.id,
                                                         TimelineEntry.kind == "tlp_raised")).all()


def test_an_organisation_bound_triager_links_only_to_its_incidents(platform: Platform) -> None:
    with platform.db.session() as s:
        report = file(s, platform, organization=INTERIEUR)
        theirs = new_case(s, organization=JUSTICE)
        with pytest.raises(NotFound):
            reports.link_report(s, report, [theirs.id], "token:x", organizations={INTERIEUR, DGPN})
        assert report.status == "new"


def test_unlink_reject_and_reopen(platform: Platform) -> None:
    with platform.db.session() as s:
        report = file(s, platform)
        case = new_case(s)
        reports.link_report(s, report, [case.id], "ana")
        with pytest.raises(Conflict):
            reports.reject_report(s, report, "pas un incident", "ana")  # linked: unlink first
        reports.unlink_report(s, report, case.id, "ana")
        assert report.status == "new" and reports.reports_for_case(s, case.id) == []
        assert case.timeline[-1].message_id == "Incident report #%(report)s unlinked."
        with pytest.raises(NotFound):
            reports.unlink_report(s, report, case.id, "ana")
        for blank in ("", "   \n"):
            with pytest.raises(InvalidInput) as refused:
                reports.reject_report(s, report, blank, "ana")
            assert refused.value.message_id == "Rejecting a report needs a reason."
        assert report.status == "new"
        reports.reject_report(s, report, "  hameçonnage de test interne ", "ana")
        assert (report.status, report.rejection_reason) == ("rejected", "hameçonnage de test interne")
        with pytest.raises(Conflict):
            reports.link_report(s, report, [case.id], "ana")
        with pytest.raises(Conflict):
            reports.open_incident(s, report, "ana")
        reports.reopen_report(s, report, "bob")
        assert (report.status, report.rejection_reason) == ("new", "")
        with pytest.raises(Conflict):
            reports.reopen_report(s, report, "bob")
        assert actions(s, report.id) == ["report.create", "report.link", "report.unlink", "report.reject",
                                         "report.reopen"]
        reject = s.scalars(select(AuditEntry).where(AuditEntry.action == "report.reject")).one()
        assert "hameçonnage de test interne" in str(reject.details)


def test_an_incident_opened_from_a_report_takes_its_subject_tlp_and_organisation(platform: Platform) -> None:
    with platform.db.session() as s:
        report = file(s, platform, "Compte de messagerie compromis", body="Le directeur signale...",
                      organization="min-justice", tlp="amber+strict")
        case = reports.open_incident(s, report, "ana", severity="high")
        assert (case.title, case.tlp, case.title_tlp, case.organization, case.severity) == (
            "Compte de messagerie compromis", "amber+strict", "amber+strict", JUSTICE, "high")
        assert case.description == "Le directeur signale..." and case.detected_at == report.received_at
        assert report.status == "linked"
        assert [r.id for r in reports.reports_for_case(s, case.id)] == [report.id]
        assert case.timeline[0].message_id == "Incident opened from incident report #%(report)s: %(subject)s"
        assert "case.create" in list(s.scalars(select(AuditEntry.action)))
        titled = reports.open_incident(s, report, "ana", title="Autre titre")
        assert titled.title == "Autre titre"
        assert len(reports.linked_incidents(s, report.id)) == 2
        with pytest.raises(InvalidInput):
            reports.open_incident(s, report, "ana", severity="huge")
