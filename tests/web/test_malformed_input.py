"""Malformed input is the client's error: numbers beyond 64 bits or in non-ASCII digits, and a
`next=` carrying CR/LF, are a 400, a form's error or a 404, never a 500, and change nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.integrations.tokens import Scope, create_token
from lms.people.models import Department, User
from lms.training.models import LiveSeat, LiveSession
from lms.web import ID_MAX, INT64_MAX, whole_number
from tests.company import Company
from tests.conftest import Auth, csrf_token
from tests.factories import PASSWORD
from tests.web.test_live_sessions import schedule

pytestmark = pytest.mark.usefixtures("now")

TOO_BIG = "99999999999999999999"  # 20 digits: more than a 64-bit column holds
NOT_ASCII = ["²", "٣", "１"]  # superscript two (isdigit, not int), Arabic-Indic and full-width


def _as(client: FlaskClient, user: User) -> Auth:
    auth = Auth(client)
    auth.login(user.email, PASSWORD)
    return auth


def test_whole_numbers_are_ascii_digits_within_64_bits() -> None:
    assert whole_number("42") == 42
    assert whole_number(str(ID_MAX)) == ID_MAX
    assert whole_number(str(ID_MAX + 1)) is None  # an id column is 32 bits on PostgreSQL
    assert whole_number(str(INT64_MAX), high=INT64_MAX) == INT64_MAX
    assert whole_number(str(INT64_MAX + 1), high=INT64_MAX) is None
    assert whole_number(TOO_BIG) is None
    for raw in [*NOT_ASCII, "", "-1", "+1", " 1", "1.0", None]:
        assert whole_number(raw) is None, raw
    assert whole_number("0", low=1) is None
    assert whole_number("11", high=10) is None


@pytest.mark.parametrize("page", [TOO_BIG, *NOT_ASCII])
def test_the_people_list_shows_the_first_page_for_a_page_it_cannot_read(
    client: FlaskClient, company: Company, page: str
) -> None:
    _as(client, company.hr)
    response = client.get("/admin/people/", query_string={"page": page})
    assert response.status_code == 200
    assert "Ada One" in response.get_data(as_text=True)


@pytest.mark.parametrize("page", [TOO_BIG, "²"])
def test_the_audit_trail_answers_a_page_it_cannot_read_with_the_form_error(
    client: FlaskClient, company: Company, page: str
) -> None:
    _as(client, company.admin)
    response = client.get("/admin/audit", query_string={"page": page})
    assert response.status_code == 400


@pytest.mark.parametrize("page", [TOO_BIG, "²"])
def test_the_api_answers_a_page_it_cannot_read_with_a_400_problem(
    client: FlaskClient, session: Session, now: datetime, page: str
) -> None:
    _, raw = create_token(session, name="HR system", scope=Scope.EVIDENCE, now=now)
    session.commit()
    response = client.get(
        "/api/v1/onboarding",
        query_string={"started_after": "2026-01-01", "page": page},
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 400
    assert "page must be a whole number" in response.get_json()["detail"]


def test_an_id_beyond_64_bits_in_a_url_is_not_found(client: FlaskClient, company: Company) -> None:
    _as(client, company.hr)
    assert client.get(f"/hr/people/{TOO_BIG}").status_code == 404
    assert client.get(f"/hr/people/{INT64_MAX}").status_code == 404
    assert client.get(f"/hr/people/{ID_MAX + 1}").status_code == 404  # a 500 on PostgreSQL
    assert client.get("/hr/people/²").status_code == 404


@pytest.mark.parametrize("target", [TOO_BIG, "²"])
def test_a_merge_into_an_unreadable_department_is_refused_and_moves_nobody(
    client: FlaskClient, session: Session, company: Company, target: str
) -> None:
    auth = _as(client, company.admin)
    page = client.get("/admin/departments/").get_data(as_text=True)
    ops = session.scalars(select(Department).where(Department.key == "ops")).one()
    response = auth.post(f"/admin/departments/{ops.id}/merge", {"target": target}, page=page)
    assert response.status_code == 400
    session.expire_all()
    assert session.get_one(Department, ops.id).merged_into_id is None


@pytest.mark.parametrize("attended", [TOO_BIG, "²"])
def test_attendance_for_an_unreadable_person_is_a_400_and_records_nothing(
    client: FlaskClient, session: Session, company: Company, now: datetime, attended: str
) -> None:
    _as(client, company.hr)
    schedule(client, now.replace(tzinfo=None) + timedelta(days=2))
    live = session.scalars(select(LiveSession)).one()
    detail = client.get(f"/admin/live-sessions/{live.id}").get_data(as_text=True)
    response = client.post(
        f"/admin/live-sessions/{live.id}/attendance",
        data={"csrf_token": csrf_token(detail), "attended": [attended]},
    )
    assert response.status_code == 400
    assert session.scalar(select(func.count()).select_from(LiveSeat)) == 0


@pytest.mark.parametrize("next_path", ["/training\r\nSet-Cookie: x=1", "/training\n", "/\x7f"])
def test_a_next_path_with_control_characters_is_dropped_at_sign_in(
    client: FlaskClient, employee: User, next_path: str
) -> None:
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login",
        query_string={"next": next_path},
        data={"csrf_token": csrf_token(page), "email": employee.email, "password": PASSWORD},
    )
    assert response.status_code == 302
    assert "\r" not in response.headers["Location"]
    assert "\n" not in response.headers["Location"]
    assert "Set-Cookie" not in response.headers["Location"]
