"""Netfilter packet logs (iptables, ip6tables, nftables, UFW, Ubiquiti) read by the ``syslog`` parser.

No public corpus of these is stored: the lines follow the kernel's format (net/netfilter/nf_log_syslog.c:
``IN= OUT= MAC= SRC= DST= LEN= TOS= PREC= TTL= ID= [CE DF MF] PROTO= SPT= DPT= WINDOW= RES= <flags> URGP=``,
IPv6 ``TC= HOPLIMIT= FLOWLBL=``, ICMP ``TYPE= CODE= ID= SEQ=``) with the log prefixes UFW
(``[UFW BLOCK]``), nftables rule sets (``log prefix "nft-drop: "``) and EdgeOS
(``[RULESET-RULE-ACTION]``) write, and documentation addresses (RFC 5737, RFC 3849).
"""

from harness import ParserCase

from cert.core.ecs import get
from cert.core.parser import parsers
from ingest.parsers._flow import community_id

MAC = "MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00"


class TestFirewall(ParserCase):
    parser_name = "syslog"
    samples = [
        (
            f"Nov 20 08:40:12 etatcivil-web01 kernel: [712345.678901] [UFW BLOCK] IN=eth0 OUT= {MAC} "
            "SRC=198.51.100.23 DST=192.0.2.5 LEN=60 TOS=0x00 PREC=0x00 TTL=50 ID=54321 DF PROTO=TCP SPT=4444 DPT=22 "
            "WINDOW=29200 RES=0x00 SYN URGP=0 ",
            {
                "event.dataset": "iptables.log",
                "event.module": "iptables",
                "event.category": ["network"],
                "event.type": ["connection", "denied"],
                "event.action": "drop",
                "event.outcome": "failure",
                "rule.name": "UFW BLOCK",
                "source.ip": "198.51.100.23",
                "source.port": 4444,
                "destination.ip": "192.0.2.5",
                "destination.port": 22,
                "network.transport": "tcp",
                "network.iana_number": "6",
                "network.type": "ipv4",
                "network.direction": "ingress",
                "observer.ingress.interface.name": "eth0",
                "observer.egress.interface.name": None,
                "observer.hostname": "etatcivil-web01",
                "source.mac": "52-54-00-65-43-21",
                "destination.mac": "52-54-00-12-34-56",
                "iptables.ttl": 50,
                "iptables.id": 54321,
                "iptables.fragment_flags": ["DF"],
                "iptables.tcp.flags": ["SYN"],
                "iptables.tcp.window": 29200,
            },
        ),
        (
            f"Nov 20 08:41:00 etatcivil-web01 kernel: [712393.1] [UFW ALLOW] IN=eth0 OUT= {MAC} SRC=203.0.113.10 "
            "DST=192.0.2.5 LEN=52 TOS=0x00 PREC=0x00 TTL=116 ID=1 DF PROTO=TCP SPT=51000 DPT=443 WINDOW=64240 "
            "RES=0x00 ACK PSH URGP=0",
            {"event.action": "accept", "event.type": ["connection", "allowed"], "event.outcome": "success",
             "iptables.tcp.flags": ["ACK", "PSH"], "destination.port": 443},
        ),
        (  # nftables: log prefix "nft-drop: ", UDP (its own LEN after PROTO)
            "2026-11-20T08:42:00.500+01:00 gw01 kernel: nft-drop: IN=ens3 OUT= SRC=203.0.113.50 DST=192.0.2.1 LEN=76 "
            "TOS=0x00 PREC=0x00 TTL=57 ID=0 PROTO=UDP SPT=53 DPT=5353 LEN=56",
            {"@timestamp": "2026-11-20T07:42:00.500Z", "rule.name": "nft-drop", "event.action": "drop",
             "network.transport": "udp", "iptables.length": 76, "iptables.udp.length": 56,
             "observer.ingress.interface.name": "ens3"},
        ),
        (  # iptables -j LOG --log-prefix "IPT-REJECT: " then REJECT; ICMP echo
            "Nov 20 08:43:00 gw01 kernel: IPT-REJECT: IN=eth1 OUT= SRC=198.51.100.99 DST=192.0.2.1 LEN=84 TOS=0x00 "
            "PREC=0x00 TTL=63 ID=4660 PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1",
            {"event.action": "reject", "event.type": ["connection", "denied"], "network.transport": "icmp",
             "iptables.icmp.type": 8, "iptables.icmp.code": 0, "iptables.icmp.id": 7, "iptables.id": 4660,
             "source.port": None},
        ),
        (  # ip6tables, outbound, no verdict word in the (empty) prefix
            "Nov 20 08:44:00 gw01 kernel: [  307.757925] IN= OUT=enp0s3 SRC=2001:0db8:0000:0000:0000:0000:0000:0001 "
            "DST=2001:db8::2 LEN=104 TC=0 HOPLIMIT=64 FLOWLBL=868225 PROTO=ICMPv6 TYPE=128 CODE=0 ID=3427 SEQ=1",
            {"source.ip": "2001:db8::1", "network.type": "ipv6", "network.transport": "ipv6-icmp",
             "network.direction": "egress", "event.action": "log", "event.type": ["connection"],
             "event.outcome": None, "iptables.ttl": 64, "iptables.flow_label": 868225,
             "observer.egress.interface.name": "enp0s3"},
        ),
        (  # routed traffic: both interfaces, no direction
            "Nov 20 08:45:00 gw01 kernel: FWD-ACCEPT IN=eth0 OUT=eth1 SRC=10.1.2.3 DST=203.0.113.80 LEN=40 TOS=0x00 "
            "PREC=0x00 TTL=63 ID=9 PROTO=TCP SPT=40000 DPT=80 WINDOW=1024 RES=0x00 SYN URGP=0",
            {"event.action": "accept", "network.direction": None, "observer.egress.interface.name": "eth1"},
        ),
        (  # Ubiquiti EdgeOS: [RULESET-RULE-ACTION] glued to IN=
            "Jun 28 04:35:30 ubnt kernel: [WAN_LOCAL-default-D]IN=eth0 OUT= MAC=0a:ea:10:00:f0:06:10:e1:21:31:61:20:08:00 "
            "SRC=198.51.100.7 DST=192.0.2.9 LEN=40 TOS=0x00 PREC=0x00 TTL=245 ID=1 PROTO=TCP SPT=50000 DPT=23 "
            "WINDOW=1024 RES=0x00 SYN URGP=0",
            {"rule.name": "WAN_LOCAL", "rule.id": "default", "event.action": "drop", "destination.port": 23},
        ),
        (  # a kernel line that is not a packet log stays plain syslog
            "Nov 20 08:46:00 gw01 kernel: [  1.234567] usb 1-1: new high-speed USB device number 2",
            {"event.dataset": None, "event.category": None, "process.name": "kernel"},
        ),
    ]
    malformed = ["kernel: [UFW BLOCK] IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 (no syslog time)"]


