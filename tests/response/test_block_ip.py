"""The ``block_ip`` action against real nftables, in a private network namespace.

Each test makes a namespace of its own (the "gateway") holding the server's address 10.77.0.1,
the clients 10.77.0.2, 10.77.0.3 and 10.77.1.5 and their IPv6 counterparts fd77::1, fd77::2 and
fd77::3, all on ``lo``, with a small TCP server answering ``ok`` on every address. A client is
a process in the namespace whose socket is bound to the source address it speaks from; what a
block does is seen from there: the connection times out, or it answers. The action drives the
namespace's nft through ``response_nft_command = "ip netns exec NS nft"``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cert.core.config import Settings
from cert.core.errors import InvalidInput
from cert.response.actions import ActionFailed, Target
from cert.response.playbooks import StepContext
from cert.runtime.platform import Platform
from cert.storage.models import Case
from playbooks.steps.block_ip import BlockIp

pytestmark = pytest.mark.nftables

PORT = 8077
SERVER = """
import socket, sys
server = socket.create_server(("::", int(sys.argv[1])), family=socket.AF_INET6, dualstack_ipv6=True)
print("ready", flush=True)
while True:
    conn, _ = server.accept()
    with conn:
        conn.sendall(b"ok")
"""
CLIENT = """
import socket, sys
source, destination, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
sock = socket.socket(socket.AF_INET6 if ":" in destination else socket.AF_INET, socket.SOCK_STREAM)
sock.settimeout(timeout)
sock.bind((source, 0))
try:
    sock.connect((destination, port))
    print(sock.recv(2).decode())
except TimeoutError:
    print("timeout")
except OSError as exc:
    print("error", exc)
