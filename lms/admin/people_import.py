"""Import people from a CSV file: check every row, preview the changes, then apply them.

For HR without a provisioning system. `external_id` is the key, so importing the same file
again changes nothing; a file with any problem changes nothing at all. People who are not in
the file are left alone: the file need not list everyone.

A checked file is applied in batches (`batches`), each committed by the caller: on SQLite a
transaction holds the write lock, and an organisation's file in one transaction kept every
sign-in waiting past its busy timeout. Should a batch fail (the database goes away, someone
took an email since the check), the batches before it stay applied and the caller says at
which line it stopped; importing the same file again finishes the job, because rows already
applied are unchanged rows."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import QueryableAttribute, Session

from lms.audit.service import record
from lms.messages import N_
from lms.people.models import Department, Role, User
from lms.people.service import (
    active_admin_ids,
    create_user,
    deactivate,
    email_problem,
    get_or_create_department,
    is_department_key,
    normalise_email,
    normalise_name,
    reactivate,
    set_manager,
    update_details,
)
from lms.training.cycles import assign_courses

REQUIRED = ("external_id", "email", "full_name")
OPTIONAL = ("department", "manager_external_id", "start_date", "locale", "active")
COLUMNS = REQUIRED + OPTIONAL
LOCALES = ("en", "nb")  # the languages Vern ships (Settings.languages)
# The model's column sizes, so a long value is a problem at its line, not a database error.
MAX_LENGTHS = {"external_id": 255, "email": 254, "full_name": 200, "department": 64}
MAX_LENGTHS["manager_external_id"] = MAX_LENGTHS["external_id"]
TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
LOOKUP_CHUNK = 500  # ids per IN (...): far below every database's limit on bound parameters
# Rows per committed batch: well under a second of SQLite's write lock each, so a sign-in
# waits at most that long (its busy timeout is 10 s).
BATCH_ROWS = 500

Progress = Callable[[int], None]


class ProblemKind(StrEnum):
    NOT_UTF8 = "not-utf8"
    EMPTY_FILE = "empty-file"
    BAD_CSV = "bad-csv"
    UNKNOWN_COLUMN = "unknown-column"
    DUPLICATE_COLUMN = "duplicate-column"
    MISSING_COLUMN = "missing-column"
    TOO_MANY_VALUES = "too-many-values"
    MISSING = "missing"
    TOO_LONG = "too-long"
    CONTROL_CHARACTER = "control-character"
    BAD_EMAIL = "bad-email"
    BAD_DATE = "bad-date"
    BAD_LOCALE = "bad-locale"
    BAD_ACTIVE = "bad-active"
    BAD_DEPARTMENT = "bad-department"
    DUPLICATE = "duplicate"
    UNKNOWN_MANAGER = "unknown-manager"
    MANAGER_CYCLE = "manager-cycle"
    EMAIL_TAKEN = "email-taken"
    LAST_ADMIN = "last-admin"
    ADMINS_ONLY = "admins-only"


# %(value)s is the offending value, %(other)s what it clashes with or what would be right.
MESSAGES: dict[ProblemKind, str] = {
    ProblemKind.NOT_UTF8: N_("the file is not UTF-8 text (save it as CSV UTF-8)"),
    ProblemKind.EMPTY_FILE: N_("the file is empty; it needs a header row"),
    ProblemKind.BAD_CSV: N_("this line is not valid CSV: %(value)s"),
    ProblemKind.UNKNOWN_COLUMN: N_('unknown column "%(value)s"; the columns are: %(other)s'),
    ProblemKind.DUPLICATE_COLUMN: N_('the column "%(value)s" appears twice in the header'),
    ProblemKind.MISSING_COLUMN: N_('the header has no "%(value)s" column, which is required'),
    ProblemKind.TOO_MANY_VALUES: N_("%(value)s values, but the header has %(other)s columns"),
    ProblemKind.MISSING: N_("a value is required"),
    ProblemKind.TOO_LONG: N_("longer than %(other)s characters"),
    ProblemKind.CONTROL_CHARACTER: N_("contains a line break or another control character"),
    ProblemKind.BAD_EMAIL: N_('"%(value)s" is not a valid email address'),
    ProblemKind.BAD_DATE: N_('"%(value)s" is not a date in the form YYYY-MM-DD'),
    ProblemKind.BAD_LOCALE: N_('"%(value)s" is not a language Vern has; use one of %(other)s'),
    ProblemKind.BAD_ACTIVE: N_('"%(value)s" is not one of true, false, yes, no, 1, 0'),
    ProblemKind.BAD_DEPARTMENT: N_(
        '"%(value)s" cannot be a department key: use lower-case letters, digits and hyphens, '
        "and not the words all or managers"
    ),
    ProblemKind.DUPLICATE: N_('"%(value)s" is already on line %(other)s'),
    ProblemKind.UNKNOWN_MANAGER: N_(
        'nobody with external_id "%(value)s" is in the file or in Vern'
    ),
    ProblemKind.MANAGER_CYCLE: N_("the reporting line would go round in a circle: %(value)s"),
    ProblemKind.EMAIL_TAKEN: N_('"%(value)s" already belongs to someone else in Vern (%(other)s)'),
    ProblemKind.LAST_ADMIN: N_(
        "%(value)s is the only active admin left: make someone else an admin before they leave"
    ),
    ProblemKind.ADMINS_ONLY: N_("%(value)s is an admin: only an admin imports changes to an admin"),
}


@dataclass(frozen=True)
class Problem:
    """Why a file cannot be imported, at a line and column of the file."""

    line: int
    column: str
    kind: ProblemKind
    value: str = ""
    other: str = ""

    @property
    def message(self) -> str:
        """The untranslated message template; the web page translates it with `params`."""
        return MESSAGES[self.kind]

    @property
    def params(self) -> dict[str, str]:
        return {"value": self.value, "other": self.other}

    @property
    def reason(self) -> str:
        """The message in English (the command line)."""
        return self.message % self.params

    def sort_key(self) -> tuple[int, int, str]:
        position = COLUMNS.index(self.column) if self.column in COLUMNS else -1
        return (self.line, position, self.column)


@dataclass(frozen=True)
class ImportRow:
    """One valid data row. For optional columns None means an empty cell."""

    line: int
    external_id: str
    email: str
    full_name: str
    department: str | None = None
    manager_external_id: str | None = None
    start_date: date | None = None
    locale: str | None = None  # empty: unchanged, or en for someone new
    active: bool | None = None  # empty: unchanged, or active for someone new


@dataclass(frozen=True)
class ImportPlan:
    """What a file asks for: its valid rows, the columns it has and every problem in it."""

    rows: tuple[ImportRow, ...]
    columns: frozenset[str]
    problems: tuple[Problem, ...]
    # Every external_id in the file, also on rows with problems, so a manager on such a row
    # is not reported a second time as unknown.
    external_ids: frozenset[str]


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class RowPreview:
    line: int
    external_id: str
    full_name: str
    email: str
    action: Action
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class ImportPreview:
    """What applying a plan would do to each row, and every problem that stops it."""

    rows: tuple[RowPreview, ...]
    problems: tuple[Problem, ...]
    new_departments: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[Action, int]:
        """How many rows get each action (every action present, zeros included)."""
        counts = dict.fromkeys(Action, 0)
        for row in self.rows:
            counts[row.action] += 1
        return counts

    def changed(self) -> list[RowPreview]:
        return [row for row in self.rows if row.action is not Action.UNCHANGED]


@dataclass(frozen=True)
class ImportResult:
    counts: dict[Action, int]
    new_departments: tuple[str, ...]
    assignments: int


class NotUtf8(Exception):
    """The uploaded bytes are not UTF-8; `problem` says at which line."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.reason)
        self.problem = problem


