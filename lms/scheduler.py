"""`lms scheduler`: APScheduler as a clock in its own process. It holds no state: every job
recomputes from the database, so two schedulers on two hosts are safe."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from types import FrameType

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from lms.config import Settings
from lms.evidence import jobs as evidence_jobs
from lms.integrations import webhooks
from lms.integrations.lti import scores as lti_scores
from lms.integrations.xapi import service as xapi
from lms.privacy import erasure
from lms.reminders.jobs import JobFunction, run_job

# Jobs of features that sit above reminders in the layering.
MORE_JOBS: dict[str, JobFunction] = {
    "webhooks": webhooks.run,
    "lti_scores": lti_scores.run,
    "xapi": xapi.run,
    "checkpoint": lambda c: evidence_jobs.checkpoint(c.settings, c.database, c.now),
    "retention": lambda c: erasure.run_retention(c.settings, c.database, c.now),
}

log = logging.getLogger(__name__)


def build_scheduler(
    app: Flask, stopping: threading.Event, kind: type[BaseScheduler] = BlockingScheduler
) -> BaseScheduler:
    """The jobs, with coalescing and a generous grace time; missed runs are logged."""
    settings: Settings = app.extensions["lms.settings"]
    scheduler = kind(
        timezone="UTC",
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 15 * 60},
    )
    # APScheduler keeps real time; the jobs read lms.clock themselves (a simulation moves it).
    now = datetime.now(UTC)

    def every(**interval: int) -> IntervalTrigger:
        if settings.tick_seconds:  # testing: every interval job on one fast tick
            return IntervalTrigger(seconds=settings.tick_seconds)
        return IntervalTrigger(**interval)

    daily = CronTrigger(hour=3, timezone=settings.default_timezone)
    weekly = CronTrigger(
        day_of_week=settings.digest_weekday,
        hour=settings.digest_hour,
        timezone=settings.default_timezone,
    )
    jobs = {
        "sweep": every(minutes=settings.sweep_minutes),
        "send": every(seconds=settings.send_seconds),
        "webhooks": every(seconds=settings.send_seconds),
        "lti_scores": every(seconds=settings.send_seconds),
        "xapi": every(seconds=settings.send_seconds),
        "tallies": every(minutes=settings.sweep_minutes),
        "checkpoint": every(minutes=settings.checkpoint_minutes),
        "digest": weekly,
        "retention": daily,
    }
    for job, trigger in jobs.items():
        # Interval jobs run once at start-up too; the cron ones wait for their hour.
        first = {"next_run_time": now} if isinstance(trigger, IntervalTrigger) else {}
        scheduler.add_job(
            run_job,
            trigger,
            args=[app, job, stopping.is_set, MORE_JOBS],
            id=job,
            name=job,
            **first,
        )
    scheduler.add_listener(_log_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    return scheduler


def _log_event(event: JobExecutionEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        log.warning(
            "job %s missed its run at %s; the next run catches up",
            event.job_id,
            event.scheduled_run_time,
        )
    else:
        log.error("job %s failed: %s", event.job_id, event.exception)


def run_scheduler(app: Flask) -> None:
    """Run until SIGTERM/SIGINT; a running send batch finishes and settles before exit."""
    stopping = threading.Event()
    scheduler = build_scheduler(app, stopping)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("scheduler: signal %s, finishing the running job and stopping", signum)
        stopping.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "scheduler started: sweep every %s min, send every %s s",
        app.extensions["lms.settings"].sweep_minutes,
        app.extensions["lms.settings"].send_seconds,
    )
    scheduler.start()
