"""Vigie's own Sigma rules (rules/sigma) for the threats facing government systems, each on events
crafted in the formats our parsers read (EVTX records, access logs, CEF, sshd, Suricata EVE)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cert.core.config import Settings
from cert.core.contracts import Hit
from cert.core.ecs import put
from cert.core.parser import parsers
from cert.core.registry import load_plugins
from detectors.sigma.detector import SigmaDetector

load_plugins(["ingest.parsers", "detectors"])
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture
def det(tmp_path: Path) -> SigmaDetector:
    d = SigmaDetector(replace(Settings(), data_dir=tmp_path / "data"))
    assert not d.rejected, d.rejected
    return d


def parse(parser: str, lines: list[str]) -> list[dict[str, Any]]:
    p = parsers.get(parser)()
    out = []
    for i, line in enumerate(lines):
        ev = p.parse(line)
        assert ev is not None
        put(ev, "event.id", f"{parser}-{i}")
        out.append(ev)
    return out


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def evtx(event_id: int, channel: str, data: dict[str, Any], when: datetime, provider: str) -> str:
    return json.dumps({"Event": {"System": {
        "Provider": {"#attributes": {"Name": provider}}, "EventID": event_id, "Channel": channel,
        "Computer": "dc01.interieur.gouv", "EventRecordID": 1,
        "TimeCreated": {"#attributes": {"SystemTime": when.isoformat().replace("+00:00", "Z")}}},
        "EventData": data}})


def titles(hits: list[Hit]) -> dict[str, set[str]]:
    """Rule title -> group keys it fired for (an ongoing correlation adds hits to the same group)."""
    out: dict[str, set[str]] = {}
    for h in hits:
        out.setdefault(h.title, set()).add(h.group_key)
    return out


def logon_failure(i: int, ip: str, user: str, logon_type: int, minute: float) -> str:
    return evtx(4625, "Security", {"TargetUserName": user, "TargetDomainName": "INTERIEUR", "LogonType": logon_type,
                                   "IpAddress": ip, "IpPort": str(50000 + i), "Status": "0xc000006d"},
                at(minute), "Microsoft-Windows-Security-Auditing")


def test_rdp_brute_force_and_password_spraying(det: SigmaDetector) -> None:
    lines = [logon_failure(i, "203.0.113.5", "administrateur", 10, i * 0.2) for i in range(12)]
    lines += [logon_failure(100 + i, "198.51.100.44", f"agent{i:02d}", 3, i * 0.5) for i in range(12)]
    lines += [logon_failure(200 + i, "10.0.0.8", "bob", 10, i * 2.0) for i in range(4)]  # a user mistyping
    found = titles(det.detect(parse("windows.evtx", lines)))
    assert found["RDP Brute Force Against a Government Server"] == {"IpAddress=203.0.113.5"}
    assert found["Password Spraying Against Windows Accounts"] == {"IpAddress=198.51.100.44"}
    assert "Failed RDP Logon to a Government Server" not in found  # feeds the correlation only


def test_iis_home_page_rewritten(det: SigmaDetector) -> None:
    def written(image: str, target: str, minute: int) -> str:
        return evtx(11, "Microsoft-Windows-Sysmon/Operational", {"Image": image, "TargetFilename": target,
                    "ProcessId": "4242", "User": "IIS APPPOOL\\etatcivil"}, at(minute), "Microsoft-Windows-Sysmon")

    events = parse("windows.evtx", [
        written("C:\\Windows\\System32\\inetsrv\\w3wp.exe", "C:\\inetpub\\wwwroot\\etatcivil\\index.html", 1),
        written("C:\\Program Files\\IIS\\Microsoft Web Deploy V3\\msdeploy.exe",
                "C:\\inetpub\\wwwroot\\etatcivil\\index.html", 2),
        written("C:\\Windows\\System32\\inetsrv\\w3wp.exe", "C:\\inetpub\\logs\\u_ex261121.log", 3)])
    hits = det.detect(events)
    assert [(h.title, h.event_ids) for h in hits] == [
        ("Home Page of a Citizen Portal Rewritten on an IIS Server", ("windows.evtx-0",))]


def test_portal_write_requests_and_changing_home_page(det: SigmaDetector) -> None:
    def line(method: str, path: str, status: int, size: int, second: int) -> str:
        return (f'203.0.113.77 - - [21/Nov/2026:10:{second // 60:02d}:{second % 60:02d} +0000] '
                f'"{method} {path} HTTP/1.1" {status} {size} "-" "curl/8.0"')

    writes = parse("web.access", [line("PUT", "/index.html", 201, 0, 1), line("POST", "/css/site.css", 200, 0, 2),
                                  line("PUT", "/x", 405, 0, 3), line("GET", "/index.html", 200, 512, 4),
                                  line("POST", "/demarches/acte", 200, 100, 5)])
    hits = det.detect(writes)
    assert sorted(e for h in hits if h.title.startswith("Write Request") for e in h.event_ids) == [
        "web.access-0", "web.access-1"]
    home = parse("web.access", [line("GET", "/", 200, 5120 + (i % 6) * 97, 60 + i * 30) for i in range(8)])
    for ev in home:
        put(ev, "host.name", "portail-etatcivil")
    steady = parse("web.access", [line("GET", "/", 200, 2048, 70 + i) for i in range(8)])
    for i, ev in enumerate(steady):
        put(ev, "host.name", "portail-impots")
        put(ev, "event.id", f"steady-{i}")
    found = titles(det.detect(sorted(home + steady, key=lambda e: e["@timestamp"])))
    assert found["Portal Home Page Changing Size (Possible Defacement)"] == {"server=portail-etatcivil,url.path=/"}


DEFACED = "Portal Home Page Changing Size (Possible Defacement)"


def home_page(path: str, sizes: list[int], start: int = 0) -> list[str]:
    return [f'203.0.113.{i % 200} - - [21/Nov/2026:11:{(start + i) // 60:02d}:{(start + i) % 60:02d} +0000] '
            f'"GET {path} HTTP/1.1" 200 {size} "-" "Mozilla/5.0"' for i, size in enumerate(sizes)]


def test_a_defaced_home_page_in_an_access_log_file_is_found_by_its_file(det: SigmaDetector) -> None:
    """A plain access log names no server: the file it was read from stands for it."""
    sizes = [5120 + (i % 6) * 97 for i in range(8)]
    events = parse("web.access", home_page("/", sizes))
    for ev in events:
        put(ev, "log.file.path", "/var/log/apache2/etatcivil_access.log")
    assert titles(det.detect(events))[DEFACED] == {
        "server=/var/log/apache2/etatcivil_access.log,url.path=/"}


def test_a_home_page_with_a_query_string_is_another_page(det: SigmaDetector) -> None:
    """Searches and sorts on the home page (``/?q=...``) differ in size by nature: not a defacement."""
    events = parse("web.access", home_page("/?q=acte+de+naissance", [5120 + i * 97 for i in range(8)]))
    for ev in events:
        put(ev, "host.name", "portail-etatcivil")  # forwarded through syslog, which names the server
    assert DEFACED not in titles(det.detect(events))
    in_file = parse("web.access", home_page("/index.php?page=2", [5120 + i * 97 for i in range(8)], 20))
    for ev in in_file:
        put(ev, "log.file.path", "/var/log/apache2/etatcivil_access.log")
    assert DEFACED not in titles(det.detect(in_file))


def test_the_defacement_correlation_stays_quiet_on_real_apache_traffic(det: SigmaDetector, corpora: Path) -> None:
    """The corpora's 10,000 real Apache lines, as one named server's: no home page changes its size
    five times in ten minutes once query strings are told apart."""
    path = corpora / "web" / "elastic-examples" / "apache_logs"
    parser = parsers.get("web.access")()
    events = []
    for i, line in enumerate(path.read_text(errors="replace").splitlines()):
        try:
            ev = parser.parse(line)
        except ValueError:
            continue
        if ev is not None:
            put(ev, "event.id", f"apache-{i}")
            put(ev, "log.file.path", str(path))
            put(ev, "host.name", "www.semicomplete.com")
            events.append(ev)
    assert len(events) > 9_900
    events.sort(key=lambda e: e["@timestamp"])
    hits = [h for n in range(0, len(events), 1000) for h in det.detect(events[n:n + 1000])]
    assert [h.title for h in hits if h.title == DEFACED] == []


def test_vpn_brute_force_and_credential_stuffing(det: SigmaDetector) -> None:
    vpn = [f"<134>Nov 21 10:{i // 6:02d}:{(i * 10) % 60:02d} fw01 CEF:0|Fortinet|FortiGate|7.0.12|0101039426|"
           f"SSL VPN login fail|4|src=203.0.113.7 suser=agent outcome=failure act=ssl-login-fail" for i in range(22)]
    ssh = [f"Nov 21 10:0{i // 10}:{(i * 5) % 60:02d} portail sshd[4{i:03d}]: Failed password for invalid user "
           f"citoyen{i} from 198.51.100.90 port {40000 + i} ssh2" for i in range(16)]
    events = parse("cef", vpn) + parse("linux.auth", ssh)
    for ev in events:
        ev["@timestamp"] = ev["@timestamp"].replace(ev["@timestamp"][:4], "2026", 1)
    found = titles(det.detect(sorted(events, key=lambda e: e["@timestamp"])))
    assert found["Brute Force Against the Government VPN"] == {"source.ip=203.0.113.7"}
    assert found["Credential Stuffing Against an E-Service"] == {"source.ip=198.51.100.90"}


def _sshd(lines: list[tuple[float, int, str]], host: str = "bastion") -> list[dict[str, Any]]:
    """(minute, pid, message) -> auth.log lines through one source of the linux.auth parser."""
    p = parsers.get("linux.auth")().for_source("auth.log")
    out = []
    for n, (minute, pid, msg) in enumerate(lines):
        ev = p.parse(f"{at(minute).strftime('%b %d %H:%M:%S')} {host} sshd[{pid}]: {msg}")
        assert ev is not None
        put(ev, "event.id", f"ssh-{host}-{n}")
        ev["@timestamp"] = ev["@timestamp"].replace(ev["@timestamp"][:4], "2026", 1)
        out.append(ev)
    return out


def _invalid_user_attempt(minute: float, pid: int, ip: str, user: str) -> list[tuple[float, int, str]]:
    """One password for an unknown user on an sshd with PAM: five lines (Ubuntu's auth.log)."""
    return [(minute, pid, f"Invalid user {user} from {ip} port {40000 + pid}"),
            (minute, pid, f"input_userauth_request: invalid user {user} [preauth]"),
            (minute, pid, "pam_unix(sshd:auth): check pass; user unknown"),
            (minute, pid, f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}"),
            (minute, pid, f"Failed password for invalid user {user} from {ip} port {40000 + pid} ssh2")]


def test_ssh_brute_force_counts_each_attempt_once(det: SigmaDetector) -> None:
    four = [x for i in range(4) for x in _invalid_user_attempt(i * 0.5, 100 + i, "203.0.113.40", "admin")]
    five = [x for i in range(5) for x in _invalid_user_attempt(i * 0.5, 200 + i, "203.0.113.41", "oracle")]
    found = titles(det.detect(sorted(_sshd(four) + _sshd(five), key=lambda e: e["@timestamp"])))
    assert found["SSH Brute Force Against a Government Server"] == {"source.ip=203.0.113.41"}


def test_ssh_brute_force_from_pam_lines_and_repetitions(det: SigmaDetector) -> None:
    pam = [(i * 0.3, 300 + i, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
            "rhost=198.51.100.61  user=root") for i in range(5)]
    repeated = [(0, 400, "Failed password for root from 198.51.100.62 port 50022 ssh2"),
                (0.5, 400, "message repeated 4 times: [ Failed password for root from 198.51.100.62 port 50022 ssh2]")]
    found = titles(det.detect(sorted(_sshd(pam) + _sshd(repeated), key=lambda e: e["@timestamp"])))
    assert found["SSH Brute Force Against a Government Server"] == {"source.ip=198.51.100.61",
                                                                   "source.ip=198.51.100.62"}


def test_distributed_brute_force_against_one_account(det: SigmaDetector) -> None:
    botnet = [(i * 1.0, 500 + i, f"Failed password for deploy from 192.0.2.{10 + i} port 50022 ssh2") for i in range(6)]
    typos = [(i * 1.0, 600 + i, f"Failed password for alice from 10.20.0.{i % 2 + 1} port 50022 ssh2") for i in range(6)]
    found = titles(det.detect(sorted(_sshd(botnet) + _sshd(typos, "web02"), key=lambda e: e["@timestamp"])))
    assert found["Distributed Brute Force Against One Linux Account"] == {"user.name=deploy"}
    assert "SSH Brute Force Against a Government Server" not in found  # one failure per address


def test_data_centre_exfiltration_and_dns_tunnelling(det: SigmaDetector) -> None:
    def flow(i: int, src: str, dst: str, sent: int, minute: int) -> str:
        ts = at(minute).strftime("%Y-%m-%dT%H:%M:%S.000000+0000")
        return json.dumps({"timestamp": ts, "flow_id": i, "event_type": "flow", "src_ip": src, "src_port": 50000 + i,
                           "dest_ip": dst, "dest_port": 443, "proto": "TCP",
                           "flow": {"pkts_toserver": 10, "pkts_toclient": 5, "bytes_toserver": sent,
                                    "bytes_toclient": 1000, "start": ts, "end": ts, "state": "closed"}})

    def dns(i: int, name: str, minute: float) -> str:
        ts = at(minute).strftime("%Y-%m-%dT%H:%M:%S.000000+0000")
        return json.dumps({"timestamp": ts, "event_type": "dns", "src_ip": "10.1.1.9", "src_port": 40000 + i,
                           "dest_ip": "10.1.1.1", "dest_port": 53, "proto": "UDP",
                           "dns": {"type": "query", "id": i, "rrname": name, "rrtype": "TXT", "tx_id": 0}})

    flows = [flow(i, "10.1.1.5", "198.51.100.20", 800_000_000, i * 10) for i in range(3)]  # 2.4 GB in 20 min
    flows += [flow(10 + i, "10.1.1.6", "10.2.2.2", 900_000_000, i) for i in range(3)]  # internal backup
    flows += [flow(20 + i, "10.1.1.7", "198.51.100.21", 100_000_000, i) for i in range(3)]
    chunks = [f"{i:04x}" + "a7f3c91e0b5d" * 3 + f".{i}.exfil.example.org" for i in range(35)]
    queries = [dns(i, name, i * 0.1) for i, name in enumerate(chunks)]
    queries.append(dns(99, "x" * 60 + ".t.example.net", 5))
    queries += [dns(100 + i, f"www{i}.service-public.gouv.example", i) for i in range(40)]
    events = parse("suricata.eve", flows + queries)
    found = titles(det.detect(sorted(events, key=lambda e: e["@timestamp"])))
    assert found["Large Data Transfer From the Data Centre to the Internet"] == {"source.ip=10.1.1.5"}
    assert found["DNS Tunnelling: Many Distinct Long Names From One Client"] == {"source.ip=10.1.1.9"}
    assert found["DNS Query With a Very Long Encoded Label"] == {"source.ip=10.1.1.9"}
    very_long = [h for h in det.detect(events) if h.title == "DNS Query With a Very Long Encoded Label"]
    assert [len(h.event_ids) for h in very_long] == [1]  # only the 60-character label
