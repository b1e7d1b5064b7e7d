"""A demo organisation for `make run`: departments, reporting lines, roles, some progress."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from lms.people.models import Role, User
from lms.people.service import create_user, get_or_create_department
from lms.training import exemptions, live_sessions
from lms.training import service as training
from lms.training.cycles import assign_courses

DEMO_PASSWORD = "vern-demo-2026"  # noqa: S105 - printed for the demo on purpose
DEMO_DOMAIN = "demo.vern.example"

DEPARTMENTS = {
    "management": "Management",
    "hr": "People & HR",
    "finance": "Finance",
    "legal": "Legal",
    "procurement": "Procurement",
    "sales": "Sales",
    "customer-success": "Customer success",
    "support": "Customer support",
    "marketing": "Marketing",
    "engineering": "Engineering",
}

# email local part, name, department, manager, days since start, locale, roles
PEOPLE: list[tuple[str, str, str, str | None, int, str, frozenset[Role]]] = [
    ("ceo", "Ingrid Solberg", "management", None, 900, "nb", frozenset()),
    ("admin", "Amir Haddad", "legal", "ceo", 700, "en", frozenset({Role.ADMIN})),
    ("legal1", "Nora Bakke", "legal", "admin", 40, "nb", frozenset()),
    ("hr", "Hanne Lie", "hr", "ceo", 600, "nb", frozenset({Role.HR})),
    ("hr1", "Jamal Osman", "hr", "hr", 20, "en", frozenset()),
    ("cfo", "Per Aasen", "finance", "ceo", 650, "nb", frozenset()),
    ("finance1", "Lena Fischer", "finance", "cfo", 9, "en", frozenset()),
    ("procurement1", "Silje Moe", "procurement", "cfo", 75, "nb", frozenset()),
    ("sales.lead", "Marta Kowalska", "sales", "ceo", 500, "en", frozenset()),
    ("sales1", "Ola Nordmann", "sales", "sales.lead", 45, "nb", frozenset()),
    ("sales2", "Emily Carter", "sales", "sales.lead", 12, "en", frozenset()),
    ("cs1", "Fatima Khan", "customer-success", "sales.lead", 52, "en", frozenset()),
    ("support.lead", "Jonas Berg", "support", "ceo", 420, "nb", frozenset()),
    ("support1", "Sofia Rossi", "support", "support.lead", 58, "en", frozenset()),
    ("support2", "Kari Nilsen", "support", "support.lead", 3, "nb", frozenset()),
    ("marketing1", "Elias Strand", "marketing", "ceo", 35, "nb", frozenset()),
    ("cto", "Lars Eriksen", "engineering", "ceo", 800, "en", frozenset()),
    ("eng.lead", "Priya Natarajan", "engineering", "cto", 300, "en", frozenset()),
    ("dev1", "Mikkel Hansen", "engineering", "eng.lead", 30, "nb", frozenset()),
    ("dev2", "Aisha Bello", "engineering", "eng.lead", 7, "en", frozenset()),
    ("dev3", "Tobias Wang", "engineering", "eng.lead", -5, "en", frozenset()),
    ("auditor", "Astrid Revisor", "legal", "admin", 200, "nb", frozenset({Role.AUDITOR})),
]

# Who has done how much: "viewed" = read every module, "passed" = also passed the quiz,
# "complete" = also signed; applied to each of their courses.
PROGRESS = {
    "ceo": "complete",
    "admin": "complete",
    "hr": "complete",
    "cfo": "complete",
    "sales.lead": "complete",
    "sales1": "passed",
    "support.lead": "complete",
    "support1": "viewed",
    "cto": "complete",
    "eng.lead": "complete",
    "dev1": "complete",
    "legal1": "passed",
    "procurement1": "complete",
    "cs1": "viewed",
}


class DemoRefused(Exception):
    pass


def _email(local: str) -> str:
    return f"{local}@{DEMO_DOMAIN}"


def _describe(user: User, is_manager: bool) -> str:
    roles = sorted(str(r) for r in user.roles) + (["manager"] if is_manager else [])
    department = user.department.name if user.department else "-"
    return f"{user.full_name} ({department}; {', '.join(roles) or 'employee'})"


def _walk_course(
    session: Session, user: User, course_key: str, level: str, now: datetime, rng: random.Random
) -> None:
    """Take a course through the real services, as far as `level` says."""
    progress = training.course_progress(session, user, course_key, now.date())
    for module in progress.definition.modules:
        training.record_module_view(session, progress.assignment, module.slug, now)
    if level == "viewed":
        return
    progress = training.course_progress(session, user, course_key, now.date())
    department_key = user.department.key if user.department else None
    attempt = training.start_attempt(
        session, progress, department_key=department_key, language=user.locale, now=now, rng=rng
    )
    definition = progress.definition
    answers = {
        item["question"]: sorted(definition.question(item["question"]).correct_ids)  # type: ignore[union-attr]
        for item in attempt.served
    }
    training.submit_attempt(session, attempt, answers, now)
    if level == "passed":
        return
    progress = training.course_progress(session, user, course_key, now.date())
    language = definition.language_for(user.locale)
    training.sign_attestation(
        session,
        progress,
        user,
        agreed=True,
        typed_name=user.full_name,
        language=language,
        statement_sha256=definition.statement_sha256(language),
        ip="127.0.0.1",
        user_agent="vern demo loader",
        now=now,
    )


def create_demo(
    session: Session, now: datetime, *, skip_if_people: bool = False
) -> list[tuple[str, str]]:
    """Create the demo organisation with real progress; returns (email, description) pairs."""
    if session.scalar(select(exists().where(User.email.like(f"%@{DEMO_DOMAIN}")))):
        raise DemoRefused("The demo organisation exists already; nothing was changed.")
    if skip_if_people and session.scalar(select(exists().where(User.id.is_not(None)))):
        raise DemoRefused("People exist already; the demo organisation was not added.")
    departments = {
        key: get_or_create_department(session, key, name) for key, name in DEPARTMENTS.items()
    }
    users: dict[str, User] = {}
    for number, (local, name, department, manager, days, locale, roles) in enumerate(PEOPLE, 1):
        users[local] = create_user(
            session,
            email=_email(local),
            full_name=name,
            now=now,
            department=departments[department],
            manager=users[manager] if manager else None,
            start_date=(now - timedelta(days=days)).date(),
            locale=locale,
            password=DEMO_PASSWORD,
            roles=roles,
            external_id=f"EMP-{number:04d}",
        )
    # As if Vern came in 90 days ago and the programme began 60 days ago: overdue people,
    # a completion chart with a history, and "as of" days in the past that have data.
    for user in users.values():
        user.created_at = now - timedelta(days=90)
        user.invited_at = user.created_at  # demo people sign in with the demo password
    session.flush()
    assign_courses(session, now - timedelta(days=60))
    rng = random.Random(2026)  # noqa: S311 - reproducible demo data, not security
    for local, level in PROGRESS.items():
        user = users[local]
        for progress in training.my_training(session, user, now.date()):
            _walk_course(session, user, progress.definition.key, level, now, rng)
    _live_session_and_exemption(session, users, now)
    managers = {manager for _, _, _, manager, *_ in PEOPLE if manager}
    return [(users[local].email, _describe(users[local], local in managers)) for local in users]


def _live_session_and_exemption(session: Session, users: dict[str, User], now: datetime) -> None:
    """An onboarding session next week that new hires can join, and one exemption, so the
    pages for both have something to show."""
    hr = users["hr"]
    first_course = next(iter(training.my_training(session, users["hr1"], now.date())), None)
    if first_course is None:
        return
    live_sessions.schedule(
        session,
        course_key=first_course.definition.key,
        starts_at=(now + timedelta(days=7)).replace(hour=8, minute=0, second=0, microsecond=0),
        minutes=90,
        place="Oslo office, room Personvern (or Teams: link in the calendar invitation)",
        instructor=hr.full_name,
        capacity=15,
        actor_id=hr.id,
        now=now,
    )
    cycles = exemptions.exemptable_cycles(session, users["legal1"])
    if cycles:
        exemptions.grant(
            session,
            users["legal1"],
            cycles[0][0].id,
            reason="Holds a current CIPP/E certification (IAPP), renewed this year.",
            expires_on=(now + timedelta(days=365)).date(),
            actor_id=hr.id,
            now=now,
        )