class ImportRejected(Exception):
    """The file has problems, so nothing was imported."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''}; nothing was imported")


# Reading the file -----------------------------------------------------------------------


def decode(data: bytes) -> str:
    """The text of an uploaded file (UTF-8, with or without a BOM), or NotUtf8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise NotUtf8(Problem(line, "", ProblemKind.NOT_UTF8)) from None


class _BadCsv(Exception):
    def __init__(self, line: int, detail: str) -> None:
        super().__init__(detail)
        self.line = line


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, values) of each non-blank CSV record, quoted line breaks and all."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    first_line = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise _BadCsv(reader.line_num, str(error)) from None
        if any(value.strip() for value in values):
            yield first_line, values
        first_line = reader.line_num + 1


def _header(line: int, values: list[str]) -> tuple[list[str | None], list[Problem]]:
    """The column name at each position (None for a column to ignore) and header problems."""
    names: list[str | None] = []
    problems: list[Problem] = []
    for raw in values:
        name = raw.strip().lower()
        if name not in COLUMNS:
            problems.append(
                Problem(line, name, ProblemKind.UNKNOWN_COLUMN, name, ", ".join(COLUMNS))
            )
            names.append(None)
        elif name in names:
            problems.append(Problem(line, name, ProblemKind.DUPLICATE_COLUMN, name))
            names.append(None)
        else:
            names.append(name)
    for name in REQUIRED:
        if name not in names:
            problems.append(Problem(line, name, ProblemKind.MISSING_COLUMN, name))
    return names, problems


