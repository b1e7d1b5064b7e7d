"""The evidence lines of training records, and the check that every record still says what
its ledger entry says and every entry still has its record.

Each record the pages, PDFs, CSVs, JSON packs and the API show as evidence is entered in the
ledger with a line of every field it shows (lms.evidence.binding): a quiz result with its
attempt's line, a signature and the completion it makes with the attestation's, an attended
live session with the seat's, an exemption with its grant's and, once it ends, its end's.
`verify_records` recomputes those lines from the tables and compares them, both ways."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Generator, Iterator
from datetime import date, datetime
from operator import itemgetter
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Integer,
    Select,
    String,
    Text,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.functions import FunctionElement

from lms.catalog.models import Course, CourseVersion
from lms.db import UTCDateTime
from lms.evidence import binding, ledger
from lms.evidence.binding import Mismatch, keyed_digest, text_digest
from lms.evidence.models import LedgerEntry, LedgerPersonal, LedgerSubject
from lms.training.models import (
    Assignment,
    Attestation,
    Exemption,
    LiveSeat,
    LiveSession,
    QuizAttempt,
)

EXEMPTION_END = "exemption_end"
# The entry kinds each table's rows are entered under, and how an entry names its row.
PREFIXES = {
    "attempt:": "quiz_attempts",
    "attestation:": "attestations",
    "attendance:": "live_seats",
    "exemption:": "exemptions",
}


def attempt_line(
    *,
    user_id: int,
    assignment_id: int,
    number: int,
    language: str,
    served: Any,
    answers: Any,
    started_at: datetime,
    submitted_at: datetime | None,
    correct_count: int | None,
    score_percent: int | None,
    passed: bool | None,
) -> str:
    """A graded quiz attempt: what was served, answered and scored."""
    return binding.line(
        [
            ("user_id", user_id),
            ("assignment_id", assignment_id),
            ("number", number),
            ("language", language),
            ("served", binding.json_digest(served)),
            ("answers", binding.json_digest(answers)),
            ("started_at", started_at),
            ("submitted_at", submitted_at),
            ("correct_count", correct_count),
            ("score_percent", score_percent),
            ("passed", passed),
        ]
    )


def attestation_line(
    *,
    key: str | None,
    user_id: int,
    assignment_id: int,
    quiz_attempt_id: int,
    cycle: int | None,
    course_key: str,
    version_sha256: str,
    language: str,
    statement_sha256: str,
    statement: str,
    score_percent: int,
    signed_at: datetime,
    department: str | None,
    person_email: str | None,
    person_name: str | None,
) -> str:
    """A signature: whose, which version and statement, the score, when, and who they were
    then (name and address under the person's key; the name typed is the entry's own digest)."""
    return binding.line(
        [
            ("user_id", user_id),
            ("assignment_id", assignment_id),
            ("quiz_attempt_id", quiz_attempt_id),
            ("cycle", cycle),
            ("course_key", text_digest(course_key)),
            ("version_sha256", version_sha256),
            ("language", language),
            ("statement_sha256", statement_sha256),
            ("statement", text_digest(statement)),
            ("score_percent", score_percent),
            ("signed_at", signed_at),
            ("department", text_digest(department)),
            ("personal_person", keyed_digest(key, person_email, person_name)),
        ]
    )


def attendance_line(
    *,
    user_id: int,
    session_id: int,
    starts_at: datetime,
    minutes: int,
    place: str,
    instructor: str,
    attended_at: datetime | None,
    recorded_by_id: int | None,
) -> str:
    """An attended live session: who, which session (when, where, with whom) and when."""
    return binding.line(
        [
            ("user_id", user_id),
            ("session_id", session_id),
            ("starts_at", starts_at),
            ("minutes", minutes),
            ("place", text_digest(place)),
            ("instructor", text_digest(instructor)),
            ("attended_at", attended_at),
            ("recorded_by_id", recorded_by_id),
        ]
    )


def exemption_line(
    *,
    user_id: int,
    assignment_id: int,
    reason: str,
    expires_on: date | None,
    created_at: datetime,
    created_by_id: int | None,
) -> str:
    """An exemption as granted: whose cycle, why, until when, by whom."""
    return binding.line(
        [
            ("user_id", user_id),
            ("assignment_id", assignment_id),
            ("reason", text_digest(reason)),
            ("expires_on", expires_on),
            ("created_at", created_at),
            ("created_by_id", created_by_id),
        ]
    )


def exemption_end_line(*, ended_at: datetime | None, end_reason: str | None) -> str:
    """An exemption's end: when, and whether it expired or was revoked."""
    return binding.line([("ended_at", ended_at), ("end_reason", end_reason)])


def attestation_evidence(attestation: Attestation | Any, key: str | None) -> str:
    """The line of an attestation (the object, or a row of its columns)."""
    return attestation_line(
        key=key,
        user_id=attestation.user_id,
        assignment_id=attestation.assignment_id,
        quiz_attempt_id=attestation.quiz_attempt_id,
        cycle=attestation.cycle,
        course_key=attestation.course_key,
        version_sha256=attestation.version_sha256,
        language=attestation.language,
        statement_sha256=attestation.statement_sha256,
        statement=attestation.statement,
        score_percent=attestation.score_percent,
        signed_at=attestation.signed_at,
        department=attestation.department,
        person_email=attestation.person_email,
        person_name=attestation.person_name,
    )


def attempt_evidence(attempt: QuizAttempt) -> str:
    """The line of a graded quiz attempt row."""
    return attempt_line(
        user_id=attempt.assignment.user_id,
        assignment_id=attempt.assignment_id,
        number=attempt.number,
        language=attempt.language,
        served=attempt.served,
        answers=attempt.answers,
        started_at=attempt.started_at,
        submitted_at=attempt.submitted_at,
        correct_count=attempt.correct_count,
        score_percent=attempt.score_percent,
        passed=attempt.passed,
    )


