"""Reading the audit trail: filtered, paged, and exported without loading it all at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from lms.audit.models import AuditEvent
from lms.clock import iso_utc
from lms.people.models import User
from lms.reports import spreadsheet


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    actor_email: str | None = None
    subject_email: str | None = None
    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class AuditLine:
    id: int
    at: datetime
    action: str
    actor: str | None
    subject: str | None
    ip: str | None
    detail: dict[str, object]


def _query(filters: AuditFilter) -> Select:
    actor = aliased(User)
    subject = aliased(User)
    query = (
        select(AuditEvent, actor.email, subject.email)
        .outerjoin(actor, actor.id == AuditEvent.actor_id)
        .outerjoin(subject, subject.id == AuditEvent.subject_user_id)
    )
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.actor_email:
        query = query.where(actor.email == filters.actor_email.strip().lower())
    if filters.subject_email:
        query = query.where(subject.email == filters.subject_email.strip().lower())
    if filters.start:
        query = query.where(AuditEvent.at >= datetime.combine(filters.start, time.min, tzinfo=UTC))
    if filters.end:
        query = query.where(AuditEvent.at <= datetime.combine(filters.end, time.max, tzinfo=UTC))
    return query


def _line(event: AuditEvent, actor: str | None, subject: str | None) -> AuditLine:
    return AuditLine(event.id, event.at, event.action, actor, subject, event.ip, event.detail)


def page(
    session: Session, filters: AuditFilter, *, page: int, size: int = 50
) -> tuple[list[AuditLine], int]:
    """One page, newest first, and the number of matching events."""
    query = _query(filters)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(AuditEvent.id.desc()).offset((page - 1) * size).limit(size)
    )
    return [_line(*row) for row in rows], total


def actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


def export_csv(session: Session, filters: AuditFilter) -> Iterator[str]:
    """The filtered events as CSV text, a chunk of a thousand at a time."""
    yield spreadsheet.line(["id", "at_utc", "action", "actor", "subject", "ip", "detail"])
    result = session.execute(
        _query(filters).order_by(AuditEvent.id).execution_options(yield_per=1000)
    )
    for partition in result.partitions():
        yield "".join(
            spreadsheet.line(
                [
                    event.id,
                    iso_utc(event.at),
                    event.action,
                    actor,
                    subject,
                    event.ip,
                    json.dumps(event.detail, sort_keys=True, default=str),
                ]
            )
            for event, actor, subject in partition
        )
