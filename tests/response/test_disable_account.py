"""The ``disable_account`` action against a real OpenLDAP: a private slapd (mdb database and the
ppolicy overlay, configured with slapadd in a temp dir) on 127.0.0.1, driven through ldap3 as an
unprivileged service account whose rights are the ACL of docs/response.md. The effect is proved
by the users' own binds."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ldap3 import MODIFY_DELETE, MODIFY_REPLACE, NONE, SUBTREE, Connection, Server
from servers import LOOPBACK, ServerUnavailable, find_free_port
from servers import Server as RunningServer

from cert.core.config import Settings, load_settings
from cert.response.actions import ActionFailed, Target
from cert.response.playbooks import StepContext, steps
from cert.runtime.platform import Platform
from cert.storage.models import Case
from playbooks.steps.disable_account import (
    LOCKED_FOR_GOOD,
    DisableAccount,
    uac_disabled,
    uac_enabled,
    uac_is_disabled,
)

SUFFIX = "dc=ministere,dc=example"
PEOPLE = f"ou=people,{SUFFIX}"
ROOT_DN, ROOT_PW = f"cn=admin,{SUFFIX}", "Root-Directory-pw-1"
SERVICE_DN, SERVICE_PW = f"cn=vigie,ou=services,{SUFFIX}", "Svc-Vigie-s3cret!pw"
PASSWORDS = {"alice": "Alice-pw-2026", "bob": "Bob-pw-2026", "carol": "Carol-pw-2026"}
SBIN = ["/usr/sbin", "/usr/bin", "/usr/local/sbin"]


def _tool(name: str) -> str:
    for found in [shutil.which(name)] + [f"{d}/{name}" for d in SBIN]:
        if found and Path(found).is_file():
            return found
    raise ServerUnavailable(f"{name} not found (install Debian's slapd package)")


def _hash(password: str) -> str:
    out = subprocess.run([_tool("slappasswd"), "-s", password], capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip()


def _module_dir() -> str:
    for directory in ("/usr/lib/ldap", "/usr/lib/x86_64-linux-gnu/ldap", "/usr/lib/openldap"):
        if list(Path(directory).glob("ppolicy*.so*")) and list(Path(directory).glob("back_mdb*.so*")):
            return directory
    raise ServerUnavailable("OpenLDAP's ppolicy and back_mdb modules not found (install Debian's slapd package)")


def _certificates(workdir: Path) -> str:
    """A CA and a certificate for 127.0.0.1 signed by it (openssl), in ``workdir``; cn=config's TLS lines."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ServerUnavailable("openssl not found (install Debian's openssl package)")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=workdir, capture_output=True, timeout=60, check=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Vigie test CA")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={LOOPBACK}")
    (workdir / "san.ext").write_text(f"subjectAltName=IP:{LOOPBACK}\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "san.ext")
    return (f"olcTLSCACertificateFile: {workdir}/ca.pem\nolcTLSCertificateFile: {workdir}/server.pem\n"
            f"olcTLSCertificateKeyFile: {workdir}/server.key\n")


def _config_ldif(workdir: Path, tls: bool) -> str:
    """cn=config: the mdb database, its ACL (the service account's rights of docs/response.md), ppolicy."""
    schema = "\n".join(f"include: file:///etc/ldap/schema/{s}.ldif" for s in ("core", "cosine", "inetorgperson"))
    tls_lines = _certificates(workdir) if tls else ""
    return f"""dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {workdir}/slapd.pid
{tls_lines}
dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {_module_dir()}
olcModuleLoad: back_mdb
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schema}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {workdir}/db
olcDbMaxSize: 16777216
olcSuffix: {SUFFIX}
olcRootDN: {ROOT_DN}
olcRootPW: {_hash(ROOT_PW)}
olcAccess: {{0}}to dn.subtree="{PEOPLE}" attrs=pwdAccountLockedTime by dn.exact="{SERVICE_DN}" write by * break
olcAccess: {{1}}to dn.subtree="{PEOPLE}" attrs=entry,uid,sn by dn.exact="{SERVICE_DN}" read by * break
olcAccess: {{2}}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {{3}}to * by self read by * none

dn: olcOverlay={{0}}ppolicy,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {{0}}ppolicy
olcPPolicyDefault: cn=default,ou=policies,{SUFFIX}
"""


def _data_ldif() -> str:
    people = "\n".join(f"""dn: uid={uid},{PEOPLE}
objectClass: inetOrgPerson
uid: {uid}
cn: {uid.title()}
sn: {"Martin" if uid != "carol" else "Durand"}
userPassword: {_hash(pw)}
""" for uid, pw in PASSWORDS.items())
    return f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: ministere
o: Ministere

dn: ou=policies,{SUFFIX}
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,{SUFFIX}
objectClass: device
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdLockout: TRUE

dn: ou=services,{SUFFIX}
objectClass: organizationalUnit
ou: services

dn: {SERVICE_DN}
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: vigie
userPassword: {_hash(SERVICE_PW)}

dn: {PEOPLE}
objectClass: organizationalUnit
ou: people

{people}"""


def _answers(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1.0):
            return True
    except OSError:
        return False


def start_slapd(workdir: Path, *, tls: bool = False) -> RunningServer:
    """slapd on a free loopback port, its cn=config and database in ``workdir`` (built with slapadd);
    with ``tls``, StartTLS with a certificate for 127.0.0.1 signed by ``workdir/ca.pem``."""
    slapd, slapadd = _tool("slapd"), _tool("slapadd")
    (workdir / "config").mkdir()
    (workdir / "db").mkdir()
    for number, text in (("0", _config_ldif(workdir, tls)), ("1", _data_ldif())):
        ldif = workdir / f"db{number}.ldif"
        ldif.write_text(text)
        added = subprocess.run([slapadd, "-n", number, "-F", str(workdir / "config"), "-l", str(ldif)],
                               capture_output=True, text=True, timeout=60)
        if added.returncode != 0:
            raise RuntimeError(f"slapadd -n{number} failed: {added.stderr[-2000:]}")
    last = ""
    for _attempt in range(3):
        port = find_free_port()
        log_path = workdir / f"slapd-{port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([slapd, "-d", "0", "-h", f"ldap://{LOOPBACK}:{port}/", "-F",
                                     str(workdir / "config")], stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT)
        server = RunningServer("slapd", f"ldap://{LOOPBACK}:{port}", proc.pid, port, workdir, signal.SIGTERM,
                               log_path, proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if _answers(port):
                return server
            time.sleep(0.05)
        last = server.log()
        server.stop()
    raise RuntimeError(f"slapd did not start: {last}")


@pytest.fixture(scope="module")
def slapd() -> Iterator[RunningServer]:
    workdir = Path(tempfile.mkdtemp(prefix="vigie-slapd-"))
    try:
        server = start_slapd(workdir)
    except ServerUnavailable as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(exc.reason)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _connect(url: str, dn: str, password: str) -> Connection:
    conn = Connection(Server(url, get_info=NONE, connect_timeout=5), user=dn, password=password, receive_timeout=5)
    conn.open()
    return conn


def binds(slapd: RunningServer, uid: str) -> bool:
    """Whether the user's own bind succeeds."""
    conn = _connect(slapd.url, f"uid={uid},{PEOPLE}", PASSWORDS[uid])
    try:
        return conn.bind()
    finally:
        conn.unbind()


def snapshot(slapd: RunningServer) -> dict[str, dict[str, Any]]:
    """Every person's lock and entryCSN (which every change to the entry moves), read as the rootdn."""
    conn = _connect(slapd.url, ROOT_DN, ROOT_PW)
    try:
        assert conn.bind()
        conn.search(PEOPLE, "(objectClass=inetOrgPerson)", SUBTREE, attributes=["pwdAccountLockedTime", "entryCSN"])
        return {r["dn"]: dict(r["attributes"]) for r in conn.response or [] if r["type"] == "searchResEntry"}
    finally:
        conn.unbind()


@pytest.fixture
def unlocked(slapd: RunningServer) -> Iterator[RunningServer]:
    """The directory with no account locked, before and after the test."""

    def unlock_all() -> None:
        conn = _connect(slapd.url, ROOT_DN, ROOT_PW)
        try:
            assert conn.bind()
            for dn, attrs in snapshot(slapd).items():
                if attrs["pwdAccountLockedTime"]:
                    assert conn.modify(dn, {"pwdAccountLockedTime": [(MODIFY_DELETE, [])]}), conn.result
        finally:
            conn.unbind()

    unlock_all()
    yield slapd
    unlock_all()


@pytest.fixture
def case_ctx(settings: Settings) -> Iterator[tuple[Platform, Any, Case]]:
    platform = Platform(settings)
    platform.db.upgrade()
    with platform.db.session() as s:
        case = Case(title="Compte compromis", created_by="responder1")
        s.add(case)
        s.flush()
        yield platform, s, case
    platform.close()


def action(case_ctx: tuple[Platform, Any, Case], url: str, **overrides: Any) -> DisableAccount:
    platform, session, case = case_ctx
    values: dict[str, Any] = {"response_ldap_url": url, "response_ldap_bind_dn": SERVICE_DN,
                              "response_ldap_password": SERVICE_PW, "response_ldap_users_base": PEOPLE,
                              "response_ldap_timeout_seconds": 5}
    platform.settings = replace(platform.settings, **{**values, **overrides})
    return DisableAccount(StepContext(platform, session, case, "responder1", {}))


# ---------------------------------------------------------------- OpenLDAP, for real


@pytest.mark.ldap
def test_disable_then_reenable_proved_by_binds(unlocked: RunningServer, case_ctx: Any) -> None:
    act = action(case_ctx, unlocked.url)
    alice = Target("alice")
    assert binds(unlocked, "alice") and binds(unlocked, "bob")
    assert act.applied(alice) is False

    act.apply(alice, None)
    assert not binds(unlocked, "alice")
    assert binds(unlocked, "bob")
    assert act.applied(alice) is True
    assert act.applied(Target("bob")) is False
    after_first = snapshot(unlocked)
    assert after_first[f"uid=alice,{PEOPLE}"]["pwdAccountLockedTime"] == [LOCKED_FOR_GOOD]

    act.apply(alice, None)  # a second run changes nothing: the entry is not even written
    assert snapshot(unlocked) == after_first
    assert not binds(unlocked, "alice")

    act.revert(alice)
    assert binds(unlocked, "alice")
    assert act.applied(alice) is False
    assert snapshot(unlocked)[f"uid=alice,{PEOPLE}"]["pwdAccountLockedTime"] == []
    before_noop = snapshot(unlocked)
    act.revert(alice)  # nothing to undo
    assert snapshot(unlocked) == before_noop
    assert binds(unlocked, "alice") and binds(unlocked, "bob")


@pytest.mark.ldap
def test_lock_left_by_failed_logins_is_made_permanent_and_not_reverted_when_not_ours(
        unlocked: RunningServer, case_ctx: Any) -> None:
    act = action(case_ctx, unlocked.url)
    conn = _connect(unlocked.url, ROOT_DN, ROOT_PW)
    assert conn.bind()
    lockout = "20260101000000Z"  # what ppolicy writes after too many failures
    assert conn.modify(f"uid=carol,{PEOPLE}", {"pwdAccountLockedTime": [(MODIFY_REPLACE, [lockout])]})
    conn.unbind()
    assert act.applied(Target("carol")) is False
    act.revert(Target("carol"))
    assert snapshot(unlocked)[f"uid=carol,{PEOPLE}"]["pwdAccountLockedTime"] == [lockout]
    act.apply(Target("carol"), None)
    assert snapshot(unlocked)[f"uid=carol,{PEOPLE}"]["pwdAccountLockedTime"] == [LOCKED_FOR_GOOD]
    assert act.applied(Target("carol")) is True


@pytest.mark.ldap
@pytest.mark.parametrize("name", ["*", "alice)(uid=*", "a\x00b", "al*", "*)(|(uid=*", "alice\\2a", "a" * 5000,
                                  "alice\n", "(uid=alice)", "  "])
def test_hostile_names_match_no_entry_and_change_nothing(unlocked: RunningServer, case_ctx: Any, name: str) -> None:
    act = action(case_ctx, unlocked.url)
    before = snapshot(unlocked)
    for attempt in (lambda: act.apply(Target(name), None), lambda: act.applied(Target(name)),
                    lambda: act.revert(Target(name))):
        with pytest.raises(ActionFailed) as failure:
            attempt()
        assert failure.value.transient is False
        said = failure.value.message_id
        assert said.startswith("[%(step)s] no account") or (said.endswith("holds control characters.")
                                                            and not name.isprintable())
        assert len(str(failure.value)) < 400
    assert snapshot(unlocked) == before
    assert all(binds(unlocked, uid) for uid in PASSWORDS)


@pytest.mark.ldap
def test_unknown_account_is_named_in_the_refusal(unlocked: RunningServer, case_ctx: Any) -> None:
    with pytest.raises(ActionFailed) as failure:
        action(case_ctx, unlocked.url).apply(Target("mallory"), None)
    assert not failure.value.transient
    assert "mallory" in str(failure.value) and PEOPLE in str(failure.value)


@pytest.mark.ldap
def test_several_matching_entries_are_refused_without_a_guess(unlocked: RunningServer, case_ctx: Any) -> None:
    act = action(case_ctx, unlocked.url, response_ldap_user_attribute="sn")  # alice and bob are both Martin
    before = snapshot(unlocked)
    with pytest.raises(ActionFailed) as failure:
        act.apply(Target("Martin"), None)
    assert "several entries" in str(failure.value) and not failure.value.transient
    assert snapshot(unlocked) == before
    act.apply(Target("Durand"), None)  # one entry: carol
    assert not binds(unlocked, "carol") and binds(unlocked, "alice")


@pytest.mark.ldap
@pytest.mark.parametrize(("target", "protected"), [("bob", ("bob",)), ("BOB ", ("bob",)),
                                               ("bob", (f"UID=bob, {PEOPLE}",)), ("vigie", ())])
def test_protected_accounts_and_the_service_account_are_refused(unlocked: RunningServer, case_ctx: Any,
                                                                 target: str, protected: tuple[str, ...]) -> None:
    base = SERVICE_DN if target == "vigie" else PEOPLE  # the service account reads its own entry only
    attribute = "cn" if target == "vigie" else "uid"
    act = action(case_ctx, unlocked.url, response_ldap_protected=protected, response_ldap_users_base=base,
                 response_ldap_user_attribute=attribute)
    before = snapshot(unlocked)
    with pytest.raises(ActionFailed) as failure:
        act.apply(Target(target), None)
    assert "protected" in str(failure.value)
    assert snapshot(unlocked) == before
    assert binds(unlocked, "bob")
    if target == "vigie":
        return
    act.apply(Target("alice"), None)  # the others are not protected
    assert not binds(unlocked, "alice")


@pytest.mark.ldap
def test_wrong_service_password_fails_without_showing_it(unlocked: RunningServer, case_ctx: Any) -> None:
    wrong = "Wr0ng-Service-Passw0rd"
    act = action(case_ctx, unlocked.url, response_ldap_password=wrong)
    with pytest.raises(ActionFailed) as failure:
        act.apply(Target("alice"), None)
    exc = failure.value
    assert not exc.transient
    assert "invalidCredentials" in str(exc) and SERVICE_DN in str(exc)
    assert wrong not in str(exc) and wrong not in repr(exc.params) and wrong not in repr(exc.args)
    assert binds(unlocked, "alice")


@pytest.mark.ldap
def test_starttls_checks_the_directory_certificate(tmp_path: Path, case_ctx: Any) -> None:
    try:
        server = start_slapd(tmp_path, tls=True)
    except ServerUnavailable as exc:
        pytest.skip(exc.reason)
    try:
        act = action(case_ctx, server.url, response_ldap_starttls=True, response_ldap_ca_file=tmp_path / "ca.pem")
        act.apply(Target("alice"), None)
        assert act.applied(Target("alice")) and not binds(server, "alice")
        act.revert(Target("alice"))
        assert binds(server, "alice")
        untrusted = action(case_ctx, server.url, response_ldap_starttls=True, response_ldap_ca_file=None)
        with pytest.raises(ActionFailed) as failure:  # the test CA is not among the system's
            untrusted.apply(Target("alice"), None)
        assert not failure.value.transient and SERVICE_PW not in str(failure.value)
        assert "CERTIFICATE_VERIFY_FAILED" in str(failure.value)
        assert binds(server, "alice")
    finally:
        server.stop()


def test_password_comes_from_the_environment_and_is_redacted() -> None:
    settings = load_settings(env={"CERT_RESPONSE_LDAP_PASSWORD": "from-the-env-pw", "CERT_RESPONSE_LDAP_STARTTLS": "1",
                                  "CERT_RESPONSE_LDAP_PROTECTED": "admin, svc-backup"})
    assert settings.response_ldap_password == "from-the-env-pw"
    assert settings.response_ldap_starttls is True
    assert settings.response_ldap_protected == ("admin", "svc-backup")
    assert "from-the-env-pw" not in repr(settings.redacted())


@pytest.mark.ldap
def test_directory_down_is_a_transient_failure(tmp_path: Path, case_ctx: Any) -> None:
    try:
        server = start_slapd(tmp_path)
    except ServerUnavailable as exc:
        pytest.skip(exc.reason)
    act = action(case_ctx, server.url)
    assert act.applied(Target("alice")) is False
    server.stop()
    assert not server.running
    for attempt in (lambda: act.apply(Target("alice"), None), lambda: act.applied(Target("alice")),
                    lambda: act.revert(Target("alice"))):
        with pytest.raises(ActionFailed) as failure:
            attempt()
        assert failure.value.transient is True
        assert "cannot be reached" in str(failure.value) and server.url in str(failure.value)
        assert SERVICE_PW not in str(failure.value)


def test_directory_that_never_answers_times_out_as_transient(case_ctx: Any) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind((LOOPBACK, 0))
        silent.listen(4)
        act = action(case_ctx, f"ldap://{LOOPBACK}:{silent.getsockname()[1]}", response_ldap_timeout_seconds=1)
        started = time.monotonic()
        with pytest.raises(ActionFailed) as failure:
            act.apply(Target("alice"), None)
    assert failure.value.transient is True
    assert time.monotonic() - started < 10


# ---------------------------------------------------------------- the step, without a directory


def test_registered_as_an_action_on_accounts() -> None:
    cls = steps.get("disable_account")
    assert cls is DisableAccount
    assert (cls.target_type, cls.countermeasure, cls.undo_label) == ("user", "disable-account", "re-enable")


def test_describe_for_the_dry_run_needs_no_directory(case_ctx: Any) -> None:
    act = action(case_ctx, "ldaps://dc1.ministere.example")
    told = act.describe(Target("alice"), datetime(2026, 12, 7, 9, 30, tzinfo=UTC))
    assert told.params["account"] == "alice" and told.params["expires"] == "2026-12-07 09:30 UTC"
    assert "pwdAccountLockedTime" in told.message and "ldaps://dc1.ministere.example" in told.params["server"]
    ad = action(case_ctx, "ldaps://dc1.ministere.example", response_ldap_flavour="active-directory")
    assert "userAccountControl" in ad.describe(Target("alice"), None).message
    assert SERVICE_PW not in repr(told.params) and SERVICE_PW not in ad.where()


def test_unconfigured_or_misconfigured_directory_is_refused(case_ctx: Any) -> None:
    for overrides in ({"response_ldap_url": ""}, {"response_ldap_password": ""},
                      {"response_ldap_url": "http://127.0.0.1:1"}, {"response_ldap_flavour": "novell"},
                      {"response_ldap_user_attribute": "uid=*)(x"}):
        with pytest.raises(ActionFailed) as failure:
            action(case_ctx, "ldap://127.0.0.1:1", **overrides).apply(Target("alice"), None)
        assert not failure.value.transient


# ---------------------------------------------------------------- Active Directory: the bit logic only (no AD here)


def test_active_directory_accountdisable_bit() -> None:
    normal, dont_expire = 0x200, 0x10000
    assert uac_disabled(normal) == 0x202 and uac_is_disabled(0x202)
    assert uac_enabled(0x202) == normal and not uac_is_disabled(normal)
    assert uac_disabled(normal | dont_expire) == normal | dont_expire | 0x2  # other flags kept
    assert uac_enabled(normal | dont_expire | 0x2) == normal | dont_expire
    assert uac_disabled(uac_disabled(normal)) == uac_disabled(normal)  # idempotent
    assert uac_enabled(normal) == normal
