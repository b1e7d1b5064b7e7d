"""Exemptions: excusing a person from the current cycle of a course, with a reason.

An exemption is never a completion. While it lasts the cycle shows as exempt and nobody is
chased; when it expires (the sweep ends it) or is revoked, the cycle is open again and due
the course's `due_days` later, so nobody is overdue the morning their exemption ends."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from lms.audit.service import record
from lms.catalog.models import Course
from lms.evidence import ledger
from lms.messages import N_
from lms.people.models import User
from lms.training import evidence_lines
from lms.training.models import Assignment, Exemption

MAX_REASON = 500


class ExemptionRefused(Exception):
    """The exemption cannot be granted; `field` is the form field the message belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class SelfApproval(ExemptionRefused):
    """A person asked to exempt themselves: another HR person or an admin must approve it."""

    def __init__(self) -> None:
        super().__init__(
            "course", N_("You cannot exempt yourself: ask another HR person or an admin.")
        )


def exempt_now() -> ColumnElement[bool]:
    """In a query over assignments: the cycle has an exemption in force."""
    return exists().where(Exemption.assignment_id == Assignment.id, Exemption.ended_at.is_(None))


def exempt_at(moment: datetime) -> ColumnElement[bool]:
    """In a query over assignments: the cycle had an exemption in force at `moment`."""
    return exists().where(
        Exemption.assignment_id == Assignment.id,
        Exemption.created_at <= moment,
        or_(Exemption.ended_at.is_(None), Exemption.ended_at > moment),
    )


def exemptable_cycles(session: Session, person: User) -> list[tuple[Assignment, str]]:
    """The person's open current cycles that are not exempt already, with their course key."""
    return list(
        session.execute(
            select(Assignment, Course.key)
            .join(Course, Course.id == Assignment.course_id)
            .where(
                Assignment.user_id == person.id,
                Assignment.completed_at.is_(None),
                Assignment.superseded_at.is_(None),
                Assignment.ended_at.is_(None),
                ~exempt_now(),
            )
            .order_by(Course.key)
        ).all()
    )


def exemptions_of(session: Session, person: User) -> list[Exemption]:
    """Every exemption the person has had, those in force first, newest first."""
    return list(
        session.scalars(
            select(Exemption)
            .where(Exemption.user_id == person.id)
            .order_by(Exemption.ended_at.is_not(None), Exemption.created_at.desc())
        )
    )


def grant(
    session: Session,
    person: User,
    assignment_id: int,
    *,
    reason: str,
    expires_on: date | None,
    actor_id: int | None,
    now: datetime,
) -> Exemption:
    """Excuse the person from one open cycle; nobody approves their own exemption."""
    if actor_id is not None and actor_id == person.id:
        raise SelfApproval()
    open_cycles = dict(exemptable_cycles(session, person))
    assignment = next((a for a in open_cycles if a.id == assignment_id), None)
    if assignment is None:
        raise ExemptionRefused("course", N_("Choose one of the person's open courses."))
    reason = " ".join(reason.split())
    if not reason:
        raise ExemptionRefused("reason", N_("Say why, e.g. which certificate covers the course."))
    if len(reason) > MAX_REASON:
        raise ExemptionRefused("reason", N_("Keep the reason under 500 characters."))
    if expires_on is not None and expires_on <= now.date():
        raise ExemptionRefused("expires_on", N_("An expiry date must be in the future."))
    exemption = Exemption(
        assignment_id=assignment.id,
        user_id=person.id,
        reason=reason,
        expires_on=expires_on,
        created_at=now,
        created_by_id=actor_id,
    )
    session.add(exemption)
    session.flush()
    _enter(session, exemption, ledger.Kind.EXEMPTION, evidence_lines.exemption_evidence(exemption))
    record(
        session,
        action="exemption.grant",
        now=now,
        actor_id=actor_id,
        subject_user_id=person.id,
        course=open_cycles[assignment],
        cycle=assignment.cycle,
        reason=reason,
        expires_on=expires_on.isoformat() if expires_on else None,
    )
    return exemption


def _enter(session: Session, exemption: Exemption, kind: ledger.Kind, evidence: str) -> None:
    """An exemption's grant or end as an entry of the evidence ledger, like a completion."""
    definition = exemption.assignment.course_version.definition
    entry = ledger.Record(
        kind=kind,
        record=f"exemption:{exemption.id}",
        course_key=definition.key,
        version_sha256=definition.sha256,
        language="",  # an exemption is not taken in any language
        evidence=evidence,
    )
    at = exemption.created_at if kind == ledger.Kind.EXEMPTION else exemption.ended_at
    assert at is not None  # noqa: S101 - an end entry is made once the end is set
    ledger.append(session, exemption.user_id, entry, at)


def _end(session: Session, exemption: Exemption, now: datetime, why: str) -> None:
    exemption.ended_at = now
    exemption.end_reason = why
    end = evidence_lines.exemption_end_line(ended_at=now, end_reason=why)
    _enter(session, exemption, ledger.Kind.EXEMPTION_END, end)
    assignment = exemption.assignment
    if assignment.completed_at is None and assignment.ended_at is None:
        fresh = now.date() + timedelta(days=assignment.course_version.definition.due_days)
        assignment.due_on = max(assignment.due_on, fresh)
        assignment.next_reminder_on = now.date()
    session.flush()


def revoke(session: Session, exemption: Exemption, *, actor_id: int | None, now: datetime) -> bool:
    """End an exemption now; False if it had already ended."""
    if exemption.ended_at is not None:
        return False
    _end(session, exemption, now, "revoked")
    record(
        session,
        action="exemption.revoke",
        now=now,
        actor_id=actor_id,
        subject_user_id=exemption.user_id,
        exemption_id=exemption.id,
        due_on=exemption.assignment.due_on.isoformat(),
    )
    return True


def expire_due(session: Session, now: datetime) -> int:
    """End the exemptions whose expiry date has come (the sweep calls this)."""
    expiring = session.scalars(
        select(Exemption).where(Exemption.ended_at.is_(None), Exemption.expires_on <= now.date())
    ).all()
    for exemption in expiring:
        _end(session, exemption, now, "expired")
        record(
            session,
            action="exemption.expire",
            now=now,
            subject_user_id=exemption.user_id,
            exemption_id=exemption.id,
            due_on=exemption.assignment.due_on.isoformat(),
        )
    return len(expiring)