class _Cells:
    """One data row's cells by column, and the problems found while reading them."""

    def __init__(self, line: int, cells: dict[str, str]) -> None:
        self.line = line
        self.cells = cells
        self.problems: list[Problem] = []

    def problem(self, column: str, kind: ProblemKind, value: str = "", other: str = "") -> None:
        self.problems.append(Problem(self.line, column, kind, value, other))

    def text(self, column: str, *, required: bool = False) -> str | None:
        """The stripped cell, or None if it is empty or wrong (a problem says why)."""
        value = self.cells.get(column, "")
        if not value:
            # A column missing from the header is reported once, there, not on every row.
            if required and column in self.cells:
                self.problem(column, ProblemKind.MISSING)
            return None
        if CONTROL_CHARACTERS.search(value):
            self.problem(column, ProblemKind.CONTROL_CHARACTER)
            return None
        limit = MAX_LENGTHS.get(column)
        if limit is not None and len(value) > limit:
            self.problem(column, ProblemKind.TOO_LONG, other=str(limit))
            return None
        return value

    def email(self) -> str | None:
        value = self.text("email", required=True)
        if value is None:
            return None
        if email_problem(value) is not None:
            self.problem("email", ProblemKind.BAD_EMAIL, value)
            return None
        return normalise_email(value)

    def department(self) -> str | None:
        value = self.text("department")
        if value is not None and not is_department_key(value):
            self.problem("department", ProblemKind.BAD_DEPARTMENT, value)
            return None
        return value

    def start_date(self) -> date | None:
        value = self.text("start_date")
        if value is None:
            return None
        try:
            if not ISO_DATE.match(value):
                raise ValueError(value)
            return date.fromisoformat(value)
        except ValueError:
            self.problem("start_date", ProblemKind.BAD_DATE, value)
            return None

    def locale(self) -> str | None:
        value = self.text("locale")
        if value is not None and value.lower() not in LOCALES:
            self.problem("locale", ProblemKind.BAD_LOCALE, value, ", ".join(LOCALES))
            return None
        return value.lower() if value else None

    def active(self) -> bool | None:
        value = self.text("active")
        if value is None:
            return None
        if value.lower() in TRUE_WORDS | FALSE_WORDS:
            return value.lower() in TRUE_WORDS
        self.problem("active", ProblemKind.BAD_ACTIVE, value)
        return None


