"""The two documents, shared by the console and the API: an incident report and a monthly activity
report, as PDF or HTML, in a language, at a TLP; each production is audited with who asked, what,
and the document's TLP. Organisation scope: a focal point or an organisation's token only gets
the incidents and the monthly report of their organisations (404 otherwise)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask_babel import force_locale, format_datetime
from flask_babel import gettext as _

from cert.accounts.access import Scope
from cert.core.errors import N_, InvalidInput, NotFound
from cert.core.tlp import TLP, may_leave
from cert.incidents import activity, casefile
from cert.incidents import cases as case_service
from cert.storage import audit
from cert.storage.models import Case
from web.access import actor, platform, remote_addr
from web.documents.render import render, to_pdf

FORMATS = ("pdf", "html")
LANGUAGES = ("fr", "en")
#: a monthly report's TLP when none is chosen
MONTHLY_TLP = TLP.AMBER


@dataclass(frozen=True)
class Document:
    body: bytes
    mimetype: str
    filename: str
    tlp: TLP


@dataclass(frozen=True)
class Row:
    """One incident of a monthly report: its title and organisation when they may be in it."""

    case: Case
    title: str | None
    organization: str | None


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidInput(N_("Unknown format %(format)s: expected pdf or html."), format=fmt[:20])
    return fmt


def _lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise InvalidInput(N_("Unknown language %(lang)s: expected fr or en."), lang=lang[:20])
    return lang


def _finish(html: str, fmt: str, stem: str, tlp: TLP) -> Document:
    if fmt == "pdf":
        return Document(to_pdf(html), "application/pdf", f"{stem}.pdf", tlp)
    return Document(html.encode("utf-8"), "text/html; charset=utf-8", f"{stem}.html", tlp)


def incident_report(case_id: int, fmt: str, lang: str, ceiling: str | None, scope: Scope) -> Document:
    """An incident's report at its TLP, or at the lower recipient ``ceiling`` (``amber``, ``green``...)."""
    fmt, lang = _format(fmt), _lang(lang)
    limit = casefile.parse_tlp(ceiling) if ceiling else None
    with platform().db.session() as s:
        case = case_service.get_case(s, case_id, organizations=scope.recorded)
        content = casefile.build(s, case, limit)
        html = render("documents/incident.html", lang, content.tlp, for_pdf=fmt == "pdf", file=content,
                      produced_at=datetime.now(UTC), produced_by=actor())
    document = _finish(html, fmt, f"incident-{case_id}-{content.tlp.tag_value}", content.tlp)
    with platform().db.session() as s:
        audit.record(s, actor(), "document.incident_report", "case", case_id, remote_addr(), format=fmt,
                     lang=lang, tlp=content.tlp.tag_value, ceiling=limit.tag_value if limit else None,
                     withheld=content.withheld.items)
    return document


def monthly_scope(ref: str | None, scope: Scope) -> tuple[str | None, frozenset[str] | None]:
    """(the organisation's name, what its incidents and alerts record) for a monthly report of
    ``ref`` (an id or a name, with the organisations under it); (None, None) for the whole
    constituency. Without ``ref`` a focal point or an organisation's token gets their own; an
    organisation they do not see is NotFound, like an unknown one."""
    constituency = platform().constituency
    if ref:
        org = constituency.by_id(ref.strip()) or constituency.by_name(ref.strip())
        if org is None or (scope.ids is not None and org.id not in scope.ids):
            raise NotFound(N_("No organisation %(organization)s in the constituency."), organization=ref[:200])
        ids = constituency.scope_of(org.id)
        return org.name, ids | constituency.names_of(ids)
    if scope.ids is None:
        return None, None
    tops = sorted(o.name for o in constituency.organizations if o.id in scope.ids and o.parent not in scope.ids)
    if not tops or scope.recorded is None:
        raise NotFound(N_("No organisation %(organization)s in the constituency."), organization="")
    return ", ".join(tops), scope.recorded


def monthly_report(month: str | None, organization: str | None, fmt: str, lang: str, tlp: str | None,
                   scope: Scope) -> Document:
    """The activity report of ``month`` (``YYYY-MM``; the last complete month when None) for an
    organisation or the whole constituency, marked ``tlp`` (TLP:AMBER by default): a title goes
    in only when ``may_leave`` lets it go at that TLP, else the incident is listed by number."""
    fmt, lang = _format(fmt), _lang(lang)
    period = activity.Month.parse(month) if month else activity.Month.previous()
    level = casefile.parse_tlp(tlp) if tlp else MONTHLY_TLP
    name, organizations = monthly_scope(organization, scope)
    with platform().db.session() as s:
        numbers = activity.monthly(s, period, organizations=organizations)
        rows = [Row(c, c.title if may_leave(casefile.parse_tlp(c.title_tlp), level) else None,
                    c.organization if may_leave(casefile.parse_tlp(c.tlp), level) else None)
                for c in numbers.incidents]
        with force_locale(lang):
            when = str(format_datetime(period.start, "MMMM y"))
            title = str(_("Activity report for %(month)s — %(scope)s", month=when,
                          scope=name or _("whole constituency")))
        classes = sorted(set(numbers.opened_by_class) | set(numbers.closed_by_class))
        html = render("documents/monthly.html", lang, level, for_pdf=fmt == "pdf", activity=numbers, rows=rows,
                      title=title, constituency=name is None, classes=classes,
                      severities=casefile.SEVERITIES, neutral_titles=sum(1 for r in rows if r.title is None),
                      produced_at=datetime.now(UTC), produced_by=actor())
    stem = f"activity-{period}-{(organization or 'constituency').strip()[:40]}-{level.tag_value}"
    document = _finish(html, fmt, "".join(ch if ch.isalnum() or ch in "-+" else "_" for ch in stem), level)
    with platform().db.session() as s:
        audit.record(s, actor(), "document.monthly_report", "organization", organization or "", remote_addr(),
                     month=str(period), format=fmt, lang=lang, tlp=level.tag_value, scope=name or "constituency")
    return document
