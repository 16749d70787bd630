"""Ticket numbers, as they appear in the subject of the e-mails the CERT sends and receives.

``[VIGIE#123]`` names incident 123; ``[VIGIE-R#45]`` names incident report 45 (what the public
form and an e-mailed report are answered with). A reply whose subject carries one threads into
that incident or report (``cert.incidents.mail_intake``); a notification about an incident puts
``case_ticket(id)`` in its subject so that the answers come back to it."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TICKET = re.compile(r"\[VIGIE(-R)?#(\d{1,12})\]", re.IGNORECASE)


@dataclass(frozen=True)
class Ticket:
    """A ticket read from a subject: an incident's (``kind`` case) or a report's (``kind`` report)."""

    kind: str
    number: int

    def __str__(self) -> str:
        return case_ticket(self.number) if self.kind == "case" else report_ticket(self.number)


def case_ticket(case_id: int) -> str:
    return f"[VIGIE#{case_id}]"


def report_ticket(report_id: int) -> str:
    return f"[VIGIE-R#{report_id}]"


def find_ticket(subject: str) -> Ticket | None:
    """The first ticket in a subject, if any."""
    match = _TICKET.search(subject)
    if match is None:
        return None
    return Ticket("report" if match.group(1) else "case", int(match.group(2)))
