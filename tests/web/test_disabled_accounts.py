"""A disabled or deleted account is refused on every route at once: its open session (the cookie
its browser holds) gets nothing but the login page, as an anonymous visitor would."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from support import login, route_calls

from cert.accounts import users
from cert.runtime.platform import Platform
from cert.storage.models import User
from web.access import PUBLIC_ENDPOINTS
from web.app import create_app


def refused_everywhere(app: Flask, client: Any) -> int:
    calls = [(method, url) for method, url, endpoint in route_calls(app) if endpoint not in PUBLIC_ENDPOINTS]
    for method, url in calls:
        resp = client.open(url, method=method)
        assert resp.status_code in (302, 400, 401), f"{method} {url} answered {resp.status_code}"
        if resp.status_code == 302:
            assert "/login" in resp.headers["Location"], f"{method} {url} sent to {resp.headers['Location']}"
    return len(calls)


@pytest.mark.parametrize("action", ["disable", "delete"])
def test_an_account_disabled_or_deleted_is_refused_on_every_route(platform: Platform, action: str) -> None:
    with platform.db.session() as s:
        users.create_user(s, "chef", "a long admin passphrase", "admin")
        users.create_user(s, "veille", "another long passphrase", "admin")
    app = create_app(platform=platform)
    client = app.test_client()
    assert login(client, "chef", "a long admin passphrase").status_code == 302
    assert client.get("/alerts/").status_code == 200
    app.config["WTF_CSRF_ENABLED"] = False  # the session check, not the CSRF check, must refuse
    with platform.db.session() as s:
        target = s.scalars(select(User).where(User.username == "chef")).one()
        if action == "disable":
            users.set_active(s, target, False, actor="veille")
        else:
            users.delete_user(s, target, actor="veille")
    assert refused_everywhere(app, client) >= 40
    app.config["WTF_CSRF_ENABLED"] = True
    assert login(client, "chef", "a long admin passphrase").status_code == 401
