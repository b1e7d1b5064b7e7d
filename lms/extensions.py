"""Flask extensions and the per-request database session."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from flask import current_app, g, request
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from sqlalchemy.orm import Session

from lms.config import Settings
from lms.db import SQLITE_BEGIN, Database, hold_back_audit

babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()


def settings() -> Settings:
    """The running app's settings."""
    value: Settings = current_app.extensions["lms.settings"]
    return value


def database() -> Database:
    value: Database = current_app.extensions["lms.db"]
    return value


def local_path(target: str | None) -> str | None:
    """`target` if it is a path on this site (safe to redirect to), else None."""
    # A control character (CR/LF above all) would make the Location header itself invalid.
    if not target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        if parts.netloc != request.host:
            return None
        target = parts.path + (f"?{parts.query}" if parts.query else "")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def db_session() -> Session:
    """The session of the current request: one per request, committed once at its end."""
    if "db_session" not in g:
        g.db_session = database().new_session()
        if SQLITE_BEGIN.get() == "DEFERRED":  # a page view: see lms.web.ReadsSideBySide
            hold_back_audit(g.db_session)
    session: Session = g.db_session
    return session


def end_transaction() -> None:
    """Commit what the request has done so far and leave no transaction of its own open:
    for a view about to talk to the network (claim, commit, talk, settle). A login check that
    ran before the view (Flask-Login's user loader) may have opened one without the view
    knowing."""
    session = g.get("db_session")
    if session is not None and session.in_transaction():
        session.commit()


def write_after_outcome(write: Callable[[Session], object]) -> None:
    """Have `write` run in the request's session after its commit or rollback, and commit it:
    for records that must stay even when the request's own work is undone (a refused launch's
    cause, say)."""
    g.setdefault("writes_after_outcome", []).append(write)


def streamed(produce: Callable[[Session], Iterable[str]]) -> Iterator[str]:
    """A response body made by `produce` in a session of its own, closed when the body ends
    or the client goes away: the request's session is closed before the body is sent, and a
    transaction left open (on SQLite, the write lock) would stop every other writer."""
    owner = database()  # now, while the view's app context is there

    def body() -> Iterator[str]:
        session = owner.new_session()
        try:
            # Begun here, and for reading: an export must not queue for SQLite's write lock
            # nor hold it while the client downloads.
            token = SQLITE_BEGIN.set("DEFERRED")
            try:
                session.connection()
            finally:
                SQLITE_BEGIN.reset(token)
            yield from produce(session)
        finally:
            session.close()

    return body()


@contextmanager
def reads_first() -> Iterator[None]:
    """For a request that reads and checks slowly (a password's hash) before it writes: on
    SQLite the block's reads run without the write lock (BEGIN DEFERRED, side by side with
    writers) and their transaction ends with the block, so the writes after it take the lock
    (BEGIN IMMEDIATE) only for as long as they take. Held through the hash, the lock kept every
    other sign-in in line, and under load one waited past the busy timeout: a 500. The block
    writes nothing (its first write could lose SQLite's race and fail at once)."""
    db_session()  # made as the request's own, so its audit events are not held back
    end_transaction()  # what ran before the view (the login check) took the lock: free it
    token = SQLITE_BEGIN.set("DEFERRED")
    try:
        yield
    finally:
        SQLITE_BEGIN.reset(token)
    end_transaction()
