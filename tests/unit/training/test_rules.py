"""Pure rules: due dates, grading, stage and progress."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from lms.catalog.loader import load_course
from lms.training import rules
from lms.training.rules import Stage
from tests.factories import write_course


def test_new_hire_is_due_from_start_date_existing_staff_from_assignment() -> None:
    assigned = date(2026, 3, 1)
    assert rules.due_on(date(2026, 3, 10), assigned, 30) == date(2026, 4, 9)  # pre-boarding
    assert rules.due_on(date(2020, 1, 1), assigned, 30) == date(2026, 3, 31)  # existing staff
    assert rules.due_on(None, assigned, 14) == date(2026, 3, 15)


def test_multiple_choice_counts_only_the_exact_set(tmp_path: Path) -> None:
    definition = load_course(write_course(tmp_path))  # q6: right + also are correct
    served = [
        {"question": "q6", "options": ["right", "wrong", "also"]},
        {"question": "q1", "options": ["right", "wrong", "also"]},
    ]
    partial = rules.grade(definition, served, {"q6": ["right"], "q1": ["right"]})
    assert (partial.correct, partial.score_percent, partial.passed) == (1, 50, False)
    full = rules.grade(definition, served, {"q6": ["also", "right"], "q1": ["right"]})
    assert (full.correct, full.score_percent, full.passed) == (2, 100, True)


def test_pass_mark_is_inclusive(tmp_path: Path) -> None:
    definition = load_course(write_course(tmp_path))  # pass mark 75
    served = [{"question": f"q{i}", "options": ["right", "wrong", "also"]} for i in range(1, 5)]
    three_of_four = {f"q{i}": ["right"] for i in range(1, 4)} | {"q4": ["wrong"]}
    assert rules.grade(definition, served, three_of_four).passed


def test_stage_progress_and_overdue() -> None:
    assert rules.stage_of(viewed=0, passed=False, attested=False) is Stage.NOT_STARTED
    assert rules.stage_of(viewed=1, passed=False, attested=False) is Stage.IN_PROGRESS
    assert rules.stage_of(viewed=2, passed=True, attested=False) is Stage.PASSED_QUIZ
    assert rules.stage_of(viewed=2, passed=True, attested=True) is Stage.COMPLETE
    assert rules.progress_percent(viewed=1, modules=2, passed=False, attested=False) == 25
    assert rules.progress_percent(viewed=2, modules=2, passed=True, attested=True) == 100
    due = date(2026, 3, 1)
    assert rules.is_overdue(stage=Stage.IN_PROGRESS, due=due, today=date(2026, 3, 2))
    assert not rules.is_overdue(stage=Stage.IN_PROGRESS, due=due, today=due)
    assert not rules.is_overdue(stage=Stage.COMPLETE, due=due, today=date(2027, 1, 1))


def test_names_match_ignores_case_and_spacing() -> None:
    assert rules.names_match("  kari   NORDMANN ", "Kari Nordmann")
    assert not rules.names_match("Kari", "Kari Nordmann")
