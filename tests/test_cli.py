"""The `lms` commands: check, sync and demo, as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.catalog.models import CourseVersion
from lms.people.models import User
from lms.training.models import Assignment, Attestation
from tests.factories import course_files, write_course


def test_courses_check_reports_file_line_and_exits_non_zero(app: Flask, courses_root: Path) -> None:
    write_course(courses_root, "good")
    write_course(courses_root, "bad", pass_mark=150)
    result = app.test_cli_runner().invoke(args=["lms", "courses", "check"])
    assert result.exit_code == 1
    assert "error: courses/bad/course.yaml:" in result.output
    assert "pass_mark must be between 0 and 100, got 150" in result.output
    assert "nothing was loaded" in result.output


def test_courses_check_passes_on_valid_courses(app: Flask, courses_root: Path) -> None:
    write_course(courses_root, "good")
    result = app.test_cli_runner().invoke(args=["lms", "courses", "check"])
    assert result.exit_code == 0, result.output
    assert "1 courses valid" in result.output


def test_sync_with_a_broken_course_loads_nothing(
    app: Flask, courses_root: Path, session: Session
) -> None:
    write_course(courses_root, "good")
    files = course_files("bad")
    del files["modules/second.en.md"]
    write_course(courses_root, "bad", files=files)
    result = app.test_cli_runner().invoke(args=["lms", "courses", "sync"])
    assert result.exit_code == 1
    assert session.scalar(select(func.count()).select_from(CourseVersion)) == 0


def test_sync_stores_versions_and_assigns(app: Flask, courses_root: Path, session: Session) -> None:
    write_course(courses_root, "good")
    runner = app.test_cli_runner()
    runner.invoke(args=["lms", "demo"])
    result = runner.invoke(args=["lms", "courses", "sync"])
    assert result.exit_code == 0, result.output
    assert "new course      good" in result.output
    people = session.scalar(select(func.count()).select_from(User))
    assert session.scalar(select(func.count()).select_from(Assignment)) == people
    again = runner.invoke(args=["lms", "courses", "sync"])
    assert "1 unchanged, 0 assignments created" in again.output


def test_demo_creates_an_organisation_with_real_progress_once(
    app: Flask, courses_root: Path, session: Session
) -> None:
    write_course(courses_root, "good")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["lms", "courses", "sync"]).exit_code == 0
    result = runner.invoke(args=["lms", "demo"])
    assert result.exit_code == 0, result.output
    assert "hr@demo.vern.example" in result.output
    assert session.scalar(select(func.count()).select_from(Attestation)) > 0
    managers = session.scalar(select(func.count(func.distinct(User.manager_id))))
    assert managers
    assert managers >= 3
    second = runner.invoke(args=["lms", "demo", "--if-empty"])
    assert second.exit_code == 0
    assert "nothing was changed" in second.output or "was not added" in second.output


def test_demo_is_refused_in_production(settings, database) -> None:  # noqa: ANN001
    from lms import create_app

    production = settings.with_overrides(env="production", secret_key="k" * 40)
    result = (
        create_app(production, database=database).test_cli_runner().invoke(args=["lms", "demo"])
    )
    assert result.exit_code != 0
    assert "never created in production" in result.output


@pytest.mark.parametrize("command", [["lms", "--help"], ["lms", "courses", "--help"]])
def test_help_lists_the_commands(app: Flask, command: list[str]) -> None:
    result = app.test_cli_runner().invoke(args=command)
    assert result.exit_code == 0


def test_an_operator_sets_a_password_and_open_logins_end(app: Flask, session: Session, now) -> None:  # noqa: ANN001
    from datetime import timedelta

    from lms.people import service
    from tests import factories

    person = factories.user(session, now, email="new@example.test")
    started = service.start_login(
        session, person, now=now, lifetime=timedelta(hours=1), ip=None, user_agent=None
    )
    session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["lms", "people", "set-password", "new@example.test"],
        input="a long enough secret\na long enough secret\n",
    )
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert service.authenticate(session, "new@example.test", "a long enough secret")
    assert service.user_for_login(session, started.token, now) is None
    short = runner.invoke(
        args=["lms", "people", "set-password", "new@example.test"], input="short\nshort\n"
    )
    assert short.exit_code != 0
    assert "at least 12 characters" in short.output
    assert (
        runner.invoke(
            args=["lms", "people", "set-password", "nobody@example.test"],
            input="a long enough secret\na long enough secret\n",
        ).exit_code
        != 0
    )
