"""The course catalogue for admins: what is in use, and what a sync from courses/ would do."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.catalog.definition import CourseDefinition
from lms.catalog.models import Course, CourseVersion
from lms.catalog.service import SyncReport, sync_catalog
from lms.training.cycles import assign_courses, move_unstarted_to_current_versions
from lms.training.models import Assignment, ModuleView


@dataclass(frozen=True)
class VersionInUse:
    sha256: str
    created_at: datetime
    minor: bool
    current: bool
    people: int  # current cycles on this version


@dataclass(frozen=True)
class CourseEntry:
    key: str
    title: dict[str, str]
    versions: list[VersionInUse]


def overview(session: Session) -> list[CourseEntry]:
    """Every course with its current version and the older versions people are still on."""
    in_use = dict(
        session.execute(
            select(Assignment.course_version_id, func.count())
            .where(Assignment.superseded_at.is_(None), Assignment.ended_at.is_(None))
            .group_by(Assignment.course_version_id)
        ).all()
    )
    entries = []
    for course in session.scalars(select(Course).order_by(Course.key)):
        versions = session.scalars(
            select(CourseVersion)
            .where(CourseVersion.course_id == course.id)
            .order_by(CourseVersion.id.desc())
        ).all()
        shown = [
            VersionInUse(
                v.sha256,
                v.created_at,
                v.minor,
                v.id == course.current_version_id,
                int(in_use.get(v.id, 0)),
            )
            for v in versions
            if v.id == course.current_version_id or in_use.get(v.id)
        ]
        title = course.current_version.definition.title if course.current_version else {}
        entries.append(CourseEntry(course.key, title, shown))
    return entries


@dataclass
class PlannedChange:
    key: str
    kind: str  # new course | major version | minor version | back to an earlier version
    new_cycles: int = 0  # people who completed an older version and must do it again
    moved: int = 0  # people who had not started and simply move to the new version


@dataclass
class SyncPlan:
    changes: list[PlannedChange] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def plan_sync(session: Session, definitions: list[CourseDefinition]) -> SyncPlan:
    """What `apply_sync` would change, without changing anything."""
    plan = SyncPlan()
    for definition in definitions:
        course = session.scalar(select(Course).where(Course.key == definition.key))
        if course is None:
            plan.changes.append(PlannedChange(definition.key, "new course"))
            continue
        current = course.current_version
        if current is not None and current.sha256 == definition.sha256:
            plan.unchanged.append(definition.key)
            continue
        known = session.scalar(
            select(CourseVersion).where(
                CourseVersion.course_id == course.id, CourseVersion.sha256 == definition.sha256
            )
        )
        kind = (
            "back to an earlier version"
            if known is not None
            else "minor version"
            if definition.minor
            else "major version"
        )
        open_cycles = (
            Assignment.course_id == course.id,
            Assignment.superseded_at.is_(None),
            Assignment.ended_at.is_(None),
        )
        started = (
            select(ModuleView.assignment_id)
            .where(ModuleView.assignment_id == Assignment.id)
            .exists()
        )
        moved = (
            session.scalar(
                select(func.count())
                .select_from(Assignment)
                .where(*open_cycles, Assignment.completed_at.is_(None), ~started)
            )
            or 0
        )
        new_cycles = (
            0
            if definition.minor or known is not None
            else session.scalar(
                select(func.count())
                .select_from(Assignment)
                .where(*open_cycles, Assignment.completed_at.is_not(None))
            )
            or 0
        )
        plan.changes.append(PlannedChange(definition.key, kind, new_cycles, moved))
    return plan


@dataclass(frozen=True)
class SyncOutcome:
    report: SyncReport
    moved: int
    assigned: int


def apply_sync(
    session: Session,
    definitions: list[CourseDefinition],
    now: datetime,
    *,
    preboarding_days: int | None,
) -> SyncOutcome:
    """Store new versions, move people who had not started, assign new courses. New cycles
    for a major version are opened by the next sweep (the same rule as renewals)."""
    report = sync_catalog(session, definitions, now)
    moved = move_unstarted_to_current_versions(session)
    assigned = assign_courses(session, now, preboarding_days=preboarding_days)
    return SyncOutcome(report, moved, assigned)
