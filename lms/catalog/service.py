"""Catalogue services: store course versions from files, look courses up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.catalog.definition import CourseDefinition
from lms.catalog.models import Course, CourseVersion


@dataclass
class SyncReport:
    """What a sync changed, for the command's output and the admin preview."""

    new_courses: list[str] = field(default_factory=list)
    new_versions: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def sync_catalog(
    session: Session, definitions: list[CourseDefinition], now: datetime
) -> SyncReport:
    """Store each definition's version once and make it current; old versions stay as they are."""
    report = SyncReport()
    for definition in definitions:
        course = session.scalar(select(Course).where(Course.key == definition.key))
        if course is None:
            course = Course(key=definition.key, created_at=now)
            session.add(course)
            session.flush()
            report.new_courses.append(definition.key)
        version = session.scalar(
            select(CourseVersion).where(
                CourseVersion.course_id == course.id,
                CourseVersion.sha256 == definition.sha256,
            )
        )
        if version is None:
            version = CourseVersion(
                course_id=course.id,
                sha256=definition.sha256,
                minor=definition.minor,
                content=definition.to_content(),
                created_at=now,
            )
            session.add(version)
            session.flush()
            if definition.key not in report.new_courses:
                report.new_versions.append(definition.key)
        elif course.current_version_id == version.id:
            report.unchanged.append(definition.key)
        else:  # the files went back to a version stored earlier
            report.new_versions.append(definition.key)
        course.current_version = version
    session.flush()
    return report


def current_courses(session: Session) -> list[tuple[Course, CourseVersion]]:
    """Every course that has a current version, in key order."""
    rows = session.execute(
        select(Course, CourseVersion)
        .join(CourseVersion, CourseVersion.id == Course.current_version_id)
        .order_by(Course.key)
    ).all()
    return [(course, version) for course, version in rows]
