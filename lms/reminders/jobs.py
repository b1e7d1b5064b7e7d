"""Scheduled entry points: thin callers that run a service in its own transaction and note
the run in job_states. The scheduler and `lms jobs run` both call these."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lms import clock
from lms.config import Settings
from lms.db import Database
from lms.mail import Mailer, OutgoingMail
from lms.people import sign_in_links, throttle
from lms.reminders import invitations, mails
from lms.reminders.models import JobState, OutboxMessage
from lms.reminders.sender import SendReport, send_batch
from lms.reminders.service import enqueue_due_reminders, enqueue_weekly_digests
from lms.reports import snapshots
from lms.training import exemptions
from lms.training.cycles import CycleReport, run_cycles

log = logging.getLogger(__name__)
# Listed on the admin page.
JOBS = (
    "sweep",
    "send",
    "digest",
    "tallies",
    "webhooks",
    "lti_scores",
    "xapi",
    "checkpoint",
    "retention",
)
SEND_TIME_BUDGET_SECONDS = 45  # one send run stops taking new batches after this


@dataclass(frozen=True)
class SweepReport:
    cycles: CycleReport
    reminders: int
    invitations: int = 0

    def __str__(self) -> str:
        c = self.cycles
        return (
            f"assigned {c.assigned}, renewed {c.renewed}, new-version cycles "
            f"{c.new_version_cycles}, ended {c.ended}, reopened {c.reopened}, "
            f"reminders queued {self.reminders}, invitations queued {self.invitations}"
        )


def sweep_in(session: Session, settings: Settings, now: datetime) -> SweepReport:
    """Open the cycles that are due and write the reminders and invitations that are owed."""
    cycles = run_cycles(session, now, preboarding_days=settings.preboarding_days)
    exemptions.expire_due(session, now)  # before the reminders: an ended one is chased again
    reminders = enqueue_due_reminders(session, now, domain=settings.mail_domain)
    # After the cycles: an invitation lists the courses, read when it is sent.
    invited = invitations.invite_due(
        session,
        now,
        days_before_start=settings.invite_days_before_start,
        domain=settings.mail_domain,
    )
    throttle.prune(session, now, throttle.policy_from(settings))  # keeps the table small
    sign_in_links.prune(session, now)  # spent links, a week after they ran out
    return SweepReport(cycles, reminders, invited)


def sweep(settings: Settings, database: Database, now: datetime) -> str:
    with database.transaction() as session:
        return str(sweep_in(session, settings, now))


def tallies(database: Database, now: datetime) -> str:
    """Store the tallies the organisation views read (its own job: a full scan each time)."""
    with database.transaction() as session:
        return snapshots.refresh(session, now)


def digest(settings: Settings, database: Database, now: datetime) -> str:
    with database.transaction() as session:
        queued = enqueue_weekly_digests(session, now, domain=settings.mail_domain)
    return f"digests queued {queued}"


def send(
    settings: Settings,
    database: Database,
    mailer: Mailer,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    budget_seconds: float = SEND_TIME_BUDGET_SECONDS,
) -> str:
    """Send batches until the outbox has nothing due or the time budget is spent."""
    total = SendReport()
    started = time.monotonic()

    def render(session: Session, message: OutboxMessage, today: date) -> OutgoingMail:
        return mails.render(session, message, settings, today)

    while not should_stop() and time.monotonic() - started < budget_seconds:
        report = send_batch(
            database,
            mailer,
            render,
            now=clock.now,
            should_stop=should_stop,
            prefetch=mails.prefetch,
        )
        total.claimed += report.claimed
        total.sent += report.sent
        total.skipped += report.skipped
        total.failed += report.failed
        if report.claimed == 0 or report.failed:
            break
    return str(total)


def _note(database: Database, job: str, **values: object) -> None:
    with database.transaction() as session:
        state = session.get(JobState, job)
        if state is None:
            state = JobState(job=job, runs=0)
            session.add(state)
            try:
                with session.begin_nested():
                    session.flush()
            except IntegrityError:  # another process created it a moment ago
                state = session.scalars(select(JobState).where(JobState.job == job)).one()
        for key, value in values.items():
            setattr(state, key, value)
        if "last_finished_at" in values:
            state.runs += 1


@dataclass(frozen=True)
class JobContext:
    """What a job gets: the app's settings, database and mailer, the time it started."""

    settings: Settings
    database: Database
    mailer: Mailer
    now: datetime
    should_stop: Callable[[], bool]


JobFunction = Callable[[JobContext], str]

JOB_FUNCTIONS: dict[str, JobFunction] = {
    "sweep": lambda c: sweep(c.settings, c.database, c.now),
    "send": lambda c: send(c.settings, c.database, c.mailer, should_stop=c.should_stop),
    "digest": lambda c: digest(c.settings, c.database, c.now),
    "tallies": lambda c: tallies(c.database, c.now),
}


def run_job(
    app: Flask,
    job: str,
    should_stop: Callable[[], bool] = lambda: False,
    more: Mapping[str, JobFunction] | None = None,
) -> str:
    """Run one job once inside the app context and record its outcome; re-raises failures.
    `more` adds jobs of features above this one (the scheduler passes the webhooks job)."""
    functions = {**JOB_FUNCTIONS, **(more or {})}
    if job not in functions:
        raise ValueError(f"unknown job {job!r}; jobs are {', '.join(functions)}")
    with app.app_context():
        database: Database = app.extensions["lms.db"]
        started = clock.now()
        context = JobContext(
            app.extensions["lms.settings"],
            database,
            app.extensions["lms.mailer"],
            started,
            should_stop,
        )
        _note(database, job, last_started_at=started)
        try:
            detail = functions[job](context)
        except Exception as error:
            log.exception("job %s failed", job)
            _note(
                database,
                job,
                last_finished_at=clock.now(),
                last_ok=False,
                last_detail=f"{type(error).__name__}: {error}"[:2000],
            )
            raise
        _note(database, job, last_finished_at=clock.now(), last_ok=True, last_detail=detail)
        log.info("job %s: %s", job, detail)
        return detail
