"""The sinkhole_domain action against a real Unbound: names are resolved through the running resolver
with a DNS client before the sinkhole, after it, after a second apply, after the undo, and across
restarts of the resolver. Two private Unbound processes on free loopback ports in a temp dir: the
resolver under test (remote control on, Vigie's zones file included) and an "upstream" that
serves the example. names the resolver forwards to, so nothing leaves 127.0.0.1."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from servers import LOOPBACK, Server, ServerStartError, find_free_port

from cert.core.config import Settings
from cert.core.errors import InvalidInput
from cert.response.actions import Action, ActionFailed, Target
from cert.response.playbooks import StepContext, steps
from cert.runtime.platform import Platform
from cert.storage.models import Case
from playbooks.steps.sinkhole_domain import SinkholeDomain

pytestmark = pytest.mark.unbound

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
UNBOUND_CONTROL = shutil.which("unbound-control") or "/usr/sbin/unbound-control"

# What the upstream serves: the names' real answers before any sinkhole.
REAL = {
    "malware-c2.example": "198.51.100.66",
    "www.malware-c2.example": "198.51.100.67",
    "cdn.www.malware-c2.example": "198.51.100.68",
    "xmalware-c2.example": "198.51.100.99",  # shares a suffix, not a label: never caught
    "portail.ministere.example": "192.0.2.10",
    "xn--bcher-kva.example": "198.51.100.70",
}
SINKHOLE_A, SINKHOLE_AAAA = "192.0.2.53", "2001:db8::53"


# --------------------------------------------------------------------------- the two Unbound servers


def _wait_dns(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            dns.query.udp(dns.message.make_query("localhost.", "A"), LOOPBACK, port=port, timeout=0.5)
            return True
        except (TimeoutError, OSError, dns.exception.DNSException):
            time.sleep(0.05)
    return False


def _start_unbound(workdir: Path, name: str, body: str, port: int | None = None) -> Server:
    """``unbound -d`` with ``server:`` settings for a private run plus ``body``; on a free port unless given."""
    for _attempt in range(3):
        dns_port = port or find_free_port()
        conf = workdir / f"{name}.conf"
        conf.write_text(
            "server:\n"
            f"    interface: {LOOPBACK}\n    port: {dns_port}\n    do-ip6: no\n"
            '    do-daemonize: no\n    chroot: ""\n    username: ""\n'
            f'    directory: "{workdir}"\n    pidfile: "{workdir / (name + ".pid")}"\n'
            '    use-syslog: no\n    logfile: ""\n    verbosity: 1\n' + body)
        log = workdir / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen([UNBOUND, "-d", "-c", str(conf)], cwd=workdir, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT)
        server = Server(name, f"{LOOPBACK}@{dns_port}", proc.pid, dns_port, workdir, signal.SIGTERM, log, proc)
        if _wait_dns(dns_port, proc):
            return server
        server.stop(10)
        if port is not None or "address already in use" not in server.log().lower():
            break
    raise ServerStartError(f"unbound {name} did not answer: {server.log()}")


@dataclass
class Resolver:
    workdir: Path
    zones_file: Path
    upstream: Server
    server: Server
    control_port: int

    @property
    def conf(self) -> Path:
        return self.workdir / "resolver.conf"

    @property
    def control(self) -> str:
        return f"{UNBOUND_CONTROL} -c {self.conf}"

    def body(self) -> str:
        return (f'    do-not-query-localhost: no\n    include: "{self.zones_file}"\n'
                'forward-zone:\n    name: "example."\n'
                f"    forward-addr: {LOOPBACK}@{self.upstream.port}\n"
                "remote-control:\n    control-enable: yes\n"
                f"    control-interface: {LOOPBACK}\n    control-port: {self.control_port}\n"
                "    control-use-cert: no\n")

    def restart(self) -> None:
        """Stop the resolver by its pid and start it again on the same ports: the runtime zones are gone."""
        self.server.stop()
        self.server = _start_unbound(self.workdir, "resolver", self.body(), port=self.server.port)

    def unbound_control(self, *args: str) -> str:
        return subprocess.run([UNBOUND_CONTROL, "-c", str(self.conf), *args], capture_output=True, text=True,
                              check=True, timeout=15).stdout

    def answer(self, name: str, rdtype: str = "A") -> str:
        """What a client asking the resolver gets: the addresses, "NXDOMAIN", or "NODATA"."""
        reply = dns.query.udp(dns.message.make_query(name, rdtype), LOOPBACK, port=self.server.port, timeout=3)
        if reply.rcode() != dns.rcode.NOERROR:
            return dns.rcode.to_text(reply.rcode())
        found = sorted(rd.to_text() for rrset in reply.answer if rrset.rdtype == dns.rdatatype.from_text(rdtype)
                       for rd in rrset)
        return ",".join(found) or "NODATA"


@pytest.fixture(scope="module", autouse=True)
def unbound_installed() -> None:
    """Skip each test (a failure under CI=true) when Debian's unbound package is missing."""
    if not (Path(UNBOUND).exists() and Path(UNBOUND_CONTROL).exists()):
        pytest.skip("unbound and unbound-control not found (install Debian's unbound package)")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("unbound-upstream")
    data = "".join(f'    local-data: "{name}. 300 IN A {address}"\n' for name, address in REAL.items())
    server = _start_unbound(workdir, "upstream", '    local-zone: "example." static\n' + data
                            + "remote-control:\n    control-enable: no\n")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def resolver(tmp_path: Path, upstream: Server) -> Iterator[Resolver]:
    zones_file = tmp_path / "vigie" / "sinkholes.conf"
    zones_file.parent.mkdir()
    zones_file.touch()  # as the docs say: the file exists before unbound.conf includes it
    res = Resolver(tmp_path, zones_file, upstream, Server("resolver", "", 0, 0, tmp_path), find_free_port())
    for attempt in range(3):  # the control port, free when chosen, may be taken before unbound binds it
        try:
            res.server = _start_unbound(tmp_path, "resolver", res.body())
            break
        except ServerStartError as exc:
            if attempt == 2 or "already in use" not in str(exc).lower():
                raise
            res.control_port = find_free_port()
    try:
        yield res
    finally:
        res.server.stop()


