"""Read models for the dashboards: plain dataclasses built from a few set-based queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, String, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from lms.catalog.models import Course, CourseVersion
from lms.db import iso_utc_text
from lms.evidence import ledger
from lms.evidence.models import LedgerEntry
from lms.people.models import Department, User
from lms.reports import spreadsheet
from lms.reports.access import in_scope, person_in_scope
from lms.reports.models import TallySnapshot
from lms.training.exemptions import exempt_at, exempt_now
from lms.training.live_sessions import attendance_of
from lms.training.models import Assignment, Attestation, Exemption, LiveSeat, QuizAttempt

DUE_SOON_DAYS = 14


class Status(StrEnum):
    COMPLETE = "complete"
    EXEMPT = "exempt"  # excused with a reason; never counted as complete
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    OPEN = "open"


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, time.max, tzinfo=UTC)


def status_of(
    completed_at: datetime | None,
    due_on: date,
    today: date,
    exempt: bool = False,
    soon: date | None = None,
) -> Status:
    """`soon` (today + DUE_SOON_DAYS) may be passed in by callers classifying thousands of
    cycles, so the date sum is not redone for each."""
    if completed_at is not None:
        return Status.COMPLETE
    if exempt:
        return Status.EXEMPT
    if due_on < today:
        return Status.OVERDUE
    if due_on <= (soon or today + timedelta(days=DUE_SOON_DAYS)):
        return Status.DUE_SOON
    return Status.OPEN


class Line(StrEnum):
    ALL = "all"
    DIRECT = "direct"
    INDIRECT = "indirect"


@dataclass(frozen=True)
class Filters:
    course: str | None = None
    status: Status | None = None
    line: Line = Line.ALL


class Cell(NamedTuple):
    """One person × course of a manager's matrix (thousands a page view: a tuple, not a frozen
    dataclass, whose construction costs several times more)."""

    assignment_id: int
    course_key: str
    status: Status
    due_on: date
    completed_at: datetime | None


@dataclass
class PersonRow:
    user_id: int
    name: str
    email: str
    department: str
    direct: bool
    cells: dict[str, Cell] = field(default_factory=dict)

    @property
    def soonest_due(self) -> date:
        done = (Status.COMPLETE, Status.EXEMPT)
        open_dates = [c.due_on for c in self.cells.values() if c.status not in done]
        return min(open_dates) if open_dates else date.max


@dataclass
class TeamView:
    rows: list[PersonRow]
    course_keys: list[str]
    counts: dict[Status, int]
    history: list[tuple[date, int, int]]  # (week end, required, complete)


def team_view(
    session: Session, manager: User, today: date, filters: Filters, weeks: int = 12
) -> TeamView:
    """The manager's whole reporting line (never anyone else), filtered."""
    scope = and_(in_scope(manager, organisation=False), User.active.is_(True))
    # People and their cycles apart: the person's columns are not repeated for each course.
    people = {
        user_id: (name, email, manager_id, department)
        for user_id, name, email, manager_id, department in session.execute(
            select(User.id, User.full_name, User.email, User.manager_id, Department.name)
            .outerjoin(Department, Department.id == User.department_id)
            .where(scope)
        )
    }
    course_keys = {
        course_id: key for course_id, key in session.execute(select(Course.id, Course.key))
    }
    cycles = session.execute(
        select(
            Assignment.user_id,
            Assignment.id,
            Assignment.course_id,
            Assignment.due_on,
            Assignment.completed_at,
            exempt_now(),
        )
        .join(User, User.id == Assignment.user_id)
        .where(scope, Assignment.superseded_at.is_(None), Assignment.ended_at.is_(None))
    )
    rows_by_user: dict[int, PersonRow] = {}
    keys: set[str] = set()
    soon = today + timedelta(days=DUE_SOON_DAYS)
    for user_id, assignment_id, course_id, due_on, completed_at, exempt in cycles:
        key = course_keys[course_id]
        keys.add(key)
        row = rows_by_user.get(user_id)
        if row is None:
            name, email, manager_id, department = people[user_id]
            row = rows_by_user[user_id] = PersonRow(
                user_id, name, email, department or "", direct=manager_id == manager.id
            )
        status = status_of(completed_at, due_on, today, exempt, soon)
        row.cells[key] = Cell(assignment_id, key, status, due_on, completed_at)
    rows = [r for r in rows_by_user.values() if _matches(r, filters)]
    if filters.course:
        for r in rows:
            r.cells = {k: c for k, c in r.cells.items() if k == filters.course}
    rows.sort(key=lambda r: (r.soonest_due, r.name))
    counts = {status: 0 for status in Status}
    for r in rows:
        for c in r.cells.values():
            counts[c.status] += 1
    shown_keys = sorted(keys) if not filters.course else [filters.course]
    return TeamView(rows, shown_keys, counts, completion_history(session, scope, today, weeks))


