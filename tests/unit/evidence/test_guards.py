"""The evidence tables refuse what would rewrite evidence, in the models and in the database
itself (on both SQLite and PostgreSQL): a graded quiz attempt, an attended seat, an exemption
after it ended, a live session's when/where/who, the personal fields kept apart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from lms.db import AppendOnlyViolation
from lms.evidence.models import LedgerPersonal
from lms.training import exemptions, live_sessions, service
from lms.training.models import Exemption, LiveSeat, LiveSession, QuizAttempt
from tests.company import Company
from tests.unit.training.conftest import Learner


def refused_by_database(session: Session, sql: str, **values: object) -> bool:
    """Whether the database itself refuses the statement (the ORM is not asked)."""
    try:
        with session.begin_nested():
            session.execute(text(sql), values)
    except DBAPIError as error:
        return "evidence" in str(error) or "append-only" in str(error)
    return False


def refused_by_model(session: Session, change: Callable[[], None]) -> bool:
    try:
        with session.begin_nested():
            change()
            session.flush()
    except AppendOnlyViolation:
        return True
    return False


def test_a_graded_quiz_attempt_never_changes_nor_goes(session: Session, learner: Learner) -> None:
    graded = learner.pass_quiz()
    assert refused_by_database(
        session, "UPDATE quiz_attempts SET score_percent = 100 WHERE id = :i", i=graded.id
    )
    assert refused_by_database(session, "DELETE FROM quiz_attempts WHERE id = :i", i=graded.id)
    assert refused_by_model(session, lambda: setattr(graded, "score_percent", 1))
    assert refused_by_model(session, lambda: session.delete(graded))


def test_an_open_quiz_attempt_is_graded_as_always(session: Session, learner: Learner) -> None:
    learner.read_all()
    attempt = learner.start()
    service.submit_attempt(session, attempt, learner.answers(attempt), learner.now)
    assert session.get(QuizAttempt, attempt.id).passed is True  # type: ignore[union-attr]


def test_the_personal_fields_kept_apart_are_never_changed(
    session: Session, learner: Learner
) -> None:
    learner.pass_quiz()
    learner.sign()
    kept = session.scalars(select(LedgerPersonal)).one()
    assert refused_by_database(
        session, "UPDATE ledger_personal SET typed_name = 'X' WHERE seq = :s", s=kept.seq
    )
    assert refused_by_model(session, lambda: setattr(kept, "typed_name", "X"))


def test_an_exemption_changes_once_when_it_ends_and_never_goes(
    session: Session, company: Company, now: datetime
) -> None:
    cycle = next(a for a, key in exemptions.exemptable_cycles(session, company.a2))
    exemption = exemptions.grant(
        session,
        company.a2,
        cycle.id,
        reason="Holds a current CIPP/E certificate",
        expires_on=None,
        actor_id=company.hr.id,
        now=now,
    )
    assert refused_by_database(
        session, "UPDATE exemptions SET reason = 'Said so' WHERE id = :i", i=exemption.id
    )
    assert refused_by_model(session, lambda: setattr(exemption, "reason", "Said so"))
    assert exemptions.revoke(session, exemption, actor_id=company.hr.id, now=now)
    assert refused_by_database(
        session, "UPDATE exemptions SET end_reason = 'expired' WHERE id = :i", i=exemption.id
    )
    assert refused_by_database(session, "DELETE FROM exemptions WHERE id = :i", i=exemption.id)
    assert refused_by_model(session, lambda: setattr(exemption, "end_reason", "expired"))
    assert session.get(Exemption, exemption.id).end_reason == "revoked"  # type: ignore[union-attr]


def test_an_attended_seat_and_its_session_keep_what_happened(
    session: Session, company: Company, now: datetime
) -> None:
    live = live_sessions.schedule(
        session,
        course_key="crm",
        starts_at=now + timedelta(days=1),
        minutes=60,
        place="Room 4",
        instructor="Ingrid Instructor",
        capacity=5,
        actor_id=company.hr.id,
        now=now,
    )
    seat = live_sessions.sign_up(session, live, company.a2, now)
    assert live_sessions.cancel_seat(session, live, company.a2, now)  # before: a seat may go
    seat = live_sessions.sign_up(session, live, company.a2, now)
    live_sessions.record_attendance(
        session, live, {company.a2.id}, actor_id=company.hr.id, now=now + timedelta(days=2)
    )
    assert refused_by_database(
        session, "UPDATE live_seats SET attended_at = NULL WHERE id = :i", i=seat.id
    )
    assert refused_by_database(session, "DELETE FROM live_seats WHERE id = :i", i=seat.id)
    assert refused_by_database(
        session, "UPDATE live_sessions SET place = 'Elsewhere' WHERE id = :i", i=live.id
    )
    assert refused_by_database(session, "DELETE FROM live_sessions WHERE id = :i", i=live.id)
    assert refused_by_model(session, lambda: setattr(seat, "attended_at", None))
    assert refused_by_model(session, lambda: setattr(live, "instructor", "Someone"))
    assert session.get(LiveSeat, seat.id).attended_at is not None  # type: ignore[union-attr]


def test_a_live_session_can_still_be_cancelled(
    session: Session, company: Company, now: datetime
) -> None:
    live = live_sessions.schedule(
        session,
        course_key="crm",
        starts_at=now + timedelta(days=1),
        minutes=60,
        place="Room 4",
        instructor="Ingrid Instructor",
        capacity=5,
        actor_id=company.hr.id,
        now=now,
    )
    live_sessions.cancel_session(session, live, actor_id=company.hr.id, now=now)
    session.flush()
    assert session.get(LiveSession, live.id).cancelled_at is not None  # type: ignore[union-attr]
