"""Downloads (CSV, ZIP, PDF, JSON) give back their database connection when the body ends: a
transaction left open by a streamed export held SQLite's write lock, and every sign-in after
it was a 500 ("database is locked") until the worker restarted."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from lms import create_app
from lms.config import Settings
from lms.db import Database
from lms.evidence import keys
from lms.people.models import User
from tests import factories
from tests.company import Company
from tests.conftest import Auth

pytestmark = pytest.mark.usefixtures("now")


@pytest.fixture
def database(fresh_database_url: str) -> Iterator[Database]:
    """A database of its own that really commits, with a pool whose connections can be
    counted (the shared test database runs every session inside one connection)."""
    db = Database(fresh_database_url)
    yield db
    db.dispose()


@pytest.fixture
def app(settings: Settings, database: Database, fresh_database_url: str) -> Flask:
    own = settings.with_overrides(database_url=fresh_database_url)
    keys.create_key(own.ledger_key)  # packs are signed
    return create_app(own, database=database)


def _who(company: Company) -> dict[str, User]:
    return {"admin": company.admin, "hr": company.hr, "lead": company.lead_a, "a1": company.a1}


DOWNLOADS: dict[str, tuple[str, Callable[[Company], str]]] = {
    "audit csv": ("admin", lambda c: "/admin/audit.csv"),
    "completions csv": ("hr", lambda c: "/hr/export.csv"),
    "completions zip": ("hr", lambda c: "/hr/export.zip"),
    "team csv": ("lead", lambda c: "/team/export.csv"),
    "evidence pdf": ("hr", lambda c: f"/hr/people/{c.a1.id}/evidence.pdf"),
    "evidence zip": ("hr", lambda c: f"/hr/people/{c.a1.id}/evidence.zip"),
    "evidence json": ("hr", lambda c: f"/hr/people/{c.a1.id}/evidence.json"),
    "my data json": ("a1", lambda c: f"/my-data/{c.a1.id}.json"),
}


@pytest.mark.parametrize("name", sorted(DOWNLOADS))
def test_after_a_download_no_connection_is_held_and_someone_else_signs_in(
    name: str, app: Flask, database: Database, session: Session, company: Company
) -> None:
    role, url = DOWNLOADS[name]
    downloader = _who(company)[role]
    session.close()  # the fixtures' own connection goes back too
    client = app.test_client()
    Auth(client).login(downloader.email, factories.PASSWORD)

    response = client.get(url(company))
    body = response.get_data()
    response.close()  # as the server does once the last byte is sent

    assert response.status_code == 200, body[:300]
    assert body, "the download is empty"
    engine: Engine = database.engine
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    other = app.test_client()
    Auth(other).login(company.b1.email, factories.PASSWORD)  # a 302, not a 500
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_download_the_client_abandons_gives_its_connection_back(
    app: Flask, database: Database, session: Session, company: Company
) -> None:
    session.close()
    client = app.test_client()
    Auth(client).login(company.admin.email, factories.PASSWORD)

    response = client.get("/admin/audit.csv")
    first = next(iter(response.response))  # the first chunk, then the client goes away
    response.close()

    assert first
    assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    Auth(app.test_client()).login(company.b1.email, factories.PASSWORD)
