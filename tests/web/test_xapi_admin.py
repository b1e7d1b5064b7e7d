"""Connecting Learning Record Stores: the admin page and the CLI check the fields, never show
the password again, audit what they do, and a switched-off store gets nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.integrations.xapi import service
from lms.integrations.xapi.models import LrsEndpoint
from lms.people.models import User
from tests.conftest import Auth
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("now")
PAGE = "/admin/xapi/"
FORM = {
    "name": "Company LRS",
    "url": "https://lrs.example.test/xAPI/",
    "username": "vern",
    "password": "s3cret-lrs-password",
}


@pytest.fixture
def signed_in(client: FlaskClient, admin: User) -> Auth:
    auth = Auth(client)
    auth.login(admin.email, PASSWORD)
    return auth


def _stores(session: Session) -> list[LrsEndpoint]:
    session.expire_all()
    return list(session.scalars(select(LrsEndpoint)))


def test_an_admin_connects_a_store_and_its_password_is_never_shown(
    client: FlaskClient, session: Session, signed_in: Auth
) -> None:
    assert signed_in.post(PAGE + "stores", FORM).status_code == 302
    (store,) = _stores(session)
    assert (store.url, store.username, store.send_email) == (FORM["url"], "vern", False)
    page = client.get(PAGE).get_data(as_text=True)
    assert "Company LRS" in page
    assert "pseudonymous account" in page
    assert 'aria-label="Switch off Company LRS"' in page
    assert FORM["password"] not in page
    event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event is not None
    assert event.action == "xapi.lrs.connect"
    assert FORM["password"] not in str(event.detail)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"url": "ftp://lrs.example.test/"}, "url", "https://"),
        ({"password": ""}, "password", "Enter the password"),
        ({"name": ""}, "name", "Name the LRS."),
    ],
)
def test_a_mistake_is_shown_at_its_field_and_nothing_is_connected(
    session: Session, signed_in: Auth, overrides: dict[str, str], field: str, message: str
) -> None:
    response = signed_in.post(PAGE + "stores", {**FORM, **overrides})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html.split(f'id="{field}-error">')[1].split("</p>")[0]
    assert _stores(session) == []


def test_a_switched_off_store_gets_nothing_and_restarts_from_now(
    session: Session, signed_in: Auth, now: datetime
) -> None:
    signed_in.post(PAGE + "stores", FORM)
    (store,) = _stores(session)
    signed_in.post(PAGE + f"stores/{store.id}/active", {"active": "0"})
    assert not _stores(session)[0].active
    later = now + timedelta(days=3)
    service.set_active(session, store.id, True, later)
    assert _stores(session)[0].read_until == later


def test_the_cli_connects_lists_and_switches_stores(app: Flask, session: Session) -> None:
    runner = app.test_cli_runner()
    arguments = ["lms", "xapi", "add-lrs", "Learning Locker", "https://ll.example.test/data/xAPI"]
    added = runner.invoke(
        args=[*arguments, "--username", "key"], env={"LMS_LRS_PASSWORD": "lrs-pw-7731"}
    )
    assert added.exit_code == 0, added.output
    assert "lrs-pw-7731" not in added.output
    listed = runner.invoke(args=["lms", "xapi", "stores"]).output
    assert "Learning Locker" in listed
    assert "people by pseudonym" in listed
    refused = runner.invoke(
        args=["lms", "xapi", "add-lrs", "x", "not-a-url", "--username", "u", "--password", "p"]
    )
    assert refused.exit_code != 0
    assert "url" in refused.output
    store_id = session.scalars(select(LrsEndpoint.id)).one()
    assert runner.invoke(args=["lms", "xapi", "switch-off", str(store_id)]).exit_code == 0
    assert "switched off" in runner.invoke(args=["lms", "xapi", "stores"]).output
    assert session.scalar(select(func.count()).select_from(LrsEndpoint)) == 1
