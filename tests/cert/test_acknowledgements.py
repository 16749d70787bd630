"""An organisation's acknowledgement of an incident: recorded once (the first stands), on the
timeline in French, audited; an unknown channel refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from cert.core.errors import InvalidInput
from cert.incidents.acks import acknowledge, acknowledgement
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry, Case, TimelineEntry


def test_the_first_acknowledgement_stands_and_is_on_the_timeline(platform: Platform) -> None:
    with platform.db.session() as s:
        case = Case(title="t", created_by="ana", organization="Ministère de l'Intérieur")
        s.add(case)
        s.flush()
        first = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        row, new = acknowledge(s, case, "min-interieur", "pf-interieur", "portal",
                               organization_name="Ministère de l'Intérieur", now=first)
        assert new and row.via == "portal"
        again, new_again = acknowledge(s, case, "min-interieur", "someone-else", "link")
        assert not new_again and again.id == row.id and again.acknowledged_by == "pf-interieur"
        assert acknowledgement(s, case.id, "dgpn") is None
        with pytest.raises(InvalidInput):
            acknowledge(s, case, "dgpn", "x", "carrier-pigeon")
        entries = list(s.scalars(select(TimelineEntry).where(TimelineEntry.case_id == case.id,
                                                             TimelineEntry.kind == "acknowledged")))
        assert len(entries) == 1
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "case.acknowledge")).one().actor == \
            "pf-interieur"
