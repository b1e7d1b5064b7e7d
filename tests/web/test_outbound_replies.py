"""What a receiver answers never reaches an admin page: the outbox shows the status and its
reason phrase for a statement an LRS refused, never the reply's body (webhooks: see
tests/api/test_webhooks.py, LTI: tests/web/test_lti_outbound.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
from tests.smtp import free_port

STATEMENT_ID = "5f1c0f1e-0000-4000-8000-000000000001"
LOCAL = Policy(allow=("127.0.0.1",), https_only=False)
REPLY = b'{"detail": "statement rejected; internal note: db01.corp password hunter2"}'


class Refusing:
    """An LRS that refuses every statement with a chatty 400."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(REPLY)))
                self.end_headers()
                self.wfile.write(REPLY)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/xAPI/"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def refusing() -> Iterator[Refusing]:
    running = Refusing()
    yield running
    running.close()


def test_the_outbox_shows_a_refused_statement_by_status_never_by_the_lrs_reply(
    client: FlaskClient,
    database: Database,
    session: Session,
    refusing: Refusing,
    admin: User,
    now: datetime,
) -> None:
    store = xapi.register(
        session, name="LRS", url=refusing.url, username="vern", password="p", send_email=False,
        now=now, keys=SECRET_KEY, allow_http=True,
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
