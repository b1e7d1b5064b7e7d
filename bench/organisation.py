"""Generate a large organisation straight into a database, fast, for the benchmarks.

People, departments and reporting lines; the shipped curriculum plus synthetic all-staff
courses up to `courses`; assignments in a realistic mix (most complete, some open, a few
overdue), written with bulk inserts rather than through the services."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.orm import Session

from lms.catalog.definition import Audience, CourseDefinition
from lms.catalog.loader import load_catalog
from lms.catalog.models import Course, CourseVersion
from lms.catalog.service import sync_catalog
from lms.config import PROJECT_ROOT
from lms.db import Database, canonical_json
from lms.evidence import binding, ledger
from lms.evidence.models import LedgerEntry, LedgerPersonal, LedgerSubject
from lms.people.models import Department, User
from lms.training import evidence_lines
from lms.training.models import Assignment, Attestation, QuizAttempt

DEPARTMENTS = [
    "sales",
    "customer-success",
    "support",
    "engineering",
    "marketing",
    "finance",
    "hr",
    "procurement",
    "legal",
    "management",
]
TEAM_SIZE = 8
NO_ANSWERS: dict[str, list[str]] = {}


def curriculum(courses: int) -> list[CourseDefinition]:
    """The shipped courses, topped up with copies until there are `courses`, all for everyone
    (so people x courses assignments, the worst case for the sweep)."""
    shipped = load_catalog(PROJECT_ROOT / "courses")
    everyone = Audience(everyone=True)
    result = [replace(course, audience=everyone) for course in shipped]
    n = 0
    while len(result) < courses:
        base = shipped[n % len(shipped)]
        n += 1
        result.append(replace(base, key=f"{base.key}-{n}", sha256=f"{n:064x}", audience=everyone))
    return result[:courses]


def _insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows straight to the driver's executemany. SQLAlchemy's per-row parameter building
    (the ORM's most of all) was most of the generation time; values are converted here the
    way the column types would store them, once per distinct value."""
    if not rows:
        return
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    columns = list(rows[0])
    placeholders = ", ".join(["?" if sqlite else "%s"] * len(columns))
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
    converters = [_converter(rows, column, sqlite) for column in columns]
    # A B-tree built once over sorted keys is cheaper than one grown row by row: the table's
    # plain indexes are dropped for the load and made again after it (same definitions).
    rebuilt = [index for index in table.indexes if not index.unique] if len(rows) > 100_000 else []
    for index in rebuilt:
        index.drop(connection)
    for chunk in _chunks(rows):
        values = [
            tuple(convert(row[c]) for c, convert in zip(columns, converters, strict=True))
            for row in chunk
        ]
        connection.exec_driver_sql(sql, values)  # type: ignore[arg-type]
    for index in rebuilt:
        index.create(connection)


def _converter(rows: list[dict[str, Any]], column: str, sqlite: bool) -> Any:
    sample = next((row[column] for row in rows if row[column] is not None), None)
    cache: dict[Any, Any] = {None: None}

    def remembered(convert: Any) -> Any:
        def lookup(value: Any) -> Any:
            # JSON values are the same few objects over and over: known by identity
            key = id(value) if isinstance(value, dict | list) else value
            if key not in cache:
                cache[key] = convert(value)
            return cache[key]

        return lookup

    if isinstance(sample, datetime) and sqlite:
        return remembered(lambda v: v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))
    if isinstance(sample, date) and not isinstance(sample, datetime) and sqlite:
        return remembered(lambda v: v.isoformat())
    if isinstance(sample, dict | list):
        # Written as the app writes JSON columns (lms.db.canonical_json).
        if sqlite:
            return remembered(canonical_json)
        from psycopg.types.json import Json  # the postgres extra

        return remembered(lambda v: Json(v, dumps=canonical_json))
    return lambda value: value


