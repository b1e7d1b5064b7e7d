"""Evidence for machines: each person's current required courses, as plain JSON-ready data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.catalog.models import Course, CourseVersion
from lms.clock import iso_utc
from lms.people.models import User
from lms.reports.queries import status_of
from lms.training.models import Assignment, Attestation, Exemption


def _courses(session: Session, user_ids: list[int], today: date) -> dict[int, list[dict[str, Any]]]:
    rows = session.execute(
        select(Assignment, Course.key, CourseVersion.sha256, Attestation)
        .join(Course, Course.id == Assignment.course_id)
        .join(CourseVersion, CourseVersion.id == Assignment.course_version_id)
        .outerjoin(Attestation, Attestation.assignment_id == Assignment.id)
        .where(
            Assignment.user_id.in_(user_ids),
            Assignment.superseded_at.is_(None),
            Assignment.ended_at.is_(None),
        )
        .order_by(Assignment.user_id, Course.key)
    )
    result: dict[int, list[dict[str, Any]]] = {i: [] for i in user_ids}
    in_force = {
        e.assignment_id: e
        for e in session.scalars(
            select(Exemption).where(Exemption.user_id.in_(user_ids), Exemption.ended_at.is_(None))
        )
    }
    for assignment, key, sha, attestation in rows:
        exemption = in_force.get(assignment.id)
        status = status_of(assignment.completed_at, assignment.due_on, today, exemption is not None)
        result[assignment.user_id].append(
            {
                "course": key,
                "cycle": assignment.cycle,
                "status": str(status),
                "completedVia": assignment.completed_via,
                "exemption": None
                if exemption is None
                else {
                    "reason": exemption.reason,
                    "grantedAt": iso_utc(exemption.created_at),
                    "expiresOn": exemption.expires_on.isoformat() if exemption.expires_on else None,
                },
                "dueOn": assignment.due_on.isoformat(),
                "completedAt": iso_utc(assignment.completed_at)
                if assignment.completed_at
                else None,
                "versionSha256": attestation.version_sha256 if attestation else sha,
                "score": attestation.score_percent if attestation else None,
                "attestedAt": iso_utc(attestation.signed_at) if attestation else None,
            }
        )
    return result


def _person(user: User, courses: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "externalId": user.external_id,
        "email": user.email,
        "name": user.full_name,
        "startDate": user.start_date.isoformat() if user.start_date else None,
        "active": user.active,
        # An exemption is not a completion, but it does not hold up onboarding either.
        "onboardingComplete": bool(courses)
        and all(c["status"] in ("complete", "exempt") for c in courses),
        "courses": courses,
    }


def person_evidence(session: Session, external_id: str, today: date) -> dict[str, Any] | None:
    user = session.scalar(select(User).where(User.external_id == external_id))
    if user is None:
        return None
    return _person(user, _courses(session, [user.id], today)[user.id])


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int


def cohort(session: Session, started_after: date, today: date, *, page: int, per_page: int) -> Page:
    """People whose start date is after `started_after`, by start date, one page of them."""
    condition = User.start_date > started_after
    total = session.scalar(select(func.count()).select_from(User).where(condition)) or 0
    users = list(
        session.scalars(
            select(User)
            .where(condition)
            .order_by(User.start_date, User.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    courses = _courses(session, [u.id for u in users], today)
    return Page([_person(u, courses[u.id]) for u in users], total)
