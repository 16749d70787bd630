"""Action ``disable_account``: disable an account in the constituency's directory, and re-enable it.

The directory is reached with ldap3 (``response_ldap_*`` settings; docs/response.md). The account
is looked up under ``response_ldap_users_base`` by ``response_ldap_user_attribute`` (the name is
escaped for the filter, so it never becomes filter syntax; a name holding control characters is
refused, since the directory's matching rules ignore them); no entry or several entries is a
refusal, never a guess. Then, by ``response_ldap_flavour``:

- ``openldap``: the ppolicy overlay's ``pwdAccountLockedTime`` is set to ``000001010000Z`` (locked
  for good: every bind of the account fails with invalidCredentials); re-enabling removes it;
- ``active-directory``: the ACCOUNTDISABLE bit (0x2) of ``userAccountControl`` is set, and cleared
  to re-enable, as a delete of the value read and an add of the new one in one modify, so that a
  change made meanwhile by someone else makes the modify fail instead of being overwritten.

The directory keeps no expiry: the engine re-enables the account when the countermeasure expires.
Accounts named in ``response_ldap_protected`` (by name or DN), and the service account itself, are
refused. The service account's password is never logged nor put in a message.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ldap3 import AUTO_BIND_NONE, MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPCommunicationError, LDAPException, LDAPResponseTimeoutError
from ldap3.utils.conv import escape_filter_chars

from cert.core.errors import N_
from cert.core.tlp import PAP
from cert.response.actions import Action, ActionFailed, Described, Target
from cert.response.playbooks import steps

FLAVOURS = ("openldap", "active-directory")
#: ppolicy's value of pwdAccountLockedTime for an account locked until an administrator unlocks it
LOCKED_FOR_GOOD = "000001010000Z"
LOCK_ATTRIBUTE = {"openldap": "pwdAccountLockedTime", "active-directory": "userAccountControl"}
#: the ACCOUNTDISABLE flag of Active Directory's userAccountControl
ACCOUNTDISABLE = 0x2
#: LDAP result codes: worth retrying (timeLimitExceeded, busy, unavailable)
TRANSIENT_CODES = frozenset({3, 51, 52})
SIZE_LIMIT_EXCEEDED, NO_SUCH_ATTRIBUTE, NO_SUCH_OBJECT = 4, 16, 32
ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}\Z")
SHOWN_LENGTH = 64


def uac_disabled(value: int) -> int:
    """``userAccountControl`` with the account disabled, its other flags kept."""
    return value | ACCOUNTDISABLE


def uac_enabled(value: int) -> int:
    """``userAccountControl`` with the account enabled, its other flags kept."""
    return value & ~ACCOUNTDISABLE


def uac_is_disabled(value: int) -> bool:
    return bool(value & ACCOUNTDISABLE)


def shown(name: str) -> str:
    """An account name for a message: control characters as ``\\xNN``, cut after 64 characters."""
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in name[:SHOWN_LENGTH])
    return text + ("…" if len(name) > SHOWN_LENGTH else "")


def _normal_dn(dn: str) -> str:
    return ",".join(part.strip() for part in dn.split(",")).casefold()


@dataclass(frozen=True)
class Directory:
    """The connector's settings, checked."""

    url: str
    bind_dn: str
    password: str
    base: str
    attribute: str
    starttls: bool
    ca_file: str | None
    flavour: str
    timeout: int
    protected: frozenset[str]

    @property
    def lock_attribute(self) -> str:
        return LOCK_ATTRIBUTE[self.flavour]


@dataclass(frozen=True)
class Entry:
    """The account's entry: its DN, its names (values of the user attribute), its lock attribute's values."""

    dn: str
    names: tuple[str, ...]
    lock: tuple[str, ...]


