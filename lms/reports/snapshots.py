"""Keep the stored tallies current: the sweep refreshes today's and records each finished day."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import delete, exists, insert, select
from sqlalchemy.orm import Session

from lms.reports.models import TallySnapshot
from lms.reports.queries import Group, current_groups, day_groups


def _rows(
    kind: str, day: date, now: datetime, include_leavers: bool, groups: list[Group]
) -> list[dict[str, object]]:
    return [
        {
            "kind": kind,
            "day": day,
            "taken_at": now,
            "include_leavers": include_leavers,
            "department": department,
            "course_key": course,
            "total": total,
            "complete": complete,
            "overdue": overdue,
            "due_soon": soon,
        }
        for department, course, total, complete, overdue, soon in groups
    ]


def refresh_current(session: Session, now: datetime) -> int:
    """Replace the current tallies (with and without leavers) by fresh ones."""
    today = now.date()
    rows = [
        row
        for include_leavers in (False, True)
        for row in _rows(
            "current",
            today,
            now,
            include_leavers,
            current_groups(session, today, include_leavers=include_leavers),
        )
    ]
    session.execute(delete(TallySnapshot).where(TallySnapshot.kind == "current"))
    if rows:
        session.execute(insert(TallySnapshot), rows)
    return len(rows)


def record_day(session: Session, day: date, now: datetime) -> bool:
    """Store the end-of-day tallies for `day` once it is over; False if already stored."""
    if day >= now.date():
        raise ValueError(f"{day} is not over yet")
    if session.scalar(
        select(exists().where(TallySnapshot.kind == "day", TallySnapshot.day == day))
    ):
        return False
    rows = _rows("day", day, now, False, day_groups(session, day))
    if rows:
        session.execute(insert(TallySnapshot), rows)
    return True


def record_finished_days(session: Session, now: datetime) -> int:
    """The sweep's part: record yesterday (and nothing more, so a tick stays cheap)."""
    return int(record_day(session, now.date() - timedelta(days=1), now))
