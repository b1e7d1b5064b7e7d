"""A learner assigned to the small test course, ready to go through it."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from lms.catalog.definition import CourseDefinition
from lms.people.models import User
from lms.training import service
from lms.training.cycles import assign_courses
from lms.training.models import QuizAttempt
from lms.training.service import CourseProgress
from tests import factories


@dataclass
class Learner:
    session: Session
    user: User
    definition: CourseDefinition
    now: datetime

    def progress(self) -> CourseProgress:
        return service.course_progress(
            self.session, self.user, self.definition.key, self.now.date()
        )

    def read_all(self) -> None:
        assignment = self.progress().assignment
        for module in self.definition.modules:
            service.record_module_view(self.session, assignment, module.slug, self.now)

    def start(self, seed: int = 1) -> QuizAttempt:
        return service.start_attempt(
            self.session,
            self.progress(),
            department_key=self.user.department.key if self.user.department else None,
            language=self.user.locale,
            now=self.now,
            rng=random.Random(seed),  # noqa: S311
        )

    def answers(self, attempt: QuizAttempt, right: bool = True) -> dict[str, list[str]]:
        result = {}
        for item in attempt.served:
            question = self.definition.question(item["question"])
            assert question is not None
            result[question.id] = sorted(question.correct_ids) if right else ["wrong"]
        return result

    def pass_quiz(self) -> QuizAttempt:
        self.read_all()
        attempt = self.start()
        return service.submit_attempt(self.session, attempt, self.answers(attempt), self.now)

    def sign(self, **overrides: object):  # noqa: ANN201
        language = self.definition.language_for(self.user.locale)
        values: dict[str, object] = {
            "agreed": True,
            "typed_name": self.user.full_name,
            "language": language,
            "statement_sha256": self.definition.statement_sha256(language),
            "ip": "192.0.2.7",
            "user_agent": "pytest",
            "now": self.now,
        }
        values.update(overrides)
        return service.sign_attestation(self.session, self.progress(), self.user, **values)  # type: ignore[arg-type]


@pytest.fixture
def learner(session: Session, courses_root: Path, now: datetime) -> Learner:
    definition = factories.synced_course(session, courses_root, now)
    person = factories.user(
        session, now, name="Kari Nordmann", department=factories.department(session, "sales")
    )
    assign_courses(session, now)
    return Learner(session=session, user=person, definition=definition, now=now)
