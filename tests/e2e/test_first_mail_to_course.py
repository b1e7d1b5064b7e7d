"""From the first mail to the course in a real browser, with nobody touching the server but
the operator's own commands: a company whose people sign in through its identity provider,
and a company with no provider and people who have no password.

Vern runs under gunicorn, the jobs run as `flask lms jobs run …` would from cron, the mail
goes to a real SMTP server and the provider is a real OpenID provider on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from lms.catalog.loader import load_course
from lms.catalog.service import sync_catalog
from lms.db import Database
from lms.training.cycles import assign_courses
from tests import factories
from tests.e2e.conftest import no_axe_violations
from tests.live import gunicorn, lms_command
from tests.oidc import TestProvider, oidc_provider  # noqa: F401 - a fixture
from tests.smtp import Received, SmtpSink

COURSE_TITLE = "Course basics"  # tests.factories.course_files


@dataclass
class Office:
    url: str
    lms: Callable[..., str]  # `flask --app app lms ARGS` with the office's mail settings
    smtp: SmtpSink


@pytest.fixture
def office(
    fresh_database_url: str, tmp_path: Path, courses_root: Path, smtp: SmtpSink
) -> Iterator[Office]:
    """Nina starts in three days at contoso.test and has never been invited; Olav, at
    example.test, was given the course 25 days ago (due in five), and has no password."""
    database = Database(fresh_database_url)
    now = datetime.now(UTC) - timedelta(days=25)
    with database.transaction() as session:
        sync_catalog(session, [load_course(factories.write_course(courses_root))], now)
        factories.user(
            session,
            now,
            name="Nina New",
            email="nina@contoso.test",
            start_date=date.today() + timedelta(days=3),
            invited=False,
        )
        factories.user(
            session,
            now,
            name="Olav Olsen",
            email="olav@example.test",
            start_date=date.today() - timedelta(days=400),
        )
        assign_courses(session, now)
    database.dispose()
    instance = tmp_path / "instance"
    with gunicorn(fresh_database_url, instance, courses_root) as url:
        environment = {
            "LMS_BASE_URL": url,
            "LMS_SMTP_HOST": "127.0.0.1",
            "LMS_SMTP_PORT": str(smtp.port),
            "LMS_MAIL_FROM": "vern@example.test",
            "CONTOSO_SECRET": "secret-from-contoso",
        }

        def lms(*args: str) -> str:
            return lms_command(
                fresh_database_url, instance, courses_root, *args, extra_env=environment
            )

        yield Office(url, lms, smtp)


class _Links(HTMLParser):
    """Every <a href> in a mail's HTML part with the text it shows."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs).get("href"), []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((" ".join("".join(self._text).split()), self._href))
            self._href = None


def link_in(mail: Received, label: str) -> str:
    """The address behind the link labelled `label` in the mail (exactly one)."""
    parser = _Links()
    parser.feed(mail.html())
    found = [href for text, href in parser.links if text == label]
    assert len(found) == 1, f"{label!r} not once in {parser.links}"
    return found[0]


def mails_to(smtp: SmtpSink, address: str) -> list[Received]:
    return [mail for mail in smtp.received if address in mail.envelope_to]


def test_a_new_hire_goes_from_the_invitation_through_the_company_sign_in_to_the_course(
    browser: Any,
    office: Office,
    oidc_provider: TestProvider,  # noqa: F811
) -> None:
    oidc_provider.set_user(
        "nina-at-contoso", email="nina@contoso.test", email_verified=True, name="Nina New"
    )
    added = office.lms(
        "sso",
        "add",
        "contoso",
        "--display-name",
        "Contoso",
        "--discovery-url",
        oidc_provider.discovery_url,
        "--client-id",
        "vern",
        "--client-secret-env",
        "CONTOSO_SECRET",
        "--domain",
        "contoso.test",
    )
    assert "/sso/callback" in added  # what the operator enters at the provider
    office.lms("jobs", "run", "sweep")
    office.lms("jobs", "run", "send")

    [invitation] = mails_to(office.smtp, "nina@contoso.test")
    assert COURSE_TITLE in invitation.text()
    page = browser.new_page()
    page.goto(link_in(invitation, "Sign in with Contoso"))
    # The provider's own sign-in page, not Vern's.
    assert page.url.startswith(oidc_provider.url)
    page.get_by_placeholder("sub").fill("nina-at-contoso")
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{office.url}/training")
    no_axe_violations(page)
    page.get_by_role("link", name=COURSE_TITLE).first.click()
    page.wait_for_url(f"{office.url}/training/basics")
    assert COURSE_TITLE in page.inner_text("h1")


def test_someone_without_a_password_goes_from_a_reminder_through_a_sign_in_link_to_the_course(
    browser: Any, office: Office
) -> None:
    office.lms("jobs", "run", "sweep")
    office.lms("jobs", "run", "send")
    [reminder] = mails_to(office.smtp, "olav@example.test")

    page = browser.new_page()
    page.goto(link_in(reminder, "Open the course"))
    page.wait_for_url("**/login?next=*")  # signed out: sign in first
    no_axe_violations(page)
    page.get_by_role("link", name="Email me a sign-in link").click()
    page.fill("#email", "olav@example.test")
    page.get_by_role("button", name="Send me a link").click()
    page.wait_for_load_state()
    no_axe_violations(page)

    office.lms("jobs", "run", "send")
    sign_in_mail = mails_to(office.smtp, "olav@example.test")[-1]
    assert sign_in_mail is not reminder
    # A mail scanner opening the link (a GET) must not use it up.
    link = link_in(sign_in_mail, "Sign in to Vern")
    page.goto(link)
    page.goto(link)
    no_axe_violations(page)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{office.url}/training/basics")
    assert COURSE_TITLE in page.inner_text("h1")
