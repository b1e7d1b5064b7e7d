"""The in-memory shape of one course version, and its JSON form stored in the database."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

Texts = dict[str, str]  # language -> text

QUESTION_TYPES = ("single", "multiple")


@dataclass(frozen=True)
class Option:
    id: str
    text: Texts
    correct: bool


@dataclass(frozen=True)
class Question:
    id: str
    type: str
    prompt: Texts
    options: tuple[Option, ...]
    explanation: Texts
    department: str | None = None

    @property
    def correct_ids(self) -> frozenset[str]:
        return frozenset(option.id for option in self.options if option.correct)

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)


@dataclass(frozen=True)
class Module:
    slug: str
    title: Texts
    body: Texts
    minutes: int | None = None


@dataclass(frozen=True)
class ReminderPolicy:
    """When reminders go out, in days relative to the due date; course.yaml may override."""

    before_days: tuple[int, ...] = (7,)  # to the employee, this many days before due
    on_due_day: bool = True  # to the employee, on the due day
    copy_manager_after: int = 3  # to the employee with the manager in copy
    escalate_after: int = 7  # to manager and HR, then every `escalate_every` days
    escalate_every: int = 7
    skip_level_after: int = 14  # escalations from here on also go to the manager's manager

    def to_content(self) -> dict[str, Any]:
        return {
            "before_days": list(self.before_days),
            "on_due_day": self.on_due_day,
            "copy_manager_after": self.copy_manager_after,
            "escalate_after": self.escalate_after,
            "escalate_every": self.escalate_every,
            "skip_level_after": self.skip_level_after,
        }

    @classmethod
    def from_content(cls, content: dict[str, Any]) -> ReminderPolicy:
        return cls(**{**content, "before_days": tuple(content["before_days"])})


EVERYONE = "all"
MANAGERS = "managers"
RESERVED_AUDIENCE_WORDS = frozenset({EVERYONE, MANAGERS})


@dataclass(frozen=True)
class Audience:
    """Who a course is for: everyone, or some departments and/or anyone who manages people."""

    everyone: bool = False
    managers: bool = False
    departments: tuple[str, ...] = ()

    def includes(self, department_key: str | None, is_manager: bool) -> bool:
        """Audiences add up: a sales manager is in the sales and the managers' audience."""
        return (
            self.everyone
            or (self.managers and is_manager)
            or (department_key is not None and department_key in self.departments)
        )

    def to_content(self) -> dict[str, Any]:
        return {
            "everyone": self.everyone,
            "managers": self.managers,
            "departments": list(self.departments),
        }

    @classmethod
    def from_content(cls, content: dict[str, Any]) -> Audience:
        return cls(
            everyone=content["everyone"],
            managers=content["managers"],
            departments=tuple(content["departments"]),
        )


@dataclass(frozen=True)
class CourseDefinition:
    key: str
    sha256: str
    languages: tuple[str, ...]
    title: Texts
    summary: Texts
    audience: Audience
    due_days: int
    renew_every_days: int | None
    renew_on: tuple[int, int] | None  # (month, day): a fixed yearly renewal date
    pass_mark: int
    questions_per_attempt: int
    max_attempts: int | None
    minor: bool
    reminders: ReminderPolicy
    attestation: Texts
    modules: tuple[Module, ...]
    questions: tuple[Question, ...]

    def language_for(self, preferred: str) -> str:
        """The course language to show someone who prefers `preferred`."""
        return preferred if preferred in self.languages else self.languages[0]

    def module(self, slug: str) -> Module | None:
        return next((m for m in self.modules if m.slug == slug), None)

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def is_for(self, department_key: str | None, is_manager: bool) -> bool:
        return self.audience.includes(department_key, is_manager)

    def questions_for(self, department_key: str | None) -> list[Question]:
        """The bank a person of this department may be served: untagged plus their own."""
        return [q for q in self.questions if q.department in (None, department_key)]

    def statement_sha256(self, language: str) -> str:
        return hashlib.sha256(self.attestation[language].encode("utf-8")).hexdigest()

    def to_content(self) -> dict[str, Any]:
        """A JSON-ready copy of everything, stored immutably per version."""
        return {
            "key": self.key,
            "languages": list(self.languages),
            "title": self.title,
            "summary": self.summary,
            "audience": self.audience.to_content(),
            "due_days": self.due_days,
            "renew_every_days": self.renew_every_days,
            "renew_on": None if self.renew_on is None else list(self.renew_on),
            "pass_mark": self.pass_mark,
            "questions_per_attempt": self.questions_per_attempt,
            "max_attempts": self.max_attempts,
            "minor": self.minor,
            "reminders": self.reminders.to_content(),
            "attestation": self.attestation,
            "modules": [
                {"slug": m.slug, "title": m.title, "body": m.body, "minutes": m.minutes}
                for m in self.modules
            ],
            "questions": [
                {
                    "id": q.id,
                    "type": q.type,
                    "department": q.department,
                    "prompt": q.prompt,
                    "explanation": q.explanation,
                    "options": [
                        {"id": o.id, "text": o.text, "correct": o.correct} for o in q.options
                    ],
                }
                for q in self.questions
            ],
        }

    @classmethod
    def from_content(cls, sha256: str, content: dict[str, Any]) -> CourseDefinition:
        return cls(
            key=content["key"],
            sha256=sha256,
            languages=tuple(content["languages"]),
            title=content["title"],
            summary=content["summary"],
            audience=Audience.from_content(content["audience"]),
            due_days=content["due_days"],
            renew_every_days=content["renew_every_days"],
            renew_on=None if content["renew_on"] is None else tuple(content["renew_on"]),
            pass_mark=content["pass_mark"],
            questions_per_attempt=content["questions_per_attempt"],
            max_attempts=content["max_attempts"],
            minor=content["minor"],
            reminders=ReminderPolicy.from_content(content["reminders"]),
            attestation=content["attestation"],
            modules=tuple(
                Module(slug=m["slug"], title=m["title"], body=m["body"], minutes=m["minutes"])
                for m in content["modules"]
            ),
            questions=tuple(
                Question(
                    id=q["id"],
                    type=q["type"],
                    department=q["department"],
                    prompt=q["prompt"],
                    explanation=q["explanation"],
                    options=tuple(
                        Option(id=o["id"], text=o["text"], correct=o["correct"])
                        for o in q["options"]
                    ),
                )
                for q in content["questions"]
            ),
        )