def attendance_evidence(seat: LiveSeat) -> str:
    """The line of an attended seat."""
    live = seat.live_session
    return attendance_line(
        user_id=seat.user_id,
        session_id=seat.session_id,
        starts_at=live.starts_at,
        minutes=live.minutes,
        place=live.place,
        instructor=live.instructor,
        attended_at=seat.attended_at,
        recorded_by_id=seat.recorded_by_id,
    )


def exemption_evidence(exemption: Exemption | Any) -> str:
    """The line of an exemption as granted (the object, or a row of its columns)."""
    return exemption_line(
        user_id=exemption.user_id,
        assignment_id=exemption.assignment_id,
        reason=exemption.reason,
        expires_on=exemption.expires_on,
        created_at=exemption.created_at,
        created_by_id=exemption.created_by_id,
    )


# Verification -------------------------------------------------------------------------------

ENTRY_COLUMNS = (
    "seq",
    "person_ref",
    "at",
    "course_key",
    "version_sha256",
    "statement_sha256",
    "language",
    "score",
    "personal_digest",
    "evidence",
)
# Which column of an entry holds a row's field (the rest have the same name in both).
ENTRY_COLUMN_OF = {
    "user_id": "person_ref",
    "submitted_at": "at",
    "signed_at": "at",
    "attended_at": "at",
    "created_at": "at",
    "score_percent": "score",
}
BATCH = 5_000


def _named(prefix: str, column: Any) -> Any:
    return literal(prefix, String) + cast(column, String)


def _entry(
    kind: str, record_prefix: str, row_id: Any, prefix: str = "e_"
) -> tuple[Any, Any, list[Any]]:
    """An entry of `kind` about the row, to outer-join, and its columns labelled `e_…`."""
    alias = aliased(LedgerEntry)
    on = and_(alias.kind == kind, alias.record == _named(record_prefix, row_id))
    return alias, on, [getattr(alias, name).label(f"{prefix}{name}") for name in ENTRY_COLUMNS]


def _rows(session: Session, query: Select[Any]) -> Iterator[Any]:
    # In batches (a server-side cursor on PostgreSQL), closed even when the caller stops early.
    result = session.execute(query.execution_options(yield_per=BATCH))
    try:
        yield from result
    finally:
        result.close()


def _compare(
    table: str,
    row: Any,
    expected: dict[str, object],
    line: str | None,
    erased: bool,
    prefix: str = "e_",
) -> Mismatch | None:
    """The first field of the entry (its own columns, then its evidence line) that the row no
    longer matches. An entry made before 0024 has no line: its own columns are what it holds.
    `prefix` says which of the row's joined entries (`e_…` or `c_…` columns) to compare."""
    seq = getattr(row, f"{prefix}seq")
    if seq is None:
        return Mismatch(table, row.id, "", "has no ledger entry")
    for name, value in expected.items():
        column = ENTRY_COLUMN_OF.get(name, name)
        if getattr(row, f"{prefix}{column}") != value:
            reason = f"differs from ledger entry {seq} ({column})"
            return Mismatch(table, row.id, name, reason)
    evidence = getattr(row, f"{prefix}evidence")
    if evidence is not None and line is not None:
        field = binding.first_difference(evidence, line, erased=erased)
        if field is not None:
            return Mismatch(table, row.id, field, f"differs from ledger entry {seq}")
    return None


class iso_micro_text(FunctionElement[str]):  # noqa: N801 - reads like the SQL function it is
    """A UTC timestamp column as the ledger writes times ('2026-03-02T09:30:00.000000Z'),
    formatted by the database: a million rows then need no date parsing in Python."""

    type = String()
    inherit_cache = True


@compiles(iso_micro_text, "sqlite")
def _iso_micro_sqlite(element: iso_micro_text, compiler: Any, **kw: Any) -> str:
    # UTCDateTime stores UTC as 'YYYY-MM-DD HH:MM:SS.ffffff', always six digits.
    return f"replace({compiler.process(element.clauses, **kw)}, ' ', 'T') || 'Z'"


