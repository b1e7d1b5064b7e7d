"""Two schedulers at once (two hosts): sweeps write each message once, senders send it once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from lms.db import Database
from lms.mail import SmtpMailer
from lms.reminders import jobs, mails
from lms.reminders.models import OutboxMessage
from lms.reminders.sender import send_batch
from lms.training.cycles import assign_courses
from tests import factories
from tests.smtp import SmtpSink

START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
PEOPLE = 40


def _in_threads(*work: Callable[[], object]) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(work))

    def run(fn: Callable[[], object]) -> None:
        try:
            barrier.wait()
            fn()
        except BaseException as error:  # noqa: BLE001 - reported to the test below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def _organisation(db: Database, courses_root: Path) -> None:
    with db.transaction() as session:
        factories.synced_course(session, courses_root, START)
        for _ in range(PEOPLE):
            factories.user(session, START, start_date=date(2020, 1, 1))
        assign_courses(session, START)


def test_two_sweeps_at_once_write_each_reminder_once(
    fresh_database_url: str,
    courses_root: Path,
    settings,
    app,  # noqa: ANN001
) -> None:
    db = Database(fresh_database_url)
    _organisation(db, courses_root)
    when = START + timedelta(days=23)  # due-7 for everyone

    def sweep_from_another_process() -> None:
        database = Database(fresh_database_url)
        try:
            jobs.sweep(settings, database, when)
        finally:
            database.dispose()

    _in_threads(sweep_from_another_process, sweep_from_another_process)
    _in_threads(sweep_from_another_process, sweep_from_another_process)
    with db.transaction() as session:
        keys = list(session.scalars(select(OutboxMessage.dedupe_key)))
    assert len(keys) == PEOPLE
    assert len(set(keys)) == PEOPLE
    db.dispose()


def test_two_senders_at_once_send_each_message_once(
    fresh_database_url: str,
    courses_root: Path,
    settings,
    app,
    smtp: SmtpSink,  # noqa: ANN001
) -> None:
    db = Database(fresh_database_url)
    _organisation(db, courses_root)
    when = START + timedelta(days=23)
    jobs.sweep(settings, db, when)
    mailer = SmtpMailer("127.0.0.1", smtp.port)

    def sender() -> None:
        database = Database(fresh_database_url)
        try:
            with app.app_context():
                for _ in range(10):
                    send_batch(
                        database,
                        mailer,
                        lambda s, m, today: mails.render(s, m, settings, today),
                        now=lambda: when,
                        limit=7,
                    )
        finally:
            database.dispose()

    _in_threads(sender, sender)
    counts = Counter(m.message_id for m in smtp.received)
    assert len(counts) == PEOPLE
    assert set(counts.values()) == {1}
    with db.transaction() as session:
        assert session.scalar(select(func.count()).where(OutboxMessage.status == "sent")) == PEOPLE
    db.dispose()
