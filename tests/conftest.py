"""Fixtures: one migrated database per run, one rolled-back transaction per test."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from lms import clock, create_app
from lms.config import Settings
from lms.db import Database, make_engine
from lms.migrate import upgrade
from tests.company import company  # noqa: F401 - a shared fixture
from tests.smtp import SmtpSink
from tests.unit.training.conftest import learner  # noqa: F401 - a shared fixture

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CSRF_FIELD = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'type="hidden" name="csrf_token" value="([^"]+)"'
)


def _reset_postgres(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """scrypt is slow on purpose; tests that are not about hashing use a cheap method."""
    monkeypatch.setattr("lms.people.service.PASSWORD_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("LMS_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """A database migrated once for the whole run, by the same migrations operators run."""
    engine = make_engine(database_url)
    if engine.dialect.name == "postgresql":
        _reset_postgres(engine)
    upgrade(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    outer = conn.begin()
    try:
        yield conn
    finally:
        outer.rollback()
        conn.close()


@pytest.fixture
def database(engine: Engine, connection: Connection, database_url: str) -> Database:
    db = Database(database_url, engine=engine)
    db.bind_to(connection)
    return db


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """The test's own session; everything it writes is rolled back after the test."""
    s = database.new_session()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def now() -> Iterator[datetime]:
    """Time stands still at NOW for the test (lms.clock included)."""
    clock.set_source(lambda: NOW)
    try:
        yield NOW
    finally:
        clock.set_source(None)


@pytest.fixture
def courses_root(tmp_path: Path) -> Path:
    root = tmp_path / "courses"
    root.mkdir()
    return root


# The test app's secret key: stored secrets (webhook, LRS, LTI, SSO) are encrypted under it.
SECRET_KEY = "test-secret-key-" + "x" * 32


@pytest.fixture
def settings(tmp_path: Path, courses_root: Path, database_url: str) -> Settings:
    return Settings(
        env="testing",
        secret_key=SECRET_KEY,
        database_url=database_url,
        instance_path=tmp_path / "instance",
        courses_path=courses_root,
        testing=True,
        # The test's own servers (OpenID provider, LTI platform, LRS, webhook receivers) listen
        # on loopback, which the outbound policy refuses unless the operator allows it.
        outbound_allow=("127.0.0.1",),
    ).validated()


@pytest.fixture
def app(settings: Settings, database: Database) -> Flask:
    return create_app(settings, database=database)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)


class Auth:
    """Log in and out through the real login form (CSRF and all)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, email: str, password: str) -> None:
        page = self.client.get("/login").get_data(as_text=True)
        response = self.client.post(
            "/login", data={"email": email, "password": password, "csrf_token": csrf_token(page)}
        )
        assert response.status_code == 302, response.get_data(as_text=True)

    def post(self, url: str, data: dict[str, object] | None = None, page: str | None = None):  # noqa: ANN201
        """POST with the CSRF token taken from `page` (default: GET the same url)."""
        source = page or self.client.get(url).get_data(as_text=True)
        return self.client.post(url, data={**(data or {}), "csrf_token": csrf_token(source)})


@pytest.fixture
def auth(client: FlaskClient) -> Auth:
    return Auth(client)


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A running SMTP sink on 127.0.0.1; tests may stop and start it."""
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


# Where the links in the mails of `mail_app` lead.
MAIL_BASE = "https://vern.example"


@pytest.fixture
def mail_app(settings: Settings, database: Database, smtp: SmtpSink) -> Flask:
    """The app sending its mail to the `smtp` sink, with links under MAIL_BASE."""
    return create_app(
        settings.with_overrides(
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            mail_from="vern@example.test",
            base_url=MAIL_BASE,
        ),
        database=database,
    )


@pytest.fixture
def fresh_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A separate, migrated, really-committing database for tests of concurrent processes."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        upgrade(url)
        yield url
        return
    schema = f"t_{os.getpid()}_{abs(hash(tmp_path)) % 10**8}"
    admin = make_engine(database_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in database_url else "?"
    url = f"{database_url}{separator}options=-csearch_path%3D{schema}"
    upgrade(url)
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
