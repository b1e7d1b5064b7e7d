"""Courses and their immutable versions as stored in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.catalog.definition import CourseDefinition
from lms.db import AppendOnly, Base, UTCDateTime


class Course(Base):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("course_versions.id", use_alter=True)
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    current_version: Mapped[CourseVersion | None] = relationship(
        foreign_keys=[current_version_id], post_update=True, lazy="joined"
    )


class CourseVersion(AppendOnly, Base):
    """One exact version of a course's files; never changed once stored."""

    __tablename__ = "course_versions"
    __table_args__ = (UniqueConstraint("course_id", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    minor: Mapped[bool] = mapped_column(Boolean, default=False)
    # Deferred: every page that shows a course reads its version row, but the parsed course
    # is cached per process (below), so the JSON is only loaded and parsed on a cache miss.
    content: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    course: Mapped[Course] = relationship(foreign_keys=[course_id])

    @property
    def definition(self) -> CourseDefinition:
        """The parsed course; cached per process, which is safe because versions never change."""
        key = (self.id, self.sha256)
        cached = _DEFINITIONS.get(key)
        if cached is None:
            cached = _DEFINITIONS[key] = CourseDefinition.from_content(self.sha256, self.content)
        return cached


_DEFINITIONS: dict[tuple[int, str], CourseDefinition] = {}
