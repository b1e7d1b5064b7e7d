"""People and login sessions: unique emails, credentials, server-side session lifecycle."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from lms.people import service
from tests import factories


def test_email_is_unique_whatever_its_case(session: Session, now: datetime) -> None:
    factories.user(session, now, email="kari@example.test")
    with pytest.raises(service.DuplicateEmail):
        factories.user(session, now, email="  Kari@Example.TEST ")


def test_password_is_stored_hashed_and_checked(
    session: Session, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lms.people.service.PASSWORD_METHOD", "scrypt")
    person = factories.user(session, now, email="a@example.test", password=factories.PASSWORD)
    assert person.password_hash
    assert factories.PASSWORD not in person.password_hash
    assert person.password_hash.startswith("scrypt:")
    assert service.authenticate(session, "A@example.test", factories.PASSWORD) is person
    with pytest.raises(service.InvalidCredentials):
        service.authenticate(session, "a@example.test", "wrong password here")
    with pytest.raises(service.InvalidCredentials):
        service.authenticate(session, "nobody@example.test", factories.PASSWORD)


def test_short_password_is_refused(session: Session, now: datetime) -> None:
    with pytest.raises(service.WeakPassword):
        factories.user(session, now, password="short")


def test_inactive_user_cannot_authenticate(session: Session, now: datetime) -> None:
    person = factories.user(session, now, email="gone@example.test", password=factories.PASSWORD)
    person.active = False
    with pytest.raises(service.InvalidCredentials):
        service.authenticate(session, "gone@example.test", factories.PASSWORD)


def test_login_session_ends_on_logout_expiry_and_deactivation(
    session: Session, now: datetime
) -> None:
    person = factories.user(session, now)
    hour = timedelta(hours=1)

    started = service.start_login(session, person, now=now, lifetime=hour, ip=None, user_agent=None)
    assert service.user_for_login(session, started.token, now) is person
    assert service.user_for_login(session, started.token, now + 2 * hour) is None
    service.end_login(session, started.token, now)
    assert service.user_for_login(session, started.token, now) is None

    again = service.start_login(session, person, now=now, lifetime=hour, ip=None, user_agent=None)
    assert again.token != started.token
    person.active = False
    session.flush()
    assert service.user_for_login(session, again.token, now) is None


def test_end_all_logins_ends_every_session_of_the_user(session: Session, now: datetime) -> None:
    person = factories.user(session, now)
    tokens = [
        service.start_login(
            session, person, now=now, lifetime=timedelta(hours=1), ip=None, user_agent=None
        ).token
        for _ in range(2)
    ]
    service.end_all_logins(session, person, now)
    assert all(service.user_for_login(session, t, now) is None for t in tokens)


def test_a_new_password_ends_every_login_of_the_person(session: Session, now: datetime) -> None:
    """ASVS 3.3.3: after a password change no old session goes on."""
    person = factories.user(session, now, password="an old password!")
    hour = timedelta(hours=1)
    started = service.start_login(session, person, now=now, lifetime=hour, ip=None, user_agent=None)
    service.reset_password(session, person, "a brand new password", now)
    assert service.user_for_login(session, started.token, now) is None
    assert service.authenticate(session, person.email, "a brand new password") is person


def test_reporting_chain_cannot_loop(session: Session, now: datetime) -> None:
    boss = factories.user(session, now)
    lead = factories.user(session, now, manager=boss)
    member = factories.user(session, now, manager=lead)
    with pytest.raises(service.ReportingCycle):
        service.set_manager(session, boss, member)
    assert boss.manager is None
    assert service.has_reports(session, lead)
    assert not service.has_reports(session, member)


@pytest.mark.parametrize("key", ["all", "managers", "Sales", "has space", ""])
def test_department_keys_cannot_clash_with_audience_words(session: Session, key: str) -> None:
    with pytest.raises(service.InvalidDepartmentKey):
        service.get_or_create_department(session, key, "Name")
