"""What a day of sign-ins and API calls leaves in the logs (ASVS 7.1.1, 7.3.1)."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from lms.integrations.tokens import Scope, create_token
from lms.people.models import User
from tests.conftest import csrf_token
from tests.factories import PASSWORD


def test_a_day_of_sign_ins_and_api_calls_logs_no_password_or_token(
    app: Flask,
    session: Session,
    employee: User,
    now: datetime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, token = create_token(session, name="hr", scope=Scope.EVIDENCE, now=now)
    session.commit()
    with caplog.at_level(logging.DEBUG):
        for password in ("wrong password\nINJECTED", PASSWORD) * 3 + ("wrong",) * 6:
            client = app.test_client()  # signed out each time
            page = client.get("/login").get_data(as_text=True)
            client.post(
                "/login",
                data={
                    "email": employee.email,
                    "password": password,
                    "csrf_token": csrf_token(page),
                },
            )
        client.get("/api/v1/onboarding", headers={"Authorization": f"Bearer {token}"})
        client.get(f"/api/v1/onboarding?access_token={token}")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "throttled" in text  # the run did log something worth checking
    assert PASSWORD not in text
    assert token not in text
    assert token[5:] not in text
    assert "\nINJECTED" not in text
