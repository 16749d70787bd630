"""The ``cef`` parser (ArcSight Common Event Format).

No public corpus of CEF is stored: the samples are written here from the published formats, with
documentation addresses (RFC 5737) and made-up serial numbers:

* the specification: Micro Focus, "ArcSight Common Event Format (CEF) Implementation Standard",
  version 25 (2017): header escapes ``\\|`` ``\\\\``, extension escapes ``\\=`` ``\\\\`` ``\\n``, key names;
* Fortinet, "FortiOS Log Message Reference", section "CEF support": ``CEF:0|Fortinet|Fortigate|
  <version>|<logid>|<type>:<subtype> <action>|<level>|`` with ``FTNTFGT*`` custom keys;
* Palo Alto Networks, "PAN-OS Common Event Format (CEF) Configuration Guide", traffic log format
  (``cs1Label=Rule cs1=$rule ... cs3Label=Virtual System``, ``rt=$cef-formatted-receive_time``);
* Check Point, "Log Exporter" (sk122323), CEF format (``CEF:0|Check Point|VPN-1 & FireWall-1|Check
  Point|Log|<service>|Unknown|act=...``);
* Elastic's CEF integration documentation for the syslog-wrapped forms (RFC 3164 and RFC 5424).
"""

from typing import Any

import pytest
from harness import ParserCase

from cert.core.ecs import get
from cert.core.parser import RECEIPT_TAG, ParseError, ParserOptions, parsers
from cert.pipeline.ingestor import Ingestor
from cert.runtime.platform import Platform
from ingest.parsers._appliance import extensions
from ingest.parsers._flow import community_id

FORTIGATE = (
    "<185>Nov 20 08:50:01 FGT60F CEF:0|Fortinet|Fortigate|v7.2.5|0000000013|traffic:forward deny|3|"
    "deviceExternalId=FGT60FTK22090001 FTNTFGTlogid=0000000013 cat=traffic:forward FTNTFGTsubtype=forward "
    "FTNTFGTlevel=notice FTNTFGTvd=root src=198.51.100.23 spt=51515 deviceInboundInterface=wan1 dst=192.0.2.10 "
    "dpt=3389 deviceOutboundInterface=internal proto=6 act=deny FTNTFGTpolicyid=0 FTNTFGTservice=RDP app=RDP "
    "out=0 in=0 msg=Denied by forward policy check (policy 0)"
)
PANOS = (
    "<14>Nov 20 08:51:00 PA-3220 CEF:0|Palo Alto Networks|PAN-OS|10.2.4|end|TRAFFIC|1|rt=Nov 20 2026 08:51:00 GMT "
    "deviceExternalId=013201001234 src=10.20.1.15 dst=203.0.113.80 sourceTranslatedAddress=192.0.2.20 "
    "destinationTranslatedAddress=203.0.113.80 cs1Label=Rule cs1=Allow-Web suser=ministere\\\\moussa duser= app=ssl "
    "cs3Label=Virtual System cs3=vsys1 cs4Label=Source Zone cs4=trust cs5Label=Destination Zone cs5=untrust "
    "deviceInboundInterface=ethernet1/2 deviceOutboundInterface=ethernet1/1 cn1Label=SessionID cn1=44556 cnt=1 "
    "spt=51000 dpt=443 sourceTranslatedPort=20123 destinationTranslatedPort=443 proto=tcp act=allow in=1320 "
    "out=3800 start=Nov 20 2026 08:50:30 GMT cs2Label=URL Category cs2=computer-and-internet-info "
    "externalId=7234567 reason=tcp-fin"
)
CHECKPOINT = (
    "CEF:0|Check Point|VPN-1 & FireWall-1|Check Point|Log|https|Unknown|act=Drop deviceDirection=0 "
    "rt=1795164720000 spt=52311 dpt=443 src=198.51.100.61 dst=192.0.2.20 proto=6 ifname=eth1 "
    "originsicname=CN\\=gw01,O\\=mgmt.ministere.example sequencenum=12 product=VPN-1 & FireWall-1 ad.vd=root"
)


