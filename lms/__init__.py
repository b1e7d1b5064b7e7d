"""Vern: privacy and security training, quizzes and attestations as onboarding evidence."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Response, g, request
from sqlalchemy.orm import Session
from werkzeug.middleware.proxy_fix import ProxyFix

from lms import clock
from lms.config import PROJECT_ROOT, Settings, development_secret_key
from lms.db import SQLITE_BEGIN, Database, lost_write_race, take_held_back_audit
from lms.extensions import babel, csrf, db_session, login_manager, write_after_outcome
from lms.extensions import settings as running_settings
from lms.i18n import select_locale, select_timezone
from lms.logs import install_safe_log_records
from lms.mail import Mailer, mailer_from_settings
from lms.people.models import User
from lms.web import IdConverter, ReadsSideBySide

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"


def create_app(
    settings: Settings | None = None,
    database: Database | None = None,
    mailer: Mailer | None = None,
) -> Flask:
    """Build the web app; starts no scheduler and runs no migrations."""
    install_safe_log_records()
    settings = settings or Settings.from_env()
    if settings.clock_file is not None:
        clock.set_source(clock.file_source(settings.clock_file))
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(settings.instance_path),
    )
    _configure(app, settings)
    # Ids beyond what an id column holds would overflow the database: a 404 like any unknown id.
    app.url_map.converters["int"] = IdConverter
    app.wsgi_app = ReadsSideBySide(app.wsgi_app)  # type: ignore[method-assign]
    app.logger.addFilter(_not_a_lost_write_race)
    if settings.trusted_proxies:
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.jinja_env.add_extension("jinja2.ext.do")
    app.extensions["lms.settings"] = settings
    app.extensions["lms.db"] = database or Database(settings.database_url)
    app.extensions["lms.mailer"] = mailer or mailer_from_settings(settings)
    app.extensions["lms.queue_mail"] = _queue_mail
    _init_extensions(app)
    _register_blueprints(app)
    _install_request_lifecycle(app)

    from lms.errors import register_error_handlers

    register_error_handlers(app)

    from lms.cli import lms_group

    app.cli.add_command(lms_group)
    return app


def _queue_mail(
    session: Session, *, key: str, kind: str, payload: dict[str, Any], now: datetime
) -> bool:
    """Put one mail in the outbox. lms.people (a bottom layer) may not import the outbox
    (lms.reminders, above it), so its sign-in link views get this one callable from here."""
    from lms.reminders.outbox import enqueue

    domain = running_settings().mail_domain
    return enqueue(session, key=key, kind=kind, payload=payload, now=now, domain=domain)


def _not_a_lost_write_race(record: logging.LogRecord) -> bool:
    """A page view that lost SQLite's write race is run again (lms.web), not an error."""
    return not (record.exc_info and record.exc_info[1] and lost_write_race(record.exc_info[1]))


def _configure(app: Flask, settings: Settings) -> None:
    app.config.update(
        SECRET_KEY=settings.secret_key or development_secret_key(settings.instance_path),
        TESTING=settings.testing,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_NAME="vern_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        # Remember-me is not offered; should it ever be, it must not outlive a working week.
        REMEMBER_COOKIE_DURATION=timedelta(days=7),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        MAX_CONTENT_LENGTH=1024 * 1024,
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_DEFAULT_TIMEZONE="UTC",
        BABEL_TRANSLATION_DIRECTORIES=str(PROJECT_ROOT / "translations"),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the login session does
    )


