"""A real server on 127.0.0.1 and Debian's chromium driven by Playwright (never downloaded).

Without chromium the browser tests are skipped on a workstation and fail under CI."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lms.catalog.loader import load_course
from lms.catalog.service import sync_catalog
from lms.db import Database
from lms.people.models import Role
from lms.training.cycles import assign_courses
from tests import factories
from tests.live import gunicorn

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WCAG = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}


@dataclass
class Site:
    url: str
    course: Any
    database_url: str


@pytest.fixture
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def site(fresh_database_url: str, tmp_path: Path, courses_root: Path) -> Iterator[Site]:
    """A fresh organisation on a free port: Mia manages Nina (new hire); Hal is HR; Ada admin."""
    database = Database(fresh_database_url)
    now = datetime.now(UTC)
    with database.transaction() as session:
        course = load_course(factories.write_course(courses_root))
        sync_catalog(session, [course], now)
        sales = factories.department(session, "sales", "Sales")
        mia = factories.user(
            session,
            now,
            name="Mia Manager",
            email="mia@example.test",
            password=factories.PASSWORD,
            department=sales,
        )
        factories.user(
            session,
            now,
            name="Nina New",
            email="nina@example.test",
            password=factories.PASSWORD,
            department=sales,
            manager=mia,
            start_date=date.today() - timedelta(days=2),
        )
        factories.user(
            session,
            now,
            name="Hal Hr",
            email="hal@example.test",
            password=factories.PASSWORD,
            roles=frozenset({Role.HR}),
        )
        factories.user(
            session,
            now,
            name="Ada Admin",
            email="ada@example.test",
            password=factories.PASSWORD,
            roles=frozenset({Role.ADMIN}),
        )
        assign_courses(session, now)
    database.dispose()
    with gunicorn(fresh_database_url, tmp_path / "instance", courses_root) as url:
        yield Site(url, course, fresh_database_url)


def no_axe_violations(page: Any) -> None:
    """axe-core, WCAG 2.0/2.1 A and AA: the page must have no violation at all."""
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(page, options=WCAG)
    violations = [
        (v["id"], [n["target"] for n in v["nodes"]][:3]) for v in result.response["violations"]
    ]
    assert violations == [], f"{page.url}: {violations}"


def log_in(page: Any, site: Site, email: str) -> None:
    page.goto(f"{site.url}/login")
    page.fill("#email", email)
    page.fill("#password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.url}/training")