# Forcepoint NGFW (SMC) records, from Filebeat's CEF module fixture (x-pack/filebeat/module/cef/log/test/
# fp-ngfw-smc.log): the reporting firewall in dvc/dvchost/deviceExternalId, its rule id in cs1.
FORCEPOINT_DISCARD = (
    "CEF:0|FORCEPOINT|Firewall|unknown|70019|Connection_Discarded|0|deviceExternalId=Firewall-10 node 1 "
    "dvc=10.1.1.10 dvchost=10.1.1.10 src=172.16.1.1 dst=255.255.255.255 spt=68 dpt=67 proto=17 "
    "deviceOutboundInterface=255 deviceFacility=Packet Filtering rt=Jan 17 2020 08:56:21 app=BOOTPS (UDP) "
    "cs1Label=RuleID cs1=605.0"
)
FORCEPOINT_UNLABELLED = (
    "CEF:0|FORCEPOINT|Firewall|6.6.1|70018|Connection_Allowed|0|deviceExternalId=Master FW node 1 dvc=10.1.1.40 "
    "dvchost=fw-master dvcmac=00:1b:21:3c:9d:f8 src=10.37.205.252 dst=10.1.1.40 proto=1 act=Allow "
    "rt=Jan 17 2020 08:52:09 cs1=2097157.1"
)


