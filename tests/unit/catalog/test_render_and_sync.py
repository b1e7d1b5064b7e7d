"""Module rendering is sanitised; syncing stores each version once and never changes it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.catalog.loader import load_course
from lms.catalog.models import Course, CourseVersion
from lms.catalog.render import render_markdown
from lms.catalog.service import sync_catalog
from tests.factories import write_course


def test_markdown_is_rendered_and_raw_html_never_survives() -> None:
    html = render_markdown(
        "## Title\n\n**bold** <script>alert(1)</script> [x](javascript:alert(1))\n"
    )
    assert "<h2>Title</h2>" in html
    assert "<strong>bold</strong>" in html
    assert "<script" not in html
    assert 'href="javascript' not in html
    assert "<a" not in html


def test_only_safe_links_and_tags_survive_sanitising() -> None:
    html = render_markdown("[ok](https://example.org) <img src=x onerror=alert(1)>\n")
    assert '<a href="https://example.org" rel="noopener noreferrer">ok</a>' in html
    assert "<img" not in html


def test_sync_stores_a_version_once_and_keeps_old_ones(
    session: Session, courses_root: Path, now: datetime
) -> None:
    course_dir = write_course(courses_root)
    first = load_course(course_dir)
    assert sync_catalog(session, [first], now).new_courses == ["basics"]
    assert sync_catalog(session, [first], now).unchanged == ["basics"]

    module = course_dir / "modules" / "first.en.md"
    module.write_text(module.read_text(encoding="utf-8") + "\nA new paragraph.\n", encoding="utf-8")
    second = load_course(course_dir)
    report = sync_catalog(session, [second], now)

    assert report.new_versions == ["basics"]
    course = session.scalar(select(Course).where(Course.key == "basics"))
    assert course is not None
    assert course.current_version is not None
    assert course.current_version.sha256 == second.sha256
    versions = session.scalar(select(func.count()).select_from(CourseVersion))
    assert versions == 2
    old = session.scalar(select(CourseVersion).where(CourseVersion.sha256 == first.sha256))
    assert old is not None
    assert old.definition == first


def test_stored_versions_cannot_be_changed(
    session: Session, courses_root: Path, now: datetime
) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from lms.db import AppendOnlyViolation

    sync_catalog(session, [load_course(write_course(courses_root))], now)
    version = session.scalar(select(CourseVersion))
    assert version is not None
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(
            text("UPDATE course_versions SET minor = true WHERE id = :id"), {"id": version.id}
        )
    version.content = {**version.content, "pass_mark": 0}
    with pytest.raises(AppendOnlyViolation):
        session.flush()
    session.rollback()
