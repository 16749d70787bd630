"""What a TLP:GREEN partner CERT receives of a mixed incident, through every channel it takes,
read as it would read it over HTTP from Vigie served on 127.0.0.1:

- the MISP feed served to it (manifest, hashes.csv, each event loaded with PyMISP);
- its TAXII 2.1 collection (the OASIS taxii2-client, HTTP Basic with its token);
- the STIX 2.1 export of the incident made for it, and the signed bundle for a cut link;
- the e-mail queued for it (read back with the standard e-mail parser, attachment included).

Each channel must hold the incident's CLEAR and GREEN indicators and nothing else: the test
fails if any AMBER, AMBER+STRICT or RED value, the AMBER title, the description, a comment, an
observable's note, the ministry concerned, or a value the partner's PAP does not cover appears
anywhere in the bytes received. The same reading for the AMBER partner finds its AMBER value, so
the search for secrets is shown to see them when they are there."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
import requests
from pymisp import MISPEvent
from support import INTERIEUR
from taxii2client.v21 import Collection, Server, as_pages
from werkzeug.serving import make_server

from cert.accounts.tokens import create_token
from cert.accounts.users import create_user
from cert.cli import main as cli_main
from cert.core.config import Settings
from cert.incidents.cases import add_observable
from cert.incidents.comments import add_comment
from cert.runtime.platform import Platform
from cert.sharing.publications import publish
from cert.sharing.taxii_server import collection_of
from cert.storage.models import Case
from web.app import create_app

GREEN_AND_CLEAR = {"198.51.100.77", "green-c2.example", "http://clear.example/payload"}
#: what must never reach a GREEN partner honouring PAP:GREEN, anywhere in what it receives
SECRETS = ("203.0.113.66", "amber-c2.example", "strict-c2.example", "192.0.2.99", "passive-only.example",
           "Exfiltration chez le ministre Zorglub", "compte de M. Tartempion", "note interne AMBER",
           "commentaire confidentiel", INTERIEUR)
PASSWORD = "a-long-password-1"


@dataclass
class Served:
    platform: Platform
    url: str
    case_id: int
    partner_tokens: dict[str, str]
    staff: requests.Session


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(Settings(), data_dir=tmp_path / "data", secret_key="every-channel-secret-key",
                   session_cookie_secure=False)


@pytest.fixture
def served(platform: Platform) -> Iterator[Served]:
    c = platform.constituency
    with platform.db.session() as s:
        create_user(s, "ana", PASSWORD, "analyst")
        case = Case(title="Exfiltration chez le ministre Zorglub", title_tlp="amber", tlp="amber", pap="green",
                    description="Le compte de M. Tartempion est compromis", created_by="ana",
                    organization=INTERIEUR, severity="high", rsit_class="intrusions:system-compromise")
        s.add(case)
        s.flush()
        for kind, value, tlp, pap in (("ip", "198.51.100.77", "clear", None), ("domain", "green-c2.example", "green", None),
                                      ("url", "http://clear.example/payload", "clear", "clear"),
                                      ("ip", "203.0.113.66", "amber", None), ("domain", "amber-c2.example", "amber", None),
                                      ("domain", "strict-c2.example", "amber+strict", None),
                                      ("ip", "192.0.2.99", "red", None),
                                      ("domain", "passive-only.example", "green", "red")):
            obs = add_observable(s, case, kind, value, tlp=tlp, ioc=True,
                                 comment="note interne AMBER" if tlp == "green" else "")
            assert obs is not None
            if pap:
                obs.pap = pap
        add_comment(s, case, "ana", "commentaire confidentiel sur la victime")
        voisin, regional = c.partner("cert-voisin"), c.partner("cert-regional")
        assert voisin is not None and regional is not None
        publish(s, case, [voisin, regional], "ana")
        tokens = {p.id: create_token(s, f"{p.id}-feeds", "tests", "test", scopes="share", partner=p)[1]
                  for p in (voisin, regional)}
        staff = create_token(s, "staff-reader", "tests", "test", scopes=["read", "write"])[1]
        case_id = case.id
    server = make_server("127.0.0.1", 0, create_app(platform=platform), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {staff}"
    try:
        yield Served(platform, f"http://127.0.0.1:{server.server_port}", case_id, tokens, session)
    finally:
        server.shutdown()
        thread.join(10)


def _feed(served: Served, partner: str) -> tuple[bytes, set[str]]:
    """Everything the partner's MISP instance fetches of its feed, and the attribute values."""
    auth = {"Authorization": f"Bearer {served.partner_tokens[partner]}"}
    base = f"{served.url}/api/feeds/misp/"
    manifest = requests.get(base + "manifest.json", headers=auth, timeout=30)
    hashes = requests.get(base + "hashes.csv", headers=auth, timeout=30)
    assert manifest.status_code == 200 and hashes.status_code == 200
    received = manifest.content + hashes.content
    values: set[str] = set()
    for event_uuid in manifest.json():
        answer = requests.get(f"{base}{event_uuid}.json", headers=auth, timeout=30)
        assert answer.status_code == 200
        received += answer.content
        event = MISPEvent()
        event.load(answer.text)
        values |= {a.value for a in event.attributes if a.type != "text"}
    return received, values


