"""Page views read side by side on SQLite: a GET begins DEFERRED, and one that writes after
someone else wrote is run again with the write lock, once, with nothing doubled or lost."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from lms import create_app
from lms.audit import service as audit_service
from lms.audit.models import AuditEvent
from lms.config import Settings
from lms.db import SQLITE_BEGIN, Database
from lms.migrate import upgrade
from lms.people.models import Role
from lms.people.service import create_user
from tests.conftest import Auth


@pytest.fixture(params=[False, True], ids=["as served", "exceptions propagated"])
def sqlite_app(tmp_path: Path, courses_root: Path, request: pytest.FixtureRequest) -> Flask:
    """A SQLite file of its own on both test legs: the behaviour is SQLite's write lock."""
    url = f"sqlite:///{tmp_path / 'reads.sqlite3'}"
    upgrade(url)
    settings = Settings(
        env="testing",
        secret_key="test-secret-key-" + "x" * 32,
        database_url=url,
        instance_path=tmp_path / "instance",
        courses_path=courses_root,
        testing=True,
    ).validated()
    app = create_app(settings, database=Database(url))
    # Served by gunicorn, an error reaches the 500 handler; a test app propagates it instead.
    app.config["PROPAGATE_EXCEPTIONS"] = request.param
    return app


def _hr(app: Flask, now: datetime) -> str:
    database: Database = app.extensions["lms.db"]
    with database.transaction() as session:
        create_user(
            session,
            email="hr@example.test",
            full_name="Hal Hr",
            now=now,
            password="a-long-password-1",
            roles=frozenset({Role.HR}),
        )
    return "hr@example.test"


def _audited(app: Flask, action: str) -> int:
    database: Database = app.extensions["lms.db"]
    with database.transaction() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
            )
            or 0
        )


def test_a_page_view_reads_without_taking_the_write_lock(
    sqlite_app: Flask, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    original = audit_service.record

    def spy(*args: Any, **kwargs: Any) -> AuditEvent:
        seen.append(SQLITE_BEGIN.get())
        return original(*args, **kwargs)

    monkeypatch.setattr("lms.reports.views.audit", spy)
    client = sqlite_app.test_client()
    Auth(client).login(_hr(sqlite_app, now), "a-long-password-1")
    assert client.get("/hr").status_code == 200
    assert seen == ["DEFERRED"]


def _another_worker_writes(database: Database) -> None:
    with database.engine.begin() as other:  # its own connection, as another process would
        other.execute(text("DELETE FROM login_failures"))


def test_an_audited_page_view_writes_after_its_reads_and_needs_no_second_run(
    sqlite_app: Flask, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone else commits while the HR overview is being made: its audit event is written
    after its reads, in a transaction of its own, so it does not lose SQLite's write race."""
    client = sqlite_app.test_client()
    Auth(client).login(_hr(sqlite_app, now), "a-long-password-1")
    database: Database = sqlite_app.extensions["lms.db"]
    original = audit_service.record
    runs: list[int] = []

    def someone_writes_meanwhile(*args: Any, **kwargs: Any) -> AuditEvent:
        runs.append(1)
        _another_worker_writes(database)
        return original(*args, **kwargs)

    monkeypatch.setattr("lms.reports.views.audit", someone_writes_meanwhile)
    before = _audited(sqlite_app, "view.organisation_overview")
    assert client.get("/hr").status_code == 200
    assert len(runs) == 1
    assert _audited(sqlite_app, "view.organisation_overview") == before + 1


def test_a_page_view_that_loses_the_write_race_is_run_again_once(
    sqlite_app: Flask,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A view that writes in the middle of its reads after someone else wrote: SQLite refuses
    the write; the view runs again with the write lock, once, and nothing is doubled."""
    client = sqlite_app.test_client()
    Auth(client).login(_hr(sqlite_app, now), "a-long-password-1")
    database: Database = sqlite_app.extensions["lms.db"]
    original = audit_service.record
    runs: list[str] = []

    def writes_mid_view(session: Session, *args: Any, **kwargs: Any) -> AuditEvent:
        runs.append(SQLITE_BEGIN.get())
        if len(runs) == 1:
            _another_worker_writes(database)
        session.execute(text("UPDATE users SET digest_opt_in = digest_opt_in"))
        return original(session, *args, **kwargs)

    monkeypatch.setattr("lms.reports.views.audit", writes_mid_view)
    client.get("/account")  # the login's last-used time is noted now, not during the race
    before = _audited(sqlite_app, "view.organisation_overview")
    with caplog.at_level(logging.ERROR):
        response = client.get("/hr")
    assert response.status_code == 200
    assert runs == ["DEFERRED", "IMMEDIATE"]
    assert _audited(sqlite_app, "view.organisation_overview") == before + 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # a retry is no error
