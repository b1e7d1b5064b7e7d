"""Pure training rules: due dates, grading, status. Plain values in, plain values out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from lms.catalog.definition import CourseDefinition


class Stage(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    PASSED_QUIZ = "passed_quiz"
    COMPLETE = "complete"


def due_on(start_date: date | None, assigned_on: date, due_days: int) -> date:
    """Due `due_days` after the start date for new hires, after assignment for existing staff."""
    base = max(start_date, assigned_on) if start_date is not None else assigned_on
    return base + timedelta(days=due_days)


def renews_on(
    completed_on: date, renew_every_days: int | None, renew_on: tuple[int, int] | None
) -> date | None:
    """The day a new cycle opens: rolling after the completion, or the next fixed date."""
    if renew_every_days is not None:
        return completed_on + timedelta(days=renew_every_days)
    if renew_on is not None:
        month, day = renew_on
        this_year = date(completed_on.year, month, day)
        return this_year if this_year > completed_on else date(completed_on.year + 1, month, day)
    return None


def stage_of(*, viewed: int, passed: bool, attested: bool) -> Stage:
    if attested:
        return Stage.COMPLETE
    if passed:
        return Stage.PASSED_QUIZ
    if viewed:
        return Stage.IN_PROGRESS
    return Stage.NOT_STARTED


def progress_percent(*, viewed: int, modules: int, passed: bool, attested: bool) -> int:
    """Share of the steps done: each module, the quiz and the attestation count as one step."""
    steps = modules + 2
    done = min(viewed, modules) + int(passed) + int(attested)
    return round(100 * done / steps)


def is_overdue(*, stage: Stage, due: date, today: date) -> bool:
    return stage is not Stage.COMPLETE and today > due


@dataclass(frozen=True)
class Grade:
    correct: int
    total: int
    score_percent: int
    passed: bool


def grade(
    definition: CourseDefinition,
    served: list[dict[str, Any]],
    answers: dict[str, list[str]],
) -> Grade:
    """A question counts as correct only when exactly its correct options were chosen."""
    correct = 0
    for item in served:
        question = definition.question(item["question"])
        if question is not None and frozenset(answers.get(question.id, [])) == question.correct_ids:
            correct += 1
    total = len(served)
    score = (100 * correct) // total if total else 0
    passed = total > 0 and 100 * correct >= definition.pass_mark * total
    return Grade(correct=correct, total=total, score_percent=score, passed=passed)


def names_match(typed: str, on_record: str) -> bool:
    """Typed name equals the recorded one, ignoring case and spacing."""
    return " ".join(typed.split()).casefold() == " ".join(on_record.split()).casefold()