@compiles(iso_micro_text, "postgresql")
def _iso_micro_postgresql(element: iso_micro_text, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def _columns(table: Any) -> list[Any]:
    """A table's columns, its times as the ledger's text (see iso_micro_text)."""
    return [
        iso_micro_text(column).label(column.name)
        if isinstance(column.type, UTCDateTime)
        else column
        for column in table.c
    ]


def _iso(moment: datetime | str | None) -> str | None:
    if moment is None or isinstance(moment, str):
        return moment
    return None if moment is None else ledger.iso_at(moment)


def _attempt_query() -> Select[Any]:
    """Graded quiz attempts with what their line and entry need, in id order. The questions
    and answers come as text on every database (PostgreSQL's driver would parse them), so
    their digests are remembered by it (_JsonDigests)."""
    columns = [
        cast(column, Text).label(column.name) if isinstance(column.type, JSON) else column
        for column in _columns(QuizAttempt.__table__)
    ]
    return (
        select(
            *columns,
            Assignment.user_id,
            Course.key.label("course_key"),
            CourseVersion.sha256.label("version_sha256"),
            LedgerSubject.ref,
        )
        .join(Assignment, Assignment.id == QuizAttempt.assignment_id)
        .join(CourseVersion, CourseVersion.id == Assignment.course_version_id)
        .join(Course, Course.id == Assignment.course_id)
        .outerjoin(LedgerSubject, LedgerSubject.user_id == Assignment.user_id)
        .where(QuizAttempt.submitted_at.is_not(None))
        .order_by(QuizAttempt.id)
    )


def _attestation_query() -> Select[Any]:
    """Signatures with the person's reference, key and erasure, and the cycle they signed for
    (whose, which course, when completed), in id order."""
    cycle = aliased(Assignment)
    course = aliased(Course)
    return (
        select(
            *_columns(Attestation.__table__),
            LedgerSubject.ref,
            LedgerSubject.digest_key,
            LedgerSubject.erased_at,
            iso_micro_text(cycle.completed_at).label("a_completed_at"),
            cycle.user_id.label("a_user_id"),
            course.key.label("a_course_key"),
        )
        .outerjoin(LedgerSubject, LedgerSubject.user_id == Attestation.user_id)
        .outerjoin(cycle, cycle.id == Attestation.assignment_id)
        .outerjoin(course, course.id == cycle.course_id)
        .order_by(Attestation.id)
    )


def _attempt_problems(session: Session, since: str) -> Generator[Mismatch]:
    entry, on, columns = _entry(ledger.Kind.QUIZ_RESULT, "attempt:", QuizAttempt.id)
    query = _attempt_query().add_columns(*columns).outerjoin(entry, on)
    names = list(query.selected_columns.keys())
    record = itemgetter(*(names.index(name) for name in _ATTEMPT_FIELDS))
    entered = itemgetter(*(names.index(f"e_{name}") for name in ENTRY_COLUMNS))
    digest = _JsonDigests()
    for raw in _raw_rows(session, query):
        values, e = record(raw), entered(raw)
        if e[0] is None:
            if values[8] < since:
                continue  # graded before the ledger began
        elif _attempt_agrees(values, e, digest):
            continue
        problem = _one_attempt(_attempt_row(names, raw))
        if problem is not None:
            yield problem


_ATTEMPT_FIELDS = (
    "id",
    "user_id",
    "assignment_id",
    "number",
    "language",
    "served",
    "answers",
    "started_at",
    "submitted_at",
    "correct_count",
    "score_percent",
    "passed",
    "ref",
    "course_key",
    "version_sha256",
)


def _attempt_agrees(values: tuple[Any, ...], entry: tuple[Any, ...], digest: _JsonDigests) -> bool:
    """The common case, on the driver's own values (an attempt in _ATTEMPT_FIELDS order, its
    entry in ENTRY_COLUMNS order): every field of the entry equal, and the line rebuilt equal
    to the entry's. False for anything else — a difference, an unexpected value — which the
    full comparison (_one_attempt) then names; True only where it would find nothing."""
    (
        _,
        user_id,
        assignment_id,
        number,
        language,
        served,
        answers,
        started_at,
        submitted_at,
        correct_count,
        score_percent,
        passed,
        ref,
        course_key,
        version_sha256,
    ) = values
    _, e_ref, e_at, e_course_key, e_version, _, e_language, e_score, _, evidence = entry
    if not (
        entry[0] is not None
        and ref == e_ref
        and submitted_at == e_at
        and course_key == e_course_key
        and version_sha256 == e_version
        and language == e_language
        and score_percent == e_score
        and None not in (user_id, assignment_id, number, language, started_at)
        and passed in _BOOLEAN
    ):
        return False
    if evidence is None:
        return True
    if not _well_formed(evidence, 11):
        return False
    head = f"user_id={user_id};assignment_id={assignment_id};number={number};language={language}"
    tail = (
        f";started_at={started_at};submitted_at={_blank(submitted_at)}"
        f";correct_count={_blank(correct_count)}"
        f";score_percent={_blank(score_percent)};passed={_BOOLEAN[passed]}"
    )
    # The questions and answers hashed as stored first (canonical since Vern writes them so),
    # then, for rows written before, parsed and encoded canonically.
    stored = f"{head};served={digest.stored(served)};answers={digest.stored(answers)}{tail}"
    return evidence == stored or evidence == (
        f"{head};served={digest(served)};answers={digest(answers)}{tail}"
    )


# How a line spells a boolean; the driver's 0 and 1 (SQLite) are the same keys as False/True.
_BOOLEAN: dict[object, str] = {None: "", True: "true", False: "false"}


def _blank(value: object) -> object:
    return "" if value is None else value


def _well_formed(evidence: str, fields: int) -> bool:
    """A line of `fields` pairs and no unit separator: a record whose text held `;` or `=`
    could otherwise spell the same line with its fields shifted (binding.line refuses them)."""
    return (
        evidence.count(binding.PAIR) == fields - 1
        and evidence.count(binding.EQUALS) == fields
        and "\x1f" not in evidence
    )


class _JsonDigests:
    """binding.json_digest of a JSON column as the driver returns it (its text), remembered by
    that text for a while: the same questions and answers may come back. Computed as
    json_digest does — the same canonical JSON, the same sha256 — without passing each new
    text through text_digest's cache, which values seen once would only churn."""

    LIMIT = 20_000
    CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def __init__(self) -> None:
        self.known: dict[str, str] = {}

    @staticmethod
    def stored(value: Any) -> str:
        """The sha256 of the text as stored: json_digest's own when the value was written
        canonically (lms.db.canonical_json), as Vern writes them since. Equal to the digest
        in an entry only if the text is the canonical JSON of the value the entry saw."""
        if not isinstance(value, str):
            return "-"  # parsed by the driver: no text to hash, never a digest
        return hashlib.sha256(value.encode("utf-8")).hexdigest()

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str):
            return binding.json_digest(value)
        digest = self.known.get(value)
        if digest is None:
            parsed = json.loads(value)
            if parsed is None:
                digest = ""
            else:
                canonical = self.CANONICAL.encode(parsed)
                digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
            if len(self.known) >= self.LIMIT:
                self.known.clear()
            self.known[value] = digest
        return digest


def _raw_rows(
    session: Session, query: Select[Any], name: str = "vern_records_verify"
) -> Generator[tuple[Any, ...]]:
    """The query's rows straight from the driver, in batches (a server-side cursor on
    PostgreSQL, named `name`): at a million rows SQLAlchemy's row building cost more than the
    checking. The query holds only constants, rendered into its text."""
    connection = session.connection()
    sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    driver: Any = connection.connection.dbapi_connection
    postgres = connection.dialect.name == "postgresql"
    cursor = driver.cursor(name=name) if postgres else driver.cursor()
    try:
        cursor.execute(sql)
        while batch := cursor.fetchmany(BATCH):
            yield from batch
    finally:
        cursor.close()


