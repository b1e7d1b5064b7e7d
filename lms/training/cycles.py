"""Who owes which course when: first assignment, audience changes, recertification cycles.

Every function recomputes from the tables and is safe to run any number of times, late, or
in two processes at once (unique (user, course, cycle) refuses a duplicate cycle)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, insert, or_, select, true, update
from sqlalchemy.orm import Session, aliased

from lms.catalog.definition import Audience, CourseDefinition
from lms.catalog.models import Course, CourseVersion
from lms.catalog.service import current_courses
from lms.people.models import Department, User
from lms.training import rules
from lms.training.models import Assignment, ModuleView


@dataclass
class CycleReport:
    assigned: int = 0
    ended: int = 0
    reopened: int = 0
    renewed: int = 0
    new_version_cycles: int = 0

    def total(self) -> int:
        return self.assigned + self.ended + self.reopened + self.renewed + self.new_version_cycles


def _in_audience(audience: Audience) -> ColumnElement[bool]:
    """SQL for "this user is in the audience" (users joined to their department)."""
    if audience.everyone:
        return true()
    reports = aliased(User)
    conditions: list[ColumnElement[bool]] = []
    if audience.departments:
        conditions.append(Department.key.in_(audience.departments))
        # A department merged into the person's own still counts: course files keep naming it.
        merged = aliased(Department)
        conditions.append(
            exists().where(
                merged.merged_into_id == User.department_id, merged.key.in_(audience.departments)
            )
        )
    if audience.managers:
        conditions.append(exists().where(reports.manager_id == User.id, reports.active.is_(True)))
    return or_(*conditions) if conditions else false()


def _new_assignment(
    user_id: int, course_id: int, version_id: int, cycle: int, now: datetime, due: date
) -> dict[str, Any]:
    # next_reminder_on = today: the reminder sweep looks at it on its next tick and moves it on.
    return {
        "user_id": user_id,
        "course_id": course_id,
        "course_version_id": version_id,
        "cycle": cycle,
        "assigned_at": now,
        "due_on": due,
        "next_reminder_on": now.date(),
    }


def assign_courses(
    session: Session,
    now: datetime,
    *,
    user: User | None = None,
    preboarding_days: int | None = None,
) -> int:
    """Give every active person in a course's audience their first cycle of it.

    New hires are due `due_days` after their start date, others after today. With
    `preboarding_days` set, nobody is assigned earlier than that many days before their start."""
    today = now.date()
    created = 0
    for course, version in current_courses(session):
        definition = version.definition
        query = (
            select(User.id, User.start_date)
            .outerjoin(Department, Department.id == User.department_id)
            .where(
                User.active.is_(True),
                _in_audience(definition.audience),
                ~exists().where(Assignment.user_id == User.id, Assignment.course_id == course.id),
            )
        )
        if user is not None:
            query = query.where(User.id == user.id)
        if preboarding_days is not None:
            horizon = today + timedelta(days=preboarding_days)
            query = query.where(or_(User.start_date.is_(None), User.start_date <= horizon))
        rows = [
            _new_assignment(
                user_id,
                course.id,
                version.id,
                1,
                now,
                rules.due_on(start_date, today, definition.due_days),
            )
            for user_id, start_date in session.execute(query)
        ]
        if rows:
            session.execute(insert(Assignment), rows)
            created += len(rows)
    session.flush()
    return created


def reconcile_audiences(session: Session, now: datetime) -> tuple[int, int]:
    """Stop chasing open cycles of people who left a course's audience; reopen on return.

    Returns (ended, reopened). Completed cycles are never touched."""
    ended = reopened = 0
    for course, version in current_courses(session):
        audience = version.definition.audience
        open_current = and_(
            Assignment.course_id == course.id,
            Assignment.completed_at.is_(None),
            Assignment.superseded_at.is_(None),
        )
        members = (
            select(User.id)
            .outerjoin(Department, Department.id == User.department_id)
            .where(_in_audience(audience))
        )
        if not audience.everyone:  # nobody can leave "everyone" (leavers are simply inactive)
            result = session.execute(
                update(Assignment)
                .where(
                    open_current, Assignment.ended_at.is_(None), Assignment.user_id.not_in(members)
                )
                .values(ended_at=now, next_reminder_on=None)
                .execution_options(synchronize_session=False)
            )
            ended += result.rowcount or 0  # type: ignore[attr-defined]
        result = session.execute(
            update(Assignment)
            .where(open_current, Assignment.ended_at.is_not(None), Assignment.user_id.in_(members))
            .values(ended_at=None, next_reminder_on=now.date())
            .execution_options(synchronize_session=False)
        )
        reopened += result.rowcount or 0  # type: ignore[attr-defined]
    session.flush()
    return ended, reopened


def _open_next_cycle(
    session: Session, old: Assignment, version: CourseVersion, now: datetime, due: date
) -> bool:
    """Supersede `old` with cycle + 1; False if another process opened it first."""
    claimed = session.execute(
        update(Assignment)
        .where(Assignment.id == old.id, Assignment.superseded_at.is_(None))
        .values(superseded_at=now, renews_on=None)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.execute(
        insert(Assignment),
        [_new_assignment(old.user_id, old.course_id, version.id, old.cycle + 1, now, due)],
    )
    return True


def open_renewal_cycles(session: Session, now: datetime) -> int:
    """Open the next cycle for everyone whose recertification date has come."""
    today = now.date()
    opened = 0
    due_rows = session.execute(
        select(Assignment, CourseVersion)
        .join(Course, Course.id == Assignment.course_id)
        .join(CourseVersion, CourseVersion.id == Course.current_version_id)
        .join(User, User.id == Assignment.user_id)
        .where(
            Assignment.renews_on <= today,
            Assignment.superseded_at.is_(None),
            User.active.is_(True),
        )
    ).all()
    for old, version in due_rows:
        due = today + timedelta(days=version.definition.due_days)
        opened += _open_next_cycle(session, old, version, now, due)
    session.flush()
    return opened


def _courses_with_a_newer_major_version(session: Session) -> dict[int, int]:
    """course id -> its latest major version id, for courses where that is not the first
    version (otherwise nobody can have completed an older one)."""
    latest_major = (
        select(CourseVersion.course_id, func.max(CourseVersion.id).label("major"))
        .where(CourseVersion.minor.is_(False))
        .group_by(CourseVersion.course_id)
        .subquery()
    )
    first = (
        select(CourseVersion.course_id, func.min(CourseVersion.id).label("first"))
        .group_by(CourseVersion.course_id)
        .subquery()
    )
    rows = session.execute(
        select(latest_major.c.course_id, latest_major.c.major)
        .join(first, first.c.course_id == latest_major.c.course_id)
        .where(latest_major.c.major > first.c.first)
    )
    return {course_id: version_id for course_id, version_id in rows}


def open_major_version_cycles(session: Session, now: datetime) -> int:
    """Everyone who completed a version older than the course's latest major version starts a
    new cycle of the current version; minor versions never do this."""
    today = now.date()
    opened = 0
    latest_major = _courses_with_a_newer_major_version(session)
    for course, version in current_courses(session):
        major_id = latest_major.get(course.id)
        if major_id is None:
            continue
        definition: CourseDefinition = version.definition
        stale = session.scalars(
            select(Assignment)
            .join(User, User.id == Assignment.user_id)
            .where(
                Assignment.course_id == course.id,
                Assignment.completed_at.is_not(None),
                Assignment.superseded_at.is_(None),
                Assignment.course_version_id < major_id,
                User.active.is_(True),
            )
        ).all()
        for old in stale:
            due = today + timedelta(days=definition.due_days)
            opened += _open_next_cycle(session, old, version, now, due)
    session.flush()
    return opened


def move_unstarted_to_current_versions(session: Session) -> int:
    """Point open assignments nobody has begun at their course's current version."""
    started = exists().where(ModuleView.assignment_id == Assignment.id)
    rows = session.execute(
        select(Assignment, Course.current_version_id)
        .join(Course, Course.id == Assignment.course_id)
        .where(
            Assignment.completed_at.is_(None),
            Assignment.course_version_id != Course.current_version_id,
            ~started,
        )
    ).all()
    for assignment, current_version_id in rows:
        if current_version_id is not None:  # the join guarantees it; this narrows the type
            assignment.course_version_id = current_version_id
    session.flush()
    return len(rows)


def run_cycles(session: Session, now: datetime, *, preboarding_days: int | None) -> CycleReport:
    """The whole assignment sweep, in the order that keeps it idempotent."""
    report = CycleReport()
    move_unstarted_to_current_versions(session)
    report.ended, report.reopened = reconcile_audiences(session, now)
    report.renewed = open_renewal_cycles(session, now)
    report.new_version_cycles = open_major_version_cycles(session, now)
    report.assigned = assign_courses(session, now, preboarding_days=preboarding_days)
    return report
