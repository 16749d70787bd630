"""Pages of a long list in the console: which page, which rows, and the "1–50 of 1 234" line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import request, url_for
from flask_babel import format_number
from flask_babel import gettext as _

PER_PAGE = 50


@dataclass(frozen=True)
class Pager:
    page: int
    per_page: int
    total: int

    @classmethod
    def from_request(cls, total: int, per_page: int = PER_PAGE) -> Pager:
        """The page asked for by ``?page=N``, kept within the pages there are (1 when not a number)."""
        pages = max(1, -(-total // per_page))
        page = request.args.get("page", 1, type=int) or 1
        return cls(min(max(page, 1), pages), per_page, total)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def summary(self) -> str:
        """Which rows are shown of how many: "1–50 of 1,234" ("1–50 sur 1 234" in French)."""
        first = self.offset + 1 if self.total else 0
        last = min(self.offset + self.per_page, self.total)
        return str(_("%(first)s–%(last)s of %(total)s", first=format_number(first), last=format_number(last),
                     total=format_number(self.total)))

    def url(self, page: int) -> str:
        """This list at another page, with the same filters."""
        args: dict[str, Any] = {**(request.view_args or {}), **request.args.to_dict(flat=False), "page": page}
        args.pop("lang", None)
        return url_for(str(request.endpoint), **args)
