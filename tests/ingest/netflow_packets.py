"""NetFlow v5, v9 and IPFIX datagrams built byte by byte from the layouts of the specifications,
independently of the decoder under test:

- NetFlow v5: Cisco's "NetFlow Export Datagram Format", version 5 (24-byte header, 48-byte records);
- NetFlow v9: RFC 3954 sections 5.1 (header), 5.2 (template flowset), 5.3 (data flowset),
  6.1 (options template flowset);
- IPFIX: RFC 7011 sections 3.1 (message header), 3.3.2 (set header), 3.4.1 (template record),
  3.4.2.2 (options template record), 3.2 (enterprise field specifier), 7 (variable length).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence

EXPORT_SECS = 1_700_000_000  # 2023-11-14T22:13:20Z
UPTIME_MS = 3_600_000  # the exporter has been up one hour


def ip4(text: str) -> bytes:
    return socket.inet_aton(text)


def ip6(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


# ---- NetFlow v5 ----
def v5_record(src: str, dst: str, sport: int, dport: int, proto: int = 6, packets: int = 10, octets: int = 840,
              first: int = UPTIME_MS - 5000, last: int = UPTIME_MS - 1000, flags: int = 0x1B) -> bytes:
    return (ip4(src) + ip4(dst) + ip4("10.0.0.254")      # srcaddr, dstaddr, nexthop
            + struct.pack(">HH", 3, 7)                    # input, output ifIndex
            + struct.pack(">II", packets, octets)         # dPkts, dOctets
            + struct.pack(">II", first, last)             # First, Last (sysUptime ms)
            + struct.pack(">HH", sport, dport)            # srcport, dstport
            + bytes([0, flags, proto, 0])                 # pad1, tcp_flags, prot, tos
            + struct.pack(">HH", 64512, 37100)            # src_as, dst_as
            + bytes([24, 16]) + b"\x00\x00")              # src_mask, dst_mask, pad2


def v5(records: Sequence[bytes], sequence: int = 1, count: int | None = None) -> bytes:
    header = struct.pack(">HHIIIIBBH", 5, len(records) if count is None else count, UPTIME_MS, EXPORT_SECS,
                         500_000_000, sequence, 1, 2, (1 << 14) | 100)  # engine 1/2, sampling 1 in 100
    return header + b"".join(records)


# ---- NetFlow v9 ----
def v9(flowsets: Sequence[bytes], sequence: int = 1, source_id: int = 7) -> bytes:
    return struct.pack(">HHIIII", 9, len(flowsets), UPTIME_MS, EXPORT_SECS, sequence, source_id) + b"".join(flowsets)


def flowset(set_id: int, body: bytes, pad_to: int = 4) -> bytes:
    padding = (-(len(body) + 4)) % pad_to
    return struct.pack(">HH", set_id, 4 + len(body) + padding) + body + b"\x00" * padding


def v9_template(template_id: int, fields: Sequence[tuple[int, int]]) -> bytes:
    return struct.pack(">HH", template_id, len(fields)) + b"".join(struct.pack(">HH", t, n) for t, n in fields)


def v9_options_template(template_id: int, scope: Sequence[tuple[int, int]], options: Sequence[tuple[int, int]]) -> bytes:
    return (struct.pack(">HHH", template_id, 4 * len(scope), 4 * len(options))
            + b"".join(struct.pack(">HH", t, n) for t, n in [*scope, *options]))


# IPv4 flow template 256: the fields a router exports most often
V9_FLOW_FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 1), (1, 4), (2, 4), (22, 4), (21, 4), (10, 2),
                  (14, 2), (61, 1)]


def v9_flow(src: str, dst: str, sport: int, dport: int, proto: int = 6, octets: int = 5000, packets: int = 12,
            start: int = UPTIME_MS - 10_000, end: int = UPTIME_MS - 2_000, direction: int = 0) -> bytes:
    return (ip4(src) + ip4(dst) + struct.pack(">HHBB", sport, dport, proto, 0x12)
            + struct.pack(">IIII", octets, packets, start, end) + struct.pack(">HHB", 1, 2, direction))


# ---- IPFIX ----
def ipfix(sets: Sequence[bytes], sequence: int = 1, domain: int = 42, length: int | None = None) -> bytes:
    body = b"".join(sets)
    total = 16 + len(body) if length is None else length
    return struct.pack(">HHIII", 10, total, EXPORT_SECS, sequence, domain) + body


def ie(element_id: int, length: int, enterprise: int | None = None) -> bytes:
    if enterprise is None:
        return struct.pack(">HH", element_id, length)
    return struct.pack(">HHI", element_id | 0x8000, length, enterprise)


def ipfix_template(template_id: int, specifiers: Sequence[bytes]) -> bytes:
    return struct.pack(">HH", template_id, len(specifiers)) + b"".join(specifiers)


def ipfix_options_template(template_id: int, scope: Sequence[bytes], options: Sequence[bytes]) -> bytes:
    return struct.pack(">HHH", template_id, len(scope) + len(options), len(scope)) + b"".join([*scope, *options])


def varlen(data: bytes) -> bytes:
    if len(data) < 255:
        return bytes([len(data)]) + data
    return b"\xff" + struct.pack(">H", len(data)) + data


def ntp(seconds: int, fraction: int = 0) -> bytes:
    return struct.pack(">II", seconds + 2_208_988_800, fraction)