def _matches(row: PersonRow, filters: Filters) -> bool:
    if filters.line == Line.DIRECT and not row.direct:
        return False
    if filters.line == Line.INDIRECT and row.direct:
        return False
    cells = [c for k, c in row.cells.items() if filters.course in (None, k)]
    if not cells:
        return False
    return filters.status is None or any(c.status == filters.status for c in cells)


def completion_history(
    session: Session, people: ColumnElement[bool], today: date, weeks: int
) -> list[tuple[date, int, int]]:
    """Per week end: how many cycles of `people` were required then and how many of them were
    complete, computed from stored dates (not from today's state). The database groups the
    cycles by the days they were assigned, stopped being required and completed (a few
    hundred groups for a line of thousands of cycles); the week ends are counted from those."""
    ends = [today - timedelta(days=7 * i) for i in range(weeks - 1, -1, -1)]
    stopped = func.coalesce(Assignment.superseded_at, Assignment.ended_at)
    by_day = (
        func.date(Assignment.assigned_at),
        func.date(stopped),
        func.date(Assignment.completed_at),
    )
    groups = session.execute(
        select(*by_day, func.count())
        .select_from(User)
        .join(Assignment, Assignment.user_id == User.id)
        .where(people, Assignment.assigned_at <= end_of_day(today))
        .group_by(*by_day)
    ).all()
    points = []
    for end in ends:
        required = complete = 0
        for assigned, gone, done, count in groups:
            if _day(assigned) > end or (gone is not None and _day(gone) <= end):
                continue
            required += count
            if done is not None and _day(done) <= end:
                complete += count
        points.append((end, required, complete))
    return points


def _day(value: date | str) -> date:
    """SQLite's date() is text, PostgreSQL's a date."""
    return date.fromisoformat(value) if isinstance(value, str) else value


# --- one person's record -------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptLine:
    number: int
    started_at: datetime
    submitted_at: datetime | None
    score_percent: int | None
    passed: bool | None
    questions: int
    id: int = 0  # the quiz_attempts row: its ledger entry is "attempt:<id>"


@dataclass(frozen=True)
class CycleRecord:
    assignment_id: int
    course_key: str
    title: dict[str, str]
    cycle: int
    version_sha256: str
    assigned_at: datetime
    due_on: date
    completed_at: datetime | None
    superseded_at: datetime | None
    ended_at: datetime | None
    status: Status
    attempts: list[AttemptLine]
    attestation: Attestation | None
    exemptions: list[Exemption] = field(default_factory=list)  # newest first
    live_seat: LiveSeat | None = None  # the live session that completed it, if one did
    # The signature's ledger entry (seq, hash): the record of it.
    attestation_entry: tuple[int, str] | None = None


@dataclass(frozen=True)
class PersonRecord:
    user: User
    department: str
    manager_name: str | None
    cycles: list[CycleRecord]


def _entry_of(
    entries: dict[str, tuple[int, str]], attestation: Attestation | None
) -> tuple[int, str] | None:
    return None if attestation is None else entries.get(f"attestation:{attestation.id}")


