"""Declarative base, engine set-up and the session a request, command or job works in."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

# How a SQLite transaction begins in this context: IMMEDIATE (write lock first) or DEFERRED.
SQLITE_BEGIN: ContextVar[str] = ContextVar("sqlite_begin", default="IMMEDIATE")


def lost_write_race(error: BaseException) -> bool:
    """SQLite refused a deferred transaction's first write: another one wrote since it began
    reading (or held the lock past the busy timeout). Running it again with IMMEDIATE works."""
    from sqlalchemy.exc import OperationalError

    return (
        isinstance(error, OperationalError)
        and SQLITE_BEGIN.get() == "DEFERRED"
        and "database is locked" in str(error.orig)
    )


# SQLite queues nobody for its write lock: a writer that finds it taken sleeps and tries again
# (up to 100 ms apart once it has waited a while), so a loop that commits and begins again at
# once keeps the lock from every other writer until it ends.
GIVE_WAY_SECONDS = 0.12


def give_way(session: Session) -> None:
    """Between the committed batches of a long write (an import): on SQLite, leave the write
    lock free long enough for a writer that is waiting (a sign-in) to take it."""
    if session.get_bind().dialect.name == "sqlite":
        time.sleep(GIVE_WAY_SECONDS)


# Where a page view's session keeps the audit events it holds back until after its commit.
HELD_BACK_AUDIT = "audit_events_after_commit"


def hold_back_audit(session: Session) -> None:
    """Keep this session's audit events out of its own transaction (not even autoflushed): a
    page view reading on SQLite writes them in a short transaction after its reads, so they
    cannot make it lose the write race to whoever wrote meanwhile."""
    session.info[HELD_BACK_AUDIT] = []


def take_held_back_audit(session: Session) -> list[Any]:
    """The events held back; from now on they go straight into the session again."""
    events: list[Any] = session.info.pop(HELD_BACK_AUDIT, None) or []
    return events


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every model; constraint names are stable so migrations can name them."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always an aware UTC datetime in Python, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use lms.clock.now() or an aware value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class AppendOnlyViolation(RuntimeError):
    """Raised when code tries to change or delete a row of an append-only table."""


class AppendOnly:
    """Mixin for evidence rows that are written once and never changed or deleted.

    The database refuses it too (triggers in the migrations); this names the culprit early."""


class Sealed:
    """Mixin for evidence rows that may change only in the steps of their life (a quiz attempt
    until it is graded, an exemption until it ends); the model says which. The database refuses
    the rest too (triggers in migration 0024); this names the culprit early."""

    def change_refused(self, old: dict[str, Any], changed: frozenset[str]) -> bool:
        """Whether changing `changed` (with the values before in `old`) is refused."""
        return True

    def delete_refused(self) -> bool:
        """Whether deleting this row is refused."""
        return True


def _before_and_changed(obj: object) -> tuple[dict[str, Any], frozenset[str]]:
    old: dict[str, Any] = {}
    changed = set()
    for attribute in inspect(obj).attrs:
        history = attribute.history
        if history.deleted:
            old[attribute.key] = history.deleted[0]
        elif history.unchanged:
            old[attribute.key] = history.unchanged[0]
        if history.has_changes():
            changed.add(attribute.key)
    return old, frozenset(changed)


@event.listens_for(Session, "before_flush")
def _refuse_changes_to_append_only_rows(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, AppendOnly) or (isinstance(obj, Sealed) and obj.delete_refused()):
            raise AppendOnlyViolation(f"{type(obj).__name__} rows cannot be deleted")
    for obj in session.dirty:
        if isinstance(obj, AppendOnly) and session.is_modified(obj):
            raise AppendOnlyViolation(f"{type(obj).__name__} rows cannot be changed")
        if isinstance(obj, Sealed) and session.is_modified(obj):
            old, changed = _before_and_changed(obj)
            if changed and obj.change_refused(old, changed):
                raise AppendOnlyViolation(
                    f"{type(obj).__name__} rows cannot be changed so ({', '.join(sorted(changed))})"
                )


class iso_utc_text(FunctionElement[str]):  # noqa: N801 - reads like the SQL function it is
    """A UTC timestamp column as ISO 8601 text ('2026-03-02T09:30:00Z'), formatted by the
    database: exports of hundreds of thousands of rows then do no per-row work in Python."""

    type = String()
    inherit_cache = True


@compiles(iso_utc_text, "sqlite")
def _iso_utc_sqlite(element: iso_utc_text, compiler: Any, **kw: Any) -> str:
    # Aware values are stored in UTC (UTCDateTime), as 'YYYY-MM-DD HH:MM:SS.ffffff'.
    return f"strftime('%Y-%m-%dT%H:%M:%SZ', {compiler.process(element.clauses, **kw)})"


@compiles(iso_utc_text, "postgresql")
def _iso_utc_postgresql(element: iso_utc_text, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT and defers BEGIN; take it over so
    # transactions, savepoints and foreign keys behave as on PostgreSQL.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
    # writes can fail at once with "database is locked" when another process (web, scheduler)
    # wrote in between, whatever the busy timeout. Waiting at BEGIN is the safe order, and the
    # default. Page views (GET) begin DEFERRED instead, so they read side by side (WAL); the
    # few that write and lose that race are run again with IMMEDIATE (lms.web.ReadsSideBySide).
    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(f"BEGIN {SQLITE_BEGIN.get()}")


def canonical_json(value: Any) -> str:
    """JSON columns are written canonically (sorted keys, no spaces, UTF-8 as is): the form
    evidence lines digest (lms.evidence.binding.json_digest), so `lms ledger verify` can
    check a stored value by hashing its text instead of parsing and re-encoding it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the per-dialect settings Vern relies on."""
    kwargs.setdefault("json_serializer", canonical_json)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


class Database:
    """Owns the engine and hands out sessions; tests bind it to one outer transaction."""

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    def bind_to(self, connection: Connection) -> None:
        """Make every session join `connection`'s transaction through a savepoint (tests)."""
        self._factory = sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )

    def new_session(self) -> Session:
        return self._factory()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work for a CLI command or job: commit on success, roll back on error."""
        session = self.new_session()
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
