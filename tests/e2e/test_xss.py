"""Stored XSS (ASVS 5.3.3, 5.3.4): payloads in course Markdown, quiz text, people's names and
department names are shown as text in a real browser; no script runs and no dialog opens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import yaml
from sqlalchemy import select

from lms.catalog.loader import load_course
from lms.catalog.service import sync_catalog
from lms.db import Database
from lms.people.models import Department, User
from lms.training.cycles import assign_courses
from tests import factories
from tests.e2e.conftest import Site, log_in

PAYLOADS = (
    "<script>window.__xss = 'script'</script>",
    "<img src=x onerror=\"window.__xss = 'img'\">",
    '"><svg onload="window.__xss = \'svg\'">',
    "<a href=\"javascript:window.__xss = 'href'\">click</a>",
    "{{ 7 * 7 }}",
)
NAME = "Nina " + PAYLOADS[1]
DEPARTMENT = "Sales " + PAYLOADS[2]


def _course_with_payloads(root: Any) -> Any:
    files = factories.course_files(
        "xss",
        title={"en": "XSS " + PAYLOADS[1], "nb": "XSS " + PAYLOADS[1]},
        summary={"en": " ".join(PAYLOADS), "nb": " ".join(PAYLOADS)},
    )
    for name in list(files):
        if name.startswith("modules/"):
            files[name] += "\n" + "\n\n".join(PAYLOADS) + "\n\n[click me](javascript:alert(1))\n"
    quiz = yaml.safe_load(files["quiz.yaml"])
    for question in quiz["questions"]:
        question["prompt"] = {
            lang: f"{text} {PAYLOADS[0]}" for lang, text in question["prompt"].items()
        }
        question["explanation"] = {lang: PAYLOADS[2] for lang in question["explanation"]}
    files["quiz.yaml"] = yaml.safe_dump(quiz, allow_unicode=True)
    return load_course(factories.write_course(root, "xss", files=files))


def _plant(site: Site, courses_root: Any) -> None:
    database = Database(site.database_url)
    now = datetime.now(UTC)
    with database.transaction() as session:
        sync_catalog(session, [_course_with_payloads(courses_root)], now)
        nina = session.scalars(select(User).where(User.email == "nina@example.test")).one()
        nina.full_name = NAME
        session.scalars(select(Department).where(Department.key == "sales")).one().name = DEPARTMENT
        assign_courses(session, now)
    database.dispose()


def _visit(page: Any, url: str) -> None:
    page.goto(url)
    assert page.evaluate("window.__xss") is None, f"a payload ran on {url}"


def test_payloads_are_inert_on_every_page_that_shows_them(
    browser: Any, site: Site, courses_root: Any
) -> None:
    _plant(site, courses_root)
    dialogs: list[str] = []

    def watch(page: Any) -> Any:
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        return page

    nina = watch(browser.new_page())
    log_in(nina, site, "nina@example.test")
    for path in ("/training", "/training/xss", "/account"):
        _visit(nina, f"{site.url}{path}")
    for slug in ("first", "second"):
        _visit(nina, f"{site.url}/training/xss/modules/{slug}")
        assert nina.locator("a[href^='javascript:']").count() == 0
        assert "{{ 7 * 7 }}" in nina.inner_text("main")  # not evaluated as a template
        with nina.expect_navigation():
            nina.click("button[data-next]")  # finished: the quiz opens after the last one
    _visit(nina, f"{site.url}/training/xss")
    nina.click("text=Take the quiz")
    nina.wait_for_url("**/attempts/*")
    assert nina.evaluate("window.__xss") is None
    prompts = nina.locator("fieldset.question legend").all_inner_texts()
    assert prompts
    assert all(PAYLOADS[0] in prompt for prompt in prompts)  # shown as text

    mia = watch(browser.new_page())
    log_in(mia, site, "mia@example.test")
    _visit(mia, f"{site.url}/team")
    assert NAME in mia.inner_text("main")
    mia.click(f"text={NAME}")
    assert mia.evaluate("window.__xss") is None

    hal = watch(browser.new_page())
    log_in(hal, site, "hal@example.test")
    for path in ("/hr", "/hr/onboarding", "/admin/people/"):
        _visit(hal, f"{site.url}{path}")
    assert DEPARTMENT in hal.inner_text("main")

    ada = watch(browser.new_page())
    log_in(ada, site, "ada@example.test")
    for path in ("/admin/departments/", "/admin/catalogue/", "/admin/audit"):
        _visit(ada, f"{site.url}{path}")
    assert dialogs == []