def person_record(
    session: Session, viewer: User, user_id: int, today: date, *, organisation: bool
) -> PersonRecord | None:
    """Everything about one person's training, or None if the viewer may not see them."""
    user = person_in_scope(session, viewer, user_id, organisation=organisation)
    if user is None:
        return None
    assignments = session.execute(
        select(Assignment, Course.key, CourseVersion)
        .join(Course, Course.id == Assignment.course_id)
        .join(CourseVersion, CourseVersion.id == Assignment.course_version_id)
        .where(Assignment.user_id == user.id)
        .order_by(Course.key, Assignment.cycle)
    ).all()
    ids = [a.id for a, _, _ in assignments]
    attempts: dict[int, list[AttemptLine]] = defaultdict(list)
    for attempt in session.scalars(
        select(QuizAttempt).where(QuizAttempt.assignment_id.in_(ids)).order_by(QuizAttempt.number)
    ):
        attempts[attempt.assignment_id].append(
            AttemptLine(
                attempt.number,
                attempt.started_at,
                attempt.submitted_at,
                attempt.score_percent,
                attempt.passed,
                len(attempt.served),
                attempt.id,
            )
        )
    attestations = {
        a.assignment_id: a
        for a in session.scalars(select(Attestation).where(Attestation.assignment_id.in_(ids)))
    }
    signed = [f"attestation:{a.id}" for a in attestations.values()]
    entries = {
        record: (seq, hash_)
        for record, seq, hash_ in session.execute(
            select(LedgerEntry.record, LedgerEntry.seq, LedgerEntry.hash).where(
                LedgerEntry.kind == "attestation", LedgerEntry.record.in_(signed)
            )
        )
    }
    attended = attendance_of(session, user.id)
    exemptions: dict[int, list[Exemption]] = defaultdict(list)
    for exemption in session.scalars(
        select(Exemption)
        .where(Exemption.assignment_id.in_(ids))
        .order_by(Exemption.created_at.desc())
    ):
        exemptions[exemption.assignment_id].append(exemption)
    cycles = [
        CycleRecord(
            assignment_id=a.id,
            course_key=key,
            title=version.definition.title,
            cycle=a.cycle,
            version_sha256=version.sha256,
            assigned_at=a.assigned_at,
            due_on=a.due_on,
            completed_at=a.completed_at,
            superseded_at=a.superseded_at,
            ended_at=a.ended_at,
            status=status_of(
                a.completed_at,
                a.due_on,
                today,
                any(e.ended_at is None for e in exemptions[a.id]),
            ),
            attempts=attempts[a.id],
            attestation=attestations.get(a.id),
            exemptions=exemptions[a.id],
            live_seat=attended.get(a.id),
            attestation_entry=_entry_of(entries, attestations.get(a.id)),
        )
        for a, key, version in assignments
    ]
    manager = session.get(User, user.manager_id) if user.manager_id else None
    department = user.department.name if user.department else ""
    return PersonRecord(user, department, manager.full_name if manager else None, cycles)


# --- organisation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    label: str
    total: int
    complete: int
    overdue: int
    due_soon: int
    exempt: int = 0

    @property
    def percent(self) -> int:
        """Complete out of those who have to do it: the exempt count for neither."""
        required = self.total - self.exempt
        return round(100 * self.complete / required) if required else 100


def _tally_columns(today: date):  # type: ignore[no-untyped-def]
    complete = Assignment.completed_at.is_not(None)
    exempt = and_(Assignment.completed_at.is_(None), exempt_now())
    waiting = and_(Assignment.completed_at.is_(None), ~exempt_now())
    overdue = and_(waiting, Assignment.due_on < today)
    soon = and_(
        waiting,
        Assignment.due_on >= today,
        Assignment.due_on <= today + timedelta(days=DUE_SOON_DAYS),
    )
    return (
        func.count(),
        func.sum(case((complete, 1), else_=0)),
        func.sum(case((overdue, 1), else_=0)),
        func.sum(case((soon, 1), else_=0)),
        func.sum(case((exempt, 1), else_=0)),
    )


def _current_required(include_leavers: bool):  # type: ignore[no-untyped-def]
    conditions = [Assignment.superseded_at.is_(None), Assignment.ended_at.is_(None)]
    if not include_leavers:
        conditions.append(User.active.is_(True))
    return and_(*conditions)


