"""From a reminder mail to the course: the link in a real mail, followed signed out, leads
through sign-in to the page it named."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from lms import clock, create_app
from lms.catalog.definition import CourseDefinition
from lms.config import Settings
from lms.db import Database
from lms.people.models import User
from lms.reminders.jobs import run_job
from lms.training.cycles import assign_courses
from tests import factories
from tests.conftest import csrf_token
from tests.smtp import Received, SmtpSink

BASE = "https://vern.example"


@pytest.fixture
def mail_app(settings: Settings, database: Database, smtp: SmtpSink) -> Flask:
    return create_app(
        settings.with_overrides(
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            mail_from="vern@example.test",
            base_url=BASE,
        ),
        database=database,
    )


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
    return next(m for m in smtp.received if m.envelope_to == [address])


def _link(mail: Received, label: str) -> str:
    """The URL the plain-text part gives after `label`; the HTML button must agree."""
    match = re.search(re.escape(label) + r" (\S+)", mail.text())
    assert match, mail.text()
    url = match.group(1)
    assert f'href="{url}"' in mail.html()
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
