"""From a mail to the page it names: the link in a real reminder, escalation or invitation,
followed signed out, leads through sign-in to that page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from lms import clock
from lms.catalog.definition import CourseDefinition
from lms.config import Settings
from lms.people.models import Role, User
from lms.people.service import create_user
from lms.people.sso import service as sso
from lms.reminders.jobs import run_job
from lms.training.cycles import assign_courses
from tests import factories
from tests.conftest import MAIL_BASE as BASE
from tests.conftest import csrf_token
from tests.smtp import Received, SmtpSink


@pytest.fixture
def team(session: Session, now: datetime, course: CourseDefinition) -> dict[str, User]:
    """Mia manages Kari; both can sign in with a password; Kari is due the course in 30 days."""
    mia = factories.user(
        session, now, name="Mia Manager", email="mia@example.test", password=factories.PASSWORD
    )
    kari = factories.user(
        session,
        now,
        name="Kari Nordmann",
        email="kari@example.test",
        password=factories.PASSWORD,
        manager=mia,
    )
    assign_courses(session, now)
    session.commit()
    return {"mia": mia, "kari": kari}


def _mail_to(app: Flask, smtp: SmtpSink, when: datetime, address: str) -> Received:
    clock.set_source(lambda: when)
    run_job(app, "sweep")
    run_job(app, "send")
    return next(m for m in smtp.received if m.envelope_to[0] == address)


def _link(mail: Received, label: str) -> str:
    """The URL the plain-text part gives after `label`; the HTML button must agree."""
    url = mail.link(re.escape(label) + r" (\S+)")
    assert url.startswith(BASE + "/")
    return url


def _sign_in_from(app: Flask, url: str, email: str) -> tuple[str, str]:
    """Follow a mailed link in a fresh, signed-out browser, sign in with a password where it
    asks; returns where the sign-in sent the person and that page."""
    browser = app.test_client()
    path = urlsplit(url).path
    asked = browser.get(path)
    assert asked.status_code == 302
    login = asked.headers["Location"]
    assert urlsplit(login).path == "/login"
    page = browser.get(login).get_data(as_text=True)
    assert '<form method="post"' in page
    assert ' action="' not in page.split('<form method="post"')[1].split(">")[0]
    # A browser posts a form without an action to the page's own URL, query string and all.
    signed_in = browser.post(
        login,
        data={"email": email, "password": factories.PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)
    landed = signed_in.headers["Location"]
    return landed, browser.get(landed).get_data(as_text=True)


def test_a_reminder_leads_a_signed_out_person_through_sign_in_to_the_course(
    mail_app: Flask, smtp: SmtpSink, team: dict[str, User], now: datetime
) -> None:
    mail = _mail_to(mail_app, smtp, now + timedelta(days=23, hours=1), "kari@example.test")
    url = _link(mail, "Open the course:")
    assert url == f"{BASE}/training/basics"
    landed, page = _sign_in_from(mail_app, url, "kari@example.test")
    assert landed == "/training/basics"
    assert "Course basics" in page


def test_the_sign_in_page_keeps_the_course_it_was_sent_from(
    mail_app: Flask, team: dict[str, User], now: datetime
) -> None:
    clock.set_source(lambda: now)
    asked = mail_app.test_client().get("/training/basics")
    assert asked.headers["Location"] == "/login?next=%2Ftraining%2Fbasics"


def test_an_escalation_leads_the_manager_to_the_persons_training_record(
    mail_app: Flask, smtp: SmtpSink, team: dict[str, User], now: datetime
) -> None:
    kari = team["kari"]
    mail = _mail_to(mail_app, smtp, now + timedelta(days=37, hours=1), "mia@example.test")
    assert "Kari Nordmann has not yet completed" in mail.text()
    url = _link(mail, "See their training:")
    assert url == f"{BASE}/team/people/{kari.id}"
    landed, page = _sign_in_from(mail_app, url, "mia@example.test")
    assert landed == f"/team/people/{kari.id}"
    assert "Kari Nordmann" in page
    assert "Course basics" in page


def test_an_invitation_leads_through_sign_in_with_the_address_filled_in_to_my_training(
    mail_app: Flask, session: Session, smtp: SmtpSink, team: dict[str, User], now: datetime
) -> None:
    team["kari"].invited_at = None  # a newcomer, as the sweep sees one
    session.commit()
    mail = _mail_to(mail_app, smtp, now, "kari@example.test")
    url = _link(mail, "Sign in:")
    assert url == f"{BASE}/login?email=kari%40example.test&next=%2Ftraining"
    browser = mail_app.test_client()
    target = url.removeprefix(BASE)
    page = browser.get(target).get_data(as_text=True)
    assert 'value="kari@example.test"' in page
    signed_in = browser.post(
        target,
        data={
            "email": "kari@example.test",
            "password": factories.PASSWORD,
            "csrf_token": csrf_token(page),
        },
    )
    assert signed_in.headers["Location"] == "/training"
    assert "Course basics" in browser.get("/training").get_data(as_text=True)


def test_an_invitation_to_someone_whose_company_signs_them_in_starts_at_its_provider(
    mail_app: Flask, session: Session, smtp: SmtpSink, settings: Settings, now: datetime
) -> None:
    sso.register(
        session,
        sso.ProviderDetails(
            name="contoso",
            display_name="Contoso",
            discovery_url="https://login.contoso.test/.well-known/openid-configuration",
            client_id="vern",
            client_secret="s3cret",
            domains=["contoso.test"],
        ),
        discovery={
            "issuer": "https://login.contoso.test",
            "authorization_endpoint": "https://login.contoso.test/authorize",
            "token_endpoint": "https://login.contoso.test/token",
            "jwks_uri": "https://login.contoso.test/keys",
        },
        key_set=None,
        secret_key=settings.secret_key,
        now=now,
    )
    create_user(session, email="kim@contoso.test", full_name="Kim Contoso", now=now)
    session.commit()
    mail = _mail_to(mail_app, smtp, now, "kim@contoso.test")
    assert 'choose "Sign in with Contoso"' in mail.text()
    assert "Email me a sign-in link" not in mail.text()
    url = _link(mail, "Sign in:")
    assert url.startswith(f"{BASE}/sso/contoso/start?")
    assert parse_qs(urlsplit(url).query) == {
        "next": ["/training"],
        "login_hint": ["kim@contoso.test"],
    }
    assert ">Sign in with Contoso</a>" in mail.html()
    sent_on = mail_app.test_client().get(url.removeprefix(BASE))
    assert sent_on.status_code == 302
    authorize = urlsplit(sent_on.headers["Location"])
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == (
        "https://login.contoso.test/authorize"
    )
    assert parse_qs(authorize.query)["login_hint"] == ["kim@contoso.test"]


def test_hr_in_copy_of_an_escalation_gets_a_link_it_can_open(
    mail_app: Flask,
    session: Session,
    smtp: SmtpSink,
    team: dict[str, User],
    now: datetime,
) -> None:
    factories.user(
        session,
        now,
        name="Hanne Hr",
        email="hanne@example.test",
        password=factories.PASSWORD,
        roles=frozenset({Role.HR}),
    )
    session.commit()
    kari = team["kari"]
    mail = _mail_to(mail_app, smtp, now + timedelta(days=37, hours=1), "mia@example.test")
    assert mail.message["Cc"] == "hanne@example.test"
    assert _link(mail, "See their training:") == f"{BASE}/team/people/{kari.id}"
    url = _link(mail, "HR, in the organisation's records:")
    assert url == f"{BASE}/hr/people/{kari.id}"
    landed, page = _sign_in_from(mail_app, url, "hanne@example.test")
    assert landed == f"/hr/people/{kari.id}"
    assert "Kari Nordmann" in page
