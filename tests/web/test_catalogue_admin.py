"""The catalogue page: what is in use, what a sync would change, applied with one click."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.admin import catalogue
from lms.audit.models import AuditEvent
from lms.catalog.loader import load_catalog
from lms.catalog.models import CourseVersion
from tests import factories
from tests.company import Company, complete
from tests.conftest import Auth
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("now")


def _bump(courses_root: Path, key: str, minor: bool) -> None:
    """Change a module's text (and mark the version minor or not)."""
    course_dir = courses_root / key
    module = course_dir / "modules" / "first.en.md"
    module.write_text(
        module.read_text(encoding="utf-8") + "\nOne more sentence.\n", encoding="utf-8"
    )
    course_yaml = course_dir / "course.yaml"
    text = course_yaml.read_text(encoding="utf-8").replace("minor: true\n", "")
    course_yaml.write_text(text + ("minor: true\n" if minor else ""), encoding="utf-8")


def test_a_sync_plan_says_who_re_attests_before_anything_changes(
    session: Session, company: Company, courses_root: Path, now: datetime
) -> None:
    factories.write_course(courses_root, "newcomer")
    _bump(courses_root, "basics", minor=False)
    plan = catalogue.plan_sync(session, load_catalog(courses_root))
    changes = {c.key: c for c in plan.changes}
    assert changes["newcomer"].kind == "new course"
    assert changes["basics"].kind == "major version"
    assert changes["basics"].new_cycles == 2  # a1 and b1 completed basics
    assert plan.unchanged == ["crm"]
    assert len(session.scalars(select(CourseVersion)).all()) == 2  # nothing stored yet

    _bump(courses_root, "basics", minor=True)
    minor = {c.key: c for c in catalogue.plan_sync(session, load_catalog(courses_root)).changes}
    assert (minor["basics"].kind, minor["basics"].new_cycles) == ("minor version", 0)


def test_admins_see_the_plan_and_apply_it_with_one_click(
    client: FlaskClient, session: Session, company: Company, courses_root: Path
) -> None:
    _bump(courses_root, "basics", minor=True)
    auth = Auth(client)
    auth.login(company.admin.email, PASSWORD)
    page = client.get("/admin/catalogue/").get_data(as_text=True)
    assert "minor change: nobody re-attests" in page
    response = auth.post("/admin/catalogue/sync", {}, page=page)
    assert response.status_code == 302
    after = client.get("/admin/catalogue/").get_data(as_text=True)
    assert "Courses synced" in after
    assert "match the files in courses/" in after
    session.expire_all()
    assert session.scalars(select(AuditEvent).where(AuditEvent.action == "catalogue.sync")).one()


def test_broken_course_files_are_shown_with_file_and_line_and_nothing_syncs(
    client: FlaskClient, session: Session, company: Company, courses_root: Path
) -> None:
    (courses_root / "basics" / "course.yaml").write_text("pass_mark: [\n", encoding="utf-8")
    auth = Auth(client)
    auth.login(company.admin.email, PASSWORD)
    page = client.get("/admin/catalogue/").get_data(as_text=True)
    assert "courses/basics/course.yaml:" in page
    auth.post("/admin/catalogue/sync", {}, page=page)
    assert "nothing was changed" in client.get("/admin/catalogue/").get_data(as_text=True)
    session.expire_all()
    assert len(session.scalars(select(CourseVersion)).all()) == 2


def test_only_admins_open_the_catalogue(client: FlaskClient, company: Company) -> None:
    Auth(client).login(company.hr.email, PASSWORD)
    assert client.get("/admin/catalogue/").status_code == 403


def test_people_on_each_version_are_counted(
    session: Session, company: Company, now: datetime
) -> None:
    complete(session, company.a2, company.course, now)
    entries = {e.key: e for e in catalogue.overview(session)}
    assert entries["basics"].versions[0].current
    assert entries["basics"].versions[0].people == 9  # all nine people in the company
