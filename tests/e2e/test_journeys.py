"""Journeys in a real browser, with axe on every page they pass through."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Site, log_in, no_axe_violations

RIGHT = {"en": ("Right", "Also"), "nb": ("Riktig", "Også")}


def answer_quiz(page: Any, right: bool) -> None:
    """Tick, for every question, the right options (or only the wrong one)."""
    for fieldset in page.locator("fieldset.question").all():
        for choice in fieldset.locator(".choice").all():
            text = choice.locator("label").inner_text()
            multiple = choice.locator("input[type=checkbox]").count() > 0
            wanted = (
                (text == "Right" or (multiple and text == "Also")) if right else (text == "Wrong")
            )
            if wanted:
                choice.locator("input").check()


def test_new_hire_to_attestation_then_manager_and_hr_see_it(browser: Any, site: Site) -> None:
    page = browser.new_page()
    log_in(page, site, "nina@example.test")
    no_axe_violations(page)
    page.click("text=Course basics")
    no_axe_violations(page)
    page.click("text=Start with module 1")
    no_axe_violations(page)
    page.click("button[data-next]")  # finishing module 1 leads to module 2
    no_axe_violations(page)
    page.click("text=Back to the course and the quiz")
    page.click("text=Take the quiz")
    no_axe_violations(page)

    answer_quiz(page, right=False)
    page.click("text=Submit answers")
    assert "You scored 0%" in page.inner_text("main")
    no_axe_violations(page)
    page.click("text=Try again")
    answer_quiz(page, right=True)
    page.click("text=Submit answers")
    assert "You passed with 100%" in page.inner_text("main")

    page.click("text=Read and sign the statement")
    no_axe_violations(page)
    page.check("#agree")
    page.fill("#typed_name", "Nina New")
    page.click("main button[type=submit]")
    assert "Training confirmation" in page.inner_text("main")
    assert site.course.sha256 in page.inner_text("main")
    no_axe_violations(page)
    page.goto(f"{site.url}/training")
    assert "Complete" in page.inner_text("main")

    manager = browser.new_page()
    log_in(manager, site, "mia@example.test")
    manager.goto(f"{site.url}/team")
    assert "Complete" in manager.inner_text("table.matrix")
    no_axe_violations(manager)
    manager.click("text=Nina New")
    assert "Nina New" in manager.inner_text("h1")
    no_axe_violations(manager)

    hr = browser.new_page()
    log_in(hr, site, "hal@example.test")
    hr.goto(f"{site.url}/hr")
    no_axe_violations(hr)
    hr.goto(f"{site.url}/hr/onboarding")
    hr.click("text=Nina New")
    assert site.course.attestation["en"] in hr.inner_text("main")
    no_axe_violations(hr)


def test_switching_to_norwegian_shows_the_course_in_norwegian(browser: Any, site: Site) -> None:
    page = browser.new_page()
    log_in(page, site, "nina@example.test")
    page.goto(f"{site.url}/account")
    page.select_option("#locale", "nb")
    page.click("button[type=submit]:has-text('Save')")
    page.goto(f"{site.url}/training/basics/modules/first")
    assert page.get_attribute("html", "lang") == "nb"
    assert "Modul first" in page.inner_text("h1")
    assert "Min opplæring" in page.inner_text("header")
    no_axe_violations(page)


def test_a_quiz_can_be_completed_with_the_keyboard_alone(browser: Any, site: Site) -> None:
    page = browser.new_page()
    log_in(page, site, "nina@example.test")
    page.goto(f"{site.url}/training/basics/modules/first")
    for _ in ("first", "second"):  # finish each module with the keyboard too
        page.focus("button[data-next]")
        with page.expect_navigation():
            page.keyboard.press("Enter")
    assert page.url == f"{site.url}/training/basics"
    page.focus("text=Take the quiz")
    page.keyboard.press("Enter")
    page.wait_for_url("**/attempts/*")
    questions = page.locator("fieldset.question").count()
    page.focus("fieldset.question input >> nth=0")
    for _ in range(questions):
        # In each group: the first option has focus; Space ticks it, Tab moves on.
        page.keyboard.press("Space")
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.type") == "checkbox":
            page.keyboard.press("Tab")
            page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.type") == "submit"
    page.keyboard.press("Enter")
    page.wait_for_url("**/result")
    assert "Quiz result" in page.inner_text("h1")


def test_an_admin_walks_the_admin_area_and_sends_a_test_mail(browser: Any, site: Site) -> None:
    page = browser.new_page()
    log_in(page, site, "ada@example.test")
    for path in (
        "/admin/people",
        "/admin/people/new",
        "/admin/catalogue",
        "/admin/departments",
        "/admin/live-sessions/",
        "/admin/outbox",
        "/admin/integrations",
        "/admin/audit",
        "/admin/settings",
    ):
        page.goto(f"{site.url}{path}")
        assert page.locator("h1").count() == 1, path
        no_axe_violations(page)
    page.get_by_role("button", name="Send a test mail to me").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "A test mail to ada@example.test is in the outbox" in page.inner_text("main")
    no_axe_violations(page)


def test_an_employee_downloads_their_data_in_one_click(browser: Any, site: Site) -> None:
    page = browser.new_page()
    log_in(page, site, "nina@example.test")
    page.goto(f"{site.url}/account")
    page.get_by_role("link", name="My data: download everything Vern holds about you").click()
    assert "My data" in page.inner_text("h1")
    no_axe_violations(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download my data").click()
    data = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert data["profile"]["email"] == "nina@example.test"
    assert "mia@example.test" not in json.dumps(data)  # her manager appears by name only
