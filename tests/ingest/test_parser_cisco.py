"""cisco.syslog: Cisco IOS and ASA syslog lines to ECS, and SigmaHQ's Cisco rules on them.

No public corpus of Cisco logs is at hand: the lines below are written for these tests after the
message formats Cisco documents ("Cisco ASA Series Syslog Messages", "Cisco IOS System Message
Guide"), each with the message id it follows; addresses are documentation ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import ParserCase
from support import corpora_dir

from cert.core.parser import Parser, parsers
from cert.pipeline.ingestor import finalize
from detectors.sigma.fast import Entry, FastEngine
from detectors.sigma.load import load
from detectors.sigma.naive import NaiveEngine


def _year_of(month: int, day: int) -> int:
    """The year a date written without one is read in: this year, unless that is more than a day
    ahead (then last year)."""
    now = datetime.now(UTC)
    return now.year if datetime(now.year, month, day, tzinfo=UTC) - now < timedelta(days=1) else now.year - 1


# IOS %SYS-5-CONFIG_I "Configured from [chars] by [chars]", as `show logging` prints it
# (service timestamps log datetime msec show-timezone; '*': clock not set)
CONFIG_I = "*Mar  1 18:48:50.483 UTC: %SYS-5-CONFIG_I: Configured from console by vty2 (10.34.195.36)"
# IOS %PARSER-5-CFGLOG_LOGGEDCMD (archive / log config / notify syslog), sent by the router itself:
# priority, sequence number, origin-id host name, timestamp
LOGGEDCMD = ("<189>1041: rtr-core-01: *Mar  2 10:00:00.123: %PARSER-5-CFGLOG_LOGGEDCMD: "
             "User:netops  logged command:no logging console")
# IOS %SEC_LOGIN-4-LOGIN_FAILED (login block-for / on-failure log), relayed by a syslog server
# (RFC 3164 header in front), with a year and a time zone
LOGIN_FAILED = ("Mar  2 10:00:01 rtr-core-01 001042: Mar  2 2026 10:00:00.456 CET: %SEC_LOGIN-4-LOGIN_FAILED: "
                "Login failed [user: admin] [Source: 198.51.100.23] [localport: 22] "
                "[Reason: Login Authentication Failed] at 10:00:00 CET Mon Mar 2 2026")
# IOS %SEC-6-IPACCESSLOGP "list [chars] [chars] [chars] [chars]([dec]) -> [chars]([dec]), [dec] packet"
# ('.': clock not in sync, no year)
ACCESS_LOG = "000123: .Mar  2 10:05:00: %SEC-6-IPACCESSLOGP: list 101 denied tcp 198.51.100.23(40512) -> 10.1.1.1(23), 1 packet"
# IOS %IP-TCP-3-BADAUTH "Invalid MD5 digest from [chars]:[dec] to [chars]:[dec]" (a BGP peer, port 179)
BADAUTH = ("<187>2201: rtr-edge-02: Mar  2 11:00:00.001 UTC: %IP-TCP-3-BADAUTH: "
           "Invalid MD5 digest from 203.0.113.9:179 to 192.0.2.1:11001")
# ASA %ASA-6-302013 "Built {inbound|outbound} TCP connection_id for interface:real-address/real-port
# (mapped-address/mapped-port) to interface:real-address/real-port (mapped-address/mapped-port)"
BUILT = ("<166>Jan 05 2026 10:00:00 fw-dmz01 : %ASA-6-302013: Built inbound TCP connection 4521 for "
         "outside:203.0.113.5/51515 (203.0.113.5/51515) to dmz:192.0.2.10/443 (192.0.2.10/443)")
# ASA %ASA-6-302014 "Teardown TCP connection id for interface:real-address/real-port to
# interface:real-address/real-port duration hh:mm:ss bytes bytes [reason]"
TEARDOWN = ("<166>Jan 05 2026 10:01:05 fw-dmz01 : %ASA-6-302014: Teardown TCP connection 4521 for "
            "outside:203.0.113.5/51515 to dmz:192.0.2.10/443 duration 0:01:05 bytes 10240 TCP FINs")
# ASA %ASA-4-106023 "Deny protocol src [interface_name:source_address/source_port] dst
# interface_name:dest_address/dest_port by access-group acl_ID [0x8ed66b60, 0xf8852875]"
DENY = ('<164>Jan 05 2026 10:00:02 fw-dmz01 : %ASA-4-106023: Deny tcp src outside:203.0.113.7/51516 '
        'dst inside:10.20.0.5/3389 by access-group "outside_access_in" [0x0, 0x0]')
# ASA %ASA-6-113004 "AAA user authentication Successful : server = server_IP_address : user = user",
# relayed with an RFC 3164 header naming the firewall by its address, no colon after the id
AAA_OK = "Jan  5 10:00:03 192.0.2.1 %ASA-6-113004 AAA user authentication Successful : server = 10.0.0.50 : user = jdupont"
# ASA %ASA-6-113005 "AAA user authentication Rejected : reason = reason : server = server_IP_address :
# user = user : user IP = user_ip"
AAA_REJECTED = ("<166>Jan 05 2026 10:00:04 fw-dmz01 : %ASA-6-113005: AAA user authentication Rejected : "
                "reason = AAA failure : server = 10.0.0.50 : user = admin : user IP = 198.51.100.40")
# ASA %ASA-5-111008 "User user executed the command string" (logging timestamp rfc5424)
COMMAND = "2026-01-05T10:00:05Z fw-dmz01 : %ASA-5-111008: User 'enable_15' executed the 'configure terminal' command."
# ASA %ASA-5-111010 "User username, running application-name from IP ip addr, executed cmd"
COMMAND_FROM = ("Jan 05 2026 10:00:06: %ASA-5-111010: User 'admin', running 'CLI' from IP 10.0.0.8, "
                "executed 'username backup password ***** privilege 15'")
# ASA %ASA-6-605005 "Login permitted from source-address/source-port to interface:destination/service
# for user "username""
LOGIN_OK = ('<166>Jan 05 2026 10:00:07 fw-dmz01 : %ASA-6-605005: Login permitted from 10.0.0.8/50022 to '
            'management:10.0.0.1/ssh for user "admin"')
# FTD: the same messages under %FTD
FTD_DENY = ('<164>2026-01-05T10:00:08Z ftd-01 : %FTD-4-106023: Deny udp src inside:10.20.0.7/53001 '
            'dst outside:198.51.100.53/53 by access-group "CSM_FW_ACL_" [0x97aa021a, 0x0]')


class TestCiscoSyslog(ParserCase):
    parser_name = "cisco.syslog"
    samples = [
        (CONFIG_I, {"@timestamp": f"{_year_of(3, 1)}-03-01T18:48:50.483Z",
                    "event.code": "CONFIG_I", "event.dataset": "cisco.ios", "event.severity": 5,
                    "log.level": "notice", "cisco.ios.facility": "SYS", "cisco.ios.clock": "not set",
                    "source.ip": "10.34.195.36", "user.name": None, "event.action": "configuration-change",
                    "message": "Configured from console by vty2 (10.34.195.36)",
                    "observer.vendor": "Cisco", "observer.product": "IOS"}),
        (LOGGEDCMD, {"event.dataset": "cisco.aaa", "event.code": "CFGLOG_LOGGEDCMD", "cisco.ios.sequence": "1041",
                     "observer.hostname": "rtr-core-01", "user.name": "netops", "log.syslog.priority": 189,
                     "cisco.ios.command_line": "no logging console", "event.action": "command-executed"}),
        (LOGIN_FAILED, {"@timestamp": "2026-03-02T09:00:00.456Z", "observer.hostname": "rtr-core-01",
                        "cisco.ios.sequence": "001042", "event.outcome": "failure", "user.name": "admin",
                        "source.ip": "198.51.100.23", "destination.port": 22, "event.category": ["authentication"],
                        "event.reason": "Login Authentication Failed", "log.level": "warning"}),
        (ACCESS_LOG, {"cisco.ios.access_list": "101", "cisco.ios.clock": "not synchronised", "source.ip": "198.51.100.23",
                      "source.port": 40512, "destination.ip": "10.1.1.1", "destination.port": 23,
                      "network.transport": "tcp", "event.type": ["connection", "denied"], "event.outcome": "failure"}),
        (BADAUTH, {"event.code": "BADAUTH", "cisco.ios.facility": "IP-TCP", "source.ip": "203.0.113.9",
                   "source.port": 179, "destination.port": 11001, "event.outcome": "failure"}),
        (BUILT, {"@timestamp": "2026-01-05T10:00:00.000Z", "event.code": "302013", "event.dataset": "cisco.asa",
                 "cisco.asa.message_id": "302013", "log.level": "informational", "observer.hostname": "fw-dmz01",
                 "observer.type": "firewall", "observer.product": "ASA", "cisco.asa.connection_id": "4521",
                 "source.ip": "203.0.113.5", "source.port": 51515, "cisco.asa.source_interface": "outside",
                 "destination.ip": "192.0.2.10", "destination.port": 443, "cisco.asa.destination_interface": "dmz",
                 "network.transport": "tcp", "network.direction": "inbound", "event.action": "flow-creation"}),
        (TEARDOWN, {"event.duration": 65_000_000_000, "network.bytes": 10240, "event.reason": "TCP FINs",
                    "event.type": ["connection", "end"], "event.action": "flow-expiration"}),
        (DENY, {"event.code": "106023", "log.level": "warning", "cisco.asa.rule_name": "outside_access_in",
                "source.ip": "203.0.113.7", "destination.ip": "10.20.0.5", "destination.port": 3389,
                "event.outcome": "failure", "event.action": "firewall-rule", "message": DENY.split("106023: ")[1]}),
        (AAA_OK, {"event.code": "113004", "user.name": "jdupont", "server.ip": "10.0.0.50", "event.outcome": "success",
                  "observer.hostname": "192.0.2.1", "observer.ip": "192.0.2.1",
                  "@timestamp": f"{_year_of(1, 5)}-01-05T10:00:03.000Z"}),
        (AAA_REJECTED, {"user.name": "admin", "source.ip": "198.51.100.40", "event.reason": "AAA failure",
                        "event.outcome": "failure", "event.action": "authentication-failure"}),
        (COMMAND, {"event.dataset": "cisco.aaa", "user.name": "enable_15", "cisco.asa.command_line": "configure terminal",
                   "@timestamp": "2026-01-05T10:00:05.000Z", "observer.hostname": "fw-dmz01"}),
        (COMMAND_FROM, {"event.dataset": "cisco.aaa", "user.name": "admin", "source.ip": "10.0.0.8",
                        "cisco.asa.command_line": "username backup password ***** privilege 15"}),
        (LOGIN_OK, {"user.name": "admin", "source.ip": "10.0.0.8", "source.port": 50022, "destination.ip": "10.0.0.1",
                    "event.action": "logon-success", "event.outcome": "success"}),
        (FTD_DENY, {"event.dataset": "cisco.ftd", "observer.product": "FTD", "cisco.ftd.message_id": "106023",
                    "cisco.ftd.rule_name": "CSM_FW_ACL_", "cisco.ftd.source_interface": "inside",
                    "cisco.asa": None, "network.transport": "udp"}),
    ]
    malformed = [
        "Mar  2 10:00:01 host sshd[12]: Accepted password for root",         # no Cisco tag
        "00:01:23: %LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down",  # uptime: no time
        "<999>Mar  2 10:00:00: %SYS-5-CONFIG_I: Configured from console by vty0",         # priority out of range
        "Feb 30 2026 10:00:00: %ASA-6-302013: Built",                                     # no such day
        "Mar  2 10:00:00 XYZT: %SYS-5-CONFIG_I: Configured from console by vty0",         # unknown time zone
        "x" * 600 + " Mar  2 10:00:00: %SYS-5-CONFIG_I: far from the start",              # tag too far
    ]


# ---- SigmaHQ's Cisco rules ----------------------------------------------------------------------
CISCO_RULES = Path("sigma") / "rules" / "network" / "cisco"
DISABLE_LOGGING = "9e8f6035-88bf-4a63-96b6-b17c0508257e"  # aaa: 'no logging', 'no aaa new-model'
LOCAL_ACCOUNTS = "6d844f0f-1c18-41af-8f19-33e7654edfc3"   # aaa: 'username', 'aaa'
BGP_AUTH = "56fa3cd6-f8d6-4520-a8c7-607292971886"         # bgp: ':179' and 'IP-TCP-3-BADAUTH'


class Rules:
    """SigmaHQ's Cisco rules in the fast engine and in the naive oracle, which must agree."""

    def __init__(self, path: Path) -> None:
        rs = load([path])
        assert len(rs.rules) >= 15 and not rs.rejected, rs.rejected
        self.fast = FastEngine([Entry(r.info.id, v.condition) for r in rs.rules for v in r.variants])
        self.naive = NaiveEngine([(r.info.id, [t for v in r.variants for t in v.trees]) for r in rs.rules])

    def ids(self, event: dict[str, Any]) -> list[str]:
        fast, naive = sorted(self.fast.matches(event)), sorted(self.naive.matches(event))
        assert fast == naive, (fast, naive)
        return fast


