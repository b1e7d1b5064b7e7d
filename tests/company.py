"""Two teams under one company, with history, for the dashboards (fixture `company`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from lms.catalog.definition import CourseDefinition
from lms.people.models import Role, User
from lms.training.cycles import assign_courses
from tests import factories
from tests.unit.training.conftest import Learner


@dataclass
class Company:
    boss: User  # manages both team leads
    lead_a: User
    a1: User  # reports to lead_a
    a2: User  # reports to a1 (indirect for lead_a)
    lead_b: User
    b1: User
    hr: User
    auditor: User
    admin: User
    course: CourseDefinition
    extra: CourseDefinition
    start: datetime


def complete(session: Session, user: User, course: CourseDefinition, at: datetime) -> None:
    learner = Learner(session, user, course, at)
    learner.pass_quiz()
    learner.sign()


@pytest.fixture
def company(session: Session, courses_root: Path, now: datetime) -> Company:
    start = now - timedelta(days=60)
    course = factories.synced_course(session, courses_root, start, "basics", due_days=30)
    extra = factories.synced_course(
        session, courses_root, start, "crm", audience=["sales"], due_days=30
    )
    sales = factories.department(session, "sales", "Sales")
    ops = factories.department(session, "ops", "Operations")

    def person(name: str, **kwargs: object) -> User:
        email = name.lower().replace(" ", ".") + "@example.test"
        return factories.user(
            session, start, name=name, email=email, password=factories.PASSWORD, **kwargs
        )  # type: ignore[arg-type]

    boss = person("Bo Boss", department=ops)
    lead_a = person("Lea Lead", department=sales, manager=boss)
    a1 = person("Ada One", department=sales, manager=lead_a)
    a2 = person("Ari Two", department=sales, manager=a1)
    lead_b = person("Ben Lead", department=ops, manager=boss)
    b1 = person("Bea Bee", department=ops, manager=lead_b)
    hr = person("Hal Hr", department=ops, roles=frozenset({Role.HR}))
    auditor = person("Aud Itor", roles=frozenset({Role.AUDITOR}))
    admin = person("Adm In", roles=frozenset({Role.ADMIN}))
    assign_courses(session, start)  # everyone due start + 30 days
    complete(session, a1, course, start + timedelta(days=10))
    complete(session, b1, course, start + timedelta(days=40))
    session.commit()
    return Company(boss, lead_a, a1, a2, lead_b, b1, hr, auditor, admin, course, extra, start)