def _action(tmp_path: Path, resolver: Resolver | None = None, **settings: object) -> SinkholeDomain:
    values: dict[str, object] = {"response_unbound_sinkhole_a": SINKHOLE_A,
                                 "response_unbound_sinkhole_aaaa": SINKHOLE_AAAA}
    if resolver is not None:
        values |= {"response_unbound_control": resolver.control, "response_unbound_zones_file": resolver.zones_file}
    values |= settings
    platform = Platform(replace(Settings(), data_dir=tmp_path / "data", secret_key="k", **values))  # type: ignore[arg-type]
    case = Case(title="C2 de maliciel", created_by="alice")
    return SinkholeDomain(StepContext(platform, None, case, "alice", {}))  # type: ignore[arg-type]


def _zone_lines(resolver: Resolver, domain: str) -> list[str]:
    return [line for line in resolver.unbound_control("list_local_zones").splitlines()
            if line.split()[:1] == [f"{domain}."]]


def _data_lines(resolver: Resolver, domain: str) -> list[str]:
    return [line for line in resolver.unbound_control("list_local_data").splitlines()
            if line.split()[:1] == [f"{domain}."]]


# --------------------------------------------------------------------------- the effect on resolution


def test_step_is_registered_as_a_domain_sinkhole() -> None:
    cls = steps.get("sinkhole_domain")
    assert cls is SinkholeDomain and issubclass(cls, Action)
    assert (cls.target_type, cls.countermeasure, cls.undo_label) == ("domain", "sinkhole", "remove the sinkhole")


