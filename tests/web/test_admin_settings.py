"""The settings page: admins only, tells the truth about the configuration, sends a test mail."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.people.models import User
from lms.reminders.models import OutboxMessage
from tests import factories
from tests.conftest import Auth


def test_only_admins_see_settings_or_send_test_mail(client: FlaskClient, hr: User) -> None:
    Auth(client).login(hr.email, factories.PASSWORD)
    assert client.get("/admin/settings").status_code == 403
    assert client.post("/admin/settings/test-mail").status_code in (400, 403)


def test_settings_page_shows_sender_mail_server_ladder_and_schedule(
    client: FlaskClient, admin: User
) -> None:
    Auth(client).login(admin.email, factories.PASSWORD)
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "Vern &lt;vern@localhost&gt;" in page  # the defaults the tests run with
    assert "mail is written to the scheduler's log" in page
    assert "7 days before the due date: a reminder to the employee." in page
    assert "3 days after: a reminder with the manager in copy." in page
    assert "7 days after, then every 7 days: an escalation to the manager and HR." in page
    assert "every 15 minutes" in page
    assert "Monday at 07:00 (Europe/Oslo)" in page
    assert "None: every course uses the ladder above." in page


def test_send_test_mail_queues_one_mail_to_the_admin_and_audits_it(
    client: FlaskClient, session: Session, admin: User
) -> None:
    auth = Auth(client)
    auth.login(admin.email, factories.PASSWORD)
    page = client.get("/admin/settings").get_data(as_text=True)
    response = auth.post("/admin/settings/test-mail", page=page)
    assert response.status_code == 302
    assert "A test mail to admin@example.test is in the outbox" in client.get(
        "/admin/settings"
    ).get_data(as_text=True)
    queued = session.scalars(select(OutboxMessage)).all()
    assert [(m.kind, m.payload["to"]) for m in queued] == [("test", [admin.id])]
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "mail.test")).all()
    assert [e.actor_id for e in events] == [admin.id]


def test_settings_page_in_norwegian_names_the_weekday_in_norwegian(
    client: FlaskClient, session: Session, admin: User
) -> None:
    admin.locale = "nb"
    session.commit()
    Auth(client).login(admin.email, factories.PASSWORD)
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "mandag" in page


def test_a_course_with_its_own_ladder_is_listed_with_its_steps(
    client: FlaskClient, session: Session, courses_root: Path, now: datetime, admin: User
) -> None:
    factories.synced_course(
        session, courses_root, now, reminders={"before_days": [1], "escalate_after": 10}
    )
    session.commit()
    Auth(client).login(admin.email, factories.PASSWORD)
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "None: every course uses the ladder above." not in page
    assert "1 day before the due date: a reminder to the employee." in page
    assert "10 days after, then every 7 days: an escalation to the manager and HR." in page
