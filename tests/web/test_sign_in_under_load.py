"""A sign-in does not hold SQLite's write lock while it checks the password: the hash is slow
on purpose, and with the lock held through it, sign-ins queued one behind the other until one
waited past the busy timeout and answered 500 ("database is locked") under load."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from lms import create_app
from lms.config import Settings
from lms.db import Database
from lms.migrate import upgrade
from lms.people import service
from lms.people.service import create_user
from tests.conftest import Auth
from tests.factories import PASSWORD


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    return tmp_path / "sign-in.sqlite3"


@pytest.fixture
def sqlite_app(sqlite_file: Path, settings: Settings, now: datetime) -> Flask:
    """A SQLite file of its own (the behaviour is SQLite's write lock), with one person."""
    url = f"sqlite:///{sqlite_file}"
    upgrade(url)
    database = Database(url)
    with database.transaction() as session:
        create_user(
            session, email="kari@example.test", full_name="Kari", now=now, password=PASSWORD
        )
        create_user(session, email="ola@example.test", full_name="Ola", now=now, password=PASSWORD)
    return create_app(settings.with_overrides(database_url=url), database=database)


def _someone_else_can_write(path: Path) -> bool:
    """Whether another process could take the write lock at this moment (no waiting)."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as error:
        if "locked" not in str(error):
            raise
        return False
    finally:
        other.close()


@pytest.mark.parametrize("password", [PASSWORD, "a-wrong-password-1"], ids=["right", "wrong"])
def test_the_password_is_checked_without_the_write_lock(
    sqlite_app: Flask, sqlite_file: Path, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    seen: list[bool] = []
    check = service.check_password_hash

    def observed(stored: str, given: str) -> bool:
        seen.append(_someone_else_can_write(sqlite_file))
        return check(stored, given)

    monkeypatch.setattr(service, "check_password_hash", observed)
    client = sqlite_app.test_client()
    if password == PASSWORD:
        Auth(client).login("kari@example.test", password)
    else:
        page = client.get("/login").get_data(as_text=True)
        refused = Auth(client).post(
            "/login", {"email": "kari@example.test", "password": password}, page
        )
        assert refused.status_code == 200
        assert "Wrong email or password" in refused.get_data(as_text=True)

    assert seen == [True]


def test_another_sign_in_gets_through_while_one_checks_its_password(
    sqlite_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second browser (another thread, its own connection: as another worker) signs in
    while the first sign-in is in the middle of its hash, instead of queueing behind it."""
    second = sqlite_app.test_client()
    page = second.get("/login").get_data(as_text=True)
    check = service.check_password_hash
    outcome: dict[str, Any] = {}

    def sign_in_second() -> None:
        data = {"email": "ola@example.test", "password": PASSWORD}
        outcome["second"] = Auth(second).post("/login", data, page).status_code

    def meanwhile(stored: str, given: str) -> bool:
        if threading.current_thread() is threading.main_thread() and "thread" not in outcome:
            outcome["thread"] = threading.Thread(target=sign_in_second)
            outcome["thread"].start()
            outcome["thread"].join(timeout=5)
            outcome["during"] = not outcome["thread"].is_alive()
        return check(stored, given)

    monkeypatch.setattr(service, "check_password_hash", meanwhile)
    Auth(sqlite_app.test_client()).login("kari@example.test", PASSWORD)
    outcome["thread"].join()
    assert outcome["during"]  # done while the first one was still checking
    assert outcome["second"] == 302
