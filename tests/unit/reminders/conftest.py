"""A small organisation and an app whose mail goes to a real local SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from lms import clock
from lms.catalog.definition import CourseDefinition
from lms.people.models import Role, User
from lms.reminders.jobs import run_job
from tests import factories


@dataclass
class Org:
    hr: User
    boss: User
    manager: User
    emp_en: User
    emp_nb: User
    emp_done: User
    course: CourseDefinition


@pytest.fixture
def org(session: Session, courses_root: Path, now: datetime) -> Org:
    """HR and a boss above a manager of three employees; the course is for their department."""
    course = factories.synced_course(session, courses_root, now, audience=["ops"])
    mgmt = factories.department(session, "mgmt")
    ops = factories.department(session, "ops")
    hr = factories.user(
        session,
        now,
        name="Hanne Hr",
        email="hr@example.test",
        locale="nb",
        department=mgmt,
        roles=frozenset({Role.HR}),
    )
    boss = factories.user(session, now, name="Bo Boss", email="boss@example.test", department=mgmt)
    manager = factories.user(
        session,
        now,
        name="Mia Manager",
        email="manager@example.test",
        department=mgmt,
        manager=boss,
    )
    people = {
        key: factories.user(
            session,
            now,
            name=name,
            email=f"{key}@example.test",
            locale=locale,
            department=ops,
            manager=manager,
        )
        for key, name, locale in [
            ("en", "Emma English", "en"),
            ("nb", "Nils Norsk", "nb"),
            ("done", "Dina Done", "en"),
        ]
    }
    session.commit()
    return Org(hr, boss, manager, people["en"], people["nb"], people["done"], course)


@pytest.fixture
def at() -> Iterator[object]:
    """Move lms.clock: at(datetime) sets the time every later call sees."""

    def move(when: datetime) -> None:
        clock.set_source(lambda: when)

    yield move
    clock.set_source(None)


def tick(app: Flask, *jobs: str) -> None:
    for job in jobs or ("sweep", "send"):
        run_job(app, job)
