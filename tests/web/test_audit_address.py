"""Every audit event written while serving a request carries the client's address, whichever
service wrote it; work outside a request (jobs, commands) records none."""

from __future__ import annotations

from datetime import datetime

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.audit.service import record
from tests.company import Company
from tests.conftest import Auth
from tests.factories import PASSWORD

CLIENT = "203.0.113.7"


def _events(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_staff_changes_and_logout_are_audited_with_the_client_address(
    client: FlaskClient, session: Session, company: Company, now: datetime
) -> None:
    client.environ_base["REMOTE_ADDR"] = CLIENT
    auth = Auth(client)
    auth.login(company.admin.email, PASSWORD)
    page = client.get("/admin/departments/").get_data(as_text=True)
    created = auth.post("/admin/departments/", {"key": "legal", "name": "Legal"}, page=page)
    assert created.status_code == 302
    auth.post("/logout", {}, page=page)
    (department,) = _events(session, "department.create")
    assert department.ip == CLIENT
    (logout,) = _events(session, "logout")
    assert logout.ip == CLIENT

    # After the request, work without a client (a job, a command) records no address.
    record(session, action="test.after_request", now=now)
    session.flush()
    assert [event.ip for event in _events(session, "test.after_request")] == [None]
