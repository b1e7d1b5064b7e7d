"""`lms people import FILE.csv`: file:line problems and exit 1, dry run, apply, re-import, and
sign-ins that get through while a big file is applied."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

from click.testing import Result
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms import create_app
from lms.config import Settings
from lms.db import Database
from lms.people.models import User
from lms.people.service import create_user
from tests.conftest import Auth
from tests.factories import PASSWORD

HEADER = "external_id,email,full_name,department,manager_external_id\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    return path


def _people(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def test_problems_are_printed_as_file_line_column_and_nothing_is_written(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    path = _write(tmp_path, HEADER + "E1,kari@example.test,Kari,sales,E9\nE2,nope,Ola,sales,\n")
    result = app.test_cli_runner().invoke(args=["lms", "people", "import", str(path)])
    assert result.exit_code == 1
    assert f'{path}:3: email: "nope" is not a valid email address' in result.output
    assert f'{path}:2: manager_external_id: nobody with external_id "E9" is in' in result.output
    assert "2 problems; nothing was imported" in result.output
    assert _people(session) == 0


def test_dry_run_shows_the_changes_and_writes_nothing(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    path = _write(
        tmp_path, HEADER + "E2,ola@example.test,Ola,sales,E1\nE1,kari@example.test,Kari,,\n"
    )
    result = app.test_cli_runner().invoke(args=["lms", "people", "import", "--dry-run", str(path)])
    assert result.exit_code == 0, result.output
    assert "create      line 2      E2  Ola" in result.output
    assert "new department  sales" in result.output
    assert "dry run, nothing written; would: 2 create, 0 update" in result.output
    assert _people(session) == 0


def test_import_applies_once_and_a_second_run_changes_nothing(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    path = _write(
        tmp_path, HEADER + "E2,ola@example.test,Ola,sales,E1\nE1,kari@example.test,Kari,,\n"
    )
    runner = app.test_cli_runner()
    first = runner.invoke(args=["lms", "people", "import", str(path)])
    assert first.exit_code == 0, first.output
    assert "Importing people" in first.output
    assert "imported: 2 create, 0 update, 0 deactivate, 0 reactivate; 0 unchanged" in first.output
    assert _people(session) == 2
    again = runner.invoke(args=["lms", "people", "import", str(path)])
    assert again.exit_code == 0, again.output
    assert "imported: 0 create, 0 update, 0 deactivate, 0 reactivate; 2 unchanged" in again.output


def test_a_file_that_is_not_utf8_is_refused(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes((HEADER + "E1,b@example.test,Bjørn,,\n").encode("latin-1"))
    result = app.test_cli_runner().invoke(args=["lms", "people", "import", str(path)])
    assert result.exit_code == 1
    assert f"{path}:2: the file is not UTF-8 text" in result.output


def _big_file(tmp_path: Path, rows: int) -> Path:
    lines = [
        f"E{i},p{i}@example.test,Person {i},dept-{i % 20},{f'E{i // 10}' if i >= 10 else ''}\n"
        for i in range(rows)
    ]
    return _write(tmp_path, HEADER + "".join(lines))


def test_a_sign_in_gets_through_while_a_big_import_runs(
    settings: Settings, fresh_database_url: str, tmp_path: Path, now: datetime
) -> None:
    """On SQLite a transaction holds the write lock: the import commits batch by batch, so a
    sign-in waits for one batch at most, not for the whole file (nor fails after 10 s)."""
    database = Database(fresh_database_url)
    app = create_app(settings.with_overrides(database_url=fresh_database_url), database=database)
    with database.transaction() as session:
        create_user(
            session, email="hr@example.test", full_name="Hal Hr", now=now, password=PASSWORD
        )
    path = _big_file(tmp_path, 3000)
    finished = threading.Event()
    outcome: dict[str, Result] = {}

    def run_import() -> None:
        outcome["import"] = app.test_cli_runner().invoke(
            args=["lms", "people", "import", str(path)]
        )
        finished.set()

    worker = threading.Thread(target=run_import)
    worker.start()
    try:
        deadline = time.monotonic() + 120
        while not finished.is_set() and time.monotonic() < deadline:
            with database.transaction() as session:
                if _people(session) > 1:  # a first batch is in
                    break
            time.sleep(0.02)
        Auth(app.test_client()).login("hr@example.test", PASSWORD)  # a 302, not a 500
        signed_in_during_import = not finished.is_set()
        with database.transaction() as session:
            people_at_sign_in = _people(session)
    finally:
        worker.join()
        database.dispose()
    assert outcome["import"].exit_code == 0, outcome["import"].output
    assert "imported: 3000 create" in outcome["import"].output
    assert signed_in_during_import
    assert 1 < people_at_sign_in < 3001  # partway: the batches before it were committed