def _roll_up(groups: Iterable[Group]) -> tuple[Tally, list[Tally], list[Tally]]:
    """Sum (department, course) groups into overall, per-department and per-course tallies."""
    totals = [0] * TALLY_NUMBERS
    departments: dict[str, list[int]] = defaultdict(lambda: [0] * TALLY_NUMBERS)
    courses: dict[str, list[int]] = defaultdict(lambda: [0] * TALLY_NUMBERS)
    for department, course, *values in groups:
        for i, value in enumerate(values):
            number = int(value or 0)
            totals[i] += number
            departments[department or "–"][i] += number
            courses[course][i] += number
    return (
        Tally("", *totals),
        [Tally(name, *departments[name]) for name in sorted(departments)],
        [Tally(key, *courses[key]) for key in sorted(courses)],
    )


# department, course, total, complete, overdue, soon, exempt
Group = tuple[str, str, int, int, int, int, int]
TALLY_NUMBERS = 5


def _groups(rows: Iterable[Any]) -> list[Group]:
    return [
        (d or "", c, int(t or 0), int(a or 0), int(b or 0), int(e or 0), int(x or 0))
        for d, c, t, a, b, e, x in rows
    ]


def current_groups_both(session: Session, today: date) -> tuple[list[Group], list[Group]]:
    """Tallies of the current cycles per (department, course), without and with leavers,
    from one grouped scan (split by whether the person is active)."""
    active_only: list[Group] = []
    totals: dict[tuple[str, str], list[int]] = {}
    for department, course, active, *values in session.execute(
        select(Department.name, Course.key, User.active, *_tally_columns(today))
        .select_from(Assignment)
        .join(User, User.id == Assignment.user_id)
        .join(Course, Course.id == Assignment.course_id)
        .outerjoin(Department, Department.id == User.department_id)
        .where(_current_required(include_leavers=True))
        .group_by(Department.name, Course.key, User.active)
    ):
        numbers = [int(v or 0) for v in values]
        if active:
            active_only.append((department or "", course, *numbers))
        summed = totals.setdefault((department or "", course), [0] * TALLY_NUMBERS)
        for i, number in enumerate(numbers):
            summed[i] += number
    with_leavers: list[Group] = [(d, c, *n) for (d, c), n in totals.items()]  # type: ignore[misc]
    return active_only, with_leavers


def current_groups(session: Session, today: date, *, include_leavers: bool) -> list[Group]:
    """Tallies of the current cycles per (department, course), live."""
    active_only, with_leavers = current_groups_both(session, today)
    return with_leavers if include_leavers else active_only


def _snapshot_groups(
    session: Session, kind: str, day: date, include_leavers: bool
) -> tuple[list[Group], datetime | None]:
    rows = session.scalars(
        select(TallySnapshot).where(
            TallySnapshot.kind == kind,
            TallySnapshot.day == day,
            TallySnapshot.include_leavers.is_(include_leavers),
        )
    ).all()
    groups = [
        (r.department, r.course_key, r.total, r.complete, r.overdue, r.due_soon, r.exempt)
        for r in rows
    ]
    return groups, (rows[0].taken_at if rows else None)


@dataclass(frozen=True)
class Overview:
    total: Tally
    by_department: list[Tally]
    by_course: list[Tally]
    taken_at: datetime | None  # when the stored tallies were taken; None: computed just now


def organisation_overview(
    session: Session, today: date, *, include_leavers: bool = False
) -> Overview:
    """Current cycles overall, by department and by course: from today's stored tallies
    (refreshed by the tallies job) when there are any, else computed live."""
    groups, taken_at = _snapshot_groups(session, "current", today, include_leavers)
    if taken_at is None:
        groups = current_groups(session, today, include_leavers=include_leavers)
    return Overview(*_roll_up(groups), taken_at=taken_at)


@dataclass(frozen=True)
class OverdueLine:
    user_id: int
    name: str
    department: str
    course_key: str
    due_on: date
    days: int


def _overdue_lines(
    session: Session, day: date, condition: ColumnElement[bool], limit: int
) -> list[OverdueLine]:
    """Cycles matching `condition`, most overdue first (walks the due_on index)."""
    rows = session.execute(
        select(User.id, User.full_name, Department.name, Course.key, Assignment.due_on)
        .join(Assignment, Assignment.user_id == User.id)
        .join(Course, Course.id == Assignment.course_id)
        .outerjoin(Department, Department.id == User.department_id)
        .where(condition)
        .order_by(Assignment.due_on, User.full_name)
        .limit(limit)
    )
    return [
        OverdueLine(uid, name, dept or "", key, due, (day - due).days)
        for uid, name, dept, key, due in rows
    ]


