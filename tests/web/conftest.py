"""People with passwords and a synced course, for tests that go through HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from lms import clock
from lms.catalog.definition import CourseDefinition
from lms.people.models import Role, User
from lms.training.cycles import assign_courses
from tests import factories


@pytest.fixture
def at(now: datetime) -> Iterator[list[datetime]]:
    """The clock the app sees; move it with at[0] = ..."""
    moment = [now]
    clock.set_source(lambda: moment[0])
    yield moment
    clock.set_source(None)


@pytest.fixture
def course(session: Session, courses_root: Path, now: datetime) -> CourseDefinition:
    return factories.synced_course(session, courses_root, now)


@pytest.fixture
def employee(session: Session, now: datetime, course: CourseDefinition) -> User:
    person = factories.user(
        session,
        now,
        name="Kari Nordmann",
        email="kari@example.test",
        password=factories.PASSWORD,
        department=factories.department(session, "sales"),
    )
    assign_courses(session, now)
    session.commit()  # releases the test's savepoint so requests see the rows
    return person


@pytest.fixture
def colleague(session: Session, now: datetime, course: CourseDefinition) -> User:
    person = factories.user(
        session, now, name="Ola Nordmann", email="ola@example.test", password=factories.PASSWORD
    )
    assign_courses(session, now)
    session.commit()
    return person


def _with_role(session: Session, now: datetime, email: str, role: Role) -> User:
    person = factories.user(
        session, now, email=email, password=factories.PASSWORD, roles=frozenset({role})
    )
    session.commit()
    return person


@pytest.fixture
def admin(session: Session, now: datetime) -> User:
    """An admin who can sign in (admin@example.test)."""
    return _with_role(session, now, "admin@example.test", Role.ADMIN)


@pytest.fixture
def hr(session: Session, now: datetime) -> User:
    """HR who can sign in (hr@example.test)."""
    return _with_role(session, now, "hr@example.test", Role.HR)
