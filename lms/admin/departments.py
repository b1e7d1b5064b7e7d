"""Departments by hand: create, rename, merge (people and course audiences follow), archive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lms.audit.service import record
from lms.people.models import Department, User
from lms.people.service import is_department_key


class DepartmentError(Exception):
    """A department change that cannot be made; `reason` says which rule refused it."""

    def __init__(self, reason: str, people: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason  # bad_key | key_taken | no_name | bad_target | not_empty
        self.people = people


@dataclass(frozen=True)
class DepartmentLine:
    department: Department
    people: int  # active members


def departments(session: Session) -> list[DepartmentLine]:
    counts = dict(
        session.execute(
            select(User.department_id, func.count())
            .where(User.active.is_(True))
            .group_by(User.department_id)
        ).all()
    )
    return [
        DepartmentLine(d, int(counts.get(d.id, 0)))
        for d in session.scalars(
            select(Department).order_by(Department.archived_at.is_not(None), Department.name)
        )
    ]


def create(session: Session, key: str, name: str, *, actor_id: int, now: datetime) -> Department:
    key, name = key.strip(), " ".join(name.split())
    if not is_department_key(key):
        raise DepartmentError("bad_key")
    if session.scalar(select(Department.id).where(Department.key == key)):
        raise DepartmentError("key_taken")
    if not name:
        raise DepartmentError("no_name")
    department = Department(key=key, name=name)
    session.add(department)
    session.flush()
    record(session, action="department.create", now=now, actor_id=actor_id, key=key, name=name)
    return department


def rename(
    session: Session, department: Department, name: str, *, actor_id: int, now: datetime
) -> None:
    name = " ".join(name.split())
    if not name:
        raise DepartmentError("no_name")
    record(
        session,
        action="department.rename",
        now=now,
        actor_id=actor_id,
        key=department.key,
        changes={"name": [department.name, name]},
    )
    department.name = name
    session.flush()


def merge(
    session: Session, source: Department, target: Department, *, actor_id: int, now: datetime
) -> int:
    """Move everyone from `source` to `target` and archive `source`; courses meant for
    `source` stay meant for its people. Returns how many people moved."""
    if source.id == target.id or target.archived_at is not None:
        raise DepartmentError("bad_target")
    result = session.execute(
        update(User)
        .where(User.department_id == source.id)
        .values(department_id=target.id)
        .execution_options(synchronize_session=False)
    )
    moved = result.rowcount or 0  # type: ignore[attr-defined]
    # Departments merged into `source` earlier now point at `target` too.
    session.execute(
        update(Department)
        .where(Department.merged_into_id == source.id)
        .values(merged_into_id=target.id)
    )
    source.merged_into_id = target.id
    source.archived_at = now
    session.flush()
    session.expire_all()
    record(
        session,
        action="department.merge",
        now=now,
        actor_id=actor_id,
        source=source.key,
        target=target.key,
        people=moved,
    )
    return int(moved)


def archive(session: Session, department: Department, *, actor_id: int, now: datetime) -> None:
    active = (
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.department_id == department.id, User.active.is_(True))
        )
        or 0
    )
    if active:
        raise DepartmentError("not_empty", people=active)
    department.archived_at = now
    session.flush()
    record(session, action="department.archive", now=now, actor_id=actor_id, key=department.key)
