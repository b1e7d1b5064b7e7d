"""Instructor-led live sessions: scheduled by HR, joined from My training, and attended.

Attending completes the person's current cycle of the course: its modules count as read, the
cycle is complete "via live session", and the completion enters the evidence ledger marked as
such. Signing the statement in the app afterwards stays possible (quiz first, as always)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.audit.service import record
from lms.catalog.models import Course
from lms.evidence import ledger
from lms.messages import N_
from lms.people.models import User
from lms.training import evidence_lines, rules
from lms.training.models import Assignment, LiveSeat, LiveSession, ModuleView

LIVE_SESSION = "live_session"
MAX_CAPACITY = 500


class LiveSessionRefused(Exception):
    """Not possible; `field` names the form field the message belongs to ("" for none)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SessionLine:
    live_session: LiveSession
    taken: int  # seats signed up for

    @property
    def full(self) -> bool:
        return self.taken >= self.live_session.capacity


def _taken(session: Session, live_session_ids: list[int]) -> dict[int, int]:
    rows = session.execute(
        select(LiveSeat.session_id, func.count())
        .where(LiveSeat.session_id.in_(live_session_ids), LiveSeat.cancelled_at.is_(None))
        .group_by(LiveSeat.session_id)
    )
    return {session_id: count for session_id, count in rows}


def _lines(session: Session, sessions: list[LiveSession]) -> list[SessionLine]:
    taken = _taken(session, [s.id for s in sessions])
    return [SessionLine(s, taken.get(s.id, 0)) for s in sessions]


def schedule(
    session: Session,
    *,
    course_key: str,
    starts_at: datetime,
    minutes: int,
    place: str,
    instructor: str,
    capacity: int,
    actor_id: int | None,
    now: datetime,
) -> LiveSession:
    course = session.scalar(select(Course).where(Course.key == course_key))
    if course is None or course.current_version_id is None:
        raise LiveSessionRefused("course", N_("Choose a course."))
    if starts_at <= now:
        raise LiveSessionRefused("starts_at", N_("Choose a time in the future."))
    place, instructor = " ".join(place.split()), " ".join(instructor.split())
    if not place:
        raise LiveSessionRefused("place", N_("Say where: a room, or a meeting link."))
    if not instructor:
        raise LiveSessionRefused("instructor", N_("Say who leads the session."))
    if not 1 <= capacity <= MAX_CAPACITY:
        raise LiveSessionRefused("capacity", N_("Between 1 and 500 people."))
    live = LiveSession(
        course_id=course.id,
        starts_at=starts_at,
        minutes=minutes,
        place=place[:300],
        instructor=instructor[:200],
        capacity=capacity,
        created_at=now,
        created_by_id=actor_id,
    )
    session.add(live)
    session.flush()
    record(
        session,
        action="live_session.schedule",
        now=now,
        actor_id=actor_id,
        live_session_id=live.id,
        course=course_key,
        starts_at=starts_at.isoformat(),
    )
    return live


def sessions_overview(
    session: Session, now: datetime
) -> tuple[list[SessionLine], list[SessionLine]]:
    """(upcoming, past) sessions, soonest and latest first."""
    upcoming = session.scalars(
        select(LiveSession)
        .where(LiveSession.starts_at > now, LiveSession.cancelled_at.is_(None))
        .order_by(LiveSession.starts_at)
    ).all()
    past = session.scalars(
        select(LiveSession)
        .where(LiveSession.starts_at <= now)
        .order_by(LiveSession.starts_at.desc())
        .limit(50)
    ).all()
    return _lines(session, list(upcoming)), _lines(session, list(past))


def seats(session: Session, live: LiveSession) -> list[LiveSeat]:
    return list(
        session.scalars(
            select(LiveSeat)
            .join(User, User.id == LiveSeat.user_id)
            .where(LiveSeat.session_id == live.id, LiveSeat.cancelled_at.is_(None))
            .order_by(User.full_name)
        )
    )


def _open_cycle(session: Session, user_id: int, course_id: int) -> Assignment | None:
    return session.scalar(
        select(Assignment).where(
            Assignment.user_id == user_id,
            Assignment.course_id == course_id,
            Assignment.completed_at.is_(None),
            Assignment.superseded_at.is_(None),
            Assignment.ended_at.is_(None),
        )
    )


def open_to(session: Session, user: User, now: datetime) -> list[tuple[SessionLine, bool]]:
    """Upcoming sessions of the person's open courses, and whether they have a seat."""
    open_courses = select(Assignment.course_id).where(
        Assignment.user_id == user.id,
        Assignment.completed_at.is_(None),
        Assignment.superseded_at.is_(None),
        Assignment.ended_at.is_(None),
    )
    sessions = session.scalars(
        select(LiveSession)
        .where(
            LiveSession.course_id.in_(open_courses),
            LiveSession.starts_at > now,
            LiveSession.cancelled_at.is_(None),
        )
        .order_by(LiveSession.starts_at)
    ).all()
    mine = set(
        session.scalars(
            select(LiveSeat.session_id).where(
                LiveSeat.user_id == user.id, LiveSeat.cancelled_at.is_(None)
            )
        )
    )
    return [(line, line.live_session.id in mine) for line in _lines(session, list(sessions))]