def _attempt_row(names: list[str], raw: tuple[Any, ...]) -> SimpleNamespace:
    """A driver row as SQLAlchemy would have returned it: JSON parsed, booleans as bool."""
    row = SimpleNamespace(**dict(zip(names, raw, strict=True)))
    for name in ("served", "answers"):
        if isinstance(getattr(row, name), str):
            setattr(row, name, json.loads(getattr(row, name)))
    if row.passed is not None:
        row.passed = bool(row.passed)
    return row


def _one_attempt(row: Any) -> Mismatch | None:
    expected = {
        "user_id": row.ref,
        "submitted_at": _iso(row.submitted_at),
        "course_key": row.course_key,
        "version_sha256": row.version_sha256,
        "language": row.language,
        "score_percent": row.score_percent,
    }
    line = attempt_line(
        user_id=row.user_id,
        assignment_id=row.assignment_id,
        number=row.number,
        language=row.language,
        served=row.served,
        answers=row.answers,
        started_at=row.started_at,
        submitted_at=row.submitted_at,
        correct_count=row.correct_count,
        score_percent=row.score_percent,
        passed=row.passed,
    )
    return _compare("quiz_attempts", row, expected, line, erased=False)


def _attestation_problems(session: Session, since: str) -> Generator[Mismatch]:
    """Each signature against its two entries (the signature and the completion it made), in
    one pass: its line is built once for both."""
    entry, on, columns = _entry(ledger.Kind.ATTESTATION, "attestation:", Attestation.id)
    done, on_done, done_columns = _entry(
        ledger.Kind.COMPLETION, "attestation:", Attestation.id, prefix="c_"
    )
    personal = aliased(LedgerPersonal)
    query = (
        _attestation_query()
        .add_columns(
            personal.seq.label("p_seq"),
            *(getattr(personal, name).label(f"p_{name}") for name in PERSONAL),
            *columns,
            *done_columns,
        )
        .outerjoin(entry, on)
        .outerjoin(done, on_done)
        .outerjoin(personal, personal.seq == entry.seq)
    )
    names = list(query.selected_columns.keys())
    record = itemgetter(*(names.index(name) for name in _ATTESTATION_FIELDS))
    entered = itemgetter(*(names.index(f"e_{name}") for name in ENTRY_COLUMNS))
    completed = itemgetter(*(names.index(f"c_{name}") for name in ENTRY_COLUMNS))
    kept = itemgetter(*(names.index(f"p_{name}") for name in ("seq", *PERSONAL)))
    digests = _PersonalDigests()
    for raw in _raw_rows(session, query):
        values, e, c, p = record(raw), entered(raw), completed(raw), kept(raw)
        if e[0] is None and c[0] is None:
            if values[11] < since:
                continue  # signed before the ledger began
        elif _attestation_agrees(values, e, c, None if p[0] is None else p, digests):
            continue
        problem = _one_attestation(SimpleNamespace(**dict(zip(names, raw, strict=True))))
        if problem is not None:
            yield problem


_ATTESTATION_FIELDS = (
    "id",
    "user_id",
    "assignment_id",
    "quiz_attempt_id",
    "cycle",
    "course_key",
    "version_sha256",
    "language",
    "statement_sha256",
    "statement",
    "score_percent",
    "signed_at",
    "department",
    "person_email",
    "person_name",
    "typed_name",
    "ip",
    "user_agent",
    "ref",
    "digest_key",
    "erased_at",
    "a_completed_at",
    "a_user_id",
    "a_course_key",
)


def _attestation_agrees(
    values: tuple[Any, ...],
    entry: tuple[Any, ...],
    completion: tuple[Any, ...],
    personal: tuple[Any, ...] | None,
    digests: _PersonalDigests,
) -> bool:
    """The common case, as _attempt_agrees: a signature (in _ATTESTATION_FIELDS order) agrees
    with both its entries (ENTRY_COLUMNS order) field by field and line by line, its statement
    with the statement's digest, and the personal fields with the copy kept apart (seq and
    PERSONAL) and the entry's keyed digest. Anything else, erased people included, is left
    to the full comparison (_one_attestation), which names the field."""
    (
        _,
        user_id,
        assignment_id,
        quiz_attempt_id,
        cycle,
        course_key,
        version_sha256,
        language,
        statement_sha256,
        statement,
        score_percent,
        signed_at,
        department,
        person_email,
        person_name,
        typed_name,
        ip,
        user_agent,
        ref,
        digest_key,
        erased_at,
        *_,
    ) = values
    statement_digest = text_digest(statement)
    if not (
        erased_at is None
        and digest_key is not None
        and entry[0] is not None
        and completion[0] is not None
        and ref == entry[1] == completion[1]
        and signed_at == entry[2] == completion[2]
        and course_key == entry[3] == completion[3]
        and version_sha256 == entry[4] == completion[4]
        and language == entry[6] == completion[6]
        and score_percent == entry[7] == completion[7]
        and statement_sha256 == entry[5]
        and statement_digest == statement_sha256
        and None not in (user_id, assignment_id, quiz_attempt_id, version_sha256, language)
        and None not in (statement_sha256, score_percent, signed_at)
    ):
        return False
    line = (
        f"user_id={user_id};assignment_id={assignment_id}"
        f";quiz_attempt_id={quiz_attempt_id};cycle={_blank(cycle)}"
        f";course_key={text_digest(course_key)};version_sha256={version_sha256}"
        f";language={language};statement_sha256={statement_sha256}"
        f";statement={statement_digest};score_percent={score_percent}"
        f";signed_at={signed_at};department={text_digest(department)}"
        f";personal_person={digests.person(digest_key, person_email, person_name)}"
    )
    evidence, done = entry[9], completion[9]
    if personal is None:
        personal_ok = entry[8] is None
    else:
        personal_ok = (
            personal[1:] == (typed_name, ip, user_agent)
            and digests.typed(digest_key, typed_name, ip, user_agent) == entry[8]
        )
    return (
        (evidence is None or evidence == line)
        and (done is None or done == line)
        and (evidence is None and done is None or _well_formed(line, 13))
        and personal_ok
    )