def test_sinkhole_answers_the_sinkhole_for_the_domain_and_all_under_it_then_undo_restores(
        tmp_path: Path, resolver: Resolver) -> None:
    action = _action(tmp_path, resolver)
    target = Target("malware-c2.example")
    for name, address in REAL.items():
        assert resolver.answer(name) == address
    assert not action.applied(target)

    action.apply(target, datetime.now(UTC) + timedelta(hours=4))

    assert action.applied(target)
    for name in ("malware-c2.example", "www.malware-c2.example", "cdn.www.malware-c2.example",
                 "never-seen.malware-c2.example"):
        assert resolver.answer(name) == SINKHOLE_A
        assert resolver.answer(name, "AAAA") == SINKHOLE_AAAA
    assert resolver.answer("xmalware-c2.example") == REAL["xmalware-c2.example"]
    assert resolver.answer("portail.ministere.example") == REAL["portail.ministere.example"]
    assert _zone_lines(resolver, "malware-c2.example") == ["malware-c2.example. redirect"]

    action.apply(target, None)  # a second apply changes nothing and duplicates nothing

    assert _zone_lines(resolver, "malware-c2.example") == ["malware-c2.example. redirect"]
    assert len(_data_lines(resolver, "malware-c2.example")) == 2
    assert resolver.zones_file.read_text().count("local-zone:") == 1
    assert resolver.answer("www.malware-c2.example") == SINKHOLE_A

    action.revert(target)

    assert not action.applied(target)
    assert _zone_lines(resolver, "malware-c2.example") == []
    assert _data_lines(resolver, "malware-c2.example") == []
    assert "malware-c2.example" not in resolver.zones_file.read_text()
    for name, address in REAL.items():
        assert resolver.answer(name) == address
    action.revert(target)  # nothing to undo: no error, nothing else touched
    assert resolver.answer("portail.ministere.example") == REAL["portail.ministere.example"]


def test_without_a_sinkhole_address_the_names_answer_nxdomain(tmp_path: Path, resolver: Resolver) -> None:
    action = _action(tmp_path, resolver, response_unbound_sinkhole_a="", response_unbound_sinkhole_aaaa="")
    target = Target("malware-c2.example")
    assert resolver.answer("www.malware-c2.example") == REAL["www.malware-c2.example"]

    action.apply(target, None)

    assert action.applied(target)
    assert _zone_lines(resolver, "malware-c2.example") == ["malware-c2.example. always_nxdomain"]
    assert resolver.answer("malware-c2.example") == "NXDOMAIN"
    assert resolver.answer("www.malware-c2.example", "AAAA") == "NXDOMAIN"
    assert resolver.answer("portail.ministere.example") == REAL["portail.ministere.example"]

    action.revert(target)

    assert resolver.answer("www.malware-c2.example") == REAL["www.malware-c2.example"]


def test_a_changed_sinkhole_address_is_not_applied_until_applied_again(tmp_path: Path, resolver: Resolver) -> None:
    target = Target("malware-c2.example")
    _action(tmp_path, resolver, response_unbound_sinkhole_aaaa="").apply(target, None)
    moved = _action(tmp_path, resolver, response_unbound_sinkhole_a="192.0.2.54", response_unbound_sinkhole_aaaa="")
    assert not moved.applied(target)

    moved.apply(target, None)

    assert moved.applied(target)
    assert resolver.answer("www.malware-c2.example") == "192.0.2.54"  # the old address is gone
    assert resolver.answer("www.malware-c2.example", "AAAA") == "NODATA"  # no IPv6 sinkhole configured
    assert '"malware-c2.example. 60 IN A 192.0.2.54"' in resolver.zones_file.read_text()
    assert "192.0.2.53" not in resolver.zones_file.read_text()


def test_names_are_normalised_before_unbound_sees_them(tmp_path: Path, resolver: Resolver) -> None:
    action = _action(tmp_path, resolver)
    action.apply(Target("  Malware-C2.EXAMPLE. "), None)
    action.apply(Target("BÜCHER.example"), None)

    assert resolver.answer("www.malware-c2.example") == SINKHOLE_A
    assert resolver.answer("xn--bcher-kva.example") == SINKHOLE_A
    assert _zone_lines(resolver, "xn--bcher-kva.example") == ["xn--bcher-kva.example. redirect"]
    assert action.applied(Target("malware-c2.example")) and action.applied(Target("bücher.example"))

    action.revert(Target("malware-c2.example."))
    action.revert(Target("Bücher.Example"))
    assert resolver.answer("xn--bcher-kva.example") == REAL["xn--bcher-kva.example"]
    assert resolver.answer("www.malware-c2.example") == REAL["www.malware-c2.example"]


