"""/healthz for the load balancer: the database must answer; the scheduler's heartbeat is
reported (a stale one degrades the status but keeps the web process in rotation)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from lms.reminders.models import JobState

pytestmark = pytest.mark.usefixtures("now")


def health(client: FlaskClient) -> tuple[int, dict[str, Any]]:
    response = client.get("/healthz")
    assert response.headers["Cache-Control"] == "no-store"
    return response.status_code, response.get_json()


def test_before_any_scheduler_run_the_web_is_up_and_says_so(client: FlaskClient) -> None:
    assert health(client) == (
        200,
        {
            "status": "degraded",
            "database": "ok",
            "scheduler": {"status": "never", "last_run_at": None, "age_seconds": None},
        },
    )


@pytest.mark.parametrize(
    ("minutes_ago", "scheduler", "status"), [(1, "ok", "ok"), (10, "stale", "degraded")]
)
def test_the_scheduler_heartbeat_is_its_last_job_start(
    client: FlaskClient,
    session: Session,
    now: datetime,
    minutes_ago: int,
    scheduler: str,
    status: str,
) -> None:
    session.add(JobState(job="send", runs=3, last_started_at=now - timedelta(minutes=minutes_ago)))
    session.add(JobState(job="digest", runs=1, last_started_at=now - timedelta(days=3)))
    session.commit()
    code, body = health(client)
    assert code == 200
    assert body["status"] == status
    assert body["scheduler"]["status"] == scheduler
    assert body["scheduler"]["age_seconds"] == minutes_ago * 60


def test_an_unreachable_database_is_a_503(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Unreachable:
        def scalar(self, *_: object) -> None:
            raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr("lms.reminders.views.db_session", Unreachable)
    code, body = health(client)
    assert code == 503
    assert body == {"status": "down", "database": "unreachable", "scheduler": None}