class _PersonalDigests:
    """The two HMACs of a signature under the person's key, each key decoded once: who they
    were (binding.keyed_digest of address and name, remembered: the same for most of a
    person's signatures) and what they typed (ledger.personal_digest of name typed, IP and
    browser, which differ from one signature to the next)."""

    LIMIT = 100_000

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}
        self.known: dict[tuple[str, str | None, str | None], str] = {}

    def _key(self, key_hex: str) -> bytes:
        key = self.keys.get(key_hex)
        if key is None:
            if len(self.keys) >= self.LIMIT:
                self.keys.clear()
            key = self.keys[key_hex] = bytes.fromhex(key_hex)
        return key

    def person(self, key_hex: str, email: str | None, name: str | None) -> str:
        """binding.keyed_digest(key_hex, email, name)."""
        remembered = (key_hex, email, name)
        digest = self.known.get(remembered)
        if digest is None:
            joined = f"{'' if email is None else email}\x1f{'' if name is None else name}"
            digest = hmac.digest(self._key(key_hex), joined.encode("utf-8"), "sha256").hex()
            if len(self.known) >= self.LIMIT:
                self.known.clear()
            self.known[remembered] = digest
        return digest

    def typed(self, key_hex: str, typed_name: str | None, ip: str | None, agent: str | None) -> str:
        """ledger.personal_digest(key_hex, typed_name, ip, agent)."""
        joined = "\x1f".join("" if value is None else value for value in (typed_name, ip, agent))
        return hmac.digest(self._key(key_hex), joined.encode("utf-8"), "sha256").hex()


def _one_attestation(row: Any) -> Mismatch | None:
    erased = row.erased_at is not None
    expected: dict[str, object] = {
        "user_id": row.ref,
        "signed_at": _iso(row.signed_at),
        "course_key": row.course_key,
        "version_sha256": row.version_sha256,
        "language": row.language,
        "score_percent": row.score_percent,
    }
    line = attestation_evidence(row, row.digest_key)
    problem = _compare("attestations", row, expected, line, erased, prefix="c_")
    if problem is not None:
        return problem
    expected["statement_sha256"] = row.statement_sha256
    problem = _compare("attestations", row, expected, line, erased)
    if problem is not None:
        return problem
    if text_digest(row.statement) != row.statement_sha256:
        return Mismatch("attestations", row.id, "statement", "differs from its sha256")
    return _personal_problem(row, erased)


PERSONAL = ("typed_name", "ip", "user_agent")


def _personal_problem(row: Any, erased: bool) -> Mismatch | None:
    """The name typed, IP and browser against the entry's keyed digest (and the copy kept in
    ledger_personal); after erasure they must be empty, as erasure left them."""
    values = tuple(getattr(row, name) for name in PERSONAL)
    if erased:
        left = [n for n, v in zip(PERSONAL, values, strict=True) if v]
        left += [n for n in ("person_email", "person_name") if getattr(row, n)]
        if left:
            return Mismatch("attestations", row.id, left[0], "not empty after erasure")
        if row.p_seq is not None:
            return Mismatch("ledger_personal", row.p_seq, "seq", "kept after erasure")
        return None
    if row.p_seq is not None:
        kept = tuple(getattr(row, f"p_{name}") for name in PERSONAL)
        if ledger.personal_digest(row.digest_key, *kept) != row.e_personal_digest:
            field = _differing(kept, values)
            return Mismatch("ledger_personal", row.p_seq, field, "differs from its digest")
        if kept != values:
            field = _differing(values, kept)
            return Mismatch("attestations", row.id, field, "differs from ledger_personal")
    elif row.e_personal_digest is not None:
        if ledger.personal_digest(row.digest_key, *values) != row.e_personal_digest:
            return Mismatch("attestations", row.id, "typed_name, ip or user_agent", "differs")
        return Mismatch("ledger_personal", row.e_seq, "seq", "missing")
    return None


def _differing(values: tuple[object, ...], others: tuple[object, ...]) -> str:
    return next(
        (n for n, a, b in zip(PERSONAL, values, others, strict=True) if a != b),
        "typed_name, ip or user_agent",
    )


def _attendance_problems(session: Session, since: str) -> Generator[Mismatch]:
    entry, on, columns = _entry(ledger.Kind.COMPLETION, "attendance:", LiveSeat.id)
    query = (
        select(
            *_columns(LiveSeat.__table__),
            iso_micro_text(LiveSession.starts_at).label("starts_at"),
            LiveSession.minutes,
            LiveSession.place,
            LiveSession.instructor,
            Course.key.label("course_key"),
            LedgerSubject.ref,
            *columns,
        )
        .join(LiveSession, LiveSession.id == LiveSeat.session_id)
        .join(Course, Course.id == LiveSession.course_id)
        .outerjoin(LedgerSubject, LedgerSubject.user_id == LiveSeat.user_id)
        .outerjoin(entry, on)
        .where(LiveSeat.attended_at.is_not(None))
        .order_by(LiveSeat.id)
    )
    for row in _rows(session, query):
        if row.e_seq is None:
            continue  # attended a course already completed: the seat completed nothing
        expected = {
            "user_id": row.ref,
            "attended_at": _iso(row.attended_at),
            "course_key": row.course_key,
        }
        line = attendance_line(
            user_id=row.user_id,
            session_id=row.session_id,
            starts_at=row.starts_at,
            minutes=row.minutes,
            place=row.place,
            instructor=row.instructor,
            attended_at=row.attended_at,
            recorded_by_id=row.recorded_by_id,
        )
        problem = _compare("live_seats", row, expected, line, erased=False)
        if problem is not None:
            yield problem


