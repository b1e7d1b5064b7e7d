"""Assignment cycles over time: audience changes, leavers, renewal, new course versions."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.catalog.definition import CourseDefinition
from lms.people.models import User
from lms.training.cycles import (
    assign_courses,
    open_major_version_cycles,
    open_renewal_cycles,
    reconcile_audiences,
    run_cycles,
)
from lms.training.models import Assignment
from tests import factories
from tests.unit.training.conftest import Learner


def _cycles(session: Session, user: User, course_key: str) -> list[Assignment]:
    session.expire_all()
    return [
        a
        for a in session.scalars(
            select(Assignment).where(Assignment.user_id == user.id).order_by(Assignment.cycle)
        )
        if a.course_version.definition.key == course_key
    ]


def _complete(session: Session, user: User, definition: CourseDefinition, at: datetime) -> None:
    learner = Learner(session, user, definition, at)
    learner.pass_quiz()
    learner.sign()


def test_department_change_adds_only_the_new_departments_courses(
    session: Session, courses_root: Path, now: datetime
) -> None:
    factories.synced_course(session, courses_root, now, "everyone")
    crm = factories.synced_course(session, courses_root, now, "crm", audience=["sales"])
    factories.synced_course(session, courses_root, now, "dsr", audience=["support"])
    seller = factories.user(session, now, department=factories.department(session, "sales"))
    assign_courses(session, now)
    _complete(session, seller, crm, now)

    later = now + timedelta(days=40)
    seller.department = factories.department(session, "support")
    session.flush()
    report = run_cycles(session, later, preboarding_days=None)

    assert report.assigned == 1
    dsr = _cycles(session, seller, "dsr")
    assert len(dsr) == 1
    assert dsr[0].due_on == later.date() + timedelta(days=30)
    crm_cycles = _cycles(session, seller, "crm")
    assert len(crm_cycles) == 1
    assert crm_cycles[0].completed_at == now  # what was completed stays complete
    assert crm_cycles[0].ended_at is None


def test_leaving_an_audience_stops_chasing_and_returning_resumes(
    session: Session, courses_root: Path, now: datetime
) -> None:
    factories.synced_course(session, courses_root, now, "crm", audience=["sales"])
    person = factories.user(session, now, department=factories.department(session, "sales"))
    assign_courses(session, now)
    person.department = factories.department(session, "engineering")
    session.flush()
    assert reconcile_audiences(session, now) == (1, 0)
    (cycle,) = _cycles(session, person, "crm")
    assert cycle.ended_at == now
    assert cycle.next_reminder_on is None

    person.department = factories.department(session, "sales")
    session.flush()
    assert reconcile_audiences(session, now + timedelta(days=1)) == (0, 1)
    (cycle,) = _cycles(session, person, "crm")
    assert cycle.ended_at is None
    assert cycle.next_reminder_on == (now + timedelta(days=1)).date()


def test_leavers_keep_their_history_and_get_no_new_cycles(
    session: Session, courses_root: Path, now: datetime
) -> None:
    definition = factories.synced_course(session, courses_root, now, renew_every_days=100)
    person = factories.user(session, now)
    assign_courses(session, now)
    _complete(session, person, definition, now)
    person.active = False
    session.flush()
    report = run_cycles(session, now + timedelta(days=400), preboarding_days=None)
    assert report.renewed == 0
    assert report.assigned == 0
    (cycle,) = _cycles(session, person, "basics")
    assert cycle.completed_at == now


def test_rolling_renewal_opens_a_new_cycle_after_the_interval(
    session: Session, courses_root: Path, now: datetime
) -> None:
    definition = factories.synced_course(session, courses_root, now, renew_every_days=365)
    person = factories.user(session, now)
    assign_courses(session, now)
    _complete(session, person, definition, now)
    (first,) = _cycles(session, person, "basics")
    assert first.renews_on == now.date() + timedelta(days=365)

    assert open_renewal_cycles(session, now + timedelta(days=364)) == 0
    renewal_day = now + timedelta(days=365)
    assert open_renewal_cycles(session, renewal_day) == 1
    assert open_renewal_cycles(session, renewal_day) == 0  # idempotent
    first, second = _cycles(session, person, "basics")
    assert first.superseded_at == renewal_day
    assert (second.cycle, second.completed_at) == (2, None)
    assert second.due_on == renewal_day.date() + timedelta(days=30)


def test_fixed_date_renewal_uses_the_calendar(
    session: Session, courses_root: Path, now: datetime
) -> None:
    files = factories.course_files("annual")
    files["course.yaml"] += "renew_on: '01-15'\n"
    factories.write_course(courses_root, "annual", files=files)
    from lms.catalog.loader import load_course
    from lms.catalog.service import sync_catalog

    definition = load_course(courses_root / "annual")
    assert definition.renew_on == (1, 15)
    sync_catalog(session, [definition], now)
    person = factories.user(session, now)
    assign_courses(session, now)
    _complete(session, person, definition, now)  # 2 March 2026
    (first,) = _cycles(session, person, "annual")
    assert first.renews_on == date(2027, 1, 15)
    opened_at = datetime(2027, 1, 15, 6, 0, tzinfo=now.tzinfo)
    assert open_renewal_cycles(session, opened_at - timedelta(days=1)) == 0
    assert open_renewal_cycles(session, opened_at) == 1


def test_major_version_opens_a_cycle_minor_version_does_not(
    session: Session, courses_root: Path, now: datetime
) -> None:
    v1 = factories.synced_course(session, courses_root, now)
    done = factories.user(session, now)
    busy = factories.user(session, now)
    assign_courses(session, now)
    _complete(session, done, v1, now)

    later = now + timedelta(days=10)
    factories.synced_course(session, courses_root, later, minor=True, pass_mark=70)
    assert open_major_version_cycles(session, later) == 0

    v3 = factories.synced_course(session, courses_root, later, pass_mark=90)
    assert open_major_version_cycles(session, later) == 1
    assert open_major_version_cycles(session, later) == 0
    old, new = _cycles(session, done, "basics")
    assert old.superseded_at == later
    assert new.course_version.sha256 == v3.sha256
    assert new.due_on == later.date() + timedelta(days=30)
    assert len(_cycles(session, busy, "basics")) == 1  # not completed: nothing to redo


def test_preboarding_window_delays_assignment_until_near_the_start(
    session: Session, courses_root: Path, now: datetime
) -> None:
    factories.synced_course(session, courses_root, now, due_days=14)
    hire = factories.user(session, now, start_date=now.date() + timedelta(days=40))
    assert assign_courses(session, now, preboarding_days=14) == 0
    assert assign_courses(session, now + timedelta(days=26), preboarding_days=14) == 1
    (cycle,) = _cycles(session, hire, "basics")
    assert cycle.due_on == hire.start_date + timedelta(days=14)  # type: ignore[operator]
