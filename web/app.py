"""Application factory: ``create_app(settings)``."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, jsonify, render_template, request, session
from flask.json.provider import DefaultJSONProvider
from flask.typing import ResponseReturnValue
from flask_babel import Babel
from flask_babel import gettext as _
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, Map

from cert.accounts import sessions
from cert.accounts.sessions import SessionPolicy
from cert.core.config import Settings, load_settings
from cert.core.errors import Conflict, Forbidden, InvalidInput, NotFound, VigieError
from cert.runtime.platform import Platform
from web import access, api_auth, vocabulary

log = logging.getLogger(__name__)

LANGUAGES = ("fr", "en")

# browser features the console never uses, refused to every page
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "accelerometer", "camera", "display-capture", "geolocation", "gyroscope", "magnetometer", "microphone",
    "payment", "usb"))

# The largest value of a signed 64-bit SQL integer: no row id is above it.
MAX_ROW_ID = 2**63 - 1


def digits_up_to(limit: int) -> str:
    """A regular expression for the decimal numbers from 0 to ``limit``."""
    top = str(limit)
    alternatives = [rf"\d{{1,{len(top) - 1}}}"] if len(top) > 1 else []
    for i, digit in enumerate(top):
        if digit != "0":
            rest = len(top) - i - 1
            alternatives.append(f"{top[:i]}[0-{int(digit) - 1}]" + (rf"\d{{{rest}}}" if rest else ""))
    alternatives.append(top)
    return "(?:" + "|".join(alternatives) + ")"


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in every route: a row id, so 0 to ``MAX_ROW_ID``. A larger number does not
    match the route (404), instead of overflowing the database driver. The range is in the
    regular expression: Werkzeug checks a rule's methods before its converters, so a number only
    ``max`` refused would be a 405 where another method of the path has a rule of its own."""

    regex = digits_up_to(MAX_ROW_ID)

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 0)
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(url_map, *args, **kwargs)


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, where a body nested too deeply to parse is invalid JSON (a 400), like any
    other, instead of a RecursionError."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> Flask:
    platform = platform or Platform(settings or load_settings())
    settings = platform.settings
    app = Flask(__name__)
    app.json = JSONProvider(app)
    app.config.update(
        SECRET_KEY=settings.effective_secret_key(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        # no "remember me": login_user is never asked to remember; sessions live on the server
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.session_cookie_secure,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE="fr",
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
    )
    app.extensions["vigie"] = platform
    try:
        platform.live_constituency.seed()  # an empty contact database starts from the constituency file
    except SQLAlchemyError as exc:  # not migrated yet (`cert init`): the file is read until it is
        log.warning("contact database not seeded (%s)", type(exc).__name__)
    platform.jobs.serve()  # embedded mode: this process runs the jobs; resume those left by the last one
    app.url_map.converters["int"] = RowIdConverter  # before any route is added

    Babel(app, locale_selector=_select_locale)
    api_auth.CSRF(app)  # CSRFProtect, except on cookie-less /api/ requests (see web/api_auth.py)
    login = LoginManager(app)
    login.login_view = "auth.login"
    login.session_protection = "strong"

    session_policy = SessionPolicy.from_settings(settings)

    @login.user_loader
    def load_user(sid: str) -> access.SessionUser | None:
        """Every request: the user of the live server-side session the cookie names, or nobody (a
        bearer request speaks for its token, never for the session beside it)."""
        if g.get("api_token") is not None:
            return None
        with platform.db.session() as s:
            found = sessions.validate(s, sid, session_policy)
            return access.SessionUser.from_model(found[1], sid) if found else None

    # WeasyPrint (web/documents) tells each step of a rendering, and of its own stylesheets on
    # import, at INFO: not the console's log
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    from web import (
        admin,
        alerts,
        anomaly_api,
        api,
        api_tokens,
        auth,
        case_items,
        case_items_api,
        cases,
        constituency_api,
        constituency_console,
        dashboard,
        dashboard_api,
        documents,
        incident_templates,
        incidents_api,
        ingest_api,
        intake_api,
        misp_feed_api,
        notifications,
        oidc,
        openapi,
        playbooks_api,
        portal,
        portal_api,
        public_report,
        reports_console,
        response_console,
        rules,
        second_factor,
        sharing_api,
        sharing_console,
        sightings_api,
        taxii_api,
        tokens,
        triage,
        triage_api,
        users,
    )

    blueprints = (
        auth.bp, alerts.bp, cases.bp, admin.bp, api.bp, ingest_api.bp, tokens.bp, api_tokens.bp, rules.bp,
        second_factor.bp, users.bp, users.api, openapi.bp, openapi.pages,
        reports_console.bp, intake_api.bp, public_report.bp,
        documents.bp, documents.api,
        case_items.bp, case_items_api.bp,
        incidents_api.bp, incident_templates.bp,
        triage.bp, triage_api.bp,
        dashboard.bp, dashboard_api.bp,
        anomaly_api.bp, playbooks_api.bp, response_console.bp, sharing_api.bp,
        sharing_console.bp, sightings_api.bp, taxii_api.bp, misp_feed_api.bp,
        constituency_console.bp, constituency_api.bp,
        portal.bp, portal_api.bp,
        notifications.bp, notifications.api, notifications.ack,
    )
    for bp in blueprints:
        app.register_blueprint(bp)
    oidc.init_app(app, platform)  # single sign-on, when an OpenID Connect provider is configured
    api_auth.init_app(app)  # bearer tokens on /api/ and their scopes (see web/api_auth.py)
    app.before_request(access.enforce_login)
    app.after_request(_security_headers)
    app.context_processor(lambda: {"languages": LANGUAGES, "current_lang": _select_locale(),
                                   "mode": settings.mode})
    app.jinja_env.globals["timeline_message"] = vocabulary.timeline_message
    app.jinja_env.globals["alert_title"] = vocabulary.alert_title
    _register_errors(app)

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify(status="ok", mode=settings.mode)

    return app


def _select_locale() -> str:
    lang = request.args.get("lang")
    if request.path.startswith("/api/"):
        # an API client says its language per request (?lang=, else Accept-Language); the API sets
        # no cookie: the console's choice applies to the console's own API calls
        if lang in LANGUAGES:
            return str(lang)
        chosen = session.get("lang") if request.cookies else None
        if chosen in LANGUAGES:
            return str(chosen)
        return request.accept_languages.best_match(LANGUAGES, default="fr") or "fr"
    if lang in LANGUAGES:
        session["lang"] = lang
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    return "fr"


def _security_headers(resp: Any) -> Any:
    resp.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    )
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("Cache-Control", "no-store")
    resp.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    if request.is_secure:
        resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return resp


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _default_message(status: int) -> str:
    messages: dict[int, str] = {
        400: _("The request is not valid."),
        401: _("Authentication required."),
        403: _("You are not allowed to do this."),
        404: _("This page or object does not exist."),
        405: _("This method is not allowed here."),
        413: _("The request is too large."),
        415: _("This type of body is not accepted here."),
        500: _("Internal error: the request could not be completed. The error has been logged."),
    }
    return str(messages.get(status, _("The request could not be completed.")))