def _exemption_problems(session: Session, since: str) -> Generator[Mismatch]:
    granted, on_grant, columns = _entry(ledger.Kind.EXEMPTION, "exemption:", Exemption.id)
    ended = aliased(LedgerEntry)
    on_end = and_(
        ended.kind == ledger.Kind.EXEMPTION_END,
        ended.record == _named("exemption:", Exemption.id),
    )
    query = (
        select(
            *_columns(Exemption.__table__),
            LedgerSubject.ref,
            *columns,
            ended.seq.label("end_seq"),
            ended.at.label("end_at"),
            ended.evidence.label("end_evidence"),
        )
        .outerjoin(LedgerSubject, LedgerSubject.user_id == Exemption.user_id)
        .outerjoin(granted, on_grant)
        .outerjoin(ended, on_end)
        .order_by(Exemption.id)
    )
    for row in _rows(session, query):
        if row.e_seq is None and row.created_at < since:
            continue  # granted before exemptions were entered in the ledger
        expected = {"user_id": row.ref, "created_at": _iso(row.created_at)}
        problem = _compare("exemptions", row, expected, exemption_evidence(row), erased=False)
        if problem is None:
            problem = _end_problem(row)
        if problem is not None:
            yield problem


def _end_problem(row: Any) -> Mismatch | None:
    if row.end_seq is None:
        if row.ended_at is not None or row.end_reason is not None:
            return Mismatch("exemptions", row.id, "ended_at", "has no ledger entry for its end")
        return None
    now = exemption_end_line(ended_at=row.ended_at, end_reason=row.end_reason)
    field = binding.first_difference(row.end_evidence or "", now, erased=False)
    if field is None and row.end_at != _iso(row.ended_at):
        field = "ended_at"
    if field is not None:
        return Mismatch("exemptions", row.id, field, f"differs from ledger entry {row.end_seq}")
    return None


def _completion_problem(session: Session, since: str) -> Mismatch | None:
    """A cycle shown as complete has a completion entry of the person and course at that very
    time (the signature's, or the attended session's): none means it was marked by hand."""
    entered = exists().where(
        LedgerEntry.kind == ledger.Kind.COMPLETION,
        LedgerEntry.person_ref == LedgerSubject.ref,
        LedgerEntry.course_key == Course.key,
        LedgerEntry.at == iso_micro_text(Assignment.completed_at),
    )
    unbound = session.scalar(
        select(Assignment.id)
        .join(Course, Course.id == Assignment.course_id)
        .outerjoin(LedgerSubject, LedgerSubject.user_id == Assignment.user_id)
        .where(
            Assignment.completed_at.is_not(None),
            iso_micro_text(Assignment.completed_at) >= since,
            ~entered,
        )
        .order_by(Assignment.id)
        .limit(1)
    )
    if unbound is None:
        return None
    return Mismatch("assignments", unbound, "completed_at", "no completion entry at that time")


def _row_id(session: Session, digits: Any) -> Any:
    """The id an entry's record names. PostgreSQL refuses to cast text that is not a number
    (an edited record could hold anything): only digits are cast there; SQLite casts the rest
    to 0, which names no row either way."""
    if session.get_bind().dialect.name == "postgresql":
        return case((digits.op("~")("^[0-9]{1,18}$"), cast(digits, BigInteger)), else_=None)
    return cast(digits, Integer)


def _orphans(session: Session) -> Mismatch | None:
    """The first entry whose record is gone (or was never there)."""
    first: Mismatch | None = None
    for prefix, table in PREFIXES.items():
        model: Any = {
            "quiz_attempts": QuizAttempt,
            "attestations": Attestation,
            "live_seats": LiveSeat,
            "exemptions": Exemption,
        }[table]
        row_id = _row_id(session, func.substr(LedgerEntry.record, len(prefix) + 1))
        there = exists().where(model.id == row_id, _named(prefix, model.id) == LedgerEntry.record)
        orphan = session.execute(
            select(LedgerEntry.seq, LedgerEntry.record)
            .where(LedgerEntry.record.startswith(prefix, autoescape=True), ~there)
            .order_by(LedgerEntry.seq)
            .limit(1)
        ).first()
        if orphan is not None and (first is None or int(orphan[0]) < int(first.row_id)):
            first = Mismatch("ledger_entries", orphan[0], "record", f"{orphan[1]}: no such row")
    unknown = session.execute(
        select(LedgerEntry.seq, LedgerEntry.record)
        .where(*(~LedgerEntry.record.startswith(p, autoescape=True) for p in PREFIXES))
        .order_by(LedgerEntry.seq)
        .limit(1)
    ).first()
    if unknown is not None and (first is None or int(unknown[0]) < int(first.row_id)):
        first = Mismatch("ledger_entries", unknown[0], "record", f"{unknown[1]}: no such row")
    return first


def _personal_orphans(session: Session) -> Mismatch | None:
    """Personal fields kept for an entry that has no personal digest (or no entry)."""
    orphan = session.scalar(
        select(LedgerPersonal.seq)
        .outerjoin(LedgerEntry, LedgerEntry.seq == LedgerPersonal.seq)
        .where(LedgerEntry.personal_digest.is_(None))
        .order_by(LedgerPersonal.seq)
        .limit(1)
    )
    if orphan is None:
        return None
    return Mismatch("ledger_personal", orphan, "seq", "no entry with a personal digest")


def _first_exemption(session: Session) -> str:
    """Exemptions are entered in the ledger since revision 0024: the first one's time (those
    granted before have no entry), or the end of time when there is none yet."""
    first = session.scalar(
        select(func.min(LedgerEntry.at)).where(LedgerEntry.kind == ledger.Kind.EXEMPTION)
    )
    if first is None:
        return "9999"  # after every time the ledger writes
    return first


