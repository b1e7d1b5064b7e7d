"""Looking after people by hand: search, edit with audit, leaving with reports handed over."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.people import service as people
from lms.people.models import User
from tests.company import Company
from tests.conftest import Auth
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("now")


def _as(client: FlaskClient, user: User) -> Auth:
    auth = Auth(client)
    auth.login(user.email, PASSWORD)
    return auth


def _events(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_managers_and_auditors_cannot_open_people_admin(
    client: FlaskClient, company: Company
) -> None:
    _as(client, company.lead_a)
    assert client.get("/admin/people/").status_code == 403
    assert client.get(f"/admin/people/{company.a1.id}").status_code == 403


def test_search_by_name_department_and_status_is_paged(
    client: FlaskClient, session: Session, company: Company, now: datetime
) -> None:
    _as(client, company.hr)
    html = client.get("/admin/people/?q=ada").get_data(as_text=True)
    assert "Ada One" in html
    assert "Ari Two" not in html
    sales = client.get("/admin/people/?department=sales").get_data(as_text=True)
    assert "Ari Two" in sales
    assert "Bea Bee" not in sales
    people.deactivate(session, company.b1, now)
    session.commit()
    assert "Bea Bee" not in client.get("/admin/people/").get_data(as_text=True)
    assert "Bea Bee" in client.get("/admin/people/?status=inactive").get_data(as_text=True)
    assert client.get("/admin/people/?page=abc&status=weird").status_code == 200


def test_editing_a_person_is_audited_with_before_and_after(
    client: FlaskClient, session: Session, company: Company
) -> None:
    auth = _as(client, company.admin)
    url = f"/admin/people/{company.a2.id}"
    page = client.get(url).get_data(as_text=True)
    response = auth.post(
        url,
        {
            "department": "ops",
            "manager_email": company.lead_b.email,
            "locale": "nb",
            "roles": ["auditor"],
        },
        page=page,
    )
    assert response.status_code == 302
    session.expire_all()
    person = session.get(User, company.a2.id)
    assert person is not None
    assert person.department is not None
    assert person.department.key == "ops"
    assert person.manager_id == company.lead_b.id
    assert person.locale == "nb"
    assert {str(r) for r in person.roles} == {"auditor"}
    (event,) = _events(session, "person.update")
    assert event.actor_id == company.admin.id
    assert event.detail["changes"]["manager"] == [company.a1.email, company.lead_b.email]
    assert event.detail["changes"]["roles"] == [[], ["auditor"]]


def test_hr_cannot_grant_roles(client: FlaskClient, session: Session, company: Company) -> None:
    auth = _as(client, company.hr)
    url = f"/admin/people/{company.a2.id}"
    page = client.get(url).get_data(as_text=True)
    assert 'name="roles"' not in page
    auth.post(
        url,
        {
            "department": "sales",
            "manager_email": company.a1.email,
            "locale": "en",
            "roles": ["admin"],
        },
        page=page,
    )
    session.expire_all()
    assert session.get(User, company.a2.id).roles == frozenset()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("manager", "message"),
    [
        ("nobody@example.test", "Nobody active in Vern has that email."),
        ("ari.two@example.test", "cannot report to someone in their own reporting line"),
    ],
)
def test_bad_manager_is_refused_at_the_field_and_nothing_changes(
    client: FlaskClient, session: Session, company: Company, manager: str, message: str
) -> None:
    auth = _as(client, company.admin)
    url = f"/admin/people/{company.lead_a.id}"  # Ari reports (indirectly) to Lea
    page = client.get(url).get_data(as_text=True)
    response = auth.post(
        url, {"department": "sales", "manager_email": manager, "locale": "en"}, page=page
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert 'id="manager_email-error"' in html
    session.expire_all()
    assert session.get(User, company.lead_a.id).manager_id == company.boss.id  # type: ignore[union-attr]
    assert _events(session, "person.update") == []


def test_leaving_with_reports_asks_who_takes_them_over(
    client: FlaskClient, session: Session, company: Company, now: datetime
) -> None:
    auth = _as(client, company.hr)
    url = f"/admin/people/{company.lead_a.id}"
    page = client.get(url).get_data(as_text=True)
    started = people.start_login(
        session,
        company.lead_a,
        now=now,
        lifetime=timedelta(hours=1),
        ip=None,
        user_agent=None,
    )
    session.commit()
    refused = auth.post(f"{url}/deactivate", {}, page=page)
    assert refused.status_code == 400
    assert "Say who takes them over" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(User, company.lead_a.id).active  # type: ignore[union-attr]

    done = auth.post(f"{url}/deactivate", {"reassign_to": company.boss.email}, page=page)
    assert done.status_code == 302
    session.expire_all()
    assert not session.get(User, company.lead_a.id).active  # type: ignore[union-attr]
    assert session.get(User, company.a1.id).manager_id == company.boss.id  # type: ignore[union-attr]
    assert people.user_for_login(session, started.token, now) is None
    (event,) = _events(session, "person.deactivate")
    assert event.detail["reports_moved"] == 1

    auth.post(f"{url}/reactivate", {}, page=client.get(url).get_data(as_text=True))
    session.expire_all()
    assert session.get(User, company.lead_a.id).active  # type: ignore[union-attr]
    assert _events(session, "person.reactivate")


def test_unknown_person_is_404(client: FlaskClient, company: Company) -> None:
    _as(client, company.admin)
    assert client.get("/admin/people/999999").status_code == 404
