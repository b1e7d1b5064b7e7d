"""Live sessions: scheduled, joined, attended; attendance completes the course, credits its
modules and enters the ledger marked as a live session; bad input changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.evidence.models import LedgerEntry
from lms.reports import queries
from lms.reports.evidence import evidence_json, evidence_pdf
from lms.reports.queries import Status
from lms.training import exemptions, live_sessions, service
from lms.training.models import Assignment, LiveSession, ModuleView
from tests.company import Company
from tests.unit.training.conftest import Learner


def schedule(session: Session, company: Company, now: datetime, **overrides: object) -> LiveSession:
    values: dict[str, object] = {
        "course_key": "crm",
        "starts_at": now + timedelta(days=3),
        "minutes": 90,
        "place": "Room 4, Oslo office",
        "instructor": "Ingrid Instructor",
        "capacity": 2,
        "actor_id": company.hr.id,
        "now": now,
    }
    values.update(overrides)
    return live_sessions.schedule(session, **values)  # type: ignore[arg-type]


def crm_cycle(session: Session, user_id: int) -> Assignment:
    return next(
        a
        for a in session.scalars(select(Assignment).where(Assignment.user_id == user_id))
        if a.course_version.definition.key == "crm"
    )


def test_attending_completes_the_course_credits_modules_and_enters_the_ledger(
    session: Session, company: Company, now: datetime
) -> None:
    live = schedule(session, company, now)
    assert [
        line.live_session for line, mine in live_sessions.open_to(session, company.a2, now)
    ] == [live]
    live_sessions.sign_up(session, live, company.a2, now)
    assert live_sessions.open_to(session, company.a2, now)[0][1] is True

    with pytest.raises(live_sessions.LiveSessionRefused):  # not yet started
        live_sessions.record_attendance(
            session, live, {company.a2.id}, actor_id=company.hr.id, now=now
        )
    after = live.starts_at + timedelta(hours=3)
    completed = live_sessions.record_attendance(
        session, live, {company.a2.id}, actor_id=company.hr.id, now=after
    )
    assert completed == 1
    cycle = crm_cycle(session, company.a2.id)
    assert cycle.completed_at == live.starts_at + timedelta(minutes=90)
    assert cycle.completed_via == "live_session"
    modules = {m.slug for m in cycle.course_version.definition.modules}
    viewed = set(
        session.scalars(select(ModuleView.module_slug).where(ModuleView.assignment_id == cycle.id))
    )
    assert viewed == modules
    entry = session.scalars(select(LedgerEntry).where(LedgerEntry.source == "live_session")).one()
    assert (entry.kind, entry.course_key) == ("completion", "crm")
    assert entry.record.startswith("attendance:")

    record = queries.person_record(
        session, company.hr, company.a2.id, after.date(), organisation=True
    )
    assert record is not None
    crm = next(c for c in record.cycles if c.course_key == "crm")
    assert crm.status is Status.COMPLETE
    assert crm.live_seat is not None
    assert crm.live_seat.live_session.instructor == "Ingrid Instructor"
    progress = service.course_progress(session, company.a2, "crm", after.date())
    assert (str(progress.stage), progress.percent) == ("complete", 100)
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "live_session.attendance")
    ).one()
    assert event.actor_id == company.hr.id
    scheduled = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "live_session.schedule")
    ).one()
    assert (scheduled.actor_id, scheduled.detail["course"]) == (company.hr.id, "crm")


def test_only_people_who_came_are_credited(
    session: Session, company: Company, now: datetime
) -> None:
    live = schedule(session, company, now)
    live_sessions.sign_up(session, live, company.a2, now)
    live_sessions.sign_up(session, live, company.lead_a, now)
    live_sessions.record_attendance(
        session, live, {company.a2.id}, actor_id=None, now=live.starts_at + timedelta(hours=2)
    )
    assert crm_cycle(session, company.lead_a.id).completed_at is None


def test_a_full_session_takes_nobody_more_and_a_seat_can_be_given_up(
    session: Session, company: Company, now: datetime
) -> None:
    live = schedule(session, company, now, capacity=1)
    live_sessions.sign_up(session, live, company.a2, now)
    with pytest.raises(live_sessions.LiveSessionRefused, match="full"):
        live_sessions.sign_up(session, live, company.lead_a, now)
    assert live_sessions.cancel_seat(session, live, company.a2, now)
    live_sessions.sign_up(session, live, company.lead_a, now)
    live_sessions.cancel_session(session, live, actor_id=company.hr.id, now=now)
    cancelled = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "live_session.cancel")
    ).one()
    assert cancelled.detail["live_session_id"] == live.id
    assert [line for line, _ in live_sessions.open_to(session, company.lead_a, now)] == []


def test_someone_without_the_course_cannot_sign_up(
    session: Session, company: Company, now: datetime
) -> None:
    live = schedule(session, company, now)
    with pytest.raises(live_sessions.LiveSessionRefused, match="not on your list"):
        live_sessions.sign_up(session, live, company.b1, now)  # ops: no crm


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"course_key": "nope"}, "course"),
        ({"starts_at": datetime(2020, 1, 1)}, "starts_at"),
        ({"place": "  "}, "place"),
        ({"instructor": ""}, "instructor"),
        ({"capacity": 0}, "capacity"),
    ],
)
def test_bad_sessions_are_refused_and_nothing_is_written(
    session: Session, company: Company, now: datetime, overrides: dict[str, object], field: str
) -> None:
    if "starts_at" in overrides:
        overrides["starts_at"] = now - timedelta(days=1)
    with pytest.raises(live_sessions.LiveSessionRefused) as refused:
        schedule(session, company, now, **overrides)
    assert refused.value.field == field
    assert session.scalar(select(func.count()).select_from(LiveSession)) == 0


def attended(session: Session, company: Company, now: datetime) -> tuple[LiveSession, datetime]:
    """Ari took a seat and came; returns the session and a moment after it."""
    live = schedule(session, company, now)
    live_sessions.sign_up(session, live, company.a2, now)
    after = live.starts_at + timedelta(hours=2)
    live_sessions.record_attendance(session, live, {company.a2.id}, actor_id=None, now=after)
    return live, after


def test_signing_after_a_live_session_keeps_its_completion_date(
    session: Session, company: Company, now: datetime
) -> None:
    live, after = attended(session, company, now)
    definition = crm_cycle(session, company.a2.id).course_version.definition
    learner = Learner(session, company.a2, definition, after + timedelta(days=1))
    learner.pass_quiz()
    learner.sign()
    cycle = crm_cycle(session, company.a2.id)
    assert cycle.completed_at == live.starts_at + timedelta(minutes=90)


def test_the_evidence_pack_says_live_session_and_exempt(
    session: Session, company: Company, now: datetime
) -> None:
    live, after = attended(session, company, now)
    basics = next(
        a for a, key in exemptions.exemptable_cycles(session, company.a2) if key == "basics"
    )
    exemptions.grant(
        session, company.a2, basics.id, reason="CIPP/E", expires_on=None, actor_id=None, now=after
    )
    record = queries.person_record(
        session, company.hr, company.a2.id, after.date(), organisation=True
    )
    assert record is not None
    courses = {c["course"]: c for c in evidence_json(record, after)["courses"]}
    assert courses["crm"]["completed_via"] == "live_session"
    assert courses["crm"]["live_session"]["instructor"] == "Ingrid Instructor"
    assert courses["basics"]["status"] == "exempt"
    assert courses["basics"]["exemptions"][0]["reason"] == "CIPP/E"
    assert evidence_pdf(record, after).startswith(b"%PDF")