def verify_records(session: Session) -> Mismatch | None:
    """Every evidence row against its ledger entries, and every entry against its row; the
    first place (table, id, field) where they part, or None when all agree. `lms ledger verify`
    does the same in the chain's own pass (RecordsCheck given to ledger.verify_chain)."""
    check = RecordsCheck(session)
    try:
        for row in ledger.entry_rows(session):
            check.entry(row)
    except BaseException:
        check.close()
        raise
    return check.result()


def _verify_records_fully(session: Session) -> Mismatch | None:
    """Every evidence row against its ledger entries, and every entry against its row, joined
    in the database; the first place (table, id, field) where they part, or None."""
    first = session.scalar(select(LedgerEntry.at).where(LedgerEntry.seq == 1))
    if first is None:
        return None  # an empty ledger: the checkpoints say whether it should be
    since = first  # times compare as the text the ledger writes
    for problems in (
        _attestation_problems(session, since),
        _attempt_problems(session, since),
        _attendance_problems(session, since),
        _exemption_problems(session, _first_exemption(session)),
    ):
        try:
            problem = next(problems, None)
        finally:
            problems.close()
        if problem is not None:
            return problem
    return _completion_problem(session, since) or _orphans(session) or _personal_orphans(session)


# One pass with the chain ----------------------------------------------------------------------

# An entry's fields (ledger.FIELDS order, as the chain reads them) in ENTRY_COLUMNS order.
_ENTRY_VIEW = itemgetter(*(ledger.FIELDS.index(name) for name in ENTRY_COLUMNS))
_ATTEMPT = "attempt:"
_ATTESTATION = "attestation:"
_ELSEWHERE = {"attendance:": LiveSeat, "exemption:": Exemption}
_AFTER_ALL = 1 << 62  # past every id: a stream that has ended
_GRADED, _SIGNED = str(ledger.Kind.QUIZ_RESULT), str(ledger.Kind.ATTESTATION)
# Where a signature's slot holds each of its two entries.
_PLACES = {_SIGNED: 1, str(ledger.Kind.COMPLETION): 2}