def _row(line: int, values: list[str], names: list[str | None]) -> tuple[ImportRow | None, _Cells]:
    """Read one data row; the row is None if anything in it is wrong."""
    if len(values) > len(names):
        cells = _Cells(line, {})
        cells.problem("", ProblemKind.TOO_MANY_VALUES, str(len(values)), str(len(names)))
        return None, cells
    padded = values + [""] * (len(names) - len(values))  # short rows: the rest is empty
    cells = _Cells(line, {name: v.strip() for name, v in zip(names, padded, strict=True) if name})
    external_id = cells.text("external_id", required=True)
    email = cells.email()
    full_name = cells.text("full_name", required=True)
    row = ImportRow(
        line=line,
        external_id=external_id or "",
        email=email or "",
        full_name=normalise_name(full_name or ""),
        department=cells.department(),
        manager_external_id=cells.text("manager_external_id"),
        start_date=cells.start_date(),
        locale=cells.locale(),
        active=cells.active(),
    )
    complete = external_id and email and full_name  # else a header or cell problem says why
    return (row if complete and not cells.problems else None), cells


def _duplicates(rows: list[ImportRow]) -> tuple[list[ImportRow], list[Problem]]:
    """Drop every row that repeats an earlier row's external_id or email, saying where."""
    first: dict[tuple[str, str], int] = {}
    kept: list[ImportRow] = []
    problems: list[Problem] = []
    for row in rows:
        clashes = [
            Problem(row.line, column, ProblemKind.DUPLICATE, value, str(first[(column, value)]))
            for column, value in (("external_id", row.external_id), ("email", row.email))
            if (column, value) in first
        ]
        problems.extend(clashes)
        if not clashes:
            kept.append(row)
            first[("external_id", row.external_id)] = row.line
            first[("email", row.email)] = row.line
    return kept, problems


Node = TypeVar("Node", bound=Hashable)


def _cycles(starts: Iterable[Node], manager_of: Callable[[Node], Node | None]) -> list[list[Node]]:
    """Every reporting loop reachable from `starts`, each once (walked people are not rewalked)."""
    walked: set[Node] = set()
    loops: list[list[Node]] = []
    for start in starts:
        path: dict[Node, int] = {}  # insertion-ordered: the walk so far
        node: Node | None = start
        while node is not None and node not in walked and node not in path:
            path[node] = len(path)
            node = manager_of(node)
        if node is not None and node in path:
            loops.append(list(path)[path[node] :])
        walked.update(path)
    return loops


def _loop_text(loop: list[str], start: int) -> str:
    """A loop as 'a → b → a', starting at position `start`."""
    names = loop[start:] + loop[:start]
    return " → ".join([*names, names[0]])


def _file_cycles(rows: list[ImportRow], columns: frozenset[str]) -> list[Problem]:
    """Reporting loops made by the file alone (loops through people only in Vern: preview)."""
    if "manager_external_id" not in columns:
        return []
    by_id = {row.external_id: row for row in rows}

    def manager_of(external_id: str) -> str | None:
        manager = by_id[external_id].manager_external_id
        return manager if manager in by_id else None

    return [
        Problem(
            by_id[member].line,
            "manager_external_id",
            ProblemKind.MANAGER_CYCLE,
            _loop_text(loop, position),
        )
        for loop in _cycles(by_id, manager_of)
        for position, member in enumerate(loop)
    ]


def parse(text: str, progress: Progress | None = None) -> ImportPlan:
    """Read and check a CSV file of people without the database; reports every problem."""
    records = _records(text.removeprefix("\ufeff"))
    rows: list[ImportRow] = []
    problems: list[Problem] = []
    external_ids: set[str] = set()
    names: list[str | None] = []
    try:
        for line, values in records:
            if not names:
                names, header_problems = _header(line, values)
                problems.extend(header_problems)
                continue
            row, cells = _row(line, values, names)
            problems.extend(cells.problems)
            if external_id := cells.cells.get("external_id"):
                external_ids.add(external_id)
            if row is not None:
                rows.append(row)
            if progress is not None:
                progress(1)
    except _BadCsv as error:
        problems.append(Problem(error.line, "", ProblemKind.BAD_CSV, str(error)))
    if not names and not problems:
        problems.append(Problem(1, "", ProblemKind.EMPTY_FILE))
    columns = frozenset(name for name in names if name)
    rows, duplicates = _duplicates(rows)
    problems += duplicates + _file_cycles(rows, columns)
    return ImportPlan(
        rows=tuple(rows),
        columns=columns,
        problems=tuple(sorted(problems, key=Problem.sort_key)),
        external_ids=frozenset(external_ids),
    )


