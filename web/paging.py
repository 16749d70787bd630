"""Pages of a long list in the console: which page, which rows, and the "1–50 of 1 234" line (or
"1–50 of more than 1 000" when the list was counted only so far)."""

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
    #: the list holds more than ``total`` rows (it was counted only so far)
    more: bool = False

    @staticmethod
    def requested_page() -> int:
        """The page asked for by ``?page=N`` (1 when not a number)."""
        return max(request.args.get("page", 1, type=int) or 1, 1)

    @classmethod
    def from_request(cls, total: int, per_page: int = PER_PAGE, at_most: int | None = None) -> Pager:
        """The page asked for by ``?page=N``, kept within the pages there are. ``at_most``: the list
        was counted no further than that, a ``total`` above it meaning "more than ``at_most``"."""
        more = at_most is not None and total > at_most
        if at_most is not None and more:
            total = at_most
        pages = max(1, -(-total // per_page))
        return cls(min(cls.requested_page(), pages), per_page, total, more)

    @staticmethod
    def counted_to(per_page: int = PER_PAGE, at_least: int = 1000) -> int:
        """How far to count a list that is costly to count: ``at_least`` rows, and past the page asked for."""
        return max(at_least, Pager.requested_page() * per_page)

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
        return self.page < self.pages or self.more

    def summary(self) -> str:
        """Which rows are shown of how many: "1–50 of 1,234" ("1–50 sur 1 234" in French)."""
        first = self.offset + 1 if self.total else 0
        last = min(self.offset + self.per_page, self.total)
        if self.more:
            return str(_("%(first)s–%(last)s of more than %(total)s", first=format_number(first),
                         last=format_number(last), total=format_number(self.total)))
        return str(_("%(first)s–%(last)s of %(total)s", first=format_number(first), last=format_number(last),
                     total=format_number(self.total)))

    def position(self) -> str:
        """Which page of how many: "page 2 of 7" ("page 2 of more than 20" when counted only so far)."""
        if self.more:
            return str(_("page %(page)s of more than %(pages)s", page=self.page, pages=self.pages))
        return str(_("page %(page)s of %(pages)s", page=self.page, pages=self.pages))

    def url(self, page: int) -> str:
        """This list at another page, with the same filters."""
        args: dict[str, Any] = {**(request.view_args or {}), **request.args.to_dict(flat=False), "page": page}
        args.pop("lang", None)
        return url_for(str(request.endpoint), **args)
