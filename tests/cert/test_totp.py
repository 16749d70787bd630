"""The second-factor service: real TOTP codes (pyotp) at the current and neighbouring time steps,
no replay, single-use recovery codes, the secret kept encrypted, the per-role requirement."""

from __future__ import annotations

import time
from dataclasses import replace

import pyotp
import pytest
from sqlalchemy import select

from cert.accounts import totp
from cert.accounts.users import create_user
from cert.core.config import Settings, load_settings
from cert.core.errors import Conflict, InvalidInput
from cert.runtime.platform import Platform
from cert.storage.models import AuditEntry, User, UserTotp

BOX = totp.SecretBox("test-secret-key")
STEP = 30


def new_user(platform: Platform, name: str = "alice", role: str = "responder") -> int:
    with platform.db.session() as s:
        return create_user(s, name, "correct horse battery", role).id


def enrol(platform: Platform, user_id: int, now: float) -> tuple[str, list[str]]:
    """Enrol with a code of ``now``; the secret and the recovery codes."""
    with platform.db.session() as s:
        user = s.get(User, user_id)
        assert user is not None
        secret = totp.start_enrolment(s, user, BOX).secret
    with platform.db.session() as s:
        user = s.get(User, user_id)
        assert user is not None
        codes = totp.confirm_enrolment(s, user, BOX, pyotp.TOTP(secret).at(now), now=now)
    assert codes is not None
    return secret, codes


def verify(platform: Platform, user_id: int, code: str, now: float | None = None) -> totp.Outcome | None:
    with platform.db.session() as s:
        user = s.get(User, user_id)
        assert user is not None
        return totp.verify(s, user, BOX, code, "192.0.2.1", now=now)


def actions(platform: Platform) -> list[str]:
    """The audit trail's actions, less the account's creation and the contact database's seeding."""
    with platform.db.session() as s:
        return [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))
                if e.action not in ("user.create", "constituency.seed")]


def test_current_code_is_accepted_once_and_never_again(platform: Platform) -> None:
    uid = new_user(platform)
    now = time.time()
    secret, _ = enrol(platform, uid, now - STEP)  # enrolled with the previous step's code
    code = pyotp.TOTP(secret).now()
    assert verify(platform, uid, code) == "totp"
    assert verify(platform, uid, code) is None  # replay refused
    assert actions(platform)[-1] == "login.failed"


def test_neighbouring_steps_are_accepted_farther_ones_are_not(platform: Platform) -> None:
    uid = new_user(platform)
    t0 = 1_900_000_000.0
    secret, _ = enrol(platform, uid, t0 - 10 * STEP)
    otp = pyotp.TOTP(secret)
    assert verify(platform, uid, otp.at(t0 - 3 * STEP), now=t0) is None  # too old
    assert verify(platform, uid, otp.at(t0 + 2 * STEP), now=t0) is None  # too far ahead
    assert verify(platform, uid, otp.at(t0 - STEP), now=t0) == "totp"  # a slow clock
    assert verify(platform, uid, otp.at(t0 + STEP), now=t0) == "totp"  # a fast clock
    # the step just used is now the last one: the current step is older, so it is refused too
    assert verify(platform, uid, otp.at(t0), now=t0) is None
    assert verify(platform, uid, otp.at(t0 + 2 * STEP), now=t0 + STEP) == "totp"


def test_wrong_and_malformed_codes_are_refused(platform: Platform) -> None:
    uid = new_user(platform)
    now = time.time()
    secret, _ = enrol(platform, uid, now - STEP)
    good = pyotp.TOTP(secret).now()
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for code in (wrong, "", "12345", "abcdef", "1" * 500, "' OR 1=1 --"):
        assert verify(platform, uid, code) is None
    assert verify(platform, uid, f" {good[:3]} {good[3:]} ") == "totp"  # spaces are allowed