def _init_extensions(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "people.login"
    login_manager.login_message = ""
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(token: str) -> User | None:
        from lms.people.service import user_for_login

        idle = timedelta(minutes=running_settings().session_idle_minutes)
        return user_for_login(
            db_session(), token, clock.now(), idle=idle, write_later=write_after_outcome
        )


def _register_blueprints(app: Flask) -> None:
    from lms.admin.audit_views import bp as audit_bp
    from lms.admin.catalogue_views import bp as catalogue_bp
    from lms.admin.departments_views import bp as departments_bp
    from lms.admin.live_sessions_views import bp as live_sessions_bp
    from lms.admin.people_admin_views import bp as people_admin_bp
    from lms.admin.people_import_views import bp as people_import_bp
    from lms.integrations.api.views import bp as api_bp
    from lms.integrations.lti.admin_views import bp as lti_admin_bp
    from lms.integrations.lti.views import bp as lti_bp
    from lms.integrations.scim.views import bp as scim_bp
    from lms.integrations.views import bp as integrations_bp
    from lms.integrations.xapi.admin_views import bp as xapi_admin_bp
    from lms.people.link_views import bp as sign_in_links_bp
    from lms.people.sso.admin_views import bp as sso_admin_bp
    from lms.people.sso.views import bp as sso_bp
    from lms.people.views import bp as people_bp
    from lms.privacy.views import bp as privacy_bp
    from lms.reminders.views import bp as reminders_bp
    from lms.reports.views import bp as reports_bp
    from lms.training.views import bp as training_bp

    app.register_blueprint(people_bp)
    app.register_blueprint(sign_in_links_bp)
    app.register_blueprint(sso_bp)
    app.register_blueprint(sso_admin_bp)
    app.register_blueprint(privacy_bp)
    app.register_blueprint(training_bp)
    app.register_blueprint(reminders_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(people_import_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(scim_bp)
    app.register_blueprint(integrations_bp)
    app.register_blueprint(lti_bp)
    app.register_blueprint(lti_admin_bp)
    app.register_blueprint(xapi_admin_bp)
    app.register_blueprint(people_admin_bp)
    app.register_blueprint(catalogue_bp)
    app.register_blueprint(departments_bp)
    app.register_blueprint(live_sessions_bp)


def _add_security_headers(response: Response) -> None:
    """On every response, errors included (ASVS 14.4)."""
    for header, value in SECURITY_HEADERS.items():
        response.headers.setdefault(header, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if request.endpoint != "static":
        # Pages carry personal data and CSRF tokens: no shared or back-button copies (ASVS
        # 8.2.1). Static files are the same for everyone and may be cached.
        response.headers["Cache-Control"] = "no-store"


def _commit_reads_then_audit(session: Session) -> None:
    """Commit the request, then write the audit events a page view held back (lms.audit:
    written inside its read transaction they would lose SQLite's write race whenever anyone
    wrote while the page was being made, and the whole view would have to run again)."""
    session.commit()
    events = take_held_back_audit(session)
    if events:
        token = SQLITE_BEGIN.set("IMMEDIATE")
        try:
            session.add_all(events)
            session.commit()
        finally:
            SQLITE_BEGIN.reset(token)


def _install_request_lifecycle(app: Flask) -> None:
    from lms.audit.service import CLIENT_ADDRESS

    def audit_with_client_address() -> None:
        # Every audit event written while serving this request carries its client address.
        CLIENT_ADDRESS.set(request.remote_addr)

    # First of all: other before-request steps (the login's loader, say) may audit too.
    app.before_request_funcs.setdefault(None, []).insert(0, audit_with_client_address)

    @app.after_request
    def finish_unit_of_work(response: Response) -> Response:
        # The request's one commit: successful responses keep their writes, errors keep none.
        session = g.get("db_session")
        if session is not None:
            if response.status_code < 400 and not g.get("rollback_only"):
                _commit_reads_then_audit(session)
            else:
                session.rollback()
                take_held_back_audit(session)  # undone with the rest
        writes = g.pop("writes_after_outcome", [])
        if writes:
            # Also for a request refused before it opened a session (an LTI login for a
            # foreign target): its refusal must still be recorded.
            session = db_session()
            for write in writes:
                write(session)
            session.commit()
        _add_security_headers(response)
        return response

    @app.teardown_request
    def close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()
        CLIENT_ADDRESS.set(None)  # work done after the request (a job, a test) has no client

    @app.context_processor
    def template_globals() -> dict[str, object]:
        from flask_babel import get_locale

        from lms.i18n import LANGUAGE_NAMES

        return {"language_names": LANGUAGE_NAMES, "get_locale": get_locale}


__all__ = ["create_app"]
