"""Adding a person by hand, and sending invitations from the people pages."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms import create_app
from lms.audit.models import AuditEvent
from lms.config import Settings
from lms.db import Database
from lms.people import service as people
from lms.people.models import User
from lms.reminders.models import OutboxMessage
from lms.training.models import Assignment
from tests.company import Company
from tests.conftest import Auth
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("now")


def _as(client: FlaskClient, user: User) -> Auth:
    auth = Auth(client)
    auth.login(user.email, PASSWORD)
    return auth


def _invitation_keys(session: Session) -> list[str]:
    session.expire_all()
    return list(
        session.scalars(
            select(OutboxMessage.dedupe_key)
            .where(OutboxMessage.kind == "invitation")
            .order_by(OutboxMessage.id)
        )
    )


def _events(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _people(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(User)) or 0


NEW = {
    "full_name": "Nina  Ny",
    "email": "Nina.Ny@Example.test",
    "department": "sales",
    "manager_email": "lea.lead@example.test",
    "start_date": "2026-03-09",
    "locale": "nb",
    "timezone": "Europe/Oslo",
}


def test_hr_adds_a_person_who_gets_courses_an_invitation_and_an_audit_event(
    client: FlaskClient, session: Session, company: Company
) -> None:
    auth = _as(client, company.hr)
    response = auth.post("/admin/people/new", NEW)
    assert response.status_code == 302
    person = people.user_by_email(session, "nina.ny@example.test")
    assert person is not None
    assert response.headers["Location"] == f"/admin/people/{person.id}"
    assert (person.full_name, person.locale, person.timezone) == ("Nina Ny", "nb", "Europe/Oslo")
    assert person.department is not None
    assert person.department.key == "sales"
    assert person.manager_id == company.lead_a.id
    assert person.start_date == date(2026, 3, 9)
    courses = session.scalars(select(Assignment.course_id).where(Assignment.user_id == person.id))
    assert len(list(courses)) == 2  # basics for all, crm for sales, as an import would
    assert _invitation_keys(session) == [f"invitation:{person.id}:1"]
    (event,) = _events(session, "person.create")
    assert (event.actor_id, event.subject_user_id) == (company.hr.id, person.id)
    assert event.detail["manager"] == "lea.lead@example.test"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Nina Ny is added, and their invitation is on its way." in page


def test_with_a_timing_set_the_invitation_waits_for_its_day(
    session: Session, company: Company, settings: Settings, database: Database
) -> None:
    timed = create_app(settings.with_overrides(invite_days_before_start=7), database=database)
    client = timed.test_client()
    auth = _as(client, company.admin)
    response = auth.post("/admin/people/new", {**NEW, "start_date": "2026-04-20"})
    assert response.status_code == 302
    assert _invitation_keys(session) == []
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Nina Ny is added. Their invitation goes out on April 13, 2026." in page


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"email": "ada.one@example.test"}, "email", "Someone in Vern already has this email"),
        ({"email": "not an address"}, "email", "Enter a valid email address"),
        ({"manager_email": "nobody@example.test"}, "manager_email", "Nobody active in Vern"),
        ({"start_date": "2026-02-31"}, "start_date", "Not a valid date value"),
        ({"full_name": ""}, "full_name", "Enter the person's full name."),
        ({"timezone": "Mars/Olympus"}, "timezone", "Not a valid choice"),
    ],
)
def test_a_bad_entry_is_shown_at_its_field_and_adds_nobody(
    client: FlaskClient,
    session: Session,
    company: Company,
    change: dict[str, str],
    field: str,
    message: str,
) -> None:
    before = _people(session)
    auth = _as(client, company.hr)
    response = auth.post("/admin/people/new", {**NEW, **change})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    assert message in html.split(f'id="{field}-error"')[1].split("</p>")[0]
    assert _people(session) == before
    assert _invitation_keys(session) == []
    assert _events(session, "person.create") == []


def test_only_hr_and_admins_may_add_people(app: Flask, company: Company) -> None:
    for who, status in (
        (company.a1, 403),
        (company.lead_a, 403),
        (company.auditor, 403),
        (company.hr, 200),
        (company.admin, 200),
    ):
        client = app.test_client()
        _as(client, who)
        assert client.get("/admin/people/new").status_code == status, who.email
    people_page = client.get("/admin/people/").get_data(as_text=True)
    assert 'href="/admin/people/new"' in people_page


def test_send_invitation_on_the_persons_page_queues_a_new_mail_each_time(
    client: FlaskClient, session: Session, company: Company
) -> None:
    auth = _as(client, company.hr)
    url = f"/admin/people/{company.a2.id}"
    page = client.get(url).get_data(as_text=True)
    assert "Send invitation" in page
    for _ in range(2):
        response = auth.post(f"{url}/invite", page=page)
        assert response.status_code == 302
    assert _invitation_keys(session) == [f"invitation:{company.a2.id}:{n}" for n in (1, 2)]
    assert len(_events(session, "person.invite")) == 2
    again = client.get(url).get_data(as_text=True)
    assert "Invitation to Ari Two queued." in again
    assert "2 invitations" in again


def test_a_leaver_gets_no_invitation_button_and_no_invitation(
    client: FlaskClient, session: Session, company: Company, now: datetime
) -> None:
    people.deactivate(session, company.b1, now)
    session.commit()
    auth = _as(client, company.hr)
    url = f"/admin/people/{company.b1.id}"
    page = client.get(url).get_data(as_text=True)
    assert "Send invitation" not in page
    response = auth.post(f"{url}/invite", page=page)
    assert response.status_code == 302
    assert _invitation_keys(session) == []


def test_the_bulk_invitation_counts_and_invites_only_people_who_never_signed_in(
    client: FlaskClient, session: Session, company: Company, now: datetime
) -> None:
    people.deactivate(session, company.b1, now)  # a leaver who never signed in
    session.commit()
    auth = _as(client, company.admin)  # the admin has now signed in
    page = client.get("/admin/people/").get_data(as_text=True)
    # Nine people, one left, the admin signed in: seven never did.
    assert "7 active people have never signed in to Vern." in page
    assert "Invite everyone who has never signed in (7)" in page
    response = auth.post("/admin/people/invite-never-signed-in", page=page)
    assert response.status_code == 302
    keys = _invitation_keys(session)
    invited = {int(key.split(":")[1]) for key in keys}
    assert len(keys) == 7
    assert company.admin.id not in invited
    assert company.b1.id not in invited
    (event,) = _events(session, "people.invite")
    assert event.detail == {"queued": 7}
    assert "7 invitations queued." in client.get("/admin/people/").get_data(as_text=True)


def test_the_settings_page_says_when_new_people_are_invited(
    company: Company, settings: Settings, database: Database
) -> None:
    for days, wanted in ((None, "as soon as they are in Vern"), (7, "7 days before their start")):
        app = create_app(settings.with_overrides(invite_days_before_start=days), database=database)
        client = app.test_client()
        _as(client, company.admin)
        page = client.get("/admin/settings").get_data(as_text=True)
        invited = page.split("New people get their invitation</dt>")[1].split("</dd>")[0]
        assert wanted in invited


def test_people_imported_from_a_csv_file_are_invited_at_once(
    client: FlaskClient, session: Session, company: Company
) -> None:
    auth = _as(client, company.hr)
    text = "external_id,email,full_name\nW-9,ivar.import@example.test,Ivar Import\n"
    page = client.get("/admin/people/import").get_data(as_text=True)
    response = auth.post("/admin/people/import/apply", {"csv_text": text}, page=page)
    assert response.status_code == 302
    person = people.user_by_email(session, "ivar.import@example.test")
    assert person is not None
    assert _invitation_keys(session) == [f"invitation:{person.id}:1"]