# Comparing with the database ------------------------------------------------------------


def _users_where(
    session: Session, column: QueryableAttribute[Any], values: Iterable[str]
) -> list[User]:
    """Users whose `column` is one of `values`, looked up in chunks (files can be big)."""
    wanted = sorted(set(values))
    found: list[User] = []
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        found.extend(session.scalars(select(User).where(column.in_(chunk))))
    return found


def _label(user: User) -> str:
    """How a person is named in a preview: their external_id, else their email."""
    return user.external_id or user.email


@dataclass
class _Resolution:
    """A plan matched against the database: who each row is, and who the managers are."""

    plan: ImportPlan
    matches: dict[str, User]  # external_id -> the person in Vern that row updates
    managers: dict[str, User]  # external_id -> a manager in Vern who is not in the file
    problems: list[Problem]


def _match_people(session: Session, plan: ImportPlan) -> tuple[dict[str, User], list[Problem]]:
    """Find each row's person in Vern: by external_id, else by email if it has none yet.

    Adopting a person without an external_id lets a first import take over people who were
    added by hand; an email that belongs to someone with another external_id is a problem."""
    by_id = {u.external_id: u for u in _users_where(session, User.external_id, plan.external_ids)}
    by_email = {u.email: u for u in _users_where(session, User.email, [r.email for r in plan.rows])}
    matches: dict[str, User] = {}
    problems: list[Problem] = []
    for row in plan.rows:
        person = by_id.get(row.external_id)
        owner = by_email.get(row.email)
        if person is None and owner is not None and owner.external_id is None:
            person = owner
        if owner is not None and owner is not person:
            other = f"external_id {owner.external_id}" if owner.external_id else owner.full_name
            problems.append(Problem(row.line, "email", ProblemKind.EMAIL_TAKEN, row.email, other))
        if person is not None:
            matches[row.external_id] = person
    return matches, problems


def _find_managers(session: Session, plan: ImportPlan) -> tuple[dict[str, User], list[Problem]]:
    """The managers who are only in Vern, and a problem for each who is nowhere."""
    outside = {
        row.manager_external_id
        for row in plan.rows
        if row.manager_external_id and row.manager_external_id not in plan.external_ids
    }
    managers = {u.external_id or "": u for u in _users_where(session, User.external_id, outside)}
    problems = [
        Problem(
            row.line,
            "manager_external_id",
            ProblemKind.UNKNOWN_MANAGER,
            row.manager_external_id,
        )
        for row in plan.rows
        if row.manager_external_id in outside and row.manager_external_id not in managers
    ]
    return managers, problems


# A person in a reporting line: ("row", external_id) if in the file, else ("db", user id).
_Node = tuple[str, str | int]


def _database_cycles(session: Session, resolution: _Resolution) -> list[Problem]:
    """Loops that run through people who are in Vern but not in the file.

    Vern's current lines have no loops, so a new one needs the file; loops made by the file
    alone were reported by parse."""
    plan = resolution.plan
    if "manager_external_id" not in plan.columns:
        return []  # nobody's manager changes
    rows = {row.external_id: row for row in plan.rows}
    row_of_user = {user.id: external_id for external_id, user in resolution.matches.items()}

    def node_of(user: User | None) -> _Node | None:
        if user is None:
            return None
        external_id = row_of_user.get(user.id)
        return ("row", external_id) if external_id else ("db", user.id)

    def manager_of(node: _Node) -> _Node | None:
        kind, key = node
        if kind == "db":
            return node_of(session.get_one(User, key).manager)
        manager = rows[str(key)].manager_external_id
        if manager in rows:
            return ("row", manager)
        return node_of(resolution.managers.get(manager or ""))

    def name(node: _Node) -> str:
        kind, key = node
        return str(key) if kind == "row" else _label(session.get_one(User, key))

    problems: list[Problem] = []
    starts: list[_Node] = [("row", external_id) for external_id in rows]
    for loop in _cycles(starts, manager_of):
        if all(kind == "row" for kind, _ in loop):
            continue
        names = [name(node) for node in loop]
        problems.extend(
            Problem(
                rows[str(key)].line,
                "manager_external_id",
                ProblemKind.MANAGER_CYCLE,
                _loop_text(names, position),
            )
            for position, (kind, key) in enumerate(loop)
            if kind == "row"
        )
    return problems