@steps.register
class DisableAccount(Action):
    name = "disable_account"
    target_type = "user"
    countermeasure = "disable-account"
    undo_label = "re-enable"
    touches_systems = True
    needs_pap = PAP.GREEN

    # ---- the contract

    def where(self) -> str:
        settings = self.ctx.platform.settings
        flavour = "Active Directory" if settings.response_ldap_flavour == "active-directory" else "OpenLDAP"
        return f"{flavour} {settings.response_ldap_url or '-'} ({settings.response_ldap_users_base or '-'})"

    def describe(self, target: Target, expires: datetime | None) -> Described:
        params: dict[str, Any] = {"step": self.name, "account": shown(target.value), "server": self.where()}
        ad = self.ctx.platform.settings.response_ldap_flavour == "active-directory"
        if expires is None:
            message = (N_("[%(step)s] Disable the account %(account)s in %(server)s (userAccountControl "
                          "ACCOUNTDISABLE), until a responder re-enables it.") if ad else
                       N_("[%(step)s] Lock the account %(account)s in %(server)s (ppolicy pwdAccountLockedTime), "
                          "until a responder re-enables it."))
            return Described(message, params)
        params["expires"] = expires.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        message = (N_("[%(step)s] Disable the account %(account)s in %(server)s (userAccountControl "
                      "ACCOUNTDISABLE); Vigie re-enables it at %(expires)s.") if ad else
                   N_("[%(step)s] Lock the account %(account)s in %(server)s (ppolicy pwdAccountLockedTime); "
                      "Vigie re-enables it at %(expires)s."))
        return Described(message, params)

    def applied(self, target: Target) -> bool:
        directory = self._directory()
        with self._connection(directory) as conn:
            return self._locked(directory, self._find(conn, directory, target.value))

    def apply(self, target: Target, expires: datetime | None) -> None:
        directory = self._directory()
        self._refuse_protected(directory, target.value, None)
        with self._connection(directory) as conn:
            entry = self._find(conn, directory, target.value)
            self._refuse_protected(directory, target.value, entry)
            if self._locked(directory, entry):
                return
            if directory.flavour == "openldap":
                self._modify(conn, directory, entry, {directory.lock_attribute: [(MODIFY_REPLACE, [LOCKED_FOR_GOOD])]})
            else:
                current = self._uac(directory, entry)
                self._modify(conn, directory, entry, {directory.lock_attribute: [
                    (MODIFY_DELETE, [str(current)]), (MODIFY_ADD, [str(uac_disabled(current))])]})

    def revert(self, target: Target) -> None:
        directory = self._directory()
        with self._connection(directory) as conn:
            entry = self._find(conn, directory, target.value)
            if not self._locked(directory, entry):
                return
            if directory.flavour == "openldap":
                self._modify(conn, directory, entry, {directory.lock_attribute: [(MODIFY_DELETE, [LOCKED_FOR_GOOD])]},
                             gone_is_done=True)
            else:
                current = self._uac(directory, entry)
                self._modify(conn, directory, entry, {directory.lock_attribute: [
                    (MODIFY_DELETE, [str(current)]), (MODIFY_ADD, [str(uac_enabled(current))])]})

    # ---- the directory

    def _directory(self) -> Directory:
        s = self.ctx.platform.settings
        if not s.response_ldap_url or not s.response_ldap_users_base:
            raise ActionFailed(N_("[%(step)s] no directory is configured (response_ldap_url and "
                                  "response_ldap_users_base)."), step=self.name)
        if not s.response_ldap_url.lower().startswith(("ldap://", "ldaps://")):
            raise ActionFailed(N_("[%(step)s] response_ldap_url must start with ldap:// or ldaps://."),
                               step=self.name)
        if not s.response_ldap_bind_dn or not s.response_ldap_password:
            raise ActionFailed(N_("[%(step)s] the directory's service account is not configured "
                                  "(response_ldap_bind_dn and response_ldap_password)."), step=self.name)
        if s.response_ldap_flavour not in FLAVOURS:
            raise ActionFailed(N_("[%(step)s] unknown directory flavour %(flavour)s (expected %(expected)s)."),
                               step=self.name, flavour=s.response_ldap_flavour[:40], expected=", ".join(FLAVOURS))
        if not ATTRIBUTE_NAME.match(s.response_ldap_user_attribute):
            raise ActionFailed(N_("[%(step)s] response_ldap_user_attribute is not an attribute name: %(attribute)s."),
                               step=self.name, attribute=shown(s.response_ldap_user_attribute))
        protected = frozenset(p.strip().casefold() for p in s.response_ldap_protected if p.strip())
        return Directory(s.response_ldap_url, s.response_ldap_bind_dn, s.response_ldap_password,
                         s.response_ldap_users_base, s.response_ldap_user_attribute, s.response_ldap_starttls,
                         str(s.response_ldap_ca_file) if s.response_ldap_ca_file else None,
                         s.response_ldap_flavour, max(1, s.response_ldap_timeout_seconds), protected)

    @contextmanager
    def _connection(self, directory: Directory) -> Iterator[Connection]:
        """A connection bound as the service account; LDAP errors become ``ActionFailed``."""
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=directory.ca_file)
        server = Server(directory.url, get_info=NONE, tls=tls, connect_timeout=directory.timeout)
        conn = Connection(server, user=directory.bind_dn, password=directory.password, auto_bind=AUTO_BIND_NONE,
                          auto_referrals=False, raise_exceptions=False, receive_timeout=directory.timeout)
        try:
            conn.open(read_server_info=False)
            if directory.starttls and not server.ssl and not conn.start_tls(read_server_info=False):
                raise self._failure(N_("[%(step)s] the directory %(server)s refused StartTLS: %(error)s"),
                                    directory, conn)
            if not conn.bind(read_server_info=False):
                raise self._failure(N_("[%(step)s] the directory %(server)s refused the service account "
                                       "%(account)s: %(error)s"), directory, conn, account=directory.bind_dn)
            yield conn
        except (LDAPCommunicationError, LDAPResponseTimeoutError) as exc:
            raise ActionFailed(N_("[%(step)s] the directory %(server)s cannot be reached: %(error)s"),
                               transient=True, step=self.name, server=directory.url,
                               error=self._scrub(directory, f"{type(exc).__name__}: {exc}")) from None
        except LDAPException as exc:
            raise ActionFailed(N_("[%(step)s] the directory %(server)s failed: %(error)s"), step=self.name,
                               server=directory.url,
                               error=self._scrub(directory, f"{type(exc).__name__}: {exc}")) from None
        finally:
            with suppress(LDAPException, OSError):
                conn.unbind()

    def _find(self, conn: Connection, directory: Directory, account: str) -> Entry:
        """The one entry whose user attribute equals ``account`` (escaped: never filter syntax)."""
        if not account.strip():
            raise self._not_found(directory, account)
        if not account.isprintable():  # the directory's matching would ignore a newline: "alice\n" is alice
            raise ActionFailed(N_("[%(step)s] %(account)s is not an account name: it holds control characters."),
                               step=self.name, account=shown(account))
        search_filter = f"({directory.attribute}={escape_filter_chars(account)})"
        conn.search(directory.base, search_filter, SUBTREE, attributes=[directory.attribute, directory.lock_attribute],
                    size_limit=2)
        code = self._code(conn)
        entries = [r for r in conn.response or () if r.get("type") == "searchResEntry"]
        if code == SIZE_LIMIT_EXCEEDED or len(entries) > 1:
            raise ActionFailed(N_("[%(step)s] several entries of %(server)s match the account %(account)s: "
                                  "none was changed."), step=self.name, server=directory.url, account=shown(account))
        if code == NO_SUCH_OBJECT:
            raise ActionFailed(N_("[%(step)s] the base %(base)s does not exist in %(server)s, or the service "
                                  "account may not read it."), step=self.name,
                               base=directory.base, server=directory.url)
        if code != 0:
            raise self._failure(N_("[%(step)s] the directory %(server)s refused the search for %(account)s: "
                                   "%(error)s"), directory, conn, account=shown(account))
        if not entries:
            raise self._not_found(directory, account)
        attributes: dict[str, Any] = entries[0].get("attributes") or {}
        return Entry(str(entries[0]["dn"]), _values(attributes, directory.attribute),
                     _values(attributes, directory.lock_attribute))

    def _locked(self, directory: Directory, entry: Entry) -> bool:
        if directory.flavour == "openldap":
            return LOCKED_FOR_GOOD in entry.lock
        return uac_is_disabled(self._uac(directory, entry))

    def _uac(self, directory: Directory, entry: Entry) -> int:
        try:
            return int(entry.lock[0])
        except (IndexError, ValueError):
            raise ActionFailed(N_("[%(step)s] %(dn)s in %(server)s has no userAccountControl: it is not an "
                                  "account."), step=self.name, dn=entry.dn, server=directory.url) from None

    def _modify(self, conn: Connection, directory: Directory, entry: Entry, changes: dict[str, Any], *,
                gone_is_done: bool = False) -> None:
        if conn.modify(entry.dn, changes):
            return
        code = self._code(conn)
        if code == NO_SUCH_ATTRIBUTE and gone_is_done:
            return  # removed meanwhile: the account is re-enabled already
        # Active Directory: the value read was changed meanwhile (its delete failed); a retry reads it again
        raced = code == NO_SUCH_ATTRIBUTE and directory.flavour == "active-directory"
        raise self._failure(N_("[%(step)s] the directory %(server)s refused to change %(dn)s: %(error)s"),
                            directory, conn, transient=raced, dn=entry.dn)

    def _refuse_protected(self, directory: Directory, account: str, entry: Entry | None) -> None:
        """Refuse a protected account: by the name asked, and once found by its entry's names and DN
        (a name the directory matches loosely, "Admin " for "admin", is caught there), and the
        service account itself."""
        protected = {_normal_dn(p) if "=" in p else p for p in directory.protected}
        names = {account.strip().casefold()}
        if entry is not None:
            names |= {n.strip().casefold() for n in entry.names} | {_normal_dn(entry.dn)}
            protected.add(_normal_dn(directory.bind_dn))
        if names & protected:
            raise ActionFailed(N_("[%(step)s] the account %(account)s is protected: it is never disabled."),
                               step=self.name, account=shown(account))

    # ---- failures

    @staticmethod
    def _code(conn: Connection) -> int:
        return int((conn.result or {}).get("result", -1))

    def _failure(self, message: str, directory: Directory, conn: Connection, *, transient: bool = False,
                 **params: object) -> ActionFailed:
        result = conn.result or {}
        said = " ".join(str(result.get(k) or "") for k in ("description", "message")).strip() or "no answer"
        return ActionFailed(message, transient=transient or self._code(conn) in TRANSIENT_CODES, step=self.name,
                            server=directory.url, error=self._scrub(directory, said), **params)

    def _not_found(self, directory: Directory, account: str) -> ActionFailed:
        return ActionFailed(N_("[%(step)s] no account %(account)s under %(base)s in %(server)s."), step=self.name,
                            account=shown(account), base=directory.base, server=directory.url)

    @staticmethod
    def _scrub(directory: Directory, text: str) -> str:
        return text.replace(directory.password, "***") if directory.password else text


def _values(attributes: dict[str, Any], name: str) -> tuple[str, ...]:
    """An attribute's values as strings, whatever the case of its name in the answer."""
    for key, value in attributes.items():
        if key.casefold() == name.casefold():
            return tuple(str(v) for v in value) if isinstance(value, list | tuple) else (str(value),)
    return ()
