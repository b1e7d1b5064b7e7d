"""Assignments, module progress, quiz attempts and the append-only attestations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.catalog.models import Course, CourseVersion
from lms.db import AppendOnly, Base, Sealed, UTCDateTime
from lms.people.models import User


class Assignment(Base):
    """One person's duty to complete one course, per cycle (recertification opens a new one)."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("user_id", "course_id", "cycle"),
        Index("ix_assignments_next_reminder_on", "next_reminder_on"),
        Index("ix_assignments_renews_on", "renews_on"),
        # Only ended cycles: nearly every cycle is open, and an index over all of them made
        # SQLite's planner (without statistics) walk it for `ended_at IS NULL` instead of
        # starting from the person: 110 ms instead of 17 for a manager's line at 50k people.
        Index(
            "ix_assignments_ended",
            "ended_at",
            sqlite_where=text("ended_at IS NOT NULL"),
            postgresql_where=text("ended_at IS NOT NULL"),
        ),
        # Overdue lists walk open cycles in due order and stop early.
        Index("ix_assignments_due_on", "due_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    course_version_id: Mapped[int] = mapped_column(ForeignKey("course_versions.id"))
    cycle: Mapped[int] = mapped_column(Integer, default=1)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_on: Mapped[date] = mapped_column(Date)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A newer cycle of the same course replaced this one (recertification, new major version).
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Not chased any more because the person left the course's audience (e.g. changed
    # department); reopened if they come back. What was completed stays completed.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Scheduling indexes kept by the sweep so a tick reads only what is due: the next day a
    # reminder stage falls due (None once complete), and the day a new cycle opens.
    next_reminder_on: Mapped[date | None] = mapped_column(Date)
    renews_on: Mapped[date | None] = mapped_column(Date)
    # How the cycle was completed when not in Vern's pages: "live_session" (attended one).
    completed_via: Mapped[str | None] = mapped_column(String(16))

    user: Mapped[User] = relationship()
    course: Mapped[Course] = relationship()
    course_version: Mapped[CourseVersion] = relationship()


class ModuleView(Base):
    __tablename__ = "module_views"
    __table_args__ = (UniqueConstraint("assignment_id", "module_slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    module_slug: Mapped[str] = mapped_column(String(64))
    viewed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # xAPI reads by time


class QuizAttempt(Sealed, Base):
    """Exactly what was served to one person, what they answered and how it was graded; once
    graded it is evidence and never changes (nor goes)."""

    __tablename__ = "quiz_attempts"
    __table_args__ = (UniqueConstraint("assignment_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8))
    # [{"question": id, "options": [option ids in the order shown]}]
    served: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # {"question id": [chosen option ids]}
    answers: Mapped[dict[str, list[str]] | None] = mapped_column(JSON)
    correct_count: Mapped[int | None] = mapped_column(Integer)
    score_percent: Mapped[int | None] = mapped_column(Integer)
    passed: Mapped[bool | None] = mapped_column(Boolean)

    assignment: Mapped[Assignment] = relationship()

    def change_refused(self, old: dict[str, Any], changed: frozenset[str]) -> bool:
        return old.get("submitted_at") is not None

    def delete_refused(self) -> bool:
        return self.submitted_at is not None


class Attestation(AppendOnly, Base):
    """A signed statement binding a person to one course version; append-only, and bound to
    its entries in the evidence ledger (the one chain: lms.evidence.ledger)."""

    __tablename__ = "attestations"
    __table_args__ = (UniqueConstraint("assignment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    quiz_attempt_id: Mapped[int] = mapped_column(ForeignKey("quiz_attempts.id"))
    course_key: Mapped[str] = mapped_column(String(64))
    version_sha256: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    statement_sha256: Mapped[str] = mapped_column(String(64))
    statement: Mapped[str] = mapped_column(Text)
    score_percent: Mapped[int] = mapped_column(Integer)
    typed_name: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    # Who the person was when they signed (outside the hash): the exports read these, so a
    # whole-organisation export is one pass over this table, and a later rename or move to
    # another department does not rewrite what the evidence said at the time.
    cycle: Mapped[int | None] = mapped_column(Integer)
    person_email: Mapped[str | None] = mapped_column(String(254))
    person_name: Mapped[str | None] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(200))

    assignment: Mapped[Assignment] = relationship()


class AttestationChainArchive(AppendOnly, Base):
    """The hash chain attestations kept of their own until revision 0024, kept as it was: the
    "record" hash a person saw on their confirmation page then can still be looked up. Not
    verified (erasure empties fields it hashed); the ledger is the chain that is."""

    __tablename__ = "attestation_chain_archive"

    attestation_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Exemption(Sealed, Base):
    """A person excused from one cycle of a course (e.g. covered by an outside certificate).

    Never a completion: dashboards and evidence show it as exempt, and reminders skip it while
    it lasts. When it expires or is revoked the cycle is open again, with a fresh due date.
    Evidence: never deleted, and the only change is its end, once."""

    __tablename__ = "exemptions"
    __table_args__ = (Index("ix_exemptions_assignment_ended", "assignment_id", "ended_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    expires_on: Mapped[date | None] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # "expired" or "revoked"
    end_reason: Mapped[str | None] = mapped_column(String(16))

    assignment: Mapped[Assignment] = relationship()

    def change_refused(self, old: dict[str, Any], changed: frozenset[str]) -> bool:
        return old.get("ended_at") is not None or not changed <= ENDING

    def delete_refused(self) -> bool:
        return True


ENDING = frozenset({"ended_at", "end_reason"})
# What a live session may change once scheduled: being cancelled. The rest is what an
# attendance says happened.
CANCELLING = frozenset({"cancelled_at", "capacity"})


class LiveSession(Sealed, Base):
    """An instructor-led session of a course; attending it completes the course. Never deleted;
    when, where and with whom never change."""

    __tablename__ = "live_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    minutes: Mapped[int] = mapped_column(Integer)
    place: Mapped[str] = mapped_column(String(300))  # a room, or a meeting link
    instructor: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    course: Mapped[Course] = relationship()

    def change_refused(self, old: dict[str, Any], changed: frozenset[str]) -> bool:
        return not changed <= CANCELLING

    def delete_refused(self) -> bool:
        return True


class LiveSeat(Sealed, Base):
    """One person's place in a live session, and whether they came: once attended, evidence."""

    __tablename__ = "live_seats"
    __table_args__ = (UniqueConstraint("session_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    signed_up_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    live_session: Mapped[LiveSession] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])

    def change_refused(self, old: dict[str, Any], changed: frozenset[str]) -> bool:
        return old.get("attended_at") is not None

    def delete_refused(self) -> bool:
        return self.attended_at is not None
