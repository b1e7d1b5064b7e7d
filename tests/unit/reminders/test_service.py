"""Deciding reminders without sending them: leavers, reactivation, recipients."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.reminders.models import OutboxMessage
from lms.reminders.service import enqueue_due_reminders
from lms.training.cycles import assign_courses
from tests.unit.reminders.conftest import Org


def _keys(session: Session) -> list[str]:
    return sorted(session.scalars(select(OutboxMessage.dedupe_key)))


def test_leavers_are_not_chased_and_reactivation_resumes_at_the_latest_stage(
    session: Session, org: Org, now: datetime
) -> None:
    assign_courses(session, now)
    org.emp_en.active = False
    session.flush()
    day_35 = now + timedelta(days=35)
    enqueue_due_reminders(session, day_35, domain="example.test")
    payloads = list(session.scalars(select(OutboxMessage.payload)))
    assert len(payloads) == 2  # the two active colleagues, at due+3 (manager in copy)
    assert all(p["stage"] == "due+3" for p in payloads)
    assert org.emp_en.id not in {p["to"][0] for p in payloads}

    org.emp_en.active = True
    session.flush()
    enqueue_due_reminders(session, day_35, domain="example.test")
    payloads = list(session.scalars(select(OutboxMessage.payload)))
    resumed = [p for p in payloads if p["to"] == [org.emp_en.id]]
    assert [p["stage"] for p in resumed] == ["due+3"]  # not the stages missed meanwhile
    assert resumed[0]["cc"] == [org.manager.id]


def test_escalations_go_to_the_manager_with_hr_and_later_the_skip_level_in_copy(
    session: Session, org: Org, now: datetime
) -> None:
    assign_courses(session, now)
    enqueue_due_reminders(session, now + timedelta(days=37), domain="example.test")
    first = session.scalars(select(OutboxMessage.payload)).first()
    assert first is not None
    assert (first["stage_kind"], first["to"], first["cc"]) == (
        "escalation",
        [org.manager.id],
        [org.hr.id],
    )
    enqueue_due_reminders(session, now + timedelta(days=44), domain="example.test")
    later = [p for p in session.scalars(select(OutboxMessage.payload)) if p["stage"] == "due+14"]
    assert later
    assert all(p["cc"] == [org.hr.id, org.boss.id] for p in later)


def test_running_the_decision_twice_the_same_day_adds_nothing(
    session: Session, org: Org, now: datetime
) -> None:
    assign_courses(session, now)
    when = now + timedelta(days=30)
    assert enqueue_due_reminders(session, when, domain="example.test") == 3
    assert enqueue_due_reminders(session, when, domain="example.test") == 0
    assert len(_keys(session)) == 3