def test_a_packet_log_with_a_garbled_address_keeps_the_valid_fields_only() -> None:
    event = parsers.get("syslog")().parse(
        "Nov 20 08:47:00 gw01 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=999.1.1.1 DST=192.0.2.5 PROTO=TCP SPT=99999 DPT=22")
    assert event is not None
    assert get(event, "source.ip") is None and get(event, "source.address") == "999.1.1.1"
    assert get(event, "source.port") is None and get(event, "destination.port") == 22


def test_an_icmp_error_is_read_as_the_outer_packet_and_keeps_the_quoted_one_apart() -> None:
    # Filebeat's iptables module fixture (x-pack/filebeat/module/iptables/log/test/icmp.log): a port
    # unreachable that quotes the UDP packet it answers.
    event = parsers.get("syslog")().parse(
        "Jan  8 03:37:09 fw01 kernel: DENY: IN=eth0 OUT= MAC=90:10:28:5f:62:24:90:10:18:5a:89:2a:08:00 "
        "SRC=192.0.2.71 DST=192.0.2.83 LEN=88 TOS=0x00 PREC=0x00 TTL=118 ID=21684 PROTO=ICMP TYPE=3 CODE=3 "
        "[SRC=192.0.2.83 DST=192.168.173.191 LEN=60 TOS=0x00 PREC=0x00 TTL=54 ID=0 DF PROTO=UDP SPT=21458 "
        "DPT=62936 LEN=40 ]")
    assert event is not None
    assert get(event, "source.ip") == "192.0.2.71"
    assert get(event, "destination.ip") == "192.0.2.83"
    assert get(event, "network.transport") == "icmp"
    assert get(event, "source.port") is None and get(event, "destination.port") is None
    assert get(event, "iptables.icmp.type") == 3 and get(event, "iptables.icmp.code") == 3
    assert get(event, "iptables.length") == 88 and get(event, "iptables.ttl") == 118
    assert get(event, "iptables.id") == 21684 and get(event, "iptables.fragment_flags") is None
    assert get(event, "iptables.udp.length") is None
    assert get(event, "iptables.icmp.inner") == {
        "source_ip": "192.0.2.83", "destination_ip": "192.168.173.191", "transport": "udp",
        "source_port": 21458, "destination_port": 62936, "length": 60, "ttl": 54, "id": 0}
    # one-way ICMP: hashed with type and code, never reordered
    assert get(event, "network.community_id") == community_id("icmp", "192.0.2.71", "192.0.2.83", 3, 3)


def test_packet_logs_with_a_five_tuple_carry_the_community_id() -> None:
    parser = parsers.get("syslog")()
    tcp = parser.parse(
        "Nov 20 08:45:00 gw01 kernel: FWD-ACCEPT IN=eth0 OUT=eth1 SRC=10.1.2.3 DST=203.0.113.80 LEN=40 TOS=0x00 "
        "PREC=0x00 TTL=63 ID=9 PROTO=TCP SPT=40000 DPT=80 WINDOW=1024 RES=0x00 SYN URGP=0")
    assert tcp is not None
    # the spec's reference implementation (PyPI communityid 1.5) gives the same value for this tuple
    assert get(tcp, "network.community_id") == community_id("tcp", "10.1.2.3", "203.0.113.80", 40000, 80)
    echo = parser.parse(
        "Nov 20 08:43:00 gw01 kernel: IPT-REJECT: IN=eth1 OUT= SRC=192.0.2.1 DST=192.0.2.2 LEN=84 TOS=0x00 "
        "PREC=0x00 TTL=63 ID=4660 PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1")
    assert echo is not None
    assert get(echo, "network.community_id") == "1:IOfYZQoUwQ3ZLk3+qU6KcSd9W5k="  # the reference's, above
    gre = parser.parse("Nov 20 08:43:00 gw01 kernel: X IN=eth1 OUT= SRC=192.0.2.1 DST=192.0.2.2 LEN=84 PROTO=47")
    assert gre is not None and get(gre, "network.community_id") is None


def test_the_syslog_host_of_a_packet_log_is_the_observer_not_the_host() -> None:
    event = parsers.get("syslog")().parse(
        f"Nov 20 08:40:12 gw01 kernel: [UFW BLOCK] IN=eth0 OUT= {MAC} SRC=198.51.100.23 DST=192.0.2.5 LEN=60 "
        "PROTO=TCP SPT=4444 DPT=22 WINDOW=29200 RES=0x00 SYN URGP=0")
    assert event is not None
    assert get(event, "observer.hostname") == "gw01"
    assert get(event, "host") is None
