"""The one sharing policy: every TLP 2.0 label against every ceiling, every PAP against every PAP
honoured, written out as tables rather than recomputed; an incident of mixed markings shared with a
TLP:GREEN partner gives its GREEN and CLEAR indicators and nothing else, titles and free text
included; partners and their terms read from the constituency file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cert.constituency.directory import Constituency
from cert.core.errors import ConfigError
from cert.core.tlp import PAP, TLP
from cert.sharing.policy import Terms, decide, share_case, terms_of
from cert.storage.models import Case, Observable

C, G, A, S, R = TLP.CLEAR, TLP.GREEN, TLP.AMBER, TLP.AMBER_STRICT, TLP.RED
#: ceiling -> the labels that may go to it (TLP 2.0; RED never in a share)
RECEIVES = {C: {C}, G: {C, G}, A: {C, G, A}, S: {C, G, A, S}, R: {C, G, A, S}}
#: PAP honoured -> the PAP markings the recipient may receive
HONOURS = {PAP.CLEAR: {PAP.CLEAR}, PAP.GREEN: {PAP.CLEAR, PAP.GREEN},
           PAP.AMBER: {PAP.CLEAR, PAP.GREEN, PAP.AMBER}, PAP.RED: {PAP.CLEAR, PAP.GREEN, PAP.AMBER, PAP.RED}}


@pytest.mark.parametrize("ceiling", list(TLP))
@pytest.mark.parametrize("label", list(TLP))
def test_every_tlp_label_against_every_ceiling(ceiling: TLP, label: TLP) -> None:
    verdict = decide(Terms(ceiling, PAP.RED), label)
    assert verdict.allowed == (label in RECEIVES[ceiling])
    if not verdict.allowed:
        assert label.label in verdict.text


@pytest.mark.parametrize("honoured", list(PAP))
@pytest.mark.parametrize("marking", list(PAP))
def test_every_pap_against_every_pap_honoured(honoured: PAP, marking: PAP) -> None:
    verdict = decide(Terms(TLP.AMBER, honoured), TLP.GREEN, marking)
    assert verdict.allowed == (marking in HONOURS[honoured])


def mixed_incident() -> Case:
    case = Case(id=41, title="Exfiltration par le ministre X (source: partenaire RED)", title_tlp="red", tlp="red",
                pap="amber", description="Détails AMBER: le compte de M. Y est compromis", created_by="ana")
    values = [("ip", "198.51.100.10", "clear", None), ("domain", "green-c2.example", "green", None),
              ("ip", "203.0.113.20", "amber", None), ("domain", "strict.example", "amber+strict", None),
              ("ip", "192.0.2.30", "red", None), ("domain", "passive-only.example", "green", "red"),
              ("url", "http://clear.example/x", "clear", "clear")]
    case.observables = [Observable(id=i, type=t, value=v, tlp=tlp, pap=pap, ioc=True, valid=True)
                        for i, (t, v, tlp, pap) in enumerate(values, 1)]
    return case


def test_a_green_partner_receives_the_green_and_clear_items_and_nothing_else() -> None:
    case = mixed_incident()
    shared = share_case(case, terms_of("green", "amber"), organization="Ministère de l'Intérieur")
    assert shared.leaves
    assert {i.value for i in shared.items} == {"198.51.100.10", "green-c2.example", "http://clear.example/x"}
    assert shared.title == "Incident #41" and shared.title_neutral  # the ministry is marked with the incident
    assert shared.description == ""
    everything = json.dumps([shared.title, shared.description, [(i.type, i.value) for i in shared.items]])
    for secret in ("203.0.113.20", "strict.example", "192.0.2.30", "passive-only.example", "ministre X",
                   "compte de M. Y", "AMBER:"):
        assert secret not in everything
    withheld = {w.value: w.verdict.text for w in shared.withheld}
    assert withheld["192.0.2.30"] == "TLP:RED never leaves in a share"
    assert withheld["203.0.113.20"] == "TLP:AMBER is above the recipient's ceiling TLP:GREEN"
    assert withheld["passive-only.example"] == "PAP:RED is more restrictive than the recipient honours (PAP:AMBER)"
    # the same partner honouring only PAP:GREEN: the incident's PAP:AMBER items stay too
    strict = share_case(case, terms_of("green", "green"))
    assert {i.value for i in strict.items} == {"http://clear.example/x"}
    assert "PAP:AMBER" in {w.value: w.verdict.text for w in strict.withheld}["198.51.100.10"]


def test_a_container_with_nothing_to_share_goes_nowhere_and_an_amber_partner_gets_more() -> None:
    case = mixed_incident()
    assert {i.value for i in share_case(case, terms_of("clear", "red")).items} == {"198.51.100.10",
                                                                                  "http://clear.example/x"}
    only_red = Case(id=7, title="t", title_tlp="red", tlp="red", pap="red", description="", created_by="a")
    only_red.observables = [Observable(id=1, type="ip", value="192.0.2.1", tlp="red", ioc=True, valid=True)]
    nothing = share_case(only_red, terms_of("amber+strict", "red"))
    assert not nothing.leaves and not nothing.container.allowed and nothing.items == ()
    amber = share_case(case, terms_of("amber", "red"))
    assert {i.value for i in amber.items} == {"198.51.100.10", "green-c2.example", "203.0.113.20",
                                               "passive-only.example", "http://clear.example/x"}


def test_partners_and_their_terms_come_from_the_constituency_file(tmp_path: Path) -> None:
    bundled = Constituency.load(None)
    voisin = bundled.partner("cert-voisin")
    assert voisin is not None and (voisin.tlp_ceiling, voisin.pap) == ("green", "green")
    assert "taxii" in voisin.channels
    bad = tmp_path / "c.toml"
    bad.write_text('[[partner]]\nid = "x"\nname = "X"\ntlp_ceiling = "purple"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="partner #1"):
        Constituency.load(bad)
    bad.write_text('[[partner]]\nid = "x"\nname = "X"\nchannels = ["fax"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown channel"):
        Constituency.load(bad)


def test_tlp_red_reaches_only_a_named_recipient_whose_ceiling_is_red() -> None:
    assert decide(Terms(TLP.RED, named=True), TLP.RED).allowed
    assert not decide(Terms(TLP.RED), TLP.RED).allowed  # an automated share: RED never leaves
    assert not decide(Terms(TLP.AMBER_STRICT, named=True), TLP.RED).allowed
    assert decide(Terms(TLP.RED, named=True), TLP.AMBER).allowed
