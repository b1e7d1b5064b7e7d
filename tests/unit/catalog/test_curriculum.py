"""The shipped curriculum: every course complete in both languages, every department covered."""

from __future__ import annotations

import pytest

from lms.admin.demo import DEPARTMENTS
from lms.catalog.definition import CourseDefinition
from lms.catalog.loader import load_catalog
from lms.config import PROJECT_ROOT

CURRICULUM = load_catalog(PROJECT_ROOT / "courses")
BY_KEY = {course.key: course for course in CURRICULUM}
EXPECTED = {
    "privacy-essentials",
    "security-essentials",
    "crm-customer-data",
    "data-subject-requests",
    "privacy-by-design",
    "transfers-and-subprocessors",
    "responsible-marketing",
    "legal-obligations-and-records",
    "accountability-for-managers",
}


def test_the_whole_curriculum_is_shipped() -> None:
    assert set(BY_KEY) >= EXPECTED


@pytest.mark.parametrize("course", CURRICULUM, ids=lambda c: c.key)
def test_course_is_complete_in_english_and_norwegian(course: CourseDefinition) -> None:
    assert course.languages == ("en", "nb")
    texts = [course.title, course.summary, course.attestation]
    texts += [m.title for m in course.modules] + [m.body for m in course.modules]
    for question in course.questions:
        texts += [question.prompt, question.explanation] + [o.text for o in question.options]
    assert all(set(text) == {"en", "nb"} and all(text.values()) for text in texts)


@pytest.mark.parametrize("course", CURRICULUM, ids=lambda c: c.key)
def test_question_bank_is_deep_enough_and_teaches(course: CourseDefinition) -> None:
    bank = course.questions_for(None)
    assert len(bank) >= max(10, 2 * course.questions_per_attempt)
    assert 2 <= len(course.modules) <= 6
    for question in course.questions:
        assert question.correct_ids, question.id
        assert all(len(text) > 40 for text in question.explanation.values()), question.id
    assert any(len(q.correct_ids) > 1 for q in course.questions), "needs multi-answer questions"


@pytest.mark.parametrize("course", CURRICULUM, ids=lambda c: c.key)
def test_onboarding_policy_numbers(course: CourseDefinition) -> None:
    assert 14 <= course.due_days <= 30
    assert course.renew_every_days == 365
    assert course.pass_mark == 80


@pytest.mark.parametrize("department", sorted(DEPARTMENTS))
def test_every_demo_department_has_its_own_course(department: str) -> None:
    own = [c.key for c in CURRICULUM if department in c.audience.departments]
    assert own, f"no department-specific course for {department}"


def test_managers_course_is_for_managers_of_any_department() -> None:
    audience = BY_KEY["accountability-for-managers"].audience
    assert audience.managers
    assert not audience.everyone
    assert audience.includes("engineering", is_manager=True)
    assert not audience.includes("engineering", is_manager=False)
    assert audience.includes("management", is_manager=False)  # leadership, with or without reports


def test_a_sales_manager_is_in_several_audiences() -> None:
    for_them = {c.key for c in CURRICULUM if c.is_for("sales", is_manager=True)}
    assert {
        "privacy-essentials",
        "security-essentials",
        "crm-customer-data",
        "accountability-for-managers",
    } <= for_them
