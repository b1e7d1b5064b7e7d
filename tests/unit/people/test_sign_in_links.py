"""Single-use sign-in and reset links: hashed, short-lived, used once, void after any sign-in,
deactivation, password change or newer link; and the password rules."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.config import Settings
from lms.people import service, sign_in_links
from lms.people.models import LinkPurpose, SignInToken, User
from lms.people.passwords import PasswordProblem, password_problem
from tests import factories

KEY = b"k" * 32
SIGN_IN = LinkPurpose.SIGN_IN
RESET = LinkPurpose.PASSWORD_RESET


@pytest.fixture
def person(session: Session, now: datetime) -> User:
    return factories.user(session, now, email="kari@example.test", password=factories.PASSWORD)


def _issue(session: Session, person: User, now: datetime, purpose: LinkPurpose = SIGN_IN):  # noqa: ANN202
    link = sign_in_links.issue(session, person, purpose, now=now, key=KEY, next_path="/training/x")
    return link, sign_in_links.token_for(link, KEY)


def test_only_a_hash_of_the_token_is_stored(session: Session, person: User, now: datetime) -> None:
    link, token = _issue(session, person, now)
    row = session.execute(select(SignInToken.__table__).where(SignInToken.id == link.id)).one()
    assert token not in "|".join(str(value) for value in row)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert len(token) >= 43  # 256 bits


def test_the_token_is_recomputed_from_the_row_and_differs_per_link_and_key(
    session: Session, person: User, now: datetime
) -> None:
    first, token = _issue(session, person, now)
    second, other = _issue(session, person, now)
    assert sign_in_links.token_for(first, KEY) == token
    assert other != token
    assert sign_in_links.token_for(first, b"another key" * 3) != token


def test_a_link_signs_in_once(session: Session, person: User, now: datetime) -> None:
    _, token = _issue(session, person, now)
    used = sign_in_links.consume(session, token, SIGN_IN, now + timedelta(minutes=1))
    assert used.user_id == person.id
    assert used.next_path == "/training/x"
    with pytest.raises(sign_in_links.LinkNotValid):
        sign_in_links.consume(session, token, SIGN_IN, now + timedelta(minutes=2))


def test_finding_a_link_does_not_use_it(session: Session, person: User, now: datetime) -> None:
    link, token = _issue(session, person, now, RESET)
    assert sign_in_links.find(session, token, RESET, now).id == link.id
    assert sign_in_links.find(session, token, RESET, now).used_at is None
    assert sign_in_links.consume(session, token, RESET, now).id == link.id


def test_sign_in_links_last_15_minutes_and_reset_links_30(
    session: Session, person: User, now: datetime
) -> None:
    _, sign_in = _issue(session, person, now, SIGN_IN)
    _, reset = _issue(session, person, now, RESET)
    for token, purpose, minutes in ((sign_in, SIGN_IN, 15), (reset, RESET, 30)):
        just_before = now + timedelta(minutes=minutes) - timedelta(seconds=1)
        assert sign_in_links.find(session, token, purpose, just_before)
        with pytest.raises(sign_in_links.LinkNotValid):
            sign_in_links.find(session, token, purpose, now + timedelta(minutes=minutes))


def test_a_link_is_only_good_for_its_own_purpose(
    session: Session, person: User, now: datetime
) -> None:
    _, token = _issue(session, person, now, SIGN_IN)
    with pytest.raises(sign_in_links.LinkNotValid):
        sign_in_links.consume(session, token, RESET, now)
    with pytest.raises(sign_in_links.LinkNotValid):
        sign_in_links.consume(session, "made-up-token", SIGN_IN, now)


def test_a_newer_link_voids_the_older_one_of_the_same_purpose(
    session: Session, person: User, now: datetime
) -> None:
    _, old = _issue(session, person, now, SIGN_IN)
    _, reset = _issue(session, person, now, RESET)
    _, new = _issue(session, person, now + timedelta(minutes=1), SIGN_IN)
    with pytest.raises(sign_in_links.LinkNotValid):
        sign_in_links.find(session, old, SIGN_IN, now + timedelta(minutes=2))
    assert sign_in_links.find(session, new, SIGN_IN, now + timedelta(minutes=2))
    assert sign_in_links.find(session, reset, RESET, now + timedelta(minutes=2))


def test_any_sign_in_voids_outstanding_links(session: Session, person: User, now: datetime) -> None:
    _, sign_in = _issue(session, person, now, SIGN_IN)
    _, reset = _issue(session, person, now, RESET)
    service.start_login(
        session, person, now=now, lifetime=timedelta(hours=8), ip=None, user_agent=None
    )
    for token, purpose in ((sign_in, SIGN_IN), (reset, RESET)):
        with pytest.raises(sign_in_links.LinkNotValid):
            sign_in_links.find(session, token, purpose, now)


def test_deactivation_voids_links_and_reactivation_does_not_bring_them_back(
    session: Session, person: User, now: datetime
) -> None:
    _, token = _issue(session, person, now)
    service.deactivate(session, person, now)
    service.reactivate(session, person)
    with pytest.raises(sign_in_links.LinkNotValid):
        sign_in_links.find(session, token, SIGN_IN, now)


def test_a_deactivated_persons_link_is_refused_even_before_voiding(
    session: Session, person: User, now: datetime
) -> None:
    _, token = _issue(session, person, now)
    person.active = False  # e.g. a bulk change that did not go through deactivate()
    session.flush()
    with pytest.raises(sign_in_links.LinkNotValid):
        sign_in_links.consume(session, token, SIGN_IN, now)


def test_a_password_change_voids_links(session: Session, person: User, now: datetime) -> None:
    _, sign_in = _issue(session, person, now, SIGN_IN)
    _, reset = _issue(session, person, now, RESET)
    service.reset_password(session, person, "a brand new passphrase", now)
    for token, purpose in ((sign_in, SIGN_IN), (reset, RESET)):
        with pytest.raises(sign_in_links.LinkNotValid):
            sign_in_links.find(session, token, purpose, now)


def test_prune_drops_links_a_week_after_they_expired(
    session: Session, person: User, now: datetime
) -> None:
    old, _ = _issue(session, person, now - timedelta(days=8))
    recent, _ = _issue(session, person, now - timedelta(days=1), RESET)
    assert sign_in_links.prune(session, now) == 1
    remaining = set(session.scalars(select(SignInToken.id)))
    assert old.id not in remaining
    assert recent.id in remaining


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("eleven chars", None),  # 12 with the space: just long enough
        ("short pass1", PasswordProblem.TOO_SHORT),
        ("qwerty123456", PasswordProblem.TOO_COMMON),
        ("QWERTY123456", PasswordProblem.TOO_COMMON),  # whatever the case
        ("1q2w3e4r5t6y", PasswordProblem.TOO_COMMON),
        (factories.PASSWORD, None),
    ],
)
def test_password_rules(password: str, problem: PasswordProblem | None) -> None:
    assert password_problem(password) is problem


def test_setting_a_common_password_is_refused_and_keeps_the_old_one(
    session: Session, person: User, now: datetime
) -> None:
    before = person.password_hash
    with pytest.raises(service.WeakPassword, match="most common"):
        service.reset_password(session, person, "Qwerty123456", now)
    assert person.password_hash == before


def test_the_demo_password_passes_the_rules() -> None:
    from lms.admin.demo import DEMO_PASSWORD

    assert password_problem(DEMO_PASSWORD) is None


def test_erasing_a_leaver_drops_their_links(session: Session, person: User, now: datetime) -> None:
    from lms.privacy.erasure import erase_person

    _issue(session, person, now)
    _issue(session, person, now, RESET)
    service.deactivate(session, person, now)
    erase_person(session, person, now=now, actor_id=None, reason="left the company")
    assert session.scalars(select(SignInToken).where(SignInToken.user_id == person.id)).all() == []


def test_the_sweep_drops_spent_links(
    session: Session, settings: Settings, person: User, now: datetime
) -> None:
    from lms.reminders.jobs import sweep_in

    old, _ = _issue(session, person, now - timedelta(days=8))
    sweep_in(session, settings, now)
    assert session.get(SignInToken, old.id) is None


def test_lms_people_set_password_refuses_a_common_password(
    app: Flask, session: Session, person: User
) -> None:
    session.commit()
    before = person.password_hash
    result = app.test_cli_runner().invoke(
        args=["lms", "people", "set-password", person.email],
        input="Qwerty123456\nQwerty123456\n",
    )
    assert result.exit_code != 0
    assert "one of the most common ones" in result.output
    session.refresh(person)
    assert person.password_hash == before
