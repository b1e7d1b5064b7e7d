"""Departments: create, rename, merge (people and course audiences follow), archive."""

from __future__ import annotations

from datetime import datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.admin import departments as service
from lms.audit.models import AuditEvent
from lms.people.models import Department, User
from lms.training.cycles import assign_courses
from lms.training.models import Assignment
from tests import factories
from tests.company import Company
from tests.conftest import Auth
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("now")


def _dept(session: Session, key: str) -> Department:
    return session.scalars(select(Department).where(Department.key == key)).one()


def test_merging_moves_people_and_keeps_courses_meant_for_the_old_department(
    session: Session, company: Company, now: datetime
) -> None:
    revenue = service.create(session, "revenue", "Revenue", actor_id=company.admin.id, now=now)
    moved = service.merge(
        session, _dept(session, "sales"), revenue, actor_id=company.admin.id, now=now
    )
    assert moved == 3  # Lea, Ada, Ari
    sales = _dept(session, "sales")
    assert sales.archived_at == now
    assert sales.merged_into_id == revenue.id
    newcomer = factories.user(session, now, department=revenue)
    assign_courses(session, now)
    keys = {
        a.course_version.definition.key
        for a in session.scalars(select(Assignment).where(Assignment.user_id == newcomer.id))
    }
    assert "crm" in keys  # crm's audience names 'sales', merged into revenue
    assert (
        session.scalars(select(AuditEvent).where(AuditEvent.action == "department.merge"))
        .one()
        .detail["people"]
        == 3
    )


@pytest.mark.parametrize(
    ("key", "name", "reason"),
    [
        ("all", "Everyone", "bad_key"),
        ("Sales Team", "x", "bad_key"),
        ("sales", "Again", "key_taken"),
        ("fresh", "  ", "no_name"),
    ],
)
def test_bad_new_departments_are_refused(
    session: Session, company: Company, now: datetime, key: str, name: str, reason: str
) -> None:
    with pytest.raises(service.DepartmentError) as refused:
        service.create(session, key, name, actor_id=company.admin.id, now=now)
    assert refused.value.reason == reason


def test_a_department_with_people_cannot_be_archived(
    session: Session, company: Company, now: datetime
) -> None:
    with pytest.raises(service.DepartmentError) as refused:
        service.archive(session, _dept(session, "ops"), actor_id=company.admin.id, now=now)
    assert refused.value.people == 4  # Bo, Ben, Bea, Hal


def test_the_departments_page_creates_renames_and_explains_refusals(
    client: FlaskClient, session: Session, company: Company
) -> None:
    auth = Auth(client)
    auth.login(company.admin.email, PASSWORD)
    page = client.get("/admin/departments/").get_data(as_text=True)
    assert (
        auth.post("/admin/departments/", {"key": "legal", "name": "Legal"}, page=page).status_code
        == 302
    )
    refused = auth.post("/admin/departments/", {"key": "legal", "name": "Legal"}, page=page)
    assert refused.status_code == 400
    assert "exists already" in refused.get_data(as_text=True)
    ops = _dept(session, "ops")
    auth.post(f"/admin/departments/{ops.id}/rename", {"name": "Operations & HR"}, page=page)
    session.expire_all()
    assert _dept(session, "ops").name == "Operations & HR"
    archived = auth.post(f"/admin/departments/{ops.id}/archive", {}, page=page)
    assert archived.status_code == 400
    assert "still in it" in archived.get_data(as_text=True)


def test_only_admins_change_departments(client: FlaskClient, company: Company) -> None:
    Auth(client).login(company.hr.email, PASSWORD)
    assert client.get("/admin/departments/").status_code == 403


def test_merge_target_must_be_another_live_department(
    session: Session, company: Company, now: datetime
) -> None:
    sales = _dept(session, "sales")
    with pytest.raises(service.DepartmentError):
        service.merge(session, sales, sales, actor_id=company.admin.id, now=now)
    assert session.get(User, company.a1.id).department_id == sales.id  # type: ignore[union-attr]
