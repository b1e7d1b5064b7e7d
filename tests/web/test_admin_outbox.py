"""The admin page for mail and jobs: admins only, shows the outbox, runs a sweep, retries."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.catalog.definition import CourseDefinition
from lms.people.models import User
from lms.reminders import outbox
from lms.reminders.models import OutboxMessage, OutboxStatus
from tests import factories
from tests.conftest import Auth


def test_only_admins_see_the_outbox(client: FlaskClient, employee: User, admin: User) -> None:
    auth = Auth(client)
    auth.login(employee.email, factories.PASSWORD)
    assert client.get("/admin/outbox").status_code == 403
    assert client.post("/admin/outbox/sweep").status_code in (400, 403)
    client.post("/logout", data={"csrf_token": _token(client)})
    auth.login(admin.email, factories.PASSWORD)
    response = client.get("/admin/outbox")
    assert response.status_code == 200
    assert "Mail and jobs" in response.get_data(as_text=True)


def _token(client: FlaskClient) -> str:
    from tests.conftest import csrf_token

    return csrf_token(client.get("/training").get_data(as_text=True))


def test_run_sweep_now_queues_what_is_due(
    client: FlaskClient,
    session: Session,
    admin: User,
    employee: User,
    course: CourseDefinition,
    now: datetime,
) -> None:
    from lms import clock

    clock.set_source(lambda: now + timedelta(days=23))  # the `now` fixture restores it
    auth = Auth(client)
    auth.login(admin.email, factories.PASSWORD)
    page = client.get("/admin/outbox").get_data(as_text=True)
    response = auth.post("/admin/outbox/sweep", page=page)
    assert response.status_code == 302
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "Sweep done" in page
    queued = session.scalar(select(func.count()).select_from(OutboxMessage))
    assert queued == 2  # the employee and the admin are both due in a week


def test_dead_messages_are_listed_and_can_be_retried(
    client: FlaskClient, session: Session, admin: User, now: datetime
) -> None:
    outbox.enqueue(
        session, key="reminder:999:due", kind="reminder", payload={}, now=now, domain="example.test"
    )
    claim = outbox.claim(session, worker="w", now=now, limit=1, lease=timedelta(minutes=5))
    outbox.mark_failed(
        session, claim.messages[0], claim.token, now, "550 mailbox unavailable", permanent=True
    )
    session.commit()
    auth = Auth(client)
    auth.login(admin.email, factories.PASSWORD)
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "reminder:999:due" in page
    assert "550 mailbox unavailable" in page
    message_id = claim.messages[0].id
    response = auth.post(f"/admin/outbox/{message_id}/retry", page=page)
    assert response.status_code == 302
    session.expire_all()
    assert session.get(OutboxMessage, message_id).status == OutboxStatus.PENDING  # type: ignore[union-attr]