class TestCef(ParserCase):
    parser_name = "cef"
    samples = [
        (
            FORCEPOINT_DISCARD,
            {
                "observer.ip": "10.1.1.10",
                "observer.hostname": "10.1.1.10",
                "observer.name": "Firewall-10 node 1",
                "observer.vendor": "FORCEPOINT",
                "observer.product": "Firewall",
                "host": None,
                "rule.id": "605.0",
                "network.transport": "udp",
                "network.community_id": community_id("udp", "172.16.1.1", "255.255.255.255", 68, 67),
            },
        ),
        (
            FORCEPOINT_UNLABELLED,
            {
                "observer.ip": "10.1.1.40",
                "observer.hostname": "fw-master",
                "observer.mac": "00-1B-21-3C-9D-F8",
                "rule.id": "2097157.1",
                "network.transport": "icmp",
                "network.community_id": None,  # ICMP without type and code: no flow hash
            },
        ),
        (
            FORTIGATE,
            {
                "observer.vendor": "Fortinet",
                "observer.product": "Fortigate",
                "observer.version": "v7.2.5",
                "observer.hostname": "FGT60F",
                "event.code": "0000000013",
                "event.severity": 3,
                "event.action": "deny",
                "event.category": ["network"],
                "event.type": ["connection", "denied"],
                "message": "traffic:forward deny: Denied by forward policy check (policy 0)",
                "source.ip": "198.51.100.23",
                "source.port": 51515,
                "destination.ip": "192.0.2.10",
                "destination.port": 3389,
                "network.transport": "tcp",
                "network.application": "rdp",
                "observer.ingress.interface.name": "wan1",
                "observer.egress.interface.name": "internal",
                "observer.name": "FGT60FTK22090001",  # the reporting device observes, it is not the host
                "host": None,
                "network.community_id": community_id("tcp", "198.51.100.23", "192.0.2.10", 51515, 3389),
                "cef.extensions.deviceEventCategory": "traffic:forward",
                "cef.extensions.FTNTFGTpolicyid": "0",
                "cef.name": "traffic:forward deny",
                "log.syslog.facility.name": "local7",
                "event.dataset": None,
            },
        ),
        (
            PANOS,
            {
                "@timestamp": "2026-11-20T08:51:00.000Z",
                "event.start": "2026-11-20T08:50:30.000Z",
                "observer.product": "PAN-OS",
                "event.code": "end",
                "message": "TRAFFIC",
                "event.severity": 1,
                "event.type": ["connection", "allowed"],
                "source.nat.ip": "192.0.2.20",
                "source.nat.port": 20123,
                "source.user.name": "ministere\\moussa",
                "user.name": "ministere\\moussa",
                "destination.user.name": None,
                "source.bytes": 1320,
                "destination.bytes": 3800,
                "event.reason": "tcp-fin",
                "cef.extensions.deviceCustomString3Label": "Virtual System",
                "cef.extensions.deviceCustomString1": "Allow-Web",
                "rule.name": "Allow-Web",  # cs1Label=Rule, a name
                "rule.id": None,
                "cef.extensions.deviceReceiptTime": "2026-11-20T08:51:00.000Z",
                "cef.extensions.baseEventCount": "1",
            },
        ),
        (
            CHECKPOINT,
            {
                "@timestamp": "2026-11-20T08:52:00.000Z",
                "observer.vendor": "Check Point",
                "observer.product": "VPN-1 & FireWall-1",
                "event.severity": None,
                "cef.severity": "Unknown",
                "event.action": "Drop",
                "event.type": ["connection", "denied"],
                "network.direction": "inbound",
                "cef.extensions.originsicname": "CN=gw01,O=mgmt.ministere.example",
                "cef.extensions.product": "VPN-1 & FireWall-1",
                "cef.extensions.ad_vd": "root",
            },
        ),
        (  # escapes: pipe and backslash in the header; = \\ \n in extension values
            "CEF:0|Security\\|Corp|threat\\\\manager|1.0|100|detected a \\| in message|Very-High|src=10.0.0.1 "
            "act=blocked a \\= sign msg=line1\\nline2 cs1Label=path cs1=C:\\\\Windows\\\\cmd.exe rt=1795164600000",
            {
                "observer.vendor": "Security|Corp",
                "observer.product": "threat\\manager",
                "cef.name": "detected a | in message",
                "event.severity": 10,
                "event.action": "blocked a = sign",
                "cef.extensions.message": "line1\nline2",
                "cef.extensions.deviceCustomString1": "C:\\Windows\\cmd.exe",
                "@timestamp": "2026-11-20T08:50:00.000Z",
            },
        ),
        (  # RFC 5424 wrapper (Elastic's documented form), a web request, no rt: the syslog time
            "<189>1 2021-06-18T10:55:50.000003Z waf01 app - - - CEF:0|Elastic|Vaporware|1.0.0-alpha|18|Web request|"
            "low|eventId=3457 requestMethod=POST request=https://portail.gouv.example/login?user\\=admin' OR 1\\=1 "
            "src=198.51.100.1 suser=admin outcome=failure requestClientApplication=sqlmap/1.8",
            {
                "@timestamp": "2021-06-18T10:55:50.000Z",
                "observer.hostname": "waf01",
                "event.severity": 3,
                "event.outcome": "failure",
                "event.category": ["network", "web"],
                "http.request.method": "POST",
                "url.domain": "portail.gouv.example",
                "url.query": "user=admin' OR 1=1",
                "user_agent.original": "sqlmap/1.8",
                "host.name": None,
            },
        ),
        (  # the device's time zone applies to a time written without one (WAT = UTC+1)
            "CEF:0|Vendor|Product|1|login-fail|Login failed|7|rt=Nov 20 2026 09:00:00 dtz=Africa/Lagos "
            "duser=admin src=192.0.2.77",
            {"@timestamp": "2026-11-20T08:00:00.000Z", "event.timezone": "Africa/Lagos", "user.name": "admin",
             "event.category": ["network", "authentication"]},
        ),
    ]
    malformed = [
        "CEF:0|Vendor|Product|1.0|100",  # a short header
        "just text",
        "CEF:0|Vendor|Product|1.0|100|name|5|src=10.0.0.1",  # no time at all
        "CEF:0|Vendor|Product|1.0|100|name|5|not key value pairs",
        "CEF:0|Vendor|Product|1.0|100|name|5|rt=yesterday src=10.0.0.1",
        "CEF:0|Vendor|Product|1.0|100|name|5|rt=Nov 20 2026 09:00:00 XYZT",
    ]