@pytest.fixture(scope="module")
def cisco_rules() -> Rules:
    path = corpora_dir() / CISCO_RULES
    if not path.exists():
        pytest.skip(f"SigmaHQ rules not found at {path}")
    return Rules(path)


def _event(line: str) -> dict[str, Any]:
    parser: Parser = parsers.get("cisco.syslog")()
    return finalize(parser.parse(line) or {}, parser, line, "/evidence/network/syslog.log")


def test_sigmahq_cisco_rules_fire_on_the_commands_they_look_for(cisco_rules: Rules) -> None:
    assert DISABLE_LOGGING in cisco_rules.ids(_event(LOGGEDCMD))
    assert DISABLE_LOGGING in cisco_rules.ids(_event(COMMAND_FROM.replace("username backup password ***** privilege 15",
                                                                          "no logging enable")))
    assert LOCAL_ACCOUNTS in cisco_rules.ids(_event(COMMAND_FROM))
    assert cisco_rules.ids(_event(BADAUTH)) == [BGP_AUTH]


def test_sigmahq_cisco_rules_stay_quiet_elsewhere(cisco_rules: Rules) -> None:
    """The same words outside AAA command accounting, and ordinary traffic, raise nothing: the
    aaa rules see only cisco.aaa events, the BGP rule needs both its keywords."""
    for line in (BUILT, DENY, TEARDOWN, ACCESS_LOG, LOGIN_OK, AAA_REJECTED,
                 CONFIG_I.replace("vty2", "no logging"),  # a CONFIG_I (cisco.ios) is no command record
                 BADAUTH.replace(":179", ":646")):        # an MD5 failure that is no BGP session
        assert cisco_rules.ids(_event(line)) == [], line
    quiet = LOGGEDCMD.replace("no logging console", "show ip interface brief")
    assert DISABLE_LOGGING not in cisco_rules.ids(_event(quiet))
