"""``network.direction`` from the constituency: ``cert ingest`` into the embedded store, with a
constituency whose networks are known, gives ECS's perimeter values (``inbound``, ``outbound``,
``internal``, ``external``) to sensor and firewall events that have both addresses and no
direction of their own; a direction the source states (Zeek's ``local_orig``/``local_resp``, a
host firewall's ``ingress``) is kept."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cert.core.config import Settings
from cert.core.ecs import get
from cert.runtime.platform import Platform
from cert.storage.events import EventQuery

CONSTITUENCY = """
[[organization]]
id = "min-a"
name = "Ministere A"
networks = ["192.0.2.0/24", "2001:db8:a::/48"]

[[organization]]
id = "min-b"
name = "Ministere B"
networks = ["10.20.0.0/16"]
"""

# Suricata EVE records (docs.suricata.io "Eve JSON Format"): 5-tuples in each direction
EVE = [
    '{"timestamp":"2026-11-21T10:00:00.000000+0000","event_type":"alert","src_ip":"203.0.113.9","src_port":4444,'
    '"dest_ip":"192.0.2.10","dest_port":445,"proto":"TCP","alert":{"action":"blocked","gid":1,"signature_id":1,'
    '"rev":1,"signature":"LOCAL SMB exploit attempt","category":"Attempted Administrator Privilege Gain",'
    '"severity":1}}',
    '{"timestamp":"2026-11-21T10:00:01.000000+0000","event_type":"alert","src_ip":"192.0.2.10","src_port":50000,'
    '"dest_ip":"198.51.100.53","dest_port":443,"proto":"TCP","alert":{"action":"allowed","gid":1,'
    '"signature_id":2,"rev":1,"signature":"LOCAL beacon","category":"A Network Trojan was detected","severity":1}}',
    '{"timestamp":"2026-11-21T10:00:02.000000+0000","event_type":"alert","src_ip":"10.20.1.5","src_port":50001,'
    '"dest_ip":"192.0.2.10","dest_port":22,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":3,'
    '"rev":1,"signature":"LOCAL ssh scan","category":"Attempted Information Leak","severity":2}}',
    '{"timestamp":"2026-11-21T10:00:03.000000+0000","event_type":"alert","src_ip":"203.0.113.9","src_port":50002,'
    '"dest_ip":"198.51.100.53","dest_port":80,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":4,'
    '"rev":1,"signature":"LOCAL transit","category":"Misc activity","severity":3}}',
    '{"timestamp":"2026-11-21T10:00:04.000000+0000","event_type":"stats","stats":{"uptime":60}}',
]
ZEEK = [
    # http.log: no direction of its own
    '{"_path":"http","ts":1700000000.5,"uid":"CHhAvVGS1DHFjwGM9","id.orig_h":"198.51.100.7","id.orig_p":51800,'
    '"id.resp_h":"2001:db8:a::80","id.resp_p":80,"trans_depth":1,"method":"GET","host":"www.min-a.example",'
    '"uri":"/","version":"1.1","status_code":200}',
    # conn.log: Zeek's own local_orig/local_resp say internal, kept though the constituency says otherwise
    '{"_path":"conn","ts":1700000001.0,"uid":"C2","id.orig_h":"198.51.100.7","id.orig_p":40000,'
    '"id.resp_h":"203.0.113.8","id.resp_p":443,"proto":"tcp","conn_state":"SF","local_orig":true,'
    '"local_resp":true}',
]
IPTABLES = [
    # routed (IN and OUT): no direction from the firewall, the constituency's applies
    "Nov 20 08:45:00 gw01 kernel: FWD-ACCEPT IN=eth0 OUT=eth1 SRC=192.0.2.33 DST=203.0.113.80 LEN=40 TOS=0x00 "
    "PREC=0x00 TTL=63 ID=9 PROTO=TCP SPT=40000 DPT=80 WINDOW=1024 RES=0x00 SYN URGP=0",
    # for the host itself (INPUT chain): the host firewall's ingress stays
    "Nov 20 08:46:00 gw01 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.23 DST=192.0.2.5 LEN=60 TOS=0x00 "
    "PREC=0x00 TTL=50 ID=1 PROTO=TCP SPT=4444 DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0",
]


def _ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native: bool) -> dict[str, dict[str, Any]]:
    from cert.cli import main

    for key in [k for k in os.environ if k.startswith("CERT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("VIGIE_NATIVE", "1" if native else "0")
    constituency = tmp_path / "constituency.toml"
    constituency.write_text(CONSTITUENCY, encoding="utf-8")
    monkeypatch.setenv("CERT_CONSTITUENCY_FILE", str(constituency))
    data_dir = tmp_path / ("native" if native else "python")
    assert main(["--data-dir", str(data_dir), "init"]) == 0
    for parser, name, lines in (("suricata.eve", "eve.json", EVE), ("zeek", "http.json", ZEEK),
                                ("syslog", "fw.log", IPTABLES)):
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        assert main(["--data-dir", str(data_dir), "ingest", "--parser", parser, str(path)]) == 0
    p = Platform(replace(Settings(), data_dir=data_dir, constituency_file=constituency))
    try:
        p.events.refresh()
        events = p.events.search(EventQuery(limit=100))
    finally:
        p.close()
    return {str(get(e, "rule.name") or get(e, "event.dataset")) + " " + str(get(e, "source.ip")): e for e in events}


@pytest.mark.parametrize("native", [False, True])
def test_cert_ingest_sets_the_direction_from_the_constituency(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                native: bool) -> None:
    events = _ingest(tmp_path, monkeypatch, native)
    direction = {key: get(e, "network.direction") for key, e in events.items()}
    assert direction["LOCAL SMB exploit attempt 203.0.113.9"] == "inbound"
    assert direction["LOCAL beacon 192.0.2.10"] == "outbound"
    assert direction["LOCAL ssh scan 10.20.1.5"] == "internal"  # two organisations of the constituency
    assert direction["LOCAL transit 203.0.113.9"] == "external"
    assert direction["suricata.eve None"] is None  # stats: no addresses, no direction
    assert direction["zeek.http 198.51.100.7"] == "inbound"  # IPv6 destination in the constituency
    assert direction["zeek.connection 198.51.100.7"] == "internal"  # Zeek's own word
    assert direction["FWD-ACCEPT 192.0.2.33"] == "outbound"
    assert direction["UFW BLOCK 203.0.113.23"] == "ingress"
    assert get(events["LOCAL beacon 192.0.2.10"], "source.organization.name") == "Ministere A"
