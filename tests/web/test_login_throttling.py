"""Sign-in throttling (ASVS 2.2.1, 11.1.4): per account and per client address, kept in the
database so every worker counts the same, and silent about whether an account exists."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms import create_app
from lms.config import Settings
from lms.db import Database
from lms.people.models import LoginFailure, User
from lms.reminders.jobs import sweep_in
from tests.conftest import csrf_token
from tests.factories import PASSWORD


def _attempt(client: FlaskClient, email: str, password: str, ip: str = "198.51.100.7"):  # noqa: ANN202
    page = client.get("/login").get_data(as_text=True)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(page)},
        environ_overrides={"REMOTE_ADDR": ip},
    )


def test_sixth_try_on_one_account_is_refused_even_with_the_right_password(
    client: FlaskClient, employee: User, at: list[datetime]
) -> None:
    for _ in range(5):
        assert _attempt(client, employee.email, "wrong").status_code == 200
    refused = _attempt(client, employee.email, PASSWORD)
    assert refused.status_code == 429
    assert "Try again in 15 minutes." in refused.get_data(as_text=True)
    assert 890 <= int(refused.headers["Retry-After"]) <= 901
    assert client.get("/training").status_code == 302  # not signed in


def test_the_account_opens_again_when_the_window_has_passed_and_success_clears_it(
    client: FlaskClient, session: Session, employee: User, at: list[datetime]
) -> None:
    for _ in range(5):
        _attempt(client, employee.email, "wrong")
    at[0] += timedelta(minutes=15, seconds=1)
    assert _attempt(client, employee.email, PASSWORD).status_code == 302
    assert session.scalar(select(func.count()).select_from(LoginFailure)) == 0


def test_known_and_unknown_accounts_get_the_same_refusal(
    client: FlaskClient, employee: User, at: list[datetime]
) -> None:
    replies = []
    for email in (employee.email, "nobody@example.test"):
        for _ in range(5):
            _attempt(client, email, "wrong")
        reply = _attempt(client, email, "wrong")
        replies.append((reply.status_code, reply.headers["Retry-After"], _message(reply)))
    assert replies[0] == replies[1]


def _message(reply) -> str:  # noqa: ANN001
    html = reply.get_data(as_text=True)
    return html[html.index('role="alert"') :].split("</p>")[0]


def test_one_address_trying_many_accounts_is_refused_and_others_are_not(
    client: FlaskClient, employee: User, at: list[datetime]
) -> None:
    for n in range(50):
        _attempt(client, f"guess{n}@example.test", "wrong", ip="203.0.113.9")
    assert _attempt(client, employee.email, PASSWORD, ip="203.0.113.9").status_code == 429
    assert _attempt(client, employee.email, PASSWORD, ip="192.0.2.1").status_code == 302


def test_failures_are_stored_without_the_address_typed(
    client: FlaskClient, session: Session, at: list[datetime]
) -> None:
    _attempt(client, "Someone@Example.test", "wrong")
    failure = session.scalars(select(LoginFailure)).one()
    assert "someone" not in failure.account_key.lower()
    assert len(failure.account_key) == 64


def test_the_sweep_forgets_failures_outside_the_window(
    settings: Settings, database: Database, client: FlaskClient, at: list[datetime]
) -> None:
    _attempt(client, "a@example.test", "wrong")
    at[0] += timedelta(minutes=10)
    _attempt(client, "b@example.test", "wrong")
    with database.transaction() as session:
        sweep_in(session, settings, at[0] + timedelta(minutes=6))
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(LoginFailure)) == 1


@pytest.mark.parametrize(("proxies", "recorded"), [(0, "10.0.0.2"), (1, "203.0.113.9")])
def test_the_client_address_comes_from_a_proxy_only_when_it_is_trusted(
    settings: Settings, database: Database, session: Session, proxies: int, recorded: str
) -> None:
    """LMS_TRUSTED_PROXIES=1 behind one reverse proxy; by default X-Forwarded-For is ignored,
    so a client cannot pick the address the throttle and the audit trail see."""
    client = create_app(
        settings.with_overrides(trusted_proxies=proxies), database=database
    ).test_client()
    page = client.get("/login", environ_base={"REMOTE_ADDR": "10.0.0.2"})
    client.post(
        "/login",
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "email": "x@example.test",
            "password": "wrong",
        },
        headers={"X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert session.scalars(select(LoginFailure.ip)).all() == [recorded]


def test_a_right_password_is_refused_if_the_account_was_throttled_while_it_was_checked(
    client: FlaskClient,
    session: Session,
    employee: User,
    at: list[datetime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The throttle is read, then the password hashed, without SQLite's write lock (sign-ins
    do not queue behind hashes); guesses sent side by side all pass that first look. Whoever
    is right must still find the account open when their sign-in is written, or a burst of
    parallel guesses gets as many tries as it has requests."""
    from lms.people import service, throttle

    real = service.authenticate

    def while_others_guess(db: Session, email: str, password: str) -> User:
        user = real(db, email, password)
        for _ in range(5):  # five wrong guesses sent alongside, written meanwhile
            throttle.note_failure(session, email, "203.0.113.9", at[0])
        session.commit()
        return user

    monkeypatch.setattr(service, "authenticate", while_others_guess)
    refused = _attempt(client, employee.email, PASSWORD)
    assert refused.status_code == 429
    assert client.get("/training").status_code == 302  # not signed in