def _admin_problems(session: Session, resolution: _Resolution, by_admin: bool) -> list[Problem]:
    """Rows that would leave Vern without an active admin, and, for an importer who is not an
    admin, rows that change an admin at all (only admins change admins)."""
    remaining = set(active_admin_ids(session))
    leaving: list[tuple[ImportRow, User]] = []
    problems: list[Problem] = []
    for row in resolution.plan.rows:
        user = resolution.matches.get(row.external_id)
        if user is None or not user.has_role(Role.ADMIN):
            continue
        if not by_admin and _changes(resolution, row, user):
            problems.append(Problem(row.line, "external_id", ProblemKind.ADMINS_ONLY, user.email))
        if row.active is False and user.active:
            remaining.discard(user.id)
            leaving.append((row, user))
        elif row.active and not user.active:
            remaining.add(user.id)
    if leaving and not remaining:
        problems.extend(
            Problem(row.line, "active", ProblemKind.LAST_ADMIN, user.email) for row, user in leaving
        )
    return problems


def _resolve(session: Session, plan: ImportPlan, by_admin: bool = True) -> _Resolution:
    matches, email_problems = _match_people(session, plan)
    managers, manager_problems = _find_managers(session, plan)
    resolution = _Resolution(plan, matches, managers, [])
    cycle_problems = _database_cycles(session, resolution)
    admin_problems = _admin_problems(session, resolution, by_admin)
    problems = [
        *plan.problems,
        *email_problems,
        *manager_problems,
        *cycle_problems,
        *admin_problems,
    ]
    resolution.problems = sorted(problems, key=Problem.sort_key)
    return resolution


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _wanted_manager_id(resolution: _Resolution, row: ImportRow) -> int | None:
    """The id of the manager the row asks for; 0 for someone the import has yet to create."""
    external_id = row.manager_external_id
    if external_id is None:
        return None
    manager = resolution.matches.get(external_id) or resolution.managers.get(external_id)
    return manager.id if manager is not None else 0


def _changes(resolution: _Resolution, row: ImportRow, user: User) -> list[Change]:
    """Each field the row changes on an existing person, before and after."""
    columns = resolution.plan.columns
    current_department = user.department.key if user.department else None
    pairs: list[tuple[str, object, object]] = [
        ("external_id", user.external_id, row.external_id),
        ("email", user.email, row.email),
        ("full_name", user.full_name, row.full_name),
    ]
    if "department" in columns:
        pairs.append(("department", current_department, row.department))
    if "start_date" in columns:
        pairs.append(("start_date", user.start_date, row.start_date))
    if row.locale is not None:
        pairs.append(("locale", user.locale, row.locale))
    if row.active is not None:
        pairs.append(("active", user.active, row.active))
    changes = [Change(f, _text(old), _text(new)) for f, old, new in pairs if old != new]
    if "manager_external_id" in columns and user.manager_id != _wanted_manager_id(resolution, row):
        before = _label(user.manager) if user.manager else ""
        changes.append(Change("manager_external_id", before, row.manager_external_id or ""))
    return changes


def _row_preview(resolution: _Resolution, row: ImportRow) -> RowPreview:
    user = resolution.matches.get(row.external_id)
    if user is None:
        action, changes = Action.CREATE, []
    else:
        changes = _changes(resolution, row, user)
        fields = {change.field for change in changes}
        if "active" in fields:
            action = Action.REACTIVATE if row.active else Action.DEACTIVATE
        else:
            action = Action.UPDATE if changes else Action.UNCHANGED
    return RowPreview(row.line, row.external_id, row.full_name, row.email, action, tuple(changes))


