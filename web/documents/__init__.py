"""Documents for people outside the console: an incident's report and the monthly activity report,
as HTML and PDF, in French or English, with their TLP marking on every page."""

from web.documents import words  # noqa: F401 - the words the documents translate
from web.documents.api import bp as api
from web.documents.views import bp

__all__ = ["api", "bp"]
