"""Response playbooks through the REST API and the console, on a real gateway (nftables in a
private network namespace): list, dry run, run, a second responder's approval (the requester's
own is refused), the block listed with its expiry, undone by hand, a failed run resumed; French by
default; another organisation's token sees nothing (404)."""

from __future__ import annotations

import re
import sys
from datetime import datetime
from html import unescape
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "web"))  # the web tests' helpers
from account_support import api_csrf, logged_in
from flask import Flask
from support import JUSTICE, csrf_token
from test_block_ip import Gateway, gateway  # noqa: F401 - fixture
from test_playbook_actions import blocked, incident, responding  # noqa: F401 - fixture

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.runtime.platform import Platform
from web.app import create_app

pytestmark = pytest.mark.nftables
PASSWORD = "a-long-password-1"


@pytest.fixture
def app(responding: Platform) -> Flask:  # noqa: F811
    c = responding.constituency
    with responding.db.session() as s:
        create_user(s, "rita", PASSWORD, "responder")
        create_user(s, "sam", PASSWORD, "responder")
        create_user(s, "ana", PASSWORD, "analyst")
        create_user(s, "pf-justice", PASSWORD, "focal_point", organization="min-justice", constituency=c)
    return create_app(platform=responding)


def test_the_api_from_dry_run_to_undo(app: Flask, responding: Platform, gateway: Gateway) -> None:  # noqa: F811
    p = responding
    case_id = incident(p)
    rita, sam, ana = (logged_in(app, u, PASSWORD) for u in ("rita", "sam", "ana"))
    books = {b["id"]: b for b in ana.get("/api/v1/playbooks").get_json()["items"]}
    assert books["contain"]["steps"] == [{"id": "block", "step": "block_ip", "kind": "action",
                                          "approval": "responder"}]
    dry = ana.post(f"/api/v1/incidents/{case_id}/playbooks/contain/dry-run", headers=api_csrf(ana)).get_json()
    step = dry["steps"][0]
    assert [t["value"] for t in step["targets"]] == ["10.77.0.2"] and "10.77.0.2" in step["targets"][0]["text"]
    reasons = {e["value"]: e["reason"] for e in step["excluded"]}
    assert reasons["10.77.0.3"] == "protégé : jamais une cible" and "PAP:RED" in reasons["fd77::2"]
    # the partner lifts the PAP of its address: the next dry run takes it
    listed = ana.get(f"/api/v1/incidents/{case_id}/observables").get_json()["items"]
    v6 = next(o for o in listed if o["value"] == "fd77::2")
    assert v6["pap"] == "red"
    assert ana.patch(f"/api/v1/incidents/{case_id}/observables/{v6['id']}", json={"pap": "purple"},
                     headers=api_csrf(ana)).status_code == 400
    lifted = ana.patch(f"/api/v1/incidents/{case_id}/observables/{v6['id']}", json={"pap": "green"},
                       headers=api_csrf(ana))
    assert lifted.status_code == 200 and lifted.get_json()["pap"] == "green"
    again = ana.post(f"/api/v1/incidents/{case_id}/playbooks/contain/dry-run", headers=api_csrf(ana)).get_json()
    assert [t["value"] for t in again["steps"][0]["targets"]] == ["10.77.0.2", "fd77::2"]
    back = ana.patch(f"/api/v1/incidents/{case_id}/observables/{v6['id']}", json={"pap": "red"},
                     headers=api_csrf(ana))
    assert back.get_json()["pap"] == "red"
    inherit = ana.patch(f"/api/v1/incidents/{case_id}/observables/{v6['id']}", json={"pap": "incident"},
                        headers=api_csrf(ana))
    assert inherit.get_json()["pap"] is None  # the incident's PAP:GREEN applies
    last = ana.post(f"/api/v1/incidents/{case_id}/playbooks/contain/dry-run", headers=api_csrf(ana)).get_json()
    assert "fd77::2" in [t["value"] for t in last["steps"][0]["targets"]]
    ana.patch(f"/api/v1/incidents/{case_id}/observables/{v6['id']}", json={"pap": "red"}, headers=api_csrf(ana))
    assert ana.post(f"/api/v1/incidents/{case_id}/playbook-runs", json={"playbook": "contain"},
                    headers=api_csrf(ana)).status_code == 403  # an analyst does not run
    started = rita.post(f"/api/v1/incidents/{case_id}/playbook-runs", json={"playbook": "contain"},
                        headers=api_csrf(rita))
    assert started.status_code == 202
    run_id = started.get_json()["id"]
    p.jobs.wait()
    run = rita.get(f"/api/v1/playbook-runs/{run_id}").get_json()
    assert run["status"] == "waiting-approval" and run["steps"][0]["status"] == "waiting-approval"
    own = rita.post(f"/api/v1/playbook-runs/{run_id}/steps/1/approve", json={"reason": "urgent"},
                    headers=api_csrf(rita))
    assert own.status_code == 403 and "demandé" in own.get_json()["message"]
    assert sam.post(f"/api/v1/playbook-runs/{run_id}/steps/1/approve", json={"reason": ""},
                    headers=api_csrf(sam)).status_code == 400
    approved = sam.post(f"/api/v1/playbook-runs/{run_id}/steps/1/approve", json={"reason": "confirmed attacker"},
                        headers=api_csrf(sam))
    assert approved.status_code == 200
    p.jobs.wait()
    assert gateway.connect("10.77.0.2") == "timeout"
    run = ana.get(f"/api/v1/playbook-runs/{run_id}").get_json()
    assert run["status"] == "done" and run["steps"][0]["approvals"][0]["actor"] == "sam"
    actions = ana.get(f"/api/v1/incidents/{case_id}/response-actions").get_json()["items"]
    assert [(a["target"], a["status"]) for a in actions] == [("10.77.0.2", "applied")]
    assert actions[0]["expires_at"] is not None
    countermeasures = ana.get(f"/api/v1/incidents/{case_id}/countermeasures").get_json()["items"]
    assert [(c["kind"], c["target"], c["status"]) for c in countermeasures] == [("block-ip", "10.77.0.2", "done")]
    assert datetime.fromisoformat(countermeasures[0]["expires_at"].replace("Z", "+00:00")) == \
        datetime.fromisoformat(actions[0]["expires_at"])
    assert ana.post(f"/api/v1/response-actions/{actions[0]['id']}/undo", json={},
                    headers=api_csrf(ana)).status_code == 403
    undone = sam.post(f"/api/v1/response-actions/{actions[0]['id']}/undo", json={"reason": "fixed"},
                      headers=api_csrf(sam))
    assert undone.status_code == 200 and undone.get_json()["status"] == "reverted"
    assert gateway.connect("10.77.0.2") == "ok" and blocked(gateway) == []
    again = sam.post(f"/api/v1/response-actions/{actions[0]['id']}/undo", json={}, headers=api_csrf(sam))
    assert again.status_code == 409

    # another organisation's token and a focal point see nothing of it
    with p.db.session() as s:
        secret = create_token(s, "soc-justice", "tests", actor="test", scopes=["read", "write"],
                              organization=p.constituency.find("min-justice"))[1]
    token = {"Authorization": f"Bearer {secret}"}
    client = app.test_client()
    assert client.get(f"/api/v1/playbook-runs/{run_id}", headers=token).status_code == 404
    assert client.get(f"/api/v1/incidents/{case_id}/response-actions", headers=token).status_code == 404
    assert client.post(f"/api/v1/incidents/{case_id}/playbooks/contain/dry-run", headers=token).status_code == 404
    focal = logged_in(app, "pf-justice", PASSWORD)
    assert focal.get(f"/api/v1/playbook-runs/{run_id}").status_code == 403
    assert JUSTICE  # the organisation the token and the focal point belong to


