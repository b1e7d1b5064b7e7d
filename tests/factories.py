"""Builders for people, courses and history, so each test states only what matters to it."""

from __future__ import annotations

import itertools
import textwrap
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from lms.catalog.definition import CourseDefinition
from lms.catalog.loader import load_course
from lms.catalog.service import sync_catalog
from lms.people.models import Department, Role, User
from lms.people.service import create_user, get_or_create_department

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def department(session: Session, key: str = "sales", name: str | None = None) -> Department:
    return get_or_create_department(session, key, name or key.title())


def user(
    session: Session,
    now: datetime,
    *,
    name: str | None = None,
    email: str | None = None,
    department: Department | None = None,
    manager: User | None = None,
    start_date: date | None = None,
    locale: str = "en",
    password: str | None = None,
    roles: frozenset[Role] = frozenset(),
    invited: bool = True,
) -> User:
    """A person; `invited` (the default) as if their welcome mail went out long ago, so the
    sweep owes them none and only tests about invitations see one."""
    n = next(_counter)
    person = create_user(
        session,
        email=email or f"person{n}@example.test",
        full_name=name or f"Person Number{n}",
        now=now,
        department=department,
        manager=manager,
        start_date=start_date,
        locale=locale,
        password=password,
        roles=roles,
    )
    if invited:
        person.invited_at = now
        session.flush()
    return person


def course_files(key: str = "basics", **overrides: Any) -> dict[str, str]:
    """The files of a small valid course in en and nb; override any course.yaml key."""
    course: dict[str, Any] = {
        "key": key,
        "languages": ["en", "nb"],
        "title": {"en": f"Course {key}", "nb": f"Kurs {key}"},
        "summary": {"en": "What it is about.", "nb": "Hva det handler om."},
        "audience": "all",
        "due_days": 30,
        "pass_mark": 75,
        "questions_per_attempt": 4,
        "attestation": {
            "en": "I will handle personal data only as I was trained to.",
            "nb": "Jeg skal behandle personopplysninger slik jeg har lært.",
        },
        "modules": ["first", "second"],
    }
    course.update(overrides)
    questions = []
    for i in range(1, 7):
        questions.append(
            {
                "id": f"q{i}",
                "type": "multiple" if i == 6 else "single",
                "prompt": {"en": f"Question {i}?", "nb": f"Spørsmål {i}?"},
                "options": [
                    {"id": "right", "correct": True, "text": {"en": "Right", "nb": "Riktig"}},
                    {"id": "wrong", "text": {"en": "Wrong", "nb": "Feil"}},
                    {
                        "id": "also",
                        "correct": i == 6,
                        "text": {"en": "Also", "nb": "Også"},
                    },
                ],
                "explanation": {"en": f"Because {i}.", "nb": f"Fordi {i}."},
            }
        )
    files = {
        "course.yaml": yaml.safe_dump(course, allow_unicode=True, sort_keys=False),
        "quiz.yaml": yaml.safe_dump({"questions": questions}, allow_unicode=True, sort_keys=False),
    }
    for slug in course["modules"]:
        for lang, title in (("en", f"Module {slug}"), ("nb", f"Modul {slug}")):
            files[f"modules/{slug}.{lang}.md"] = textwrap.dedent(
                f"""\
                ---
                title: {title}
                minutes: 3
                ---
                ## {title}

                Text of **{slug}** in {lang}.
                """
            )
    return files


def write_course(
    root: Path, key: str = "basics", files: dict[str, str] | None = None, **overrides: Any
) -> Path:
    """Write a course folder under `root` and return its path."""
    course_dir = root / key
    for rel, text in (files or course_files(key, **overrides)).items():
        path = course_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return course_dir


def synced_course(
    session: Session, root: Path, now: datetime, key: str = "basics", **overrides: Any
) -> CourseDefinition:
    """Write, load and sync a course; returns its definition."""
    definition = load_course(write_course(root, key, **overrides))
    sync_catalog(session, [definition], now)
    return definition