class RecordsCheck:
    """`verify_records` riding on the chain's own read of the entries (`entry` is given each
    entry in sequence order; `ledger.verify_chain(observe=...)`), so a million entries are read
    once, not once for the chain and again for their records.

    Quiz attempts, signatures and the personal fields kept apart are read alongside, in id (and
    sequence) order, and merged with the entries that name them: every attempt and signature
    against its entries, every entry against its row, as `_attempt_agrees` and
    `_attestation_agrees` check them. At the first thing that does not simply agree — a
    difference, an entry naming no row, a row with no entry, a personal row with no entry —
    it stops looking, and `result` runs the full comparison, which names the first table, id
    and field. Live sessions, exemptions and completions marked in assignments are checked
    after, as before (few rows, or one query)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.agreed = True
        self.since: str | None = None
        self._streams: list[Generator[tuple[Any, ...]]] = []
        self._attempts: Iterator[tuple[Any, ...]] = iter(())
        self._attestations: Iterator[tuple[Any, ...]] = iter(())
        self._personal: Iterator[tuple[Any, ...]] = iter(())
        self._attempt_last = 0
        self._attestation_last = 0
        # Rows read ahead, by the record their entries name, until those entries come.
        self._waiting_attempts: dict[str, tuple[Any, ...]] = {}
        self._waiting_signatures: dict[str, list[Any]] = {}
        self._kept: tuple[Any, ...] | None = None
        self._elsewhere: list[tuple[int, str, str]] = []
        # Cycles completed by a signature whose completion entry agreed (see _completion_problem)
        self._completed: set[int] = set()
        self._json = _JsonDigests()
        self._digests = _PersonalDigests()

    def _open(self) -> None:
        attempts = _attempt_query()
        signatures = _attestation_query()
        kept = select(LedgerPersonal.seq, *(getattr(LedgerPersonal, n) for n in PERSONAL))
        streams = [
            _raw_rows(self.session, attempts, "vern_records_attempts"),
            _raw_rows(self.session, signatures, "vern_records_attestations"),
            _raw_rows(self.session, kept.order_by(LedgerPersonal.seq), "vern_records_personal"),
        ]
        self._streams = streams
        a_names = list(attempts.selected_columns.keys())
        s_names = list(signatures.selected_columns.keys())
        self._attempts = map(itemgetter(*(a_names.index(n) for n in _ATTEMPT_FIELDS)), streams[0])
        self._attestations = map(
            itemgetter(*(s_names.index(n) for n in _ATTESTATION_FIELDS)), streams[1]
        )
        self._personal = streams[2]
        self._kept = next(self._personal, None)

    def entry(self, row: tuple[Any, ...]) -> None:
        """One entry, in FIELDS order (its stored hash may follow), in sequence order."""
        if not self.agreed:
            return
        seq, kind, record = row[0], row[2], row[10]
        if self.since is None:
            if seq != 1:
                self.agreed = False
                return
            self.since = row[1]
            self._open()
        kept = self._kept
        if kept is not None and kept[0] <= seq:
            if kept[0] < seq or row[11] is None or kind != _SIGNED:
                self.agreed = False  # personal fields of no entry with a personal digest
                return
            self._kept = next(self._personal, None)
        else:
            kept = None
        if record.startswith(_ATTESTATION):
            self.agreed = self._signature(kind, record, row, kept)
        elif record.startswith(_ATTEMPT):
            self.agreed = kind == _GRADED and self._attempt(record, row)
        else:
            prefix = record.partition(":")[0] + ":"
            if prefix not in _ELSEWHERE:
                self.agreed = False  # names no kind of record
            else:
                self._elsewhere.append((seq, prefix, record))

    def _attempt(self, record: str, row: tuple[Any, ...]) -> bool:
        values = self._waiting_attempts.pop(record, None)
        if values is None:
            values = self._read_attempt(record)
        return values is not None and _attempt_agrees(values, _ENTRY_VIEW(row), self._json)

    def _read_attempt(self, record: str) -> tuple[Any, ...] | None:
        """Read on to the attempt `record` names (usually the very next one), keeping those
        passed over for their entries, which come later; None when there is no such row."""
        number = None
        while self._attempt_last != _AFTER_ALL:
            read = next(self._attempts, None)
            if read is None:
                self._attempt_last = _AFTER_ALL
                break
            self._attempt_last = read[0]
            key = f"{_ATTEMPT}{read[0]}"
            if key == record:
                return read
            if _since(read[8], self.since):
                self._waiting_attempts[key] = read
            number = _number(record, len(_ATTEMPT)) if number is None else number
            if read[0] >= number:
                break
        return None

    def _read_signature(self, record: str) -> list[Any] | None:
        """As _read_attempt, for signatures: the slot of the one `record` names."""
        number = None
        while self._attestation_last != _AFTER_ALL:
            read = next(self._attestations, None)
            if read is None:
                self._attestation_last = _AFTER_ALL
                break
            self._attestation_last = read[0]
            key = f"{_ATTESTATION}{read[0]}"
            if key == record or _since(read[11], self.since):
                slot = self._waiting_signatures[key] = [read, None, None, None]
                if key == record:
                    return slot
            number = _number(record, len(_ATTESTATION)) if number is None else number
            if read[0] >= number:
                break
        return None

    def _signature(
        self, kind: str, record: str, row: tuple[Any, ...], kept: tuple[Any, ...] | None
    ) -> bool:
        slot = self._waiting_signatures.get(record)
        if slot is None:
            slot = self._read_signature(record)
        if slot is None:
            return False  # no such signature, or one entered before the ledger began
        place = _PLACES.get(kind, 0)
        if place == 0 or slot[place] is not None or (kept is not None and place != 1):
            return False
        slot[place] = _ENTRY_VIEW(row)
        if place == 1:
            slot[3] = kept
        if slot[1] is None or slot[2] is None:
            return True  # its other entry comes later
        del self._waiting_signatures[record]
        values = slot[0]
        if (
            not _attestation_agrees(values, slot[1], slot[2], slot[3], self._digests)
            and _one_attestation(_signature_row(*slot)) is not None
        ):
            return False  # not only an erased person's emptied fields: the full comparison
        # Its completion entry is the one the cycle it signed for needs, if that cycle is that
        # person's, of that course, completed at the very time of signing (since the ledger).
        if (
            values[21] == values[11]
            and values[22] == values[1]
            and values[23] == values[5]
            and _since(values[21], self.since)
        ):
            self._completed.add(values[2])
        return True

    def _finish(self) -> bool:
        """Whatever was not reached by an entry: rows after the last entry, rows still waiting
        for an entry, personal fields after the last entry."""
        if not self.agreed:
            return False
        since = self.since or ""
        if self._waiting_attempts or self._waiting_signatures or self._kept is not None:
            return False
        if any(_since(read[8], since) for read in self._attempts):
            return False
        return not any(_since(read[11], since) for read in self._attestations)

    def close(self) -> None:
        for stream in self._streams:
            stream.close()

    def result(self) -> Mismatch | None:
        """The first place where a record and its entries part, or None when all agree."""
        try:
            agreed = self.since is not None and self._finish()
        finally:
            self.close()
        if not agreed:
            return _verify_records_fully(self.session)
        since = self.since or ""
        for problems in (
            _attendance_problems(self.session, since),
            _exemption_problems(self.session, _first_exemption(self.session)),
        ):
            try:
                problem = next(problems, None)
            finally:
                problems.close()
            if problem is not None:
                return problem
        return self._completion_problem(since) or self._orphans_elsewhere()

    def _completion_problem(self, since: str) -> Mismatch | None:
        """_completion_problem, answered without asking the ledger again when every cycle
        completed since the ledger began was completed by a signature that agreed with its
        completion entry (the common case; otherwise the query looks for the first that
        was not, among them completions by attendance)."""
        completed = self.session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(
                Assignment.completed_at.is_not(None),
                iso_micro_text(Assignment.completed_at) >= since,
            )
        )
        if completed == len(self._completed):
            return None
        return _completion_problem(self.session, since)

    def _orphans_elsewhere(self) -> Mismatch | None:
        """The first entry naming a live seat or an exemption that is not there."""
        for seq, prefix, record in self._elsewhere:
            model: Any = _ELSEWHERE[prefix]
            number = _number(record, len(prefix))
            if self.session.scalar(select(model.id).where(model.id == number)) is None:
                return Mismatch("ledger_entries", seq, "record", f"{record}: no such row")
        return None


def _signature_row(
    values: tuple[Any, ...],
    entry: tuple[Any, ...],
    completion: tuple[Any, ...],
    personal: tuple[Any, ...] | None,
) -> SimpleNamespace:
    """A signature with its entries and personal copy as _attestation_problems' query joins
    them, for _one_attestation: an erased person's signature is checked row by row."""
    row = dict(zip(_ATTESTATION_FIELDS, values, strict=True))
    row.update(zip((f"e_{name}" for name in ENTRY_COLUMNS), entry, strict=True))
    row.update(zip((f"c_{name}" for name in ENTRY_COLUMNS), completion, strict=True))
    kept = personal or (None,) * (1 + len(PERSONAL))
    row.update(zip((f"p_{name}" for name in ("seq", *PERSONAL)), kept, strict=True))
    return SimpleNamespace(**row)


def _number(record: str, start: int) -> int:
    """The id a record names, written as the app writes it (`attempt:12`); -1 for anything
    else, which names no row."""
    digits = record[start:]
    if digits.isascii() and digits.isdigit() and len(digits) < 19:
        number = int(digits)
        if str(number) == digits:
            return number
    return -1


def _since(moment: str | None, since: str | None) -> bool:
    """Whether a record's time is on or after the ledger's first entry (its entries are due);
    a record with no time is looked at in full."""
    return moment is None or since is None or moment >= since
