# The part of WeasyPrint that web/documents uses (WeasyPrint ships no type information).
from typing import Any

from weasyprint.urls import URLFetcher

class HTML:
    def __init__(self, guess: Any = ..., filename: str | None = ..., url: str | None = ..., file_obj: Any = ...,
                 string: str | None = ..., encoding: str | None = ..., base_url: str | None = ...,
                 url_fetcher: URLFetcher | None = ..., media_type: str = ...) -> None: ...
    def write_pdf(self, target: Any = ..., zoom: float = ..., finisher: Any = ..., font_config: Any = ...,
                  counter_style: Any = ..., **options: Any) -> bytes | None: ...
