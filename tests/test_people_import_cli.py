"""`lms people import FILE.csv`: file:line problems and exit 1, dry run, apply, re-import."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.people.models import User

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
