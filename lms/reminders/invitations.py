"""Invitations: the welcome mail that tells a new person what Vern is and how to get in.

Who is owed one is read from the tables (`users.invited_at` is empty) by the sweep, so every
way a person comes in (SCIM, CSV import, the admin page, LTI, anything later) is covered
without a hook in each. An invitation is an outbox row under `invitation:<user id>:<n>`; the
sweep only ever writes n = 1, so running it twice, late or in two processes adds nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session

from lms.audit.service import record
from lms.people.models import LoginSession, User
from lms.reminders.models import OutboxMessage
from lms.reminders.outbox import enqueue
from lms.training.exemptions import exempt_now
from lms.training.models import Assignment

KIND = "invitation"


class NotInvitable(Exception):
    """Only an active person can be invited."""


def local_today(now: datetime, timezone: str) -> date:
    """The date it is for someone in `timezone` (UTC if the zone is unknown)."""
    try:
        return now.astimezone(ZoneInfo(timezone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        return now.date()


def invitation_day(start_date: date | None, days_before_start: int | None) -> date | None:
    """The day a person's first invitation is due, or None for at once."""
    if days_before_start is None or start_date is None:
        return None
    return start_date - timedelta(days=days_before_start)


def is_due(user: User, now: datetime, days_before_start: int | None) -> bool:
    """Whether the person's first invitation is due now, by the date in their time zone."""
    day = invitation_day(user.start_date, days_before_start)
    return day is None or local_today(now, user.timezone) >= day


def _key(user_id: int, number: int) -> str:
    return f"{KIND}:{user_id}:{number}"


def _enqueue(
    session: Session,
    user: User,
    number: int,
    now: datetime,
    *,
    domain: str,
    requested_by: int | None,
) -> bool:
    added = enqueue(
        session,
        key=_key(user.id, number),
        kind=KIND,
        payload={"to": [user.id], "number": number, "requested_by": requested_by},
        now=now,
        domain=domain,
    )
    if user.invited_at is None:
        user.invited_at = now
    return added


def invite_due(
    session: Session,
    now: datetime,
    *,
    days_before_start: int | None,
    domain: str,
    user: User | None = None,
) -> int:
    """Queue the first invitation of every active person who is owed one and due it now
    (only `user`, if given); returns how many were queued."""
    query = select(User).where(User.invited_at.is_(None), User.active.is_(True))
    if user is not None:
        query = query.where(User.id == user.id)
    if days_before_start is not None:
        # A day's slack either way for time zones; is_due decides by the person's own date.
        horizon = now.date() + timedelta(days=days_before_start + 1)
        query = query.where(or_(User.start_date.is_(None), User.start_date <= horizon))
    queued = 0
    for person in session.scalars(query.order_by(User.id)):
        if is_due(person, now, days_before_start):
            queued += _enqueue(session, person, 1, now, domain=domain, requested_by=None)
    session.flush()
    return queued


def invitations_of(session: Session, user_id: int) -> int:
    """How many invitations were ever queued for the person."""
    prefix = f"{KIND}:{user_id}:"
    return (
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == KIND, OutboxMessage.dedupe_key.startswith(prefix))
        )
        or 0
    )


def send_invitation(
    session: Session, user: User, now: datetime, *, domain: str, actor_id: int
) -> bool:
    """Queue one more invitation for the person at an admin's request (audited); False if
    an identical request was queued a moment ago."""
    if not user.active:
        raise NotInvitable(user.id)
    number = invitations_of(session, user.id) + 1
    added = _enqueue(session, user, number, now, domain=domain, requested_by=actor_id)
    record(session, action="person.invite", now=now, actor_id=actor_id, subject_user_id=user.id)
    session.flush()
    return added


def never_signed_in() -> Select[User]:
    """Active people who never signed in, by any way (every sign-in opens a login session,
    and login sessions are only deleted when a leaver's data is erased)."""
    return select(User).where(
        User.active.is_(True), ~exists().where(LoginSession.user_id == User.id)
    )


def count_never_signed_in(session: Session) -> int:
    """How many active people have never signed in (the bulk invitation's reach)."""
    subquery = never_signed_in().subquery()
    return session.scalar(select(func.count()).select_from(subquery)) or 0


def _invitation_counts(session: Session) -> dict[int, int]:
    """Invitations queued so far per person, read from the outbox keys in one query."""
    counts: dict[int, int] = {}
    for key in session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.kind == KIND)):
        user_id = int(key.split(":")[1])
        counts[user_id] = counts.get(user_id, 0) + 1
    return counts


def invite_never_signed_in(session: Session, now: datetime, *, domain: str, actor_id: int) -> int:
    """Queue one more invitation for every active person who never signed in (one audit
    event with the count); returns how many were queued."""
    counts = _invitation_counts(session)
    queued = 0
    for person in session.scalars(never_signed_in().order_by(User.id)):
        number = counts.get(person.id, 0) + 1
        queued += _enqueue(session, person, number, now, domain=domain, requested_by=actor_id)
    record(session, action="people.invite", now=now, actor_id=actor_id, queued=queued)
    session.flush()
    return queued


@dataclass(frozen=True)
class DueCourse:
    title: str
    due_on: date
    overdue: bool


def due_courses(session: Session, user: User, today: date) -> list[DueCourse]:
    """The person's open training, soonest due first, titled in their language."""
    assignments = session.scalars(
        select(Assignment)
        .where(
            Assignment.user_id == user.id,
            Assignment.completed_at.is_(None),
            Assignment.ended_at.is_(None),
            Assignment.superseded_at.is_(None),
            ~exempt_now(),
        )
        .order_by(Assignment.due_on, Assignment.id)
    )
    courses = []
    for assignment in assignments:
        definition = assignment.course_version.definition
        title = definition.title[definition.language_for(user.locale)]
        courses.append(DueCourse(title, assignment.due_on, assignment.due_on < today))
    return courses