def _new_departments(session: Session, plan: ImportPlan) -> tuple[str, ...]:
    keys = {row.department for row in plan.rows if row.department}
    existing = set(session.scalars(select(Department.key).where(Department.key.in_(keys))))
    return tuple(sorted(keys - existing))


def _preview(session: Session, resolution: _Resolution) -> ImportPreview:
    return ImportPreview(
        rows=tuple(_row_preview(resolution, row) for row in resolution.plan.rows),
        problems=tuple(resolution.problems),
        new_departments=_new_departments(session, resolution.plan),
    )


def preview(
    session: Session, plan: ImportPlan, now: datetime, *, by_admin: bool = True
) -> ImportPreview:
    """What applying the plan would do to each row, and every problem; writes nothing.

    Rows with problems of their own are compared with Vern once they are fixed. `now` is the
    moment the changes would take effect; nothing in a preview depends on it yet. `by_admin`
    False (HR importing) makes any change to an admin a problem."""
    return _preview(session, _resolve(session, plan, by_admin))


# Applying -------------------------------------------------------------------------------


def _department(session: Session, key: str, cache: dict[str, Department]) -> Department:
    """The department with this key, created with a title-cased name if it is new."""
    if key not in cache:
        cache[key] = get_or_create_department(session, key, key.title())
    return cache[key]


def _write_details(
    session: Session,
    resolution: _Resolution,
    row: ImportRow,
    departments: dict[str, Department],
    default_timezone: str,
    now: datetime,
) -> User:
    """Create the row's person or update their own fields (managers come once all exist)."""
    columns = resolution.plan.columns
    user = resolution.matches.get(row.external_id)
    department = _department(session, row.department, departments) if row.department else None
    if user is None:
        return create_user(
            session,
            email=row.email,
            full_name=row.full_name,
            now=now,
            department=department,
            start_date=row.start_date,
            locale=row.locale or "en",
            timezone=default_timezone,
            external_id=row.external_id,
        )
    update_details(
        session,
        user,
        email=row.email,
        full_name=row.full_name,
        department=department if "department" in columns else user.department,
        start_date=row.start_date if "start_date" in columns else user.start_date,
        locale=row.locale or user.locale,
        external_id=row.external_id,
    )
    return user


def _write_managers(
    session: Session, resolution: _Resolution, people: dict[str, User], rows: list[ImportRow]
) -> Iterator[int]:
    """Give everyone the manager the file names, a batch at a time (yields rows done).

    Changed lines are first all cut, then joined: swapping two people's places would otherwise
    look like a loop halfway through, though the end result has none."""
    if "manager_external_id" not in resolution.plan.columns:
        return
    moves: list[tuple[User, User | None]] = []
    for row in rows:
        user = people[row.external_id]
        wanted = row.manager_external_id or ""
        manager = people.get(wanted) or resolution.managers.get(wanted)
        if user.manager_id != (manager.id if manager else None):
            moves.append((user, manager))
    for batch in _chunks(moves):
        for user, _ in batch:
            set_manager(session, user, None)
        yield len(batch)
    for batch in _chunks(moves):
        for user, manager in batch:
            set_manager(session, user, manager)
        yield len(batch)


def _write_active(
    session: Session, rows: list[ImportRow], people: dict[str, User], now: datetime
) -> Iterator[int]:
    """Bring people back, then let people go, a batch at a time (yields rows done): an admin
    coming back lets another one leave (people.service.LastActiveAdmin)."""
    back = [people[r.external_id] for r in rows if r.active and not people[r.external_id].active]
    for batch in _chunks(back):
        for user in batch:
            reactivate(session, user)
        yield len(batch)
    leaving = [people[r.external_id] for r in rows if r.active is False]
    for batch in _chunks([user for user in leaving if user.active]):
        for user in batch:
            deactivate(session, user, now)  # ends their login sessions too
        yield len(batch)


T = TypeVar("T")


