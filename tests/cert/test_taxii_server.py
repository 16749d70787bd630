"""Vigie's TAXII 2.1 server as a partner CERT reads it: the OASIS taxii2-client against Vigie served
by gunicorn with two workers on 127.0.0.1 (as docker/compose.yaml runs the console), on the
embedded database the test fills.

A GREEN partner pages through its collection two objects at a time and gets exactly what one
request gives, without duplicates and without any AMBER or RED value, the AMBER title or the
description; the pages' ``next`` values are continued by the other worker (gunicorn's access log
names the process of each request). The AMBER partner gets its AMBER indicator. ``added_after``
returns only what was published after; publishing again moves ``date_added``; a withdrawn
incident's objects are gone; stix2-validator accepts every object; a wrong token is a 401 the
client raises; another partner's collection is a 404; an altered ``next`` is a 400 TAXII error;
every read is audited with the values sent."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from servers import LOOPBACK, find_free_port
from sqlalchemy import select
from stix2validator import ValidationOptions, validate_instance
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from cert.accounts.tokens import create_token
from cert.core.config import Settings
from cert.incidents.cases import add_observable
from cert.runtime.platform import Platform
from cert.sharing.publications import publish, withdraw
from cert.sharing.taxii_server import MEDIA_TYPE_TAXII, collection_of
from cert.storage.models import AuditEntry, Case

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "taxii-test-secret-key"
#: What each incident holds: (type, value pattern, TLP); the values carry the incident's number.
ITEMS = (("ip", "198.51.100.{n}", "clear"), ("domain", "green-{n}.example", "green"),
         ("ip", "203.0.113.{n}", "amber"), ("domain", "amber-{n}.example", "amber"),
         ("ip", "192.0.2.{n}", "red"))
AMBER_TITLE = "Fuite chez le ministre {n}"
DESCRIPTION = "Le compte de M. Y{n} (confidentiel)"


@dataclass
class Vigie:
    platform: Platform
    url: str
    access_log: Path
    tokens: dict[str, str]

    @property
    def discovery(self) -> str:
        return f"{self.url}/api/taxii2/"

    def collection(self, partner: str) -> Collection:
        found = self.platform.constituency.partner(partner)
        assert found is not None
        ident = collection_of(found, self.platform.settings.org_uuid).id
        return Collection(f"{self.url}/api/taxii2/vigie/collections/{ident}/", user="any-name",
                          password=self.tokens[partner])

    def served_pids(self, marker: str) -> list[tuple[int, str]]:
        """(worker pid, request line) of each request whose line holds ``marker``, in order."""
        out = []
        for line in self.access_log.read_text().splitlines():
            pid, _sep, rest = line.partition(" ")
            if marker in rest:
                out.append((int(pid.strip("<>")), rest))
        return out


def make_case(p: Platform, n: int, *, published: datetime | None = None, partners: tuple[str, ...] = (
        "cert-voisin", "cert-regional")) -> int:
    """An AMBER incident with an AMBER title and a description, indicators of every TLP, published
    to ``partners`` at ``published``."""
    with p.db.session() as s:
        case = Case(title=AMBER_TITLE.format(n=n), title_tlp="amber", tlp="amber", pap="green",
                    description=DESCRIPTION.format(n=n), created_by="ana", organization="Ministère de l'Intérieur")
        s.add(case)
        s.flush()
        for kind, value, tlp in ITEMS:
            add_observable(s, case, kind, value.format(n=n), tlp=tlp)
        chosen = [p.constituency.partner(x) for x in partners]
        publish(s, case, [x for x in chosen if x is not None], "ana", now=published)
        return case.id


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else f"({log.name} was not written)"


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gunicorn exited with {proc.returncode}: " + _tail(log))
        try:
            if requests.get(f"{url}/healthz", timeout=10).ok:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    pytest.fail("gunicorn did not answer within 90 s: " + _tail(log))


@pytest.fixture(scope="module")
def vigie(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vigie]:
    workdir = tmp_path_factory.mktemp("taxii-server")
    settings = replace(Settings(), data_dir=workdir / "data", secret_key=SECRET_KEY)
    platform = Platform(settings)
    platform.db.upgrade()
    tokens = {}
    with platform.db.session() as s:
        for partner in ("cert-voisin", "cert-regional"):
            tokens[partner] = create_token(s, f"taxii-{partner}", "tests", actor="test", scopes=["share"],
                                           partner=platform.constituency.partner(partner))[1]
    for n in range(1, 5):
        make_case(platform, n)
    port = find_free_port()
    access_log, errors = workdir / "access.log", workdir / "gunicorn.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERT_")}
    env |= {"CERT_DATA_DIR": str(settings.data_dir), "CERT_SECRET_KEY": SECRET_KEY, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "gunicorn", "--workers=2", f"--bind={LOOPBACK}:{port}", "--timeout=120",
               "--access-logfile", str(access_log), "--access-logformat", '%(p)s "%(r)s" %(s)s',
               "--error-logfile", str(errors), "web.app:create_app()"]
    with errors.open("ab") as stderr:  # what fails before gunicorn opens its log lands there too
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://{LOOPBACK}:{port}"
    try:
        _wait_up(url, proc, errors)
        yield Vigie(platform, url, access_log, tokens)
    finally:
        proc.terminate()  # the gunicorn master started above, by its Popen; it stops its workers
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        platform.close()


def every_object(collection: Collection, per_request: int = 0, **filters: Any) -> list[dict[str, Any]]:
    if per_request:
        return [o for page in as_pages(collection.get_objects, per_request=per_request, **filters)
                for o in page.get("objects", [])]
    return list(collection.get_objects(**filters).get("objects", []))


def test_discovery_api_root_and_the_partners_one_collection(vigie: Vigie) -> None:
    server = Server(vigie.discovery, user="cert-voisin", password=vigie.tokens["cert-voisin"])
    assert server.title == vigie.platform.settings.org_name
    assert [root.url for root in server.api_roots] == [f"{vigie.url}/api/taxii2/vigie/"]
    root: ApiRoot = server.default
    assert root.title == vigie.platform.settings.org_name and root.versions == [MEDIA_TYPE_TAXII]
    [collection] = root.collections
    assert collection.title == "Vigie → CERT national voisin"
    assert collection.can_read and not collection.can_write
    assert collection.id == vigie.collection("cert-voisin").id
    assert collection.media_types == ["application/stix+json;version=2.1"]


def test_a_green_partner_pages_through_its_collection_across_workers_and_gets_nothing_above_green(
        vigie: Vigie) -> None:
    collection = vigie.collection("cert-voisin")
    whole = every_object(collection)
    assert whole, "the collection is empty"
    ids = [o["id"] for o in whole]
    assert len(ids) == len(set(ids)), "an object is served twice"
    marker = "limit=2&next="
    crossed = False
    for _walk in range(30):  # bounded: a walk is ~10 requests; the workers share the listening socket
        before = len(vigie.served_pids(marker))
        paged = every_object(collection, per_request=2)
        assert [o["id"] for o in paged] == ids, "the pages differ from the whole collection"
        assert paged == whole
        time.sleep(0.2)  # the access log is written after each answer
        continued = vigie.served_pids(marker)[before:]
        assert len(continued) >= len(whole) // 2 - 1 and all(line.endswith(" 200") for _p, line in continued)
        if len({pid for pid, _line in continued}) >= 2:
            crossed = True
            break
    assert crossed, "every page was served by the same worker: the paging never crossed workers"

    text = json.dumps(whole, ensure_ascii=False)
    for n in range(1, 5):
        for kind, value, tlp in ITEMS:
            if tlp in ("clear", "green"):
                assert value.format(n=n) in text, f"the {tlp} {kind} of incident {n} is missing"
            else:
                assert value.format(n=n) not in text, f"the {tlp} {kind} {value.format(n=n)} left"
        assert AMBER_TITLE.format(n=n) not in text and "ministre" not in text
        assert "confidentiel" not in text and "Le compte" not in text
    assert "TLP:AMBER" not in text and "TLP:RED" not in text
    assert not [o for o in whole if o["type"] == "incident" and "description" in o]
    for obj in whole:
        result = validate_instance(obj, ValidationOptions(strict=False))
        assert result.is_valid, (obj["id"], [str(e) for e in result.errors])
    assert {o["type"] for o in whole} == {"marking-definition", "incident", "indicator", "relationship"}


def test_the_amber_partner_gets_its_amber_indicators_and_never_red(vigie: Vigie) -> None:
    whole = every_object(vigie.collection("cert-regional"), per_request=3)
    text = json.dumps(whole, ensure_ascii=False)
    assert "203.0.113.1" in text and "amber-1.example" in text and AMBER_TITLE.format(n=1) in text
    assert "192.0.2." not in text and "TLP:RED" not in text
    with vigie.platform.db.session() as s:
        reads = [e.details for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "sharing.taxii_read"))]
    regional = [d for d in reads if d["partner"] == "cert-regional"]
    assert regional and any("ip:203.0.113.1" in d["values"] for d in regional)
    assert not any(v.startswith("ip:203.0.113.") for d in reads if d["partner"] == "cert-voisin"
                   for v in d["values"])
    voisin = [d for d in reads if d["partner"] == "cert-voisin" and d["endpoint"] == "objects"]
    assert voisin and all(d["collection"] == vigie.collection("cert-voisin").id for d in voisin)
    assert any("domain:green-2.example" in d["values"] for d in voisin)


def test_added_after_republishing_and_withdrawal(vigie: Vigie) -> None:
    p = vigie.platform
    base = datetime.now(UTC) + timedelta(days=30)  # after everything the other tests published
    first, second = make_case(p, 11, published=base, partners=("cert-voisin",)), \
        make_case(p, 12, published=base + timedelta(hours=1), partners=("cert-voisin",))
    collection = vigie.collection("cert-voisin")
    since = every_object(collection, added_after=base)
    values = json.dumps(since)
    assert "green-12.example" in values and "green-11.example" not in values and "green-1.example" not in values
    assert {o["type"] for o in since} == {"incident", "indicator", "relationship"}
    manifest = collection.get_manifest(added_after=base)["objects"]
    assert {m["date_added"] for m in manifest} == {(base + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    assert len(manifest) == len(since)

    moved = base + timedelta(hours=2)
    with p.db.session() as s:
        case = s.get(Case, first)
        assert case is not None
        publish(s, case, [p.constituency.partner("cert-voisin")], "ana", now=moved)  # type: ignore[list-item]
    again = collection.get_manifest(added_after=base + timedelta(hours=1))["objects"]
    assert again and {m["date_added"] for m in again} == {moved.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    moved_objects = every_object(collection, added_after=base + timedelta(hours=1))
    assert "green-11.example" in json.dumps(moved_objects) and "green-12.example" not in json.dumps(moved_objects)
    indicator = next(o for o in moved_objects if o["type"] == "indicator")
    one = collection.get_object(indicator["id"])["objects"]
    assert one == [indicator]
    versions = collection.object_versions(indicator["id"])["versions"]
    assert versions == [indicator["modified"]]

    with p.db.session() as s:
        case = s.get(Case, second)
        assert case is not None
        withdraw(s, case, ["cert-voisin"], "ana")
    after = json.dumps(every_object(collection))
    assert "green-12.example" not in after and "green-11.example" in after
    gone = requests.get(f"{collection.url}objects/{next(o['id'] for o in since if o['type'] == 'incident')}/",
                        auth=("x", vigie.tokens["cert-voisin"]), headers={"Accept": MEDIA_TYPE_TAXII}, timeout=10)
    assert gone.status_code == 404 and gone.json()["http_status"] == "404"


def test_refusals_are_taxii_errors(vigie: Vigie) -> None:
    collection = vigie.collection("cert-voisin")
    wrong = Collection(collection.url, user="cert-voisin", password="vigie_not-the-token")
    with pytest.raises(requests.HTTPError) as raised:
        wrong.get_objects()
    assert raised.value.response.status_code == 401
    assert raised.value.response.json()["http_status"] == "401"
    auth = ("x", vigie.tokens["cert-voisin"])
    taxii = {"Accept": MEDIA_TYPE_TAXII, "Accept-Language": "fr"}

    other = vigie.collection("cert-regional").url  # exists, but another partner's
    for url in (other, f"{other}objects/", f"{other}manifest/"):
        resp = requests.get(url, auth=auth, headers=taxii, timeout=10)
        assert resp.status_code == 404, url
        assert resp.headers["Content-Type"] == MEDIA_TYPE_TAXII
        assert set(resp.json()) == {"title", "description", "http_status"} and resp.json()["http_status"] == "404"

    first = requests.get(f"{collection.url}objects/", params={"limit": 1}, auth=auth, headers=taxii, timeout=10)
    assert first.status_code == 200 and first.json()["more"] is True
    assert re.match(r"\d{4}-\d\d-\d\dT", first.headers["X-TAXII-Date-Added-First"])
    token = first.json()["next"]
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "x" + token, "not-a-cursor"):
        resp = requests.get(f"{collection.url}objects/", params={"limit": 1, "next": bad}, auth=auth,
                            headers=taxii, timeout=10)
        assert resp.status_code == 400 and resp.headers["Content-Type"] == MEDIA_TYPE_TAXII
        assert resp.json()["http_status"] == "400" and "next" in resp.json()["description"]
    # the cursor of one partner's collection is refused on another's
    regional = vigie.collection("cert-regional")
    theirs = requests.get(f"{regional.url}objects/", params={"limit": 1}, auth=("x", vigie.tokens["cert-regional"]),
                          headers=taxii, timeout=10).json()["next"]
    resp = requests.get(f"{collection.url}objects/", params={"next": theirs}, auth=auth, headers=taxii, timeout=10)
    assert resp.status_code == 400

    json_only = requests.get(f"{collection.url}objects/", auth=auth, headers={"Accept": "application/json"}, timeout=10)
    assert json_only.status_code == 406 and json_only.json()["http_status"] == "406"
    post = requests.post(f"{collection.url}objects/", json={"objects": []}, auth=auth,
                         headers={"Accept": MEDIA_TYPE_TAXII, "Content-Type": MEDIA_TYPE_TAXII}, timeout=10)
    assert post.status_code == 405 and post.json()["http_status"] == "405"
