"""The minimal assignment rule: audience by department, due date, idempotence."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.training.cycles import assign_courses, move_unstarted_to_current_versions
from lms.training.models import Assignment
from tests import factories


def _assigned_keys(session: Session, user_id: int) -> set[str]:
    rows = session.scalars(select(Assignment).where(Assignment.user_id == user_id))
    return {a.course_version.definition.key for a in rows}


def test_courses_go_to_their_audience_only(
    session: Session, courses_root: Path, now: datetime
) -> None:
    factories.synced_course(session, courses_root, now, "everyone")
    factories.synced_course(session, courses_root, now, "crm", audience=["sales", "support"])
    seller = factories.user(session, now, department=factories.department(session, "sales"))
    engineer = factories.user(session, now, department=factories.department(session, "engineering"))
    no_department = factories.user(session, now)

    assert assign_courses(session, now) == 4
    assert _assigned_keys(session, seller.id) == {"everyone", "crm"}
    assert _assigned_keys(session, engineer.id) == {"everyone"}
    assert _assigned_keys(session, no_department.id) == {"everyone"}


def test_audiences_add_up_for_a_sales_manager(
    session: Session, courses_root: Path, now: datetime
) -> None:
    factories.synced_course(session, courses_root, now, "everyone")
    factories.synced_course(session, courses_root, now, "crm", audience=["sales"])
    factories.synced_course(session, courses_root, now, "leading", audience="managers")
    sales = factories.department(session, "sales")
    lead = factories.user(session, now, department=sales)
    seller = factories.user(session, now, department=sales, manager=lead)
    assign_courses(session, now)
    assert _assigned_keys(session, lead.id) == {"everyone", "crm", "leading"}
    assert _assigned_keys(session, seller.id) == {"everyone", "crm"}


def test_assigning_twice_creates_nothing_more(
    session: Session, courses_root: Path, now: datetime
) -> None:
    factories.synced_course(session, courses_root, now)
    factories.user(session, now)
    assert assign_courses(session, now) == 1
    assert assign_courses(session, now + timedelta(days=1)) == 0


def test_inactive_people_are_not_assigned(
    session: Session, courses_root: Path, now: datetime
) -> None:
    factories.synced_course(session, courses_root, now)
    leaver = factories.user(session, now)
    leaver.active = False
    assert assign_courses(session, now) == 0


def test_due_date_counts_from_start_date_for_new_hires(
    session: Session, courses_root: Path, now: datetime
) -> None:
    factories.synced_course(session, courses_root, now, due_days=30)
    new_hire = factories.user(session, now, start_date=date(2026, 3, 16))
    veteran = factories.user(session, now, start_date=date(2019, 8, 1))
    assign_courses(session, now)
    due = {a.user_id: a.due_on for a in session.scalars(select(Assignment))}
    assert due[new_hire.id] == date(2026, 4, 15)
    assert due[veteran.id] == now.date() + timedelta(days=30)


def test_unstarted_assignments_follow_a_new_version(
    session: Session, courses_root: Path, now: datetime
) -> None:
    factories.synced_course(session, courses_root, now)
    person = factories.user(session, now)
    assign_courses(session, now)
    newer = factories.synced_course(session, courses_root, now, pass_mark=80)
    assert move_unstarted_to_current_versions(session) == 1
    assignment = session.scalar(select(Assignment).where(Assignment.user_id == person.id))
    assert assignment is not None
    assert assignment.course_version.sha256 == newer.sha256