def _chunks(items: list[T]) -> Iterator[list[T]]:
    size = BATCH_ROWS  # read when called: tests make batches small
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class ImportRun:
    """A checked plan on its way into Vern: how far it got, and what it does in all."""

    plan: ImportPlan
    resolution: _Resolution
    planned: ImportPreview
    steps: int  # batches in all, the final one (courses, audit) included
    done: int = 0  # batches applied (flushed) so far
    line: int = 0  # the last line of the file whose own details are applied
    assignments: int = 0

    @property
    def result(self) -> ImportResult:
        return ImportResult(self.planned.counts(), self.planned.new_departments, self.assignments)


def begin(session: Session, plan: ImportPlan, *, by_admin: bool = True) -> ImportRun:
    """Check the plan against Vern once more (ImportRejected, nothing written, on any problem)."""
    resolution = _resolve(session, plan, by_admin)
    if resolution.problems:
        raise ImportRejected(resolution.problems)
    rows = len(plan.rows)
    batches = -(-rows // BATCH_ROWS)
    with_managers = "manager_external_id" in plan.columns
    # details; managers cut, then joined; who comes back, then who leaves; the end (at most)
    steps = batches * (3 if with_managers else 1) + batches + 2
    return ImportRun(plan, resolution, _preview(session, resolution), steps)


def batches(
    session: Session,
    run: ImportRun,
    now: datetime,
    actor_id: int | None,
    *,
    default_timezone: str = "Europe/Oslo",
    preboarding_days: int | None = None,
    source: str | None = None,
) -> Iterator[ImportRun]:
    """Apply a begun run a batch at a time, flushed; the caller commits after each one it is
    given (a web request, a command). New people get their courses in the last batch, which
    also records one audit event with the counts."""
    plan, resolution = run.plan, run.resolution
    departments: dict[str, Department] = {}
    people: dict[str, User] = {}
    rows = list(plan.rows)
    for batch in _chunks(rows):
        for row in batch:
            people[row.external_id] = _write_details(
                session, resolution, row, departments, default_timezone, now
            )
        run.done, run.line = run.done + 1, batch[-1].line
        yield run
    for _moved in _write_managers(session, resolution, people, rows):
        run.done += 1
        yield run
    for _changed in _write_active(session, rows, people, now):
        run.done += 1
        yield run
    run.assignments = assign_courses(session, now, preboarding_days=preboarding_days)
    counts = run.planned.counts()
    detail: dict[str, Any] = {str(action): count for action, count in counts.items()}
    record(
        session,
        action="people.import",
        now=now,
        actor_id=actor_id,
        source=source,
        rows=len(plan.rows),
        new_departments=list(run.planned.new_departments),
        assignments=run.assignments,
        **detail,
    )
    run.done = run.steps
    yield run


def record_stopped(
    session: Session,
    run: ImportRun,
    cause: BaseException,
    now: datetime,
    actor_id: int | None,
    *,
    source: str | None = None,
) -> None:
    """Audit how far an import got whose batch failed (the batches before it stay)."""
    record(
        session,
        action="people.import_stopped",
        now=now,
        actor_id=actor_id,
        source=source,
        rows=len(run.plan.rows),
        applied_through_line=run.line,
        batches_applied=run.done,
        reason=type(cause).__name__,
    )


def apply(
    session: Session,
    plan: ImportPlan,
    now: datetime,
    actor_id: int | None,
    *,
    default_timezone: str = "Europe/Oslo",
    preboarding_days: int | None = None,
    source: str | None = None,
    by_admin: bool = True,
) -> ImportResult:
    """Carry out a plan that has no problems at all (else ImportRejected, nothing written),
    in the caller's one transaction: for small files and tests; pages and commands commit
    batch by batch (`begin`, `batches`)."""
    run = begin(session, plan, by_admin=by_admin)
    for _step in batches(
        session,
        run,
        now,
        actor_id,
        default_timezone=default_timezone,
        preboarding_days=preboarding_days,
        source=source,
    ):
        pass
    return run.result
