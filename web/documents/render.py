"""Documents as HTML (Jinja templates with a print stylesheet) and as PDF (WeasyPrint on Debian's
Pango), in the reader's language, with their TLP marking on every page.

WeasyPrint never reaches the network: its fetcher answers only files under the console's static
folder (the stylesheet); any other address (http, https, ftp, data, a file elsewhere) is refused."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import current_app, render_template, url_for
from flask_babel import force_locale, format_datetime, format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from cert.core.tlp import TLP

STATIC = Path(__file__).resolve().parent.parent / "static"
STYLESHEET = "documents.css"

#: the TLP 2.0 definitions (FIRST), shown under the marking at the top of the first page
DEFINITIONS = {
    TLP.CLEAR: _l("Recipients can spread this to the world, there is no limit on disclosure."),
    TLP.GREEN: _l("Limited disclosure, recipients can spread this within their community."),
    TLP.AMBER: _l("Limited disclosure, recipients can only spread this on a need-to-know basis within their "
                  "organization and its clients."),
    TLP.AMBER_STRICT: _l("Limited disclosure, recipients can only spread this on a need-to-know basis within "
                         "their organization only."),
    TLP.RED: _l("For the eyes and ears of individual recipients only, no further disclosure."),
}


class LocalOnlyFetcher(URLFetcher):
    """WeasyPrint's fetcher, limited to the files of the static folder: a document never makes
    the renderer fetch anything from the network or read another file."""

    def __init__(self, root: Path = STATIC) -> None:
        super().__init__(allowed_protocols=["file"], allow_redirects=False)
        self.root = root.resolve()

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        parts = urlsplit(url)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            raise ValueError(f"refused to fetch {url[:200]!r}: documents use local static files only")
        path = Path(unquote(parts.path)).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            raise ValueError(f"refused to fetch {url[:200]!r}: not a static file")
        kind = "text/css" if path.suffix == ".css" else "application/octet-stream"
        return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": kind})


def to_pdf(html: str) -> bytes:
    """The PDF of a document rendered for print (``render(..., for_pdf=True)``)."""
    data = HTML(string=html, base_url=STATIC.as_uri() + "/", url_fetcher=LocalOnlyFetcher()).write_pdf()
    if not isinstance(data, bytes):  # write_pdf answers bytes when given no target
        raise TypeError("WeasyPrint gave no PDF")
    return data


def when(value: datetime | None) -> str:
    """A date and time in the reader's language, with its time zone."""
    return format_datetime(value, "long") if value is not None else "—"


def hours(seconds: float | None) -> str:
    """A duration in hours, in the reader's number format (``1,5 h`` in French)."""
    if seconds is None:
        return "—"
    return str(_("%(hours)s h", hours=format_decimal(seconds / 3600.0, "#,##0.0")))


def number(value: int | float) -> str:
    """A number in the reader's format (``1 234`` in French)."""
    return str(format_decimal(value))


def render(template: str, lang: str, tlp: TLP, *, for_pdf: bool, **context: Any) -> str:
    """A document's HTML in ``lang``, marked ``tlp``. For a PDF the stylesheet is named relative
    to the static folder (the fetcher reads it there); for a browser, by its console address."""
    with force_locale(lang):
        return render_template(
            template, lang=lang, tlp=tlp, tlp_class="tlp-" + tlp.tag_value.replace("+", "-"),
            tlp_definition=str(DEFINITIONS[tlp]),
            stylesheet=STYLESHEET if for_pdf else url_for("static", filename=STYLESHEET),
            org_name=current_app.extensions["vigie"].settings.org_name,
            when=when, hours=hours, number=number, **context)
