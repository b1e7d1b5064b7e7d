"""The scheduler is only a clock: three jobs, coalesced, graceful; `lms jobs run` runs one once."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

import pytest
from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.reminders.models import JobState
from lms.scheduler import _log_event, build_scheduler


def test_scheduler_has_every_job_coalesced_with_grace(app: Flask) -> None:
    scheduler = build_scheduler(app, threading.Event(), BackgroundScheduler)
    scheduler.start(paused=True)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    scheduler.shutdown(wait=False)
    assert set(jobs) == {
        "sweep",
        "send",
        "digest",
        "tallies",
        "webhooks",
        "lti_scores",
        "xapi",
        "checkpoint",
        "retention",
    }
    for job in jobs.values():
        assert job.coalesce is True
        assert job.max_instances == 1
        assert job.misfire_grace_time >= 600
    assert jobs["sweep"].trigger.interval == timedelta(minutes=15)
    assert jobs["send"].trigger.interval == timedelta(minutes=1)
    assert "day_of_week='mon'" in str(jobs["digest"].trigger)
    assert jobs["checkpoint"].trigger.interval == timedelta(hours=1)


def test_missed_runs_are_logged(caplog: pytest.LogCaptureFixture, now: datetime) -> None:
    event = JobExecutionEvent(EVENT_JOB_MISSED, "sweep", "default", now)
    with caplog.at_level(logging.WARNING):
        _log_event(event)
    assert "job sweep missed its run" in caplog.text


def test_jobs_run_from_the_command_line_and_are_recorded(
    app: Flask, session: Session, now: datetime
) -> None:
    runner = app.test_cli_runner()
    for job in ("sweep", "send", "digest", "tallies"):
        result = runner.invoke(args=["lms", "jobs", "run", job])
        assert result.exit_code == 0, result.output
    assert "reminders queued 0" in runner.invoke(args=["lms", "jobs", "run", "sweep"]).output
    states = {s.job: s for s in session.scalars(select(JobState))}
    assert set(states) == {"sweep", "send", "digest", "tallies"}
    assert states["sweep"].runs == 2
    assert all(s.last_ok for s in states.values())
    assert states["sweep"].last_finished_at == now


def test_unknown_job_is_refused(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["lms", "jobs", "run", "coffee"])
    assert result.exit_code != 0
    assert "coffee" in result.output
