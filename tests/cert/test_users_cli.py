"""``cert users totp-reset``: an operator removes the second factor of a user who lost the device,
audited like the console's reset; an unknown name is an error (exit 2)."""

from __future__ import annotations

import time

import pyotp
import pytest
from sqlalchemy import select

from cert.accounts import totp
from cert.accounts.users import create_user
from cert.cli import main
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry, User

BOX = totp.SecretBox("test-secret-key")


def test_totp_reset_removes_the_second_factor(platform: Platform, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--data-dir", str(platform.settings.data_dir)]
    with platform.db.session() as s:
        user = create_user(s, "moussa", "correct horse battery", "responder")
        uid = user.id
        secret = totp.start_enrolment(s, user, BOX).secret
    with platform.db.session() as s:
        user = s.get(User, uid)
        assert user is not None
        codes = totp.confirm_enrolment(s, user, BOX, pyotp.TOTP(secret).at(time.time() - 30))
        assert codes is not None and totp.is_enrolled(s, user)
    capsys.readouterr()

    assert main([*base, "users", "totp-reset", "moussa"]) == 0
    assert "Removed the second factor of moussa" in capsys.readouterr().out
    with platform.db.session() as s:
        user = s.get(User, uid)
        assert user is not None
        state = totp.status(s, user)
        assert not state.enrolled and not state.pending and state.recovery_codes_left == 0
        assert totp.verify(s, user, BOX, codes[0]) is None  # the recovery codes went with it
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "totp.reset"))
        assert entry is not None and entry.actor.startswith("cli")
        assert entry.object_id == str(uid) and entry.details["username"] == "moussa"

    assert main([*base, "users", "totp-reset", "moussa"]) == 0  # nothing left to remove: said so
    assert "moussa has no second factor" in capsys.readouterr().out
    assert main([*base, "users", "totp-reset", "nobody"]) == 2
    assert "No user named nobody" in capsys.readouterr().err