def _chunks(rows: list[dict[str, Any]], size: int = 20_000) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def generate(
    database: Database,
    people: int,
    courses: int,
    now: datetime,
    seed: int = 7,
    history: bool = False,
) -> None:
    """With `history`, also write quiz attempts (about two per assignment) and an attestation
    per completed assignment, as the dashboards and exports read them."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data
    _sqlite_journal(database, "DELETE")
    with database.transaction() as session:
        sync_catalog(session, curriculum(courses), now)
        departments = []
        for key in DEPARTMENTS:
            department = Department(key=key, name=key.title())
            session.add(department)
            departments.append(department)
        session.flush()
        department_ids = [d.id for d in departments]
    # Users in id order: every TEAM_SIZE-th person manages the next TEAM_SIZE - 1.
    users: list[dict[str, Any]] = []
    for i in range(1, people + 1):
        manager = None if i <= TEAM_SIZE else ((i - 1) // TEAM_SIZE)
        users.append(
            {
                "id": i,
                "email": f"p{i}@bench.example",
                "full_name": f"Person {i}",
                "department_id": department_ids[i % len(department_ids)],
                "manager_id": manager,
                "start_date": (now - timedelta(days=rng.randint(0, 3000))).date(),
                "locale": "nb" if i % 3 == 0 else "en",
                "timezone": "Europe/Oslo",
                "active": True,
                "digest_opt_in": False,
                "created_at": now - timedelta(days=1000),
                # In Vern for years: welcomed long ago, so the sweep owes nobody an invitation.
                "invited_at": now - timedelta(days=1000),
            }
        )
    with database.transaction() as session:
        _insert(session, User.__table__, users)
        versions = {
            course_id: version_id
            for course_id, version_id in session.execute(
                select(Course.id, CourseVersion.id).join(
                    CourseVersion, CourseVersion.id == Course.current_version_id
                )
            )
        }
    today = now.date()
    rows: list[dict[str, Any]] = []
    for user in users:
        for course_id, version_id in versions.items():
            roll = rng.random()
            due = today + timedelta(days=rng.randint(-60, 60))
            completed = roll < 0.85
            rows.append(
                {
                    "user_id": user["id"],
                    "course_id": course_id,
                    "course_version_id": version_id,
                    "cycle": 1,
                    "assigned_at": now - timedelta(days=90),
                    "due_on": due,
                    "completed_at": now - timedelta(days=rng.randint(1, 300))
                    if completed
                    else None,
                    "renews_on": today + timedelta(days=rng.randint(1, 365)) if completed else None,
                    # open cycles have already been looked at today: next stage in the future
                    "next_reminder_on": None
                    if completed
                    else today + timedelta(days=rng.randint(1, 7)),
                }
            )
    with database.transaction() as session:
        _insert(session, Assignment.__table__, rows)
    if history:
        _history(database, rng)
    _ready_for_queries(database)


def _sqlite_journal(database: Database, mode: str) -> None:
    """SQLite loads with a rollback journal: in WAL mode every page of a 1 GB load is written
    twice (to the log, then copied into the file at commit). WAL again afterwards, as Vern
    runs it."""
    if database.engine.dialect.name == "sqlite":
        raw = database.engine.raw_connection()  # outside any transaction, as SQLite requires
        try:
            raw.driver_connection.execute(f"PRAGMA journal_mode={mode}")  # type: ignore[union-attr]
        finally:
            raw.close()


def _ready_for_queries(database: Database) -> None:
    """SQLite back in WAL mode. PostgreSQL: rows were written with their ids, so each id
    sequence moves past them (or the application's first insert collides with a generated
    row), and the planner's statistics are gathered, as autovacuum does a little after any
    bulk load in production."""
    _sqlite_journal(database, "WAL")
    with database.transaction() as session:
        if session.get_bind().dialect.name != "postgresql":
            return
        for table in (User, Assignment, QuizAttempt, Attestation):
            name = table.__tablename__
            session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {name}), false)"
                )
            )
    with database.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")


STATEMENT = "I will follow what I learned."
PERSONAL = ("typed_name", "ip", "user_agent")  # kept apart from the ledger, under a digest


def _history(database: Database, rng: random.Random) -> None:
    """Per completed assignment a failed and a passed quiz attempt and the signature, made in
    signing order as the app makes them (ids growing with time), with the ledger entries the
    app appends for them: `lms ledger verify` says the generated ledger is intact."""
    served = [{"question": f"q{i}", "options": ["a", "b", "c"]} for i in range(8)]
    with database.transaction() as session:
        done = session.execute(
            select(
                Assignment.id,
                Assignment.user_id,
                Assignment.completed_at,
                CourseVersion.sha256,
                Course.key,
            )
            .join(Course, Course.id == Assignment.course_id)
            .join(CourseVersion, CourseVersion.id == Assignment.course_version_id)
            .where(Assignment.completed_at.is_not(None))
            .order_by(Assignment.completed_at, Assignment.id)
        ).all()
    attempts: list[dict[str, Any]] = []
    attestations: list[dict[str, Any]] = []
    attempt_id = 0
    statement_sha256 = binding.text_digest(STATEMENT)
    for n, (assignment_id, user_id, completed_at, sha, key) in enumerate(done, start=1):
        for number, passed in ((1, False), (2, True)):
            attempt_id += 1
            attempts.append(
                {
                    "id": attempt_id,
                    "assignment_id": assignment_id,
                    "number": number,
                    "language": "en",
                    "served": served,
                    "started_at": completed_at,
                    "submitted_at": completed_at,
                    "answers": NO_ANSWERS,
                    "correct_count": 8 if passed else 5,
                    "score_percent": 100 if passed else 62,
                    "passed": passed,
                }
            )
        attestations.append(
            {
                "id": n,
                "assignment_id": assignment_id,
                "user_id": user_id,
                "quiz_attempt_id": attempt_id,
                "course_key": key,
                "version_sha256": sha,
                "language": "en",
                "statement_sha256": statement_sha256,
                "statement": STATEMENT,
                "score_percent": 100,
                "typed_name": f"Person {user_id}",
                "signed_at": completed_at,
                "ip": "192.0.2.1",
                "user_agent": "bench",
                "cycle": 1,
                "person_email": f"p{user_id}@bench.example",
                "person_name": f"Person {user_id}",
                "department": DEPARTMENTS[user_id % len(DEPARTMENTS)].title(),
            }
        )
    with database.transaction() as session:
        _insert(session, QuizAttempt.__table__, attempts)
        _insert(session, Attestation.__table__, attestations)
        _ledger(session, attempts, attestations)


def _ledger(
    session: Session, attempts: list[dict[str, Any]], attestations: list[dict[str, Any]]
) -> None:
    """The entries the app appends, in signing order: per signature its two quiz results, the
    signature (its personal fields kept apart, under the person's keyed digest) and the
    completion it makes, each with its record's evidence line (lms.training.evidence_lines)."""
    refs = {
        user_id: str(uuid.UUID(int=user_id)) for user_id in {a["user_id"] for a in attestations}
    }
    keys = {user_id: f"{user_id:064x}" for user_id in refs}
    subjects = [
        {"user_id": user_id, "ref": ref, "digest_key": keys[user_id], "created_at": bench_now()}
        for user_id, ref in refs.items()
    ]
    _insert(session, LedgerSubject.__table__, subjects)
    previous, seq = ledger.GENESIS, 0
    entries: list[dict[str, Any]] = []
    personal: list[dict[str, Any]] = []

    def append(values: dict[str, Any]) -> None:
        nonlocal previous, seq
        seq += 1
        values["seq"], values["prev_hash"] = seq, previous
        values["hash"] = previous = ledger.entry_hash(tuple(values[f] for f in ledger.FIELDS))
        entries.append(values)

    # Attempts come two per signature, in the same order (see _history).
    for index, signed in enumerate(attestations):
        user_id = signed["user_id"]
        common = {
            "at": ledger.iso_at(signed["signed_at"]),
            "person_ref": refs[user_id],
            "course_key": signed["course_key"],
            "version_sha256": signed["version_sha256"],
            "language": signed["language"],
            "source": "app",
        }
        for attempt in attempts[2 * index : 2 * index + 2]:
            line = evidence_lines.attempt_line(
                user_id=user_id, **{k: v for k, v in attempt.items() if k != "id"}
            )
            append(
                {
                    **common,
                    "kind": "quiz_result",
                    "record": f"attempt:{attempt['id']}",
                    "score": attempt["score_percent"],
                    "statement_sha256": None,
                    "personal_digest": None,
                    "evidence": line,
                }
            )
        line = evidence_lines.attestation_line(
            key=keys[user_id],
            **{
                k: v for k, v in signed.items() if k not in ("id", "typed_name", "ip", "user_agent")
            },
        )
        typed = tuple(signed[name] for name in PERSONAL)
        record = f"attestation:{signed['id']}"
        append(
            {
                **common,
                "kind": "attestation",
                "record": record,
                "score": signed["score_percent"],
                "statement_sha256": signed["statement_sha256"],
                "personal_digest": ledger.personal_digest(keys[user_id], *typed),
                "evidence": line,
            }
        )
        personal.append({"seq": seq, **{name: signed[name] for name in PERSONAL}})
        append(
            {
                **common,
                "kind": "completion",
                "record": record,
                "score": signed["score_percent"],
                "statement_sha256": None,
                "personal_digest": None,
                "evidence": line,
            }
        )
    _insert(session, LedgerEntry.__table__, entries)
    _insert(session, LedgerPersonal.__table__, personal)


def bench_now() -> datetime:
    return datetime(2026, 6, 1, 6, 0, tzinfo=UTC)


def bench_today() -> date:
    return bench_now().date()
