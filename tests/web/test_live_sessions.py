"""Live sessions over HTTP: HR schedules one, an employee takes a seat from My training, HR
records who came, and the evidence page says the course was completed at a live session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms import clock
from lms.training.models import LiveSession
from tests.company import Company
from tests.conftest import Auth, csrf_token
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("now")


def form_token(client: FlaskClient, url: str) -> str:
    return csrf_token(client.get(url).get_data(as_text=True))


def schedule(client: FlaskClient, starts: datetime, **overrides: str) -> object:
    data = {
        "csrf_token": form_token(client, "/admin/live-sessions/"),
        "course": "crm",
        "starts_at": starts.strftime("%Y-%m-%dT%H:%M"),
        "minutes": "90",
        "place": "Room 4",
        "instructor": "Ingrid",
        "capacity": "10",
    }
    data.update(overrides)
    return client.post("/admin/live-sessions/", data=data)


def test_from_scheduling_to_evidence(
    app: Flask, client: FlaskClient, company: Company, session: Session, now: datetime
) -> None:
    Auth(client).login(company.hr.email, PASSWORD)
    assert "No live sessions are scheduled." in client.get("/admin/live-sessions/").get_data(
        as_text=True
    )
    local = now.astimezone(ZoneInfo(company.hr.timezone)).replace(tzinfo=None) + timedelta(days=2)
    response = schedule(client, local)
    assert response.status_code == 302  # type: ignore[attr-defined]
    live = session.scalars(select(LiveSession)).one()
    assert live.starts_at == local.replace(tzinfo=ZoneInfo(company.hr.timezone)).astimezone(UTC)

    employee = app.test_client()
    Auth(employee).login(company.a2.email, PASSWORD)
    page = employee.get("/training").get_data(as_text=True)
    assert "Live sessions" in page
    assert "Room 4" in page
    token = csrf_token(page)
    taken = employee.post(f"/training/live-sessions/{live.id}/seat", data={"csrf_token": token})
    assert taken.status_code == 302
    assert "You have a seat" in employee.get("/training").get_data(as_text=True)

    later = live.starts_at + timedelta(hours=2)
    clock.set_source(lambda: later)  # the session has taken place
    Auth(client).login(company.hr.email, PASSWORD)  # days later: a new login
    detail = client.get(f"/admin/live-sessions/{live.id}").get_data(as_text=True)
    assert company.a2.full_name in detail
    recorded = client.post(
        f"/admin/live-sessions/{live.id}/attendance",
        data={"csrf_token": csrf_token(detail), "attended": [str(company.a2.id)]},
    )
    assert recorded.status_code == 302
    evidence = client.get(f"/hr/people/{company.a2.id}").get_data(as_text=True)
    assert "Completed at a live session" in evidence
    assert "Ingrid" in evidence


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"place": ""}, "This field is required"),
        ({"capacity": "0"}, "between 1 and 500"),
        ({"starts_at": "not a date"}, "Not a valid datetime value"),
    ],
)
def test_a_bad_session_re_renders_with_the_message_and_writes_nothing(
    client: FlaskClient,
    company: Company,
    session: Session,
    now: datetime,
    overrides: dict[str, str],
    message: str,
) -> None:
    Auth(client).login(company.hr.email, PASSWORD)
    response = schedule(client, now.replace(tzinfo=None) + timedelta(days=2), **overrides)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert message in response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert session.scalar(select(func.count()).select_from(LiveSession)) == 0


def test_a_session_in_the_past_is_refused_at_its_field(
    client: FlaskClient, company: Company, now: datetime
) -> None:
    Auth(client).login(company.hr.email, PASSWORD)
    response = schedule(client, now.replace(tzinfo=None) - timedelta(days=2))
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "Choose a time in the future" in response.get_data(as_text=True)  # type: ignore[attr-defined]