def sign_up(session: Session, live: LiveSession, user: User, now: datetime) -> LiveSeat:
    if live.cancelled_at is not None or live.starts_at <= now:
        raise LiveSessionRefused("", N_("This session is no longer open for sign-up."))
    if _open_cycle(session, user.id, live.course_id) is None:
        raise LiveSessionRefused("", N_("This course is not on your list."))
    # Take the session's row lock, so two last-seat sign-ups cannot both get in.
    session.execute(select(LiveSession.id).where(LiveSession.id == live.id).with_for_update())
    seat = session.scalar(
        select(LiveSeat).where(LiveSeat.session_id == live.id, LiveSeat.user_id == user.id)
    )
    if seat is not None and seat.cancelled_at is None:
        return seat
    if _taken(session, [live.id]).get(live.id, 0) >= live.capacity:
        raise LiveSessionRefused("", N_("This session is full."))
    if seat is None:
        seat = LiveSeat(session_id=live.id, user_id=user.id, signed_up_at=now)
        session.add(seat)
    else:
        seat.cancelled_at, seat.signed_up_at = None, now
    session.flush()
    return seat


def cancel_seat(session: Session, live: LiveSession, user: User, now: datetime) -> bool:
    seat = session.scalar(
        select(LiveSeat).where(
            LiveSeat.session_id == live.id,
            LiveSeat.user_id == user.id,
            LiveSeat.cancelled_at.is_(None),
            LiveSeat.attended_at.is_(None),
        )
    )
    if seat is None or live.starts_at <= now:
        return False
    seat.cancelled_at = now
    session.flush()
    return True


def cancel_session(
    session: Session, live: LiveSession, *, actor_id: int | None, now: datetime
) -> None:
    if live.starts_at <= now:
        raise LiveSessionRefused("", N_("A session that has started cannot be cancelled."))
    live.cancelled_at = now
    session.flush()
    record(
        session, action="live_session.cancel", now=now, actor_id=actor_id, live_session_id=live.id
    )


def record_attendance(
    session: Session,
    live: LiveSession,
    attended_user_ids: set[int],
    *,
    actor_id: int | None,
    now: datetime,
) -> int:
    """Mark who came; each attendee's open cycle of the course is completed by it. Returns how
    many cycles were completed (someone who had finished the course already just attended)."""
    if live.starts_at > now:
        raise LiveSessionRefused("", N_("Attendance can be recorded once the session has started."))
    completed_at = min(live.starts_at + timedelta(minutes=live.minutes), now)
    completed = 0
    for seat in seats(session, live):
        if seat.user_id not in attended_user_ids or seat.attended_at is not None:
            continue
        seat.attended_at, seat.recorded_by_id = completed_at, actor_id
        cycle = _open_cycle(session, seat.user_id, live.course_id)
        if cycle is not None:
            _complete_by_attendance(session, cycle, seat, completed_at)
            completed += 1
    session.flush()
    record(
        session,
        action="live_session.attendance",
        now=now,
        actor_id=actor_id,
        live_session_id=live.id,
        attended=sorted(attended_user_ids),
        cycles_completed=completed,
    )
    return completed


def _complete_by_attendance(
    session: Session, cycle: Assignment, seat: LiveSeat, at: datetime
) -> None:
    definition = cycle.course_version.definition
    read = set(
        session.scalars(select(ModuleView.module_slug).where(ModuleView.assignment_id == cycle.id))
    )
    for module in definition.modules:
        if module.slug not in read:
            session.add(ModuleView(assignment_id=cycle.id, module_slug=module.slug, viewed_at=at))
    cycle.completed_at = at
    cycle.completed_via = LIVE_SESSION
    cycle.next_reminder_on = None
    cycle.renews_on = rules.renews_on(at.date(), definition.renew_every_days, definition.renew_on)
    session.flush()
    entry = ledger.Record(
        kind=ledger.Kind.COMPLETION,
        record=f"attendance:{seat.id}",
        course_key=definition.key,
        version_sha256=definition.sha256,
        language=definition.language_for(seat.user.locale),
        source=ledger.Source.LIVE_SESSION,
        evidence=evidence_lines.attendance_evidence(seat),
    )
    ledger.append(session, seat.user_id, entry, at)


def attendance_of(session: Session, user_id: int) -> dict[int, LiveSeat]:
    """Per assignment the person completed by attending, the seat (evidence pages show it)."""
    rows = session.execute(
        select(Assignment.id, LiveSeat)
        .join(LiveSession, LiveSession.course_id == Assignment.course_id)
        .join(LiveSeat, LiveSeat.session_id == LiveSession.id)
        .where(
            Assignment.user_id == user_id,
            Assignment.completed_via == LIVE_SESSION,
            LiveSeat.user_id == user_id,
            LiveSeat.attended_at == Assignment.completed_at,
        )
    )
    return {assignment_id: seat for assignment_id, seat in rows}
