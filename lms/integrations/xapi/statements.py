"""xAPI 1.0.3 statements, built from plain values (no database here).

Activity IRIs live under the installation's base URL and never change for a course, module,
question or content version; statement ids are UUIDv5 of what happened (the row and the verb)
and the store's seed, so building a statement twice gives the same id and a retried delivery
cannot duplicate it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lms.clock import iso_utc

ADL = "http://adlnet.gov/expapi/verbs/"
ACTIVITY_TYPES = "http://adlnet.gov/expapi/activities/"
VERBS = {
    "launched": ("launched", "startet"),
    "experienced": ("experienced", "leste"),
    "answered": ("answered", "svarte"),
    "passed": ("passed", "bestod"),
    "failed": ("failed", "strøk"),
    "completed": ("completed", "fullførte"),
}


@dataclass(frozen=True)
class Person:
    """Who did it, as the LRS may know them: a pseudonymous reference, or an address."""

    ref: str
    email: str | None = None


@dataclass(frozen=True)
class CourseRef:
    key: str
    version_sha256: str
    title: dict[str, str]


class Iris:
    """The installation's IRIs: stable for as long as its base URL is."""

    def __init__(self, base_url: str, id_seed: str = "") -> None:
        self.base = base_url.rstrip("/")
        self.id_seed = id_seed

    def course(self, key: str) -> str:
        return f"{self.base}/xapi/courses/{key}"

    def version(self, key: str, sha256: str) -> str:
        return f"{self.course(key)}/versions/{sha256}"

    def module(self, key: str, slug: str) -> str:
        return f"{self.course(key)}/modules/{slug}"

    def quiz(self, key: str) -> str:
        return f"{self.course(key)}/quiz"

    def question(self, key: str, question_id: str) -> str:
        return f"{self.quiz(key)}/questions/{question_id}"

    def attested(self) -> str:
        return f"{self.base}/xapi/verbs/attested"

    def extension(self, name: str) -> str:
        return f"{self.base}/xapi/extensions/{name}"

    def statement_id(self, *what: object) -> str:
        path = "/".join(map(str, (self.id_seed, *what)))
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.base}/xapi/statements/{path}"))


def _names(texts: dict[str, str]) -> dict[str, str]:
    """Course texts keyed by Vern's languages, as xAPI language maps."""
    tags = {"en": "en-US", "nb": "nb-NO"}
    return {tags.get(language, language): text for language, text in texts.items()}


def _verb(iris: Iris, name: str) -> dict[str, Any]:
    if name == "attested":
        return {"id": iris.attested(), "display": {"en-US": "attested", "nb-NO": "bekreftet"}}
    english, norwegian = VERBS[name]
    return {"id": ADL + name, "display": {"en-US": english, "nb-NO": norwegian}}


def actor(iris: Iris, person: Person, *, send_email: bool) -> dict[str, Any]:
    if send_email and person.email:
        return {"objectType": "Agent", "mbox": f"mailto:{person.email}"}
    return {"objectType": "Agent", "account": {"homePage": iris.base, "name": person.ref}}


def _activity(iri: str, kind: str, name: dict[str, str], **definition: Any) -> dict[str, Any]:
    return {
        "objectType": "Activity",
        "id": iri,
        "definition": {"type": ACTIVITY_TYPES + kind, "name": name, **definition},
    }


def _context(iris: Iris, course: CourseRef, language: str | None, parent: bool) -> dict[str, Any]:
    activities: dict[str, Any] = {
        "grouping": [
            {"objectType": "Activity", "id": iris.version(course.key, course.version_sha256)}
        ]
    }
    if parent:
        activities["parent"] = [_activity(iris.course(course.key), "course", _names(course.title))]
    context: dict[str, Any] = {
        "platform": "Vern",
        "contextActivities": activities,
        "extensions": {iris.extension("version-sha256"): course.version_sha256},
    }
    if language:
        context["language"] = {"en": "en-US", "nb": "nb-NO"}.get(language, language)
    return context


def _statement(
    iris: Iris,
    statement_id: str,
    who: dict[str, Any],
    verb: str,
    target: dict[str, Any],
    context: dict[str, Any],
    at: datetime,
    result: dict[str, Any] | None = None,
) -> dict[str, Any]:
    statement = {
        "id": statement_id,
        "actor": who,
        "verb": _verb(iris, verb),
        "object": target,
        "context": context,
        "timestamp": iso_utc(at),
    }
    if result is not None:
        statement["result"] = result
    return statement


