"""An organisation's contacts in the constituency file: the focal point and the people escalation
reaches (deputy, CISO, duty officer, technical team) with their language; a contact of an
unknown role or language refuses the file with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from cert.constituency.directory import Constituency
from cert.core.errors import ConfigError


def test_the_bundled_ministry_has_its_escalation_contacts() -> None:
    org = Constituency.load(None).find("min-interieur")
    assert org is not None and org.focal_point is not None
    assert [(c.role, c.language) for c in org.contacts] == [("focal_point", "fr"), ("deputy", "fr"), ("ciso", "en")]
    assert org.contacts_with("ciso")[0].email == "rssi@interieur.gouv.example"
    assert org.domains == ("interieur.gouv.example",) and org.kind == "ministry"


@pytest.mark.parametrize(("field", "value", "reason"), [("role", "boss", "unknown contact role"),
                                                         ("language", "de", "unknown language")])
def test_a_contact_of_unknown_role_or_language_refuses_the_file(tmp_path: Path, field: str, value: str,
                                                                reason: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[[organization]]\nid = "a"\nname = "A"\nnetworks = []\n\n[[organization.contact]]\n'
                    f'name = "X"\nemail = "x@a.example"\n{field} = "{value}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=reason):
        Constituency.load(path)