def test_the_console_run_page_approval_and_resume(app: Flask, responding: Platform,  # noqa: F811
                                                  gateway: Gateway) -> None:  # noqa: F811
    p = responding
    case_id = incident(p)
    rita, sam = logged_in(app, "rita", PASSWORD), logged_in(app, "sam", PASSWORD)
    page = rita.get(f"/cases/{case_id}").get_data(as_text=True)
    token = csrf_token(page)
    v6 = next(o["id"] for o in rita.get(f"/api/v1/incidents/{case_id}/observables").get_json()["items"]
              if o["value"] == "fd77::2")
    assert f'id="observable-{v6}-pap"' in page
    rita.post(f"/cases/{case_id}/observables/{v6}", data={"csrf_token": token, "tlp": "amber", "pap": "clear",
                                                          "ioc": "y", "comment": ""})
    listed = {o["id"]: o for o in rita.get(f"/api/v1/incidents/{case_id}/observables").get_json()["items"]}
    assert listed[v6]["pap"] == "clear"
    rita.post(f"/cases/{case_id}/observables/{v6}", data={"csrf_token": token, "tlp": "amber", "pap": "red",
                                                          "ioc": "y", "comment": ""})
    dry = rita.post(f"/cases/{case_id}/dry-run", data={"csrf_token": token, "playbook": "contain"})
    text = unescape(dry.get_data(as_text=True))
    assert dry.status_code == 200 and "Rien n'a été fait" in text and "10.77.0.2" in text
    assert "protégé : jamais une cible" in text
    assert gateway.connect("10.77.0.2") == "ok"
    rita.post(f"/cases/{case_id}/playbooks", data={"csrf_token": token, "playbook": "contain"})
    p.jobs.wait()
    case_page = rita.get(f"/cases/{case_id}").get_data(as_text=True)
    run_id = int(re.findall(rf'/cases/{case_id}/runs/(\d+)"', case_page)[-1])
    own = rita.get(f"/cases/{case_id}/runs/{run_id}").get_data(as_text=True)
    assert "en attente d'approbation" in unescape(own) and "approve-step" not in own
    theirs = sam.get(f"/cases/{case_id}/runs/{run_id}").get_data(as_text=True)
    assert "approve-step" in theirs
    assert sam.post(f"/cases/{case_id}/runs/{run_id}/steps/1/approve",
                    data={"reason": "ok"}).status_code == 400  # no CSRF token: nothing decided
    done = sam.post(f"/cases/{case_id}/runs/{run_id}/steps/1/approve",
                    data={"csrf_token": csrf_token(theirs), "reason": "confirmed"})
    assert done.status_code == 303
    p.jobs.wait()
    assert gateway.connect("10.77.0.2") == "timeout"
    shown = unescape(sam.get(f"/cases/{case_id}").get_data(as_text=True))
    assert 'id="response-actions"' in shown and "appliquée" in shown
    action_id = int(re.findall(rf'/cases/{case_id}/response-actions/(\d+)/undo', shown)[0])
    sam.post(f"/cases/{case_id}/response-actions/{action_id}/undo", data={"csrf_token": csrf_token(shown)})
    assert gateway.connect("10.77.0.2") == "ok"
    english = sam.get(f"/cases/{case_id}/runs/{run_id}?lang=en").get_data(as_text=True)
    assert "Approved by sam: confirmed" in unescape(english)