def overdue_list(
    session: Session, today: date, *, include_leavers: bool = False, limit: int = 500
) -> list[OverdueLine]:
    """Open current cycles past their due date, today."""
    overdue = and_(
        _current_required(include_leavers),
        Assignment.completed_at.is_(None),
        Assignment.due_on < today,
        ~exempt_now(),
    )
    return _overdue_lines(session, today, overdue, limit)


@dataclass
class NewHire:
    user_id: int
    name: str
    department: str
    start_date: date
    courses: dict[str, tuple[Status, int | None]] = field(default_factory=dict)
    # course key -> (status, days from start date to completion)


def onboarding(session: Session, today: date, days: int) -> list[NewHire]:
    """People who started in the last `days` days and how each required course went."""
    since = today - timedelta(days=days)
    rows = session.execute(
        select(
            User.id,
            User.full_name,
            Department.name,
            User.start_date,
            Course.key,
            Assignment.due_on,
            Assignment.completed_at,
            exempt_now(),
        )
        .join(Assignment, Assignment.user_id == User.id)
        .join(Course, Course.id == Assignment.course_id)
        .outerjoin(Department, Department.id == User.department_id)
        .where(
            User.active.is_(True),
            User.start_date >= since,
            User.start_date <= today,
            Assignment.cycle == 1,
        )
        .order_by(User.start_date.desc(), User.full_name, Course.key)
    )
    hires: dict[int, NewHire] = {}
    for uid, name, dept, start, key, due_on, completed_at, exempt in rows:
        if start is None:  # excluded by the query; narrows the type
            continue
        hire = hires.setdefault(uid, NewHire(uid, name, dept or "", start))
        days_taken = (completed_at.date() - start).days if completed_at else None
        hire.courses[key] = (status_of(completed_at, due_on, today, exempt), days_taken)
    return list(hires.values())


@dataclass(frozen=True)
class AsOf:
    day: date
    total: Tally
    by_department: list[Tally]
    overdue: list[OverdueLine]
    recorded: bool = False  # read from the tallies stored when the day ended


def _existed_at(day: date) -> ColumnElement[bool]:
    """Cycles that existed at the end of `day`, of people employed then."""
    moment = end_of_day(day)
    return and_(
        Assignment.assigned_at <= moment,
        or_(Assignment.superseded_at.is_(None), Assignment.superseded_at > moment),
        or_(Assignment.ended_at.is_(None), Assignment.ended_at > moment),
        User.created_at <= moment,
        or_(User.deactivated_at.is_(None), User.deactivated_at > moment),
    )


def _done_by(day: date) -> ColumnElement[bool]:
    return and_(Assignment.completed_at.is_not(None), Assignment.completed_at <= end_of_day(day))


def day_groups(session: Session, day: date) -> list[Group]:
    """Tallies per (department, course) at the end of `day`, live from stored dates."""
    done = _done_by(day)
    exempt = and_(~done, exempt_at(end_of_day(day)))
    waiting = and_(~done, ~exempt_at(end_of_day(day)))
    late = and_(waiting, Assignment.due_on < day)
    soon = and_(
        waiting,
        Assignment.due_on >= day,
        Assignment.due_on <= day + timedelta(days=DUE_SOON_DAYS),
    )
    return _groups(
        session.execute(
            select(
                Department.name,
                Course.key,
                func.count(),
                func.sum(case((done, 1), else_=0)),
                func.sum(case((late, 1), else_=0)),
                func.sum(case((soon, 1), else_=0)),
                func.sum(case((exempt, 1), else_=0)),
            )
            .select_from(Assignment)
            .join(User, User.id == Assignment.user_id)
            .join(Course, Course.id == Assignment.course_id)
            .outerjoin(Department, Department.id == User.department_id)
            .where(_existed_at(day))
            .group_by(Department.name, Course.key)
        )
    )


