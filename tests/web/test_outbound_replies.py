"""What a receiver answers never reaches an admin page: the outbox shows the status and its
reason phrase for a statement an LRS refused, never the reply's body (webhooks: see
tests/api/test_webhooks.py, LTI: tests/web/test_lti_outbound.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.db import Database
from lms.integrations.xapi import service as xapi
from lms.people.models import User
from lms.people.outbound import Policy
from lms.reminders import outbox
from lms.reminders.models import OutboxMessage
from tests.conftest import SECRET_KEY, Auth
from tests.factories import PASSWORD
from tests.http_stub import Reply, Stub, running

STATEMENT_ID = "5f1c0f1e-0000-4000-8000-000000000001"
LOCAL = Policy(allow=("127.0.0.1",), https_only=False)
REPLY = b'{"detail": "statement rejected; internal note: db01.corp password hunter2"}'


@pytest.fixture
def refusing() -> Iterator[Stub]:
    """An LRS that refuses every statement with a chatty 400."""
    reply = Reply(400, REPLY, {"Content-Type": "application/json"})
    with running(reply) as stub:
        yield stub


def test_the_outbox_shows_a_refused_statement_by_status_never_by_the_lrs_reply(
    client: FlaskClient,
    database: Database,
    session: Session,
    refusing: Stub,
    admin: User,
    now: datetime,
) -> None:
    store = xapi.register(
        session, name="LRS", url=refusing.address("/xAPI/"), username="vern", password="p",
        send_email=False, now=now, keys=SECRET_KEY, allow_http=True,
    )  # fmt: skip
    outbox.enqueue(
        session, key="xapi:test", kind=xapi.KIND, now=now, domain="example.test",
        payload={"endpoint_id": store.id, "statement": {"id": STATEMENT_ID}},
    )  # fmt: skip
    session.commit()
    assert "failed 1" in xapi.deliver_due(database, now, policy=LOCAL, keys=SECRET_KEY)
    session.expire_all()
    message = session.scalars(select(OutboxMessage)).one()
    assert message.last_error == "HTTP 400 Bad Request"
    Auth(client).login(admin.email, PASSWORD)
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "HTTP 400 Bad Request" in page
    assert "hunter2" not in page
