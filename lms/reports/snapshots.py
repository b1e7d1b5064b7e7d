"""Keep the stored tallies current: the tallies job refreshes today's and records each day."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import delete, exists, insert, select
from sqlalchemy.orm import Session

from lms.reports.models import TallySnapshot
from lms.reports.queries import Group, current_groups_both, day_groups


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
            "exempt": exempt,
        }
        for department, course, total, complete, overdue, soon, exempt in groups
    ]


def refresh_current(session: Session, now: datetime) -> int:
    """Replace the current tallies (with and without leavers) by fresh ones."""
    today = now.date()
    active_only, with_leavers = current_groups_both(session, today)
    rows = _rows("current", today, now, False, active_only) + _rows(
        "current", today, now, True, with_leavers
    )
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


def refresh(session: Session, now: datetime) -> str:
    """The `tallies` job: record yesterday if that is not done yet, refresh today's."""
    recorded = record_day(session, now.date() - timedelta(days=1), now)
    groups = refresh_current(session, now)
    return f"{groups} tally rows stored" + (", yesterday recorded" if recorded else "")