def test_recovery_codes_are_single_use(platform: Platform) -> None:
    uid = new_user(platform)
    _, codes = enrol(platform, uid, time.time())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert verify(platform, uid, codes[3]) == "recovery"
    assert verify(platform, uid, codes[3]) is None
    assert verify(platform, uid, codes[4].upper().replace("-", " ")) == "recovery"
    with platform.db.session() as s:
        user = s.get(User, uid)
        assert user is not None
        assert totp.status(s, user).recovery_codes_left == 8
    assert actions(platform).count("totp.recovery_used") == 2


def test_recovery_codes_and_secret_are_not_stored_in_clear(platform: Platform) -> None:
    uid = new_user(platform)
    secret, codes = enrol(platform, uid, time.time())
    with platform.db.session() as s:
        row = s.get(UserTotp, uid)
        assert row is not None
        assert secret not in row.secret
        assert BOX.open(uid, row.secret) == secret
        with pytest.raises(InvalidInput):
            BOX.open(uid + 1, row.secret)  # bound to its user
        with pytest.raises(InvalidInput):
            totp.SecretBox("another-key").open(uid, row.secret)
        stored = " ".join(s.scalars(select(totp.RecoveryCode.code_hash)))
        entries = " ".join(str(e.details) for e in s.scalars(select(AuditEntry)))
    for code in codes:
        assert code.replace("-", "") not in stored and code not in stored
    assert secret not in entries


def test_confirmation_needs_a_valid_code_and_enrolment_cannot_be_started_twice(platform: Platform) -> None:
    uid = new_user(platform)
    with platform.db.session() as s:
        user = s.get(User, uid)
        assert user is not None
        secret = totp.start_enrolment(s, user, BOX).secret
        assert not totp.is_enrolled(s, user)
        assert totp.confirm_enrolment(s, user, BOX, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111") \
            is None
        assert totp.verify(s, user, BOX, pyotp.TOTP(secret).now()) is None  # not confirmed: no login with it
        assert totp.confirm_enrolment(s, user, BOX, pyotp.TOTP(secret).now()) is not None
        assert totp.is_enrolled(s, user)
        with pytest.raises(Conflict):
            totp.start_enrolment(s, user, BOX)
    assert actions(platform) == ["totp.enrol", "totp.failed", "totp.confirm"]


def test_disable_needs_a_code_and_admin_reset_is_audited(platform: Platform) -> None:
    uid = new_user(platform)
    t0 = time.time()
    secret, _ = enrol(platform, uid, t0 - 2 * STEP)
    with platform.db.session() as s:
        user = s.get(User, uid)
        assert user is not None
        assert totp.disable(s, user, BOX, "999999" if pyotp.TOTP(secret).now() != "999999" else "888888") is False
        assert totp.is_enrolled(s, user)
        assert totp.disable(s, user, BOX, pyotp.TOTP(secret).now()) is True
        assert not totp.is_enrolled(s, user)
    enrol(platform, uid, t0)
    with platform.db.session() as s:
        user = s.get(User, uid)
        assert user is not None
        assert totp.admin_reset(s, user, "root", "192.0.2.9") is True
        assert not totp.is_enrolled(s, user) and totp.status(s, user).recovery_codes_left == 0
        assert totp.admin_reset(s, user, "root") is False
        reset = s.scalar(select(AuditEntry).where(AuditEntry.action == "totp.reset"))
        assert reset is not None and reset.actor == "root" and reset.object_id == str(uid)
    assert "totp.disable" in actions(platform)


def test_new_recovery_codes_replace_the_old_ones_and_need_a_current_code(platform: Platform) -> None:
    uid = new_user(platform)
    t0 = time.time()
    secret, old = enrol(platform, uid, t0 - 2 * STEP)
    otp = pyotp.TOTP(secret)
    with platform.db.session() as s:
        user = s.get(User, uid)
        assert user is not None
        wrong = f"{(int(otp.at(t0)) + 1) % 1_000_000:06d}"
        assert totp.regenerate_recovery_codes(s, user, BOX, wrong, now=t0) is None
        assert totp.regenerate_recovery_codes(s, user, BOX, old[0], now=t0) is None  # a recovery code is not enough
    assert verify(platform, uid, old[1]) == "recovery"  # the refused attempts changed nothing
    with platform.db.session() as s:
        user = s.get(User, uid)
        assert user is not None
        new = totp.regenerate_recovery_codes(s, user, BOX, otp.at(t0), "192.0.2.7", now=t0)
    assert new is not None and len(set(new)) == 10 and not set(new) & set(old)
    assert verify(platform, uid, old[2]) is None  # the old codes stopped working at once
    assert verify(platform, uid, new[0]) == "recovery"
    assert verify(platform, uid, new[0]) is None  # and a new one works once
    with platform.db.session() as s:
        user = s.get(User, uid)
        assert user is not None
        assert totp.status(s, user).recovery_codes_left == 9
        # the code just used cannot be used again to make yet another set
        assert totp.regenerate_recovery_codes(s, user, BOX, otp.at(t0), now=t0) is None
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "totp.recovery_codes"))
        assert entry is not None and entry.actor == "alice" and entry.object_id == str(uid)
    for code in old:  # not one of them
        assert verify(platform, uid, code) is None
    trail = actions(platform)
    assert trail.count("totp.recovery_codes") == 1 and trail.count("totp.failed") == 3