def _register_errors(app: Flask) -> None:
    def answer(status: int, message: str) -> ResponseReturnValue:
        if _wants_json():
            return access.api_error(status, message)
        return render_template("error.html", status=status, message=message), status

    def translated(exc: VigieError) -> str:
        """The error's message in the reader's language (as raised where the catalogue has none)."""
        return str(_(exc.message_id, **exc.params)) if exc.message_id else str(exc)

    @app.errorhandler(NotFound)
    def not_found(exc: VigieError) -> ResponseReturnValue:
        return answer(404, translated(exc))

    @app.errorhandler(InvalidInput)
    def invalid(exc: VigieError) -> ResponseReturnValue:
        return answer(400, translated(exc))

    @app.errorhandler(Forbidden)
    def forbidden(exc: VigieError) -> ResponseReturnValue:
        return answer(403, translated(exc))

    @app.errorhandler(Conflict)
    def conflict(exc: Conflict) -> ResponseReturnValue:
        if _wants_json():
            body, status = access.api_error(409, translated(exc))
            envelope = body.get_json()
            # the error's details, but never over the answer's own error, message and status
            return jsonify({**{k: v for k, v in exc.details.items() if k not in envelope}, **envelope}), status
        return answer(409, translated(exc))

    @app.errorhandler(CSRFError)
    def csrf(exc: CSRFError) -> ResponseReturnValue:
        return answer(400, _("CSRF check failed: %(reason)s", reason=exc.description))

    def http_error(exc: HTTPException) -> ResponseReturnValue:
        """Under /api/, every HTTP error is JSON; the console has pages for the usual ones and
        Werkzeug's answer for the others."""
        status = exc.code or 500
        if not _wants_json() and status not in (400, 403, 404, 405, 413):
            return exc
        custom = exc.description and exc.description != type(exc).description
        return answer(status, str(exc.description) if custom else _default_message(status))

    app.register_error_handler(HTTPException, http_error)

    @app.errorhandler(500)
    def internal(_exc: HTTPException) -> ResponseReturnValue:
        # the exception itself is logged by Flask; its text may hold log content: not shown
        return answer(500, _default_message(500))

    @app.teardown_appcontext
    def _teardown(_exc: BaseException | None) -> None:
        g.pop("db_session", None)
