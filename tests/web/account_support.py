"""Helpers of the account-security tests: a clock the account rules read, clients from chosen
addresses, a session cookie copied into another client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from support import csrf_token, login

from cert.accounts import clock


@dataclass
class FakeClock:
    at: datetime

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    c = FakeClock(datetime.now(UTC))
    monkeypatch.setattr(clock, "now", c.now)
    return c


def client_from(app: Flask, addr: str = "127.0.0.1") -> Any:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = addr
    return client


def logged_in(app: Flask, username: str, password: str, addr: str = "127.0.0.1") -> Any:
    client = client_from(app, addr)
    resp = login(client, username, password)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return client


def copy_of(app: Flask, client: Any) -> Any:
    """Another browser holding a copy of ``client``'s session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    other = client_from(app, client.environ_base["REMOTE_ADDR"])
    other.set_cookie("session", cookie.value)
    return other


def api_csrf(client: Any) -> dict[str, str]:
    page = client.get("/account/password")  # a form every logged-in user can open
    return {"X-CSRFToken": csrf_token(page.get_data(as_text=True))}