def as_of(session: Session, day: date) -> AsOf:
    """Who was complete, due and overdue at the end of `day`: the tallies recorded when that
    day ended if there are any, else computed from stored dates; the overdue list is always
    computed (it walks the due-date index and stops at its page size)."""
    groups, taken_at = _snapshot_groups(session, "day", day, False)
    if taken_at is None:
        groups = day_groups(session, day)
    total, by_department, _ = _roll_up(groups)
    late = and_(
        _existed_at(day), ~_done_by(day), Assignment.due_on < day, ~exempt_at(end_of_day(day))
    )
    return AsOf(
        day,
        total,
        by_department,
        _overdue_lines(session, day, late, 500),
        recorded=taken_at is not None,
    )


# --- exports ---------------------------------------------------------------------------------

COMPLETIONS_HEADER = [
    "email",
    "name",
    "department",
    "course",
    "cycle",
    "version_sha256",
    "score_percent",
    "language",
    "statement_sha256",
    "typed_name",
    "signed_at_utc",
    "ledger_seq",
    "ledger_hash",
]


def signature_entries(session: Session, start: date, end: date) -> Iterator[LedgerEntry]:
    """The ledger entries of the signatures completions_csv lists, in the same order."""
    in_range = and_(
        Attestation.signed_at >= datetime.combine(start, time.min, tzinfo=UTC),
        Attestation.signed_at <= end_of_day(end),
    )
    entry = and_(
        LedgerEntry.record == literal("attestation:", String) + cast(Attestation.id, String),
        LedgerEntry.kind == str(ledger.Kind.ATTESTATION),
    )
    yield from session.scalars(
        select(LedgerEntry)
        .join(Attestation, entry)
        .where(in_range)
        .order_by(Attestation.id)
        .execution_options(yield_per=5000)
    )


def completions_csv(session: Session, start: date, end: date) -> Iterator[str]:
    """Every attestation signed in [start, end], as CSV text, a chunk at a time: rows are
    streamed from the database in record order, never loaded all at once."""
    yield spreadsheet.line(COMPLETIONS_HEADER)
    in_range = and_(
        Attestation.signed_at >= datetime.combine(start, time.min, tzinfo=UTC),
        Attestation.signed_at <= end_of_day(end),
    )
    # Bound the scan by record ids first (an index look-up), so the rows are then read in
    # storage order instead of hopping through the table in signing-time order.
    first, last = session.execute(
        select(func.min(Attestation.id), func.max(Attestation.id)).where(in_range)
    ).one()
    if first is None:
        return
    # One table (people as they were at signing) and each CSV line built by the database:
    # Python only joins lines, which keeps a whole-organisation export to seconds.
    line = spreadsheet.sql_line(
        spreadsheet.sql_text(Attestation.person_email),
        spreadsheet.sql_text(Attestation.person_name),
        spreadsheet.sql_text(Attestation.department),
        spreadsheet.sql_plain(Attestation.course_key),
        spreadsheet.sql_plain(Attestation.cycle),
        spreadsheet.sql_plain(Attestation.version_sha256),
        spreadsheet.sql_plain(Attestation.score_percent),
        spreadsheet.sql_plain(Attestation.language),
        spreadsheet.sql_plain(Attestation.statement_sha256),
        spreadsheet.sql_text(Attestation.typed_name),
        spreadsheet.sql_plain(iso_utc_text(Attestation.signed_at)),
        spreadsheet.sql_plain(LedgerEntry.seq),
        spreadsheet.sql_plain(LedgerEntry.hash),
    )
    # The signature's ledger entry, for an auditor to find in the chain (none for records
    # older than the ledger that were never entered into it).
    entry = and_(
        LedgerEntry.record == literal("attestation:", String) + cast(Attestation.id, String),
        LedgerEntry.kind == str(ledger.Kind.ATTESTATION),
    )
    result = session.connection().execute(
        select(line)
        .select_from(Attestation)
        .outerjoin(LedgerEntry, entry)
        .where(Attestation.id.between(first, last), in_range)
        .order_by(Attestation.id)
        .execution_options(yield_per=5000)
    )
    for lines in result.scalars().partitions():
        yield "\r\n".join(lines) + "\r\n"