def _taxii(served: Served, partner: str) -> tuple[bytes, set[str]]:
    """Every object of the partner's TAXII collection, read page by page with taxii2-client."""
    token = served.partner_tokens[partner]
    server = Server(f"{served.url}/api/taxii2/", user="cert-partenaire", password=token)
    root = server.api_roots[0]
    collections = root.collections
    found = served.platform.constituency.partner(partner)
    assert found is not None
    assert [col.id for col in collections] == [collection_of(found, served.platform.settings.org_uuid).id]
    collection = Collection(collections[0].url, user="cert-partenaire", password=token)
    objects: list[dict[str, object]] = []
    for page in as_pages(collection.get_objects, per_request=3):
        objects += page.get("objects", [])
    received = json.dumps(objects, ensure_ascii=False).encode()
    patterns = [str(o["pattern"]) for o in objects if o.get("type") == "indicator"]
    return received, {v for v in GREEN_AND_CLEAR | set(SECRETS) if any(v in p for p in patterns)}


def _stix(served: Served, partner: str) -> tuple[bytes, set[str]]:
    answer = served.staff.get(f"{served.url}/api/v1/incidents/{served.case_id}/stix", params={"partner": partner},
                              timeout=30)
    assert answer.status_code == 200
    patterns = [str(o["pattern"]) for o in answer.json()["objects"] if o.get("type") == "indicator"]
    return answer.content, {v for v in GREEN_AND_CLEAR | set(SECRETS) if any(v in p for p in patterns)}


def _signed_bundle(served: Served, tmp_path: Path) -> tuple[bytes, set[str]]:
    data_dir = str(served.platform.settings.data_dir)
    assert cli_main(["--data-dir", data_dir, "sharing", "keygen", str(tmp_path)]) == 0
    key = tmp_path / "vigie-sharing.key"
    out = tmp_path / "bundle.json"
    env_key = {"CERT_SHARING_SIGNING_KEY_FILE": str(key), "CERT_SECRET_KEY": "every-channel-secret-key"}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env_key.items():
            mp.setenv(name, value)
        assert cli_main(["--data-dir", data_dir, "sharing", "export-bundle", str(served.case_id),
                         "--partner", "cert-voisin", "--out", str(out)]) == 0
    received = out.read_bytes()
    patterns = [str(o["pattern"]) for o in json.loads(received)["objects"] if o.get("type") == "indicator"]
    return received, {v for v in GREEN_AND_CLEAR | set(SECRETS) if any(v in p for p in patterns)}


def _mail(served: Served, partner: str) -> tuple[bytes, set[str]]:
    answer = served.staff.post(f"{served.url}/api/v1/incidents/{served.case_id}/partner-mail",
                               json={"partner": partner}, timeout=30)
    assert answer.status_code == 200, answer.text
    raw = (served.platform.settings.outbox_dir / answer.json()["file"]).read_bytes()
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    attachment = next(msg.iter_attachments()).get_content()
    received = f"{msg['Subject']}\n{text}\n{attachment}".encode()
    return received, {v for v in GREEN_AND_CLEAR | set(SECRETS) if v in text}


def _leaks(received: bytes) -> list[str]:
    text = received.decode("utf-8")
    return [secret for secret in SECRETS if secret in text or json.dumps(secret)[1:-1] in text]


def test_a_green_partner_receives_green_and_clear_only_through_every_channel(served: Served,
                                                                            tmp_path: Path) -> None:
    channels = {
        "served MISP feed": _feed(served, "cert-voisin"),
        "TAXII 2.1 collection": _taxii(served, "cert-voisin"),
        "STIX 2.1 export": _stix(served, "cert-voisin"),
        "signed STIX bundle": _signed_bundle(served, tmp_path),
        "e-mail": _mail(served, "cert-voisin"),
    }
    for channel, (received, values) in channels.items():
        assert values == GREEN_AND_CLEAR, f"{channel}: {sorted(values)}"
        assert _leaks(received) == [], f"{channel} leaked {_leaks(received)}"
        assert b"TLP:AMBER" not in received and b"tlp:amber" not in received and b"TLP:RED" not in received, channel


def test_the_search_for_secrets_finds_them_in_what_an_amber_partner_receives(served: Served) -> None:
    """The AMBER partner receives the AMBER value and the title: the same search sees them."""
    for channel, (received, values) in {"served MISP feed": _feed(served, "cert-regional"),
                                        "TAXII 2.1 collection": _taxii(served, "cert-regional")}.items():
        assert "203.0.113.66" in values and "amber-c2.example" in values, channel
        leaked = _leaks(received)
        assert {"203.0.113.66", "amber-c2.example", "Exfiltration chez le ministre Zorglub"} <= set(leaked), channel
        assert "192.0.2.99" not in leaked and "strict-c2.example" not in leaked, channel