"""
ADDRESSES = ("10.77.0.1/32", "10.77.0.2/32", "10.77.0.3/32", "10.77.1.5/32", "fd77::1/128", "fd77::2/128",
             "fd77::3/128", "203.0.113.66/32")  # the last: the demo's attacker, for the browser test
#: a table of the gateway's own, which nothing Vigie does may change
GATEWAY_TABLE = """
table inet gateway {
    set trusted { type ipv4_addr; elements = { 10.77.0.3 } }
    chain input { type filter hook input priority 0; policy accept; ip saddr @trusted accept; }
}
"""


@dataclass
class Gateway:
    ns: str

    def run(self, *argv: str, stdin: str = "") -> str:
        done = subprocess.run(["ip", "netns", "exec", self.ns, *argv], input=stdin, capture_output=True,
                              text=True, timeout=30, check=True)
        return done.stdout

    def nft(self, *args: str, stdin: str = "") -> str:
        return self.run("nft", *args, stdin=stdin)

    def connect(self, source: str, destination: str = "10.77.0.1", timeout: float = 1.0) -> str:
        """``ok`` when the server answered the client at ``source``, ``timeout`` when dropped."""
        return self.run(sys.executable, "-c", CLIENT, source, destination, str(PORT), str(timeout)).strip()


def _skip_unless_possible() -> None:
    if os.geteuid() != 0:
        pytest.skip("nftables tests need root (a network namespace and its nftables)")
    for program in ("nft", "ip"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (Debian packages nftables, iproute2)")


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    _skip_unless_possible()
    ns = f"vigie-{secrets.token_hex(4)}"
    made = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True, timeout=30)
    if made.returncode != 0:
        pytest.skip(f"no network namespace support here: {made.stderr.strip()}")
    server: subprocess.Popen[str] | None = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=30)
        for address in ADDRESSES:
            extra = ["nodad"] if ":" in address else []
            subprocess.run(["ip", "-n", ns, "addr", "add", address, "dev", "lo", *extra], check=True, timeout=30)
        server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, str(PORT)],
                                  stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield Gateway(ns)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        subprocess.run(["ip", "netns", "delete", ns], check=False, timeout=30)


@contextmanager
def _action(tmp_path: Path, command: str, **settings: object) -> Iterator[BlockIp]:
    platform = Platform(replace(Settings(), data_dir=tmp_path / "data", secret_key="test-secret-key",
                                response_nft_command=command, **settings))  # type: ignore[arg-type]
    platform.db.upgrade()
    try:
        with platform.db.session() as s:
            yield BlockIp(StepContext(platform, s, Case(title="Brute force"), "responder", {}))
    finally:
        platform.close()


@pytest.fixture
def action(tmp_path: Path, gateway: Gateway) -> Iterator[BlockIp]:
    with _action(tmp_path, f"ip netns exec {gateway.ns} nft", response_nft_gateway="test-gw") as made:
        yield made


def test_block_drops_the_address_and_only_it_and_unblock_restores_it(gateway: Gateway, action: BlockIp) -> None:
    assert gateway.connect("10.77.0.2") == "ok"
    assert gateway.connect("10.77.0.3") == "ok"
    target = Target("10.77.0.2")
    assert action.applied(target) is False

    action.apply(target, expires=None)
    assert gateway.connect("10.77.0.2") == "timeout"
    assert gateway.connect("10.77.0.3") == "ok"
    assert action.applied(target) is True
    assert action.applied(Target("10.77.0.3")) is False
    [blocked] = action.blocked(4)
    assert (blocked.text, blocked.timeout) == ("10.77.0.2", None)

    action.apply(target, expires=None)  # a second time: the same single element
    assert [b.text for b in action.blocked(4)] == ["10.77.0.2"]
    assert '"10.77.0.2"' in gateway.nft("-j", "list", "set", "inet", "vigie", "blocked4")

    action.revert(target)
    assert action.applied(target) is False
    assert action.blocked(4) == []
    assert gateway.connect("10.77.0.2") == "ok"
    action.revert(target)  # not there any more: nothing to do, no error


def test_a_network_and_an_ipv6_address(gateway: Gateway, action: BlockIp) -> None:
    assert gateway.connect("fd77::2", "fd77::1") == "ok"
    assert gateway.connect("10.77.1.5") == "ok"
    action.apply(Target("10.77.1.0/24"), expires=None)
    action.apply(Target("fd77::2"), expires=None)
    assert gateway.connect("10.77.1.5") == "timeout"
    assert gateway.connect("fd77::2", "fd77::1") == "timeout"
    assert gateway.connect("fd77::3", "fd77::1") == "ok"
    assert gateway.connect("10.77.0.2") == "ok"
    assert action.applied(Target("10.77.1.0/24")) and action.applied(Target("fd77::2"))
    assert not action.applied(Target("10.77.1.5"))  # inside the network, but not what was blocked
    assert [b.text for b in action.blocked(4)] == ["10.77.1.0/24"]
    assert [b.text for b in action.blocked(6)] == ["fd77::2"]

    # an address inside a blocked network is refused with what is in the way
    with pytest.raises(ActionFailed, match=r"overlaps 10\.77\.1\.0/24") as failed:
        action.apply(Target("10.77.1.5"), expires=None)
    assert failed.value.transient is False

    # what others put in the sets is read as nftables lists it: ranges, networks, timeouts
    gateway.nft("-f", "-", stdin="add element inet vigie blocked4 { 10.79.0.1-10.79.0.9, 10.80.0.0-10.80.0.255 }\n"
                                 "add element inet vigie blocked6 { fd78::/64 timeout 1h }\n")
    assert [b.text for b in action.blocked(4)] == ["10.77.1.0/24", "10.79.0.1-10.79.0.9", "10.80.0.0/24"]
    assert [(b.text, b.timeout) for b in action.blocked(6)] == [("fd77::2", None), ("fd78::/64", 3600)]
    assert action.applied(Target("fd78::/64")) and action.applied(Target("10.80.0.0/24"))

    action.revert(Target("10.77.1.0/24"))
    action.revert(Target("fd77::2"))
    assert gateway.connect("10.77.1.5") == "ok"
    assert gateway.connect("fd77::2", "fd77::1") == "ok"


def test_a_block_with_an_expiry_lifts_itself(gateway: Gateway, action: BlockIp) -> None:
    target = Target("10.77.0.2")
    action.apply(target, expires=datetime.now(UTC) + timedelta(seconds=3))
    [blocked] = action.blocked(4)
    assert blocked.text == "10.77.0.2"
    assert blocked.timeout in (3, 4) and blocked.expires is not None and blocked.expires <= blocked.timeout
    assert "timeout" in gateway.nft("list", "set", "inet", "vigie", "blocked4")
    assert gateway.connect("10.77.0.2") == "timeout"

    deadline = time.monotonic() + 15
    while action.applied(target) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert action.applied(target) is False  # nftables removed it on its own
    assert gateway.connect("10.77.0.2") == "ok"

    # applied again, the block takes the expiry asked: two hours, then none
    # a naive expiry (as the database gives it back) is UTC
    action.apply(target, expires=datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=2))
    assert 7190 < (action.blocked(4)[0].timeout or 0) <= 7200
    action.apply(target, expires=None)
    assert [(b.text, b.timeout) for b in action.blocked(4)] == [("10.77.0.2", None)]

    with pytest.raises(InvalidInput, match="already passed"):
        action.apply(Target("10.77.0.3"), expires=datetime.now(UTC) - timedelta(minutes=1))
    assert gateway.connect("10.77.0.3") == "ok"


def test_setup_is_idempotent_and_leaves_the_gateway_s_own_rules(gateway: Gateway, action: BlockIp) -> None:
    gateway.nft("-f", "-", stdin=GATEWAY_TABLE)
    before = gateway.nft("list", "table", "inet", "gateway")

    created = action.ensure()
    assert created[0] == "add table inet vigie" and len(created) == 1 + 2 + 2 + 4
    listing = gateway.nft("list", "table", "inet", "vigie")
    assert "flags interval,timeout" in listing
    assert listing.count("ip saddr @blocked4 drop") == 2 and listing.count("ip6 saddr @blocked6 drop") == 2
    assert action.ensure() == []
    assert gateway.nft("list", "table", "inet", "vigie") == listing

    # a rule removed by hand is put back, alone
    handles = gateway.nft("-a", "list", "chain", "inet", "vigie", "forward")
    handle = next(line.rsplit("# handle ", 1)[1] for line in handles.splitlines() if "@blocked6" in line)
    gateway.nft("delete", "rule", "inet", "vigie", "forward", "handle", handle.strip())
    assert action.ensure() == ["add rule inet vigie forward ip6 saddr @blocked6 drop"]

    action.apply(Target("10.77.0.3"), expires=None)
    assert gateway.connect("10.77.0.3") == "timeout"  # the gateway's accept does not win over Vigie's drop
    action.revert(Target("10.77.0.3"))
    assert gateway.nft("list", "table", "inet", "gateway") == before
    assert gateway.connect("10.77.0.3") == "ok"


@pytest.mark.parametrize("hostile", ["10.0.0.1; flush ruleset", "1.2.3.4\n", "::1}", "10.0.0.1 }; flush ruleset; {",
                                     "fe80::1%lo", " 10.0.0.1", "*", "10.0.0.1/33", "a" * 5000, ""])
def test_hostile_targets_are_refused_before_any_command(gateway: Gateway, tmp_path: Path, hostile: str) -> None:
    gateway.nft("-f", "-", stdin=GATEWAY_TABLE)
    before = gateway.nft("list", "ruleset")
    # a command that cannot run: had any been tried, the failure would be ActionFailed
    with _action(tmp_path, f"ip netns exec {gateway.ns} /nonexistent/nft") as action:
        for call in (lambda: action.applied(Target(hostile)), lambda: action.apply(Target(hostile), None),
                     lambda: action.revert(Target(hostile)), lambda: action.describe(Target(hostile), None)):
            with pytest.raises(InvalidInput, match="is not an IP address or network"):
                call()
    assert gateway.nft("list", "ruleset") == before


def test_failures_say_what_nft_answered(gateway: Gateway, tmp_path: Path) -> None:
    target = Target("10.77.0.2")
    with _action(tmp_path, f"ip netns exec {gateway.ns} /nonexistent/nft") as action:
        with pytest.raises(ActionFailed, match="No such file or directory") as failed:
            action.apply(target, None)
        assert failed.value.transient is False
    with _action(tmp_path, "/nonexistent/nft") as action:
        with pytest.raises(ActionFailed, match="Cannot run /nonexistent/nft") as failed:
            action.applied(target)
        assert failed.value.transient is False
    # nft run by an unprivileged account: the kernel refuses
    with _action(tmp_path, f"ip netns exec {gateway.ns} setpriv --reuid=65534 --regid=65534 "
                                    "--clear-groups nft") as action:
        with pytest.raises(ActionFailed, match="Operation not permitted") as failed:
            action.apply(target, None)
        assert failed.value.transient is False
    # a gateway that does not answer in time: worth retrying
    with _action(tmp_path, f"{sys.executable} -c 'import time; time.sleep(30)'",
                          response_nft_timeout_seconds=0.5) as action:
        with pytest.raises(ActionFailed, match=r"no answer within 0\.5 seconds") as failed:
            action.applied(target)
        assert failed.value.transient is True
    # a set made by someone else without the interval flag: nft's own words come back
    gateway.nft("-f", "-", stdin="table inet vigie { set blocked4 { type ipv4_addr; }; }\n")
    with _action(tmp_path, f"ip netns exec {gateway.ns} nft") as action:
        with pytest.raises(ActionFailed, match="nft refused") as failed:
            action.apply(Target("10.77.1.0/24"), None)
        said = str(failed.value)
        assert said.count("You must add 'flags interval' to your set declaration") == 1
        assert "\n" not in said and "/dev/stdin" not in said and failed.value.transient is False
    assert gateway.connect("10.77.1.5") == "ok"


def test_an_unreachable_ssh_gateway_is_transient(tmp_path: Path) -> None:
    _skip_unless_possible()
    if shutil.which("ssh") is None:
        pytest.skip("the ssh client is not installed (Debian package openssh-client)")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = f"ssh -o BatchMode=yes -o ConnectTimeout=5 -p {port} root@127.0.0.1 nft"
    with _action(tmp_path, command) as action:
        with pytest.raises(ActionFailed, match="Connection refused") as failed:
            action.applied(Target("10.77.0.2"))
        assert failed.value.transient is True


def test_settings_that_cannot_be_used_are_refused(tmp_path: Path) -> None:
    for table in ("inet vigie; flush ruleset", "netdev vigie", "inet", "inet vi-gie"):
        with pytest.raises(ActionFailed, match="nftables settings are not usable"), \
                _action(tmp_path, "nft", response_nft_table=table):
            pass


def test_the_dry_run_says_what_and_where(tmp_path: Path) -> None:
    with _action(tmp_path, "nft", response_nft_gateway="gw-paris") as action:
        said = action.describe(Target("203.0.113.0/24"), datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
        assert said.message.startswith("[%(step)s]")
        text = said.message % said.params
        assert "203.0.113.0/24" in text and "gw-paris" in text and "2026-01-02T03:04:00+00:00" in text
        assert "blocked4/blocked6" in action.where()
        assert "no expiry" in action.describe(Target("2001:db8::1"), None).message