def test_extension_values_keep_spaces_and_escapes() -> None:
    assert extensions(r"msg=a b  c cs1=x\=y\\z act=") == {"msg": "a b  c", "cs1": "x=y\\z", "act": ""}
    with pytest.raises(ParseError):
        extensions("junk msg=a")


def test_an_unreadable_end_time_is_reported_not_fatal() -> None:
    event = parsers.get("cef")().parse("CEF:0|V|P|1|1|n|5|rt=1795164600000 end=tomorrow")
    assert event is not None
    assert get(event, "event.end") is None and "end" in get(event, "error.message")


# A CEF record as the specification's first example, with no syslog header and no rt: refused by
# default (no time), stored with its receive time when the source is configured so.
NO_TIME = "CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232"


def test_a_record_without_time_is_refused_by_default(ingest_platform: Platform) -> None:
    summary = Ingestor(ingest_platform, "cef").ingest([(1, NO_TIME)], source="udp://127.0.0.1")
    assert summary.ingested == 0 and summary.dead_lettered == 1
    assert "no time" in summary.errors[0][1]


def test_a_source_can_take_the_receive_time(ingest_platform: Platform) -> None:
    stored: list[dict[str, Any]] = []
    ingestor = Ingestor(ingest_platform, "cef", on_batch=stored.extend, options=ParserOptions(receive_time=True))
    summary = ingestor.ingest([(1, NO_TIME)], source="udp://127.0.0.1")
    assert summary.ingested == 1 and summary.dead_lettered == 0
    event = stored[0]
    assert event["@timestamp"] == get(event, "event.ingested")
    assert get(event, "tags") == [RECEIPT_TAG] == ["time_from_receipt"]
    assert get(event, "source.ip") == "10.0.0.1"
    # a record with its own time keeps it, untagged
    with_rt = NO_TIME + " rt=1795164600000"
    ingestor.ingest([(2, with_rt)], source="udp://127.0.0.1")
    assert stored[-1]["@timestamp"] != stored[-1]["event"]["ingested"] and "tags" not in stored[-1]


def test_a_source_time_zone_applies_to_the_syslog_header_and_zoneless_device_times() -> None:
    """A CEF/LEEF source in local time (``--timezone``): the syslog header's time and a device
    time written without a zone (the CEF specification's ``MMM dd yyyy HH:mm:ss``) are read in
    it, and ``event.timezone`` says so; a device zone (``dtz``) or an epoch time wins."""
    options = ParserOptions(timezone="Africa/Lagos")  # UTC+1, no daylight saving
    cef = parsers.get("cef")().configure(options)
    header = cef.parse("Nov 20 09:00:00 fw01 " + NO_TIME)
    assert header is not None and header["@timestamp"].endswith("-11-20T08:00:00.000Z")  # yearless: this year
    assert get(header, "event.timezone") == "Africa/Lagos"
    local = cef.parse(NO_TIME + " rt=Nov 20 2026 09:00:00")
    assert local is not None and local["@timestamp"] == "2026-11-20T08:00:00.000Z"
    assert get(local, "event.timezone") == "Africa/Lagos"
    epoch = cef.parse(NO_TIME + " rt=1795164600000")
    assert epoch is not None and get(epoch, "event.timezone") is None
    own = cef.parse(NO_TIME + " rt=Nov 20 2026 09:00:00 dtz=Africa/Nairobi")
    assert own is not None and own["@timestamp"] == "2026-11-20T06:00:00.000Z"
    utc = parsers.get("cef")().parse(NO_TIME + " rt=Nov 20 2026 09:00:00")
    assert utc is not None and utc["@timestamp"] == "2026-11-20T09:00:00.000Z" and get(utc, "event.timezone") is None

    leef = parsers.get("leef")().configure(options)
    record = leef.parse("LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^"
                        "devTime=2026-11-20 09:00:00^devTimeFormat=yyyy-MM-dd HH:mm:ss")
    assert record is not None and record["@timestamp"] == "2026-11-20T08:00:00.000Z"
    assert get(record, "event.timezone") == "Africa/Lagos"
