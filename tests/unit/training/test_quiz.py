"""Quiz attempts: unlocked by reading, random draw recorded, graded on the server, tamper-proof."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.db import Database
from lms.training import service
from lms.training.cycles import assign_courses
from lms.training.models import QuizAttempt
from tests import factories
from tests.unit.training.conftest import Learner


def test_quiz_is_locked_until_every_module_is_read(learner: Learner) -> None:
    with pytest.raises(service.QuizLocked):
        learner.start()
    service.record_module_view(learner.session, learner.progress().assignment, "first", learner.now)
    with pytest.raises(service.QuizLocked):
        learner.start()
    learner.read_all()
    assert learner.start().number == 1


def test_reading_a_module_twice_records_it_once(learner: Learner) -> None:
    learner.read_all()
    learner.read_all()
    assert learner.progress().viewed == {"first", "second"}
    assert learner.progress().percent == 50


def test_attempt_stores_exactly_what_was_served(learner: Learner) -> None:
    learner.read_all()
    attempt = learner.start(seed=3)
    assert len(attempt.served) == learner.definition.questions_per_attempt
    ids = [item["question"] for item in attempt.served]
    assert len(set(ids)) == len(ids)
    for item in attempt.served:
        assert sorted(item["options"]) == ["also", "right", "wrong"]
    orders = {tuple(item["options"]) for item in attempt.served}
    assert len(orders) > 1, "options are shuffled per question"


def test_an_open_attempt_is_served_again_instead_of_a_new_draw(learner: Learner) -> None:
    learner.read_all()
    first = learner.start(seed=1)
    assert learner.start(seed=99).id == first.id


def test_passing_and_failing_are_graded_on_the_server(learner: Learner) -> None:
    learner.read_all()
    failed = learner.start()
    service.submit_attempt(
        learner.session, failed, learner.answers(failed, right=False), learner.now
    )
    assert (failed.passed, failed.score_percent, failed.correct_count) == (False, 0, 0)
    second = learner.start(seed=2)
    assert second.number == 2
    service.submit_attempt(learner.session, second, learner.answers(second), learner.now)
    assert (second.passed, second.score_percent) == (True, 100)
    with pytest.raises(service.AlreadyPassed):
        learner.start()


def _attempt_state(session: Session, attempt_id: int) -> tuple[object, ...]:
    session.expire_all()
    attempt = session.get(QuizAttempt, attempt_id)
    assert attempt is not None
    return (attempt.submitted_at, attempt.answers, attempt.score_percent, attempt.passed)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda a: {**a, "not-served": ["right"]}, id="question-not-served"),
        pytest.param(lambda a: {k: ["made-up"] for k in a}, id="option-not-offered"),
        pytest.param(lambda a: {k: ["right", "wrong"] for k in a}, id="two-answers-to-single"),
    ],
)
def test_tampered_answers_are_rejected_and_change_nothing(learner: Learner, tamper) -> None:  # noqa: ANN001
    learner.read_all()
    attempt = learner.start()
    before = _attempt_state(learner.session, attempt.id)
    with pytest.raises(service.QuizTampered):
        service.submit_attempt(
            learner.session, attempt, tamper(learner.answers(attempt)), learner.now
        )
    assert _attempt_state(learner.session, attempt.id) == before


def test_positions_outside_what_was_served_are_tampering(learner: Learner) -> None:
    learner.read_all()
    attempt = learner.start()
    with pytest.raises(service.QuizTampered):
        service.answers_from_positions(attempt, {99: [0]})
    with pytest.raises(service.QuizTampered):
        service.answers_from_positions(attempt, {0: [3]})
    first = attempt.served[0]
    assert service.answers_from_positions(attempt, {0: [2]}) == {
        first["question"]: [first["options"][2]]
    }


def test_unanswered_questions_are_named_and_nothing_is_saved(learner: Learner) -> None:
    learner.read_all()
    attempt = learner.start()
    answers = learner.answers(attempt)
    skipped = attempt.served[1]["question"]
    del answers[skipped]
    with pytest.raises(service.IncompleteAnswers) as caught:
        service.submit_attempt(learner.session, attempt, answers, learner.now)
    assert caught.value.unanswered == [skipped]
    assert _attempt_state(learner.session, attempt.id)[0] is None


def test_second_submit_of_the_same_attempt_changes_nothing(learner: Learner) -> None:
    learner.read_all()
    attempt = learner.start()
    service.submit_attempt(
        learner.session, attempt, learner.answers(attempt, right=False), learner.now
    )
    before = _attempt_state(learner.session, attempt.id)
    with pytest.raises(service.QuizAlreadySubmitted):
        service.submit_attempt(learner.session, attempt, learner.answers(attempt), learner.now)
    assert _attempt_state(learner.session, attempt.id) == before


def test_a_stale_copy_cannot_submit_twice(learner: Learner, database: Database) -> None:
    """Two requests holding the same open attempt: only the first submit is graded."""
    learner.read_all()
    attempt = learner.start()
    learner.session.flush()
    other_request = database.new_session()
    stale = other_request.get(QuizAttempt, attempt.id)
    assert stale is not None
    assert stale.submitted_at is None

    service.submit_attempt(learner.session, attempt, learner.answers(attempt), learner.now)
    with pytest.raises(service.QuizAlreadySubmitted):
        service.submit_attempt(
            other_request, stale, learner.answers(attempt, right=False), learner.now
        )
    learner.session.expire_all()
    assert learner.session.get(QuizAttempt, attempt.id).passed is True  # type: ignore[union-attr]
    other_request.close()


def test_attempt_limit_is_enforced(session: Session, courses_root: Path, now: datetime) -> None:
    definition = factories.synced_course(session, courses_root, now, max_attempts=1)
    person = factories.user(session, now)
    assign_courses(session, now)
    learner = Learner(session, person, definition, now)
    learner.read_all()
    attempt = learner.start()
    service.submit_attempt(session, attempt, learner.answers(attempt, right=False), now)
    assert learner.progress().attempts_left == 0
    with pytest.raises(service.AttemptLimitReached):
        learner.start()


def test_department_questions_are_served_only_to_that_department(
    session: Session, courses_root: Path, now: datetime
) -> None:
    files = factories.course_files("tagged", questions_per_attempt=6)
    files["quiz.yaml"] += (
        "- id: sales-only\n  type: single\n  department: sales\n"
        "  prompt: {en: 'Sales?', nb: 'Salg?'}\n"
        "  options:\n  - {id: right, correct: true, text: {en: R, nb: R}}\n"
        "  - {id: wrong, text: {en: W, nb: W}}\n"
        "  explanation: {en: E, nb: E}\n"
    )
    factories.write_course(courses_root, "tagged", files=files)
    from lms.catalog.loader import load_course
    from lms.catalog.service import sync_catalog

    definition = load_course(courses_root / "tagged")
    sync_catalog(session, [definition], now)
    engineer = factories.user(session, now, department=factories.department(session, "engineering"))
    assign_courses(session, now)
    learner = Learner(session, engineer, definition, now)
    learner.read_all()
    for seed in range(5):
        attempt = learner.start(seed)
        assert "sales-only" not in {i["question"] for i in attempt.served}
        service.submit_attempt(session, attempt, learner.answers(attempt, right=False), now)
    assert session.scalars(select(QuizAttempt)).all()