HOSTILE = [
    'evil.example" redirect\nlocal_zone . always_nxdomain',
    "evil.example\nlocal_zone_remove localhost",
    "evil.example; local_zone . always_nxdomain",
    "evil example",
    'evil".example',
    "evil.example 60 IN A 192.0.2.1",
    "*",
    ".",
    ")(",
    "a" * 64 + ".example",
    ("abc." * 70) + "example",
    "example",
    "com",
    "co.uk",
    "gouv.fr",
    "192.0.2.1",
    "2001:db8::1",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_names_are_refused_and_never_reach_unbound(tmp_path: Path, resolver: Resolver, value: str) -> None:
    action = _action(tmp_path, resolver)
    zones, data = resolver.unbound_control("list_local_zones"), resolver.unbound_control("list_local_data")

    for call in (lambda: action.apply(Target(value), None), lambda: action.applied(Target(value)),
                 lambda: action.revert(Target(value)), lambda: action.describe(Target(value), None)):
        with pytest.raises(InvalidInput):
            call()

    assert resolver.unbound_control("list_local_zones") == zones
    assert resolver.unbound_control("list_local_data") == data
    assert resolver.zones_file.read_text() == ""
    assert resolver.answer("portail.ministere.example") == REAL["portail.ministere.example"]


def test_a_hostile_sinkhole_address_setting_is_refused(tmp_path: Path, resolver: Resolver) -> None:
    action = _action(tmp_path, resolver, response_unbound_sinkhole_a="192.0.2.53\nlocal_zone . always_nxdomain")
    with pytest.raises(ActionFailed) as failed:
        action.apply(Target("malware-c2.example"), None)
    assert not failed.value.transient
    assert "response_unbound_sinkhole_a" in str(failed.value)
    assert _zone_lines(resolver, "malware-c2.example") == [] and _zone_lines(resolver, "") == []
    assert resolver.answer("portail.ministere.example") == REAL["portail.ministere.example"]


# --------------------------------------------------------------------------- persistence across restarts


def test_sinkholes_survive_a_restart_of_the_resolver_and_so_does_their_removal(
        tmp_path: Path, resolver: Resolver) -> None:
    action = _action(tmp_path, resolver)
    target = Target("malware-c2.example")
    action.apply(target, None)

    resolver.restart()

    assert resolver.answer("www.malware-c2.example") == SINKHOLE_A
    assert resolver.answer("www.malware-c2.example", "AAAA") == SINKHOLE_AAAA
    assert action.applied(target)

    action.revert(target)
    resolver.restart()

    assert resolver.answer("www.malware-c2.example") == REAL["www.malware-c2.example"]
    assert not action.applied(target)


def test_a_sinkhole_missing_from_the_file_is_not_applied_and_apply_writes_it(
        tmp_path: Path, resolver: Resolver) -> None:
    runtime_only = _action(tmp_path, resolver, response_unbound_zones_file=None)
    runtime_only.apply(Target("malware-c2.example"), None)
    assert runtime_only.applied(Target("malware-c2.example"))
    assert resolver.zones_file.read_text() == ""

    kept = _action(tmp_path, resolver)
    assert not kept.applied(Target("malware-c2.example"))  # a restart would lose it
    kept.apply(Target("malware-c2.example"), None)
    assert kept.applied(Target("malware-c2.example"))
    resolver.restart()
    assert resolver.answer("malware-c2.example") == SINKHOLE_A


def test_concurrent_sinkholes_all_reach_the_file(tmp_path: Path, resolver: Resolver) -> None:
    names = [f"c2-{i}.malware-c2.example" for i in range(6)]
    errors: list[BaseException] = []

    def sinkhole(name: str) -> None:
        try:
            _action(tmp_path, resolver).apply(Target(name), None)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=sinkhole, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    text = resolver.zones_file.read_text()
    assert all(f'local-zone: "{name}." redirect' in text for name in names)
    resolver.restart()
    assert all(resolver.answer(name) == SINKHOLE_A for name in names)
    assert resolver.answer("malware-c2.example") == REAL["malware-c2.example"]


# --------------------------------------------------------------------------- failures


def test_resolver_down_is_a_transient_failure(tmp_path: Path, resolver: Resolver) -> None:
    action = _action(tmp_path, resolver)
    resolver.server.stop()
    for call in (lambda: action.applied(Target("malware-c2.example")),
                 lambda: action.apply(Target("malware-c2.example"), None),
                 lambda: action.revert(Target("malware-c2.example"))):
        with pytest.raises(ActionFailed) as failed:
            call()
        assert failed.value.transient
        assert "Connection refused" in str(failed.value)
        assert str(failed.value).startswith("[sinkhole_domain] unbound-control list_local_zones failed")


def test_a_control_port_that_never_answers_is_a_transient_failure(tmp_path: Path) -> None:
    with socket.socket() as silent:
        silent.bind((LOOPBACK, 0))
        silent.listen()
        port = silent.getsockname()[1]
        conf = tmp_path / "control.conf"
        conf.write_text("remote-control:\n    control-use-cert: no\n")
        action = _action(tmp_path, response_unbound_control=f"{UNBOUND_CONTROL} -c {conf} -s {LOOPBACK}@{port}",
                         response_unbound_timeout_seconds=2)
        started = time.monotonic()
        with pytest.raises(ActionFailed) as failed:
            action.applied(Target("malware-c2.example"))
    assert failed.value.transient and "no answer within 2 s" in str(failed.value)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(("control", "answer"), [
    ("/nonexistent/unbound-control", "cannot run /nonexistent/unbound-control"),
    (f"{UNBOUND_CONTROL} -c /nonexistent/unbound.conf", "could not read config file"),
    ("unbound-control 'unbalanced", "response_unbound_control cannot be read"),
])
def test_a_broken_setup_is_a_lasting_failure_that_says_why(tmp_path: Path, control: str, answer: str) -> None:
    action = _action(tmp_path, response_unbound_control=control)
    with pytest.raises(ActionFailed) as failed:
        action.apply(Target("malware-c2.example"), None)
    assert not failed.value.transient
    assert answer in str(failed.value)


def test_an_unwritable_zones_file_fails_and_apply_can_be_retried(tmp_path: Path, resolver: Resolver) -> None:
    action = _action(tmp_path, resolver, response_unbound_zones_file=tmp_path / "missing-dir" / "sinkholes.conf")
    with pytest.raises(ActionFailed) as failed:
        action.apply(Target("malware-c2.example"), None)
    assert "cannot update the sinkholes file" in str(failed.value) and not failed.value.transient
    assert not action.applied(Target("malware-c2.example"))  # the engine will apply it again
    (tmp_path / "missing-dir").mkdir()
    action.apply(Target("malware-c2.example"), None)
    assert action.applied(Target("malware-c2.example"))


# --------------------------------------------------------------------------- what the dry run says


def test_describe_says_what_would_answer_and_until_when(tmp_path: Path) -> None:
    action = _action(tmp_path, response_unbound_control="unbound-control -s 10.0.0.53@8953")
    until = datetime(2026, 12, 7, 18, 30, tzinfo=UTC)
    described = action.describe(Target("Malware-C2.example"), until)
    text = described.message % described.params
    assert text == ("[sinkhole_domain] Sinkhole malware-c2.example and every name under it on Unbound "
                    "(unbound-control -s 10.0.0.53@8953): they answer 192.0.2.53, 2001:db8::53 until "
                    "2026-12-07T18:30+00:00, when Vigie removes the sinkhole.")
    nx = _action(tmp_path, response_unbound_sinkhole_a="", response_unbound_sinkhole_aaaa="")
    described = nx.describe(Target("malware-c2.example"), None)
    assert "NXDOMAIN" in described.message % described.params