def test_new_recovery_codes_need_an_active_second_factor_and_stop_after_many_wrong_codes(
        platform: Platform) -> None:
    uid = new_user(platform)
    with platform.db.session() as s:
        user = s.get(User, uid)
        assert user is not None
        with pytest.raises(Conflict):
            totp.regenerate_recovery_codes(s, user, BOX, "123456")
    secret, _ = enrol(platform, uid, time.time() - STEP)
    good = pyotp.TOTP(secret).now()
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    with platform.db.session() as s:
        user = s.get(User, uid)
        assert user is not None
        for _ in range(totp.MAX_FAILURES):
            assert totp.regenerate_recovery_codes(s, user, BOX, wrong) is None
        with pytest.raises(InvalidInput):
            totp.regenerate_recovery_codes(s, user, BOX, good)


def test_five_wrong_codes_block_further_codes_for_a_while(platform: Platform) -> None:
    uid = new_user(platform)
    secret, _ = enrol(platform, uid, time.time() - STEP)
    good = pyotp.TOTP(secret).now()
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    with platform.db.session() as s:
        user = s.get(User, uid)
        assert user is not None
        for _ in range(totp.MAX_FAILURES - 1):
            assert totp.verify(s, user, BOX, wrong) is None
        assert not totp.too_many_failures(s, user)
        assert totp.verify(s, user, BOX, wrong) is None
        assert totp.too_many_failures(s, user)
        later = time.time() + totp.FAILURE_WINDOW.total_seconds() + 1
        assert not totp.too_many_failures(s, user, now=later)


def test_required_roles_by_mode_and_setting(settings: Settings) -> None:
    assert settings.mode == "embedded"
    assert not totp.required_for(settings, "admin")
    production = replace(settings, database_url="postgresql://db.invalid/vigie")
    assert totp.required_for(production, "admin") and totp.required_for(production, "responder")
    assert not totp.required_for(production, "analyst")
    assert totp.required_for(replace(settings, totp_required_roles=("analyst",)), "analyst")
    env = {"CERT_DATABASE_URL": "postgresql://db.invalid/vigie", "CERT_TOTP_REQUIRED_ROLES": "none"}
    assert load_settings(env=env).effective_totp_required_roles == ()
    env["CERT_TOTP_REQUIRED_ROLES"] = "analyst, admin"
    assert load_settings(env=env).effective_totp_required_roles == ("analyst", "admin")
