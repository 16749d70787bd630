"""The ``leef`` parser (IBM QRadar Log Event Extended Format 1.0 and 2.0).

No public corpus of LEEF is stored: the samples follow IBM's "Log Event Extended Format (LEEF)
Version 2" guide (QRadar documentation, "LEEF event components" and "Predefined LEEF event
attributes": the 1.0 example ``LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=...<TAB>dst=...``,
the 2.0 delimiter field given as a character or as hex ``x09``/``0x5E``, ``devTime`` with
``devTimeFormat`` in Java SimpleDateFormat), with documentation addresses (RFC 5737).
"""

from harness import ParserCase

from cert.core.ecs import get
from cert.core.parser import parsers
from ingest.parsers._flow import community_id


class TestLeef(ParserCase):
    parser_name = "leef"
    samples = [
        (  # LEEF 1.0, tab-separated, behind an RFC 3164 header, the QRadar guide's example attributes
            "Nov 20 08:55:00 mail01 LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.10\tdst=198.51.100.20\t"
            "sev=5\tcat=anomaly\tsrcPort=81\tdstPort=21\tusrName=joe.black",
            {
                "observer.vendor": "Microsoft",
                "observer.product": "MSExchange",
                "observer.version": "4.0 SP1",
                "observer.hostname": "mail01",
                "event.code": "15345",
                "event.severity": 5,
                "source.ip": "192.0.2.10",
                "source.port": 81,
                "destination.ip": "198.51.100.20",
                "destination.port": 21,
                "user.name": "joe.black",
                "leef.version": "1.0",
                "leef.attributes.cat": "anomaly",
                "event.category": ["network"],
            },
        ),
        (  # LEEF 2.0 with "^", devTime in the given Java format with a zone name
            "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=192.0.2.10^dst=198.51.100.20^sev=5^cat=anomaly^srcPort=81^"
            "dstPort=21^usrName=joe.black^devTime=Nov 20 2026 08:55:00.250 UTC^"
            "devTimeFormat=MMM dd yyyy HH:mm:ss.SSS z",
            {"@timestamp": "2026-11-20T08:55:00.250Z", "leef.version": "2.0", "leef.event_id": "41",
             "observer.vendor": "Lancope", "user.name": "joe.black",
             "network.community_id": None},  # no transport: no flow hash
        ),
        (  # a hex delimiter (x09 = tab), epoch milliseconds, an action
            "LEEF:2.0|Vendor|VPN|1.0|AUTH_FAIL|x09|devTime=1795164600000\tusrName=admin\tsrc=198.51.100.5\tproto=6\t"
            "action=blocked\tsrcBytes=120\ttotalBytes=4000",
            {"@timestamp": "2026-11-20T08:50:00.000Z", "event.action": "blocked", "network.transport": "tcp",
             "event.category": ["network", "authentication"], "event.type": ["connection", "info", "denied"],
             "source.bytes": 120, "network.bytes": 4000},
        ),
        (  # 0x7C-style hex, an ISO time with offset, NAT, a delimiter inside a value
            "<134>1 2026-11-20T09:55:00+01:00 fw01 qradar - - - LEEF:2.0|Vendor|NGFW|3.1|traffic|0x3B|"
            "devTime=2026-11-20T09:55:00.000+01:00;devTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSXXX;src=10.20.0.4;"
            "srcPostNAT=192.0.2.44;srcPostNATPort=40001;dst=203.0.113.8;dstPort=443;policy=Allow Web;"
            "url=https://www.example.org/a;b?q=1",
            {"@timestamp": "2026-11-20T08:55:00.000Z", "source.nat.ip": "192.0.2.44", "source.nat.port": 40001,
             "rule.name": "Allow Web", "url.original": "https://www.example.org/a;b?q=1", "url.domain": "www.example.org",
             "observer.hostname": "fw01", "event.category": ["network", "web"]},
        ),
        (  # the reporting device named with CEF's keys (dvc, dvchost, dvcmac), a rule id, a five-tuple
            "LEEF:2.0|Vendor|NGFW|3.1|deny|^|devTime=1795164600000^src=198.51.100.5^srcPort=40000^"
            "dst=192.0.2.10^dstPort=22^proto=TCP^action=deny^ruleId=1042^dvc=192.0.2.1^dvchost=fw-edge01^"
            "dvcmac=00:1b:21:3c:9d:f8",
            {"observer.ip": "192.0.2.1", "observer.hostname": "fw-edge01", "observer.mac": "00-1B-21-3C-9D-F8",
             "host": None, "rule.id": "1042",
             "network.community_id": community_id("tcp", "198.51.100.5", "192.0.2.10", 40000, 22)},
        ),
        (  # LEEF 1.0 from a producer that separates with spaces; the syslog header gives the time
            "<13>Nov 20 08:57:00 app01 LEEF:1.0|Acme|Portal|2.0|LOGIN|src=198.51.100.9 usrName=awa.diop sev=3",
            {"source.ip": "198.51.100.9", "user.name": "awa.diop", "event.severity": 3,
             "event.category": ["network", "authentication"]},
        ),
    ]
    malformed = [
        "LEEF:2.0|Vendor|Product|1.0",
        "LEEF:1.0|Vendor|Product|1.0|E|src=192.0.2.1",  # no time at all
        "LEEF:2.0|V|P|1|E|^|devTime=20/11/2026^devTimeFormat=yyyy-MM-dd",
        "LEEF:2.0|V|P|1|E|^|devTime=2026^devTimeFormat=GGGG",
        "LEEF:2.0|V|P|1|E|^|devTime=soon",
        "no marker here",
    ]


def test_a_value_holding_the_delimiter_is_joined_back() -> None:
    event = parsers.get("leef")().parse("LEEF:2.0|V|P|1|E|^|devTime=1795164600000^msg=a^b^src=192.0.2.1")
    assert event is not None
    assert get(event, "leef.attributes.msg") == "a^b" and get(event, "message") == "a^b"
    assert get(event, "source.ip") == "192.0.2.1"