def launched(
    iris: Iris, who: dict[str, Any], course: CourseRef, launch_id: int, at: datetime
) -> dict[str, Any]:
    return _statement(
        iris,
        iris.statement_id("launch", launch_id),
        who,
        "launched",
        _activity(iris.course(course.key), "course", _names(course.title)),
        _context(iris, course, None, parent=False),
        at,
    )


def experienced(
    iris: Iris,
    who: dict[str, Any],
    course: CourseRef,
    module_slug: str,
    module_title: dict[str, str],
    view_id: int,
    at: datetime,
) -> dict[str, Any]:
    return _statement(
        iris,
        iris.statement_id("module-view", view_id),
        who,
        "experienced",
        _activity(iris.module(course.key, module_slug), "module", _names(module_title)),
        _context(iris, course, None, parent=True),
        at,
    )


@dataclass(frozen=True)
class Answer:
    question_id: str
    prompt: dict[str, str]
    options: tuple[str, ...]  # option ids in the order shown
    chosen: tuple[str, ...]
    correct: tuple[str, ...]


def answered(
    iris: Iris,
    who: dict[str, Any],
    course: CourseRef,
    attempt_id: int,
    answer: Answer,
    language: str,
    at: datetime,
) -> dict[str, Any]:
    definition = {
        "interactionType": "choice",
        "correctResponsesPattern": ["[,]".join(answer.correct)],
        "choices": [{"id": option, "description": {"und": option}} for option in answer.options],
    }
    return _statement(
        iris,
        iris.statement_id("attempt", attempt_id, "question", answer.question_id),
        who,
        "answered",
        _activity(
            iris.question(course.key, answer.question_id),
            "cmi.interaction",
            _names(answer.prompt),
            **definition,
        ),
        _context(iris, course, language, parent=True),
        at,
        result={
            "response": "[,]".join(answer.chosen),
            "success": set(answer.chosen) == set(answer.correct),
        },
    )


def graded(
    iris: Iris,
    who: dict[str, Any],
    course: CourseRef,
    attempt_id: int,
    score_percent: int,
    passed: bool,
    language: str,
    at: datetime,
) -> dict[str, Any]:
    """`passed` or `failed` for a submitted quiz attempt, with its score."""
    return _statement(
        iris,
        iris.statement_id("attempt", attempt_id, "graded"),
        who,
        "passed" if passed else "failed",
        _activity(iris.quiz(course.key), "assessment", _names(course.title)),
        _context(iris, course, language, parent=True),
        at,
        result={
            "score": {"scaled": score_percent / 100, "raw": score_percent, "min": 0, "max": 100},
            "success": passed,
            "completion": True,
        },
    )


def completed(
    iris: Iris, who: dict[str, Any], course: CourseRef, assignment_id: int, via: str, at: datetime
) -> dict[str, Any]:
    return _statement(
        iris,
        iris.statement_id("cycle", assignment_id, "completed"),
        who,
        "completed",
        _activity(iris.course(course.key), "course", _names(course.title)),
        {
            **_context(iris, course, None, parent=False),
            "extensions": {
                iris.extension("version-sha256"): course.version_sha256,
                iris.extension("completed-via"): via,
            },
        },
        at,
        result={"completion": True},
    )


def attested(
    iris: Iris,
    who: dict[str, Any],
    course: CourseRef,
    attestation_id: int,
    statement_sha256: str,
    score_percent: int,
    language: str,
    at: datetime,
) -> dict[str, Any]:
    """The person signed the course version's statement (the evidence itself stays in Vern)."""
    return _statement(
        iris,
        iris.statement_id("attestation", attestation_id),
        who,
        "attested",
        _activity(iris.version(course.key, course.version_sha256), "course", _names(course.title)),
        {
            **_context(iris, course, language, parent=True),
            "extensions": {
                iris.extension("version-sha256"): course.version_sha256,
                iris.extension("statement-sha256"): statement_sha256,
            },
        },
        at,
        result={
            "success": True,
            "completion": True,
            "score": {"scaled": score_percent / 100, "raw": score_percent, "min": 0, "max": 100},
        },
    )
