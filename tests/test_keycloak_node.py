"""scripts/keycloak_node.py: the Keycloak of the single sign-on tests runs with Java 21+ and listens
on 127.0.0.1 only (no cluster discovery port on other addresses)."""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import keycloak_node

pytestmark = pytest.mark.keycloak


def _listening(pid: int) -> set[tuple[str, int]]:
    """The (address, port) pairs TCP sockets of ``pid`` listen on (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # a descriptor the running JVM closed since the listing
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, size in (("tcp", 4), ("tcp6", 16)):
        for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            hex_addr, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_addr)
            # /proc prints each 32-bit word in host (little-endian) order
            addr = b"".join(raw[i:i + 4][::-1] for i in range(0, size, 4))
            ip = ipaddress.ip_address(addr)
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            found.add((str(ip), int(hex_port, 16)))
    return found


@pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc")
def test_keycloak_runs_on_java_21_and_listens_on_the_loopback_only(keycloak: Any) -> None:
    assert keycloak_node.java_version(str(keycloak_node.find_java_home() / "bin" / "java")) >= 21
    children = Path(f"/proc/{keycloak.pid}/task/{keycloak.pid}/children").read_text().split()
    jvm = int(children[0]) if children else keycloak.pid  # kc.sh starts the JVM, or became it
    listening = _listening(jvm)
    assert ("127.0.0.1", keycloak.port) in listening and ("127.0.0.1", keycloak.management_port) in listening
    assert {addr for addr, _port in listening} == {"127.0.0.1"}, listening
