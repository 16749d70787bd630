"""``cert users …``: the accounts of the console (add, list, disable, enable, role, reset-password,
totp-reset, delete, unlock, sessions-purge); ``cert useradd`` is ``cert users add``. Actions are audited with the actor
``cli:<login name of the operator>``."""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from cert.accounts import clock, sessions, throttle, totp
from cert.accounts import users as accounts
from cert.accounts.access import ROLES, needs_organization
from cert.runtime.platform import Platform


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:80]
    except (KeyError, OSError):
        return "cli"


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("username")
    parser.add_argument("--role", choices=ROLES, default="analyst")
    parser.add_argument("--organization", metavar="ORG", default=None,
                        help="a focal point's organisation (an id of the constituency), a partner's CERT (its name)")
    parser.add_argument("--password", help="(prompted when absent)")
    parser.add_argument("--must-change-password", action="store_true",
                        help="the user sets a new password at the first login")


def register(sub: Any) -> None:
    us = sub.add_parser("useradd", help="create a user (same as: cert users add)")
    _add_arguments(us)
    us.set_defaults(func=cmd_add)

    users = sub.add_parser("users", help="console accounts: add, list, disable, enable, role, reset-password, "
                                         "totp-reset, delete, unlock, sessions-purge")
    usub = users.add_subparsers(dest="users_command", required=True)
    add = usub.add_parser("add", help="create a user")
    _add_arguments(add)
    add.set_defaults(func=cmd_add)
    usub.add_parser("list", help="list the accounts").set_defaults(func=cmd_list)
    for name, helptext, func in (
        ("disable", "disable an account (its sessions end at once)", cmd_disable),
        ("enable", "enable a disabled account", cmd_enable),
        ("reset-password", "set a random temporary password, to be changed at the next login", cmd_reset),
        ("totp-reset", "remove the second factor of an account (a lost device): it enrols again at the next "
                       "login if its role requires one", cmd_totp_reset),
        ("delete", "delete an account (the audit trail keeps its name)", cmd_delete),
        ("unlock", "lift the login delay or lock of an account name", cmd_unlock),
    ):
        sp = usub.add_parser(name, help=helptext)
        sp.add_argument("username")
        sp.set_defaults(func=func)
    role = usub.add_parser("role", help="change the role of an account (its sessions end at once)")
    role.add_argument("username")
    role.add_argument("role", choices=ROLES)
    role.add_argument("--organization", metavar="ORG", default=None,
                      help="the organisation of a focal point or partner (kept when absent); none for staff")
    role.set_defaults(func=cmd_role)
    usub.add_parser("sessions-purge", help="delete the rows of sessions ended or timed out more than "
                                           "session_retention_days ago (for cron)").set_defaults(func=cmd_purge)


def cmd_add(p: Platform, args: argparse.Namespace) -> int:
    password = args.password or getpass.getpass(f"Password for {args.username}: ")
    with p.db.session() as s:
        user = accounts.create_user(s, args.username, password, args.role, _actor(),
                                    min_length=p.settings.password_min_length,
                                    must_change_password=args.must_change_password,
                                    organization=args.organization, constituency=p.constituency)
        of = f" of {user.organization}" if user.organization else ""
    print(f"Created {args.role} {args.username}{of}")
    return 0


def cmd_list(p: Platform, args: argparse.Namespace) -> int:
    with p.db.session() as s:
        for u in accounts.list_users(s):
            state = "active" if u.active else "disabled"
            lock = throttle.locked(s, u.username)
            extra = " (password to change)" if u.must_change_password else ""
            extra += f" (login {'locked' if lock.locked else 'delayed'} until {lock.until:%Y-%m-%d %H:%M} UTC)" \
                if lock else ""
            print(f"{u.username:24s} {u.role:11s} {u.organization or '-':16s} {state}{extra}")
    return 0


def cmd_disable(p: Platform, args: argparse.Namespace) -> int:
    with p.db.session() as s:
        accounts.set_active(s, accounts.get_user(s, args.username), False, _actor())
    print(f"Disabled {args.username}; its sessions are ended")
    return 0


def cmd_enable(p: Platform, args: argparse.Namespace) -> int:
    with p.db.session() as s:
        accounts.set_active(s, accounts.get_user(s, args.username), True, _actor())
    print(f"Enabled {args.username}")
    return 0


def cmd_role(p: Platform, args: argparse.Namespace) -> int:
    with p.db.session() as s:
        user = accounts.get_user(s, args.username)
        organization = args.organization
        if organization is None and needs_organization(args.role):
            organization = user.organization
        accounts.set_role(s, user, args.role, _actor(), organization=organization, constituency=p.constituency)
        of = f" of {user.organization}" if user.organization else ""
    print(f"{args.username} is now {args.role}{of}; its sessions are ended")
    return 0


def cmd_reset(p: Platform, args: argparse.Namespace) -> int:
    with p.db.session() as s:
        temporary = accounts.reset_password(s, accounts.get_user(s, args.username), _actor())
    print(f"Temporary password of {args.username} (to be changed at the next login): {temporary}")
    return 0


def cmd_totp_reset(p: Platform, args: argparse.Namespace) -> int:
    with p.db.session() as s:
        removed = totp.admin_reset(s, accounts.get_user(s, args.username), _actor())
    print(f"Removed the second factor of {args.username}; a new one is set up at the next login if the role "
          "requires it" if removed else f"{args.username} has no second factor")
    return 0


def cmd_delete(p: Platform, args: argparse.Namespace) -> int:
    with p.db.session() as s:
        accounts.delete_user(s, accounts.get_user(s, args.username), _actor())
    print(f"Deleted {args.username}")
    return 0


def cmd_unlock(p: Platform, args: argparse.Namespace) -> int:
    with p.db.session() as s:
        lifted = throttle.unlock(s, args.username, _actor())
    print(f"Unlocked {args.username}" if lifted else f"{args.username} was neither delayed nor locked")
    return 0


def cmd_purge(p: Platform, args: argparse.Namespace) -> int:
    policy = sessions.SessionPolicy.from_settings(p.settings)
    if policy.retention is None:
        print("session_retention_days is 0: session rows are kept")
        return 0
    with p.db.session() as s:
        deleted = sessions.purge(s, clock.now(), policy)
    print(f"Deleted {deleted} session row(s) finished more than {p.settings.session_retention_days} days ago")
    return 0
