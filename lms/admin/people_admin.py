"""Looking after people by hand: find them, change their details, roles and manager, let them
go or bring them back. Every change is audited with its before and after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from lms.audit.service import record
from lms.people.models import Department, Role, User
from lms.people.service import (
    create_user,
    deactivate,
    keep_an_active_admin,
    normalise_email,
    reactivate,
    set_manager,
    set_roles,
)
from lms.reminders.invitations import invite_due
from lms.training.cycles import assign_courses

PAGE_SIZE = 50
GRANTABLE = (Role.HR, Role.AUDITOR, Role.ADMIN)


class ReportsNeedAManager(Exception):
    """Deactivating someone with active reports needs someone to take them over."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} people report to this person")
        self.count = count


class UnknownPerson(LookupError):
    pass


def may_change(actor: User, person: User) -> bool:
    """Only an admin changes an admin (details, roles, leaving, coming back): HR could
    otherwise let every admin go and leave nobody to undo it."""
    return actor.has_role(Role.ADMIN) or not person.has_role(Role.ADMIN)


@dataclass(frozen=True)
class PeopleQuery:
    text: str = ""
    department: str = ""  # department key; "" for any
    status: str = "active"  # active | inactive | all


def search(session: Session, query: PeopleQuery, page: int) -> tuple[list[User], int]:
    """One page of people matching the query, by name; searched in the database."""
    conditions = []
    if query.text.strip():
        needle = f"%{query.text.strip().lower()}%"
        conditions.append(
            or_(
                func.lower(User.full_name).like(needle),
                User.email.like(needle),
                User.external_id == query.text.strip(),
            )
        )
    if query.department:
        conditions.append(User.department.has(Department.key == query.department))
    if query.status in ("active", "inactive"):
        conditions.append(User.active.is_(query.status == "active"))
    total = session.scalar(select(func.count()).select_from(User).where(*conditions)) or 0
    people = session.scalars(
        select(User)
        .where(*conditions)
        .order_by(User.full_name, User.id)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return list(people), total


def active_person_by_email(session: Session, email: str) -> User | None:
    return session.scalar(
        select(User).where(User.email == normalise_email(email), User.active.is_(True))
    )


def _snapshot(user: User) -> dict[str, Any]:
    return {
        "department": user.department.key if user.department else None,
        "manager": user.manager.email if user.manager else None,
        "start_date": user.start_date.isoformat() if user.start_date else None,
        "locale": user.locale,
        "roles": sorted(str(role) for role in user.roles),
    }


def update_person(
    session: Session,
    person: User,
    *,
    department: Department | None,
    manager: User | None,
    start_date: date | None,
    locale: str,
    roles: frozenset[Role] | None,
    actor_id: int,
    now: datetime,
) -> dict[str, list[Any]]:
    """Change a person's details; returns what changed (before, after), which is audited.
    `roles` None leaves them as they are (only admins may grant roles). A manager that would
    close a loop in the reporting chain is refused (people.service.ReportingCycle), and so is
    taking admin from the last active admin (people.service.LastActiveAdmin)."""
    before = _snapshot(person)
    set_manager(session, person, manager)
    person.department = department
    person.start_date = start_date
    person.locale = locale
    if roles is not None and roles != person.roles:
        set_roles(session, person, roles)  # refuses demoting the last active admin
    session.flush()
    after = _snapshot(person)
    changes = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
    if changes:
        record(
            session,
            action="person.update",
            now=now,
            actor_id=actor_id,
            subject_user_id=person.id,
            changes=changes,
        )
    return changes


def grant_role(
    session: Session, person: User, role: Role, *, actor_id: int | None, now: datetime
) -> bool:
    """Give `person` the role (audited); False if they had it already."""
    return _change_roles(session, person, person.roles | {role}, actor_id=actor_id, now=now)


def revoke_role(
    session: Session, person: User, role: Role, *, actor_id: int | None, now: datetime
) -> bool:
    """Take the role from `person` (audited); False if they did not have it. Admin is never
    taken from the last active admin (people.service.LastActiveAdmin)."""
    return _change_roles(session, person, person.roles - {role}, actor_id=actor_id, now=now)


def _change_roles(
    session: Session, person: User, roles: frozenset[Role], *, actor_id: int | None, now: datetime
) -> bool:
    before = sorted(str(role) for role in person.roles)
    if roles == person.roles:
        return False
    set_roles(session, person, roles)
    record(
        session,
        action="person.update",
        now=now,
        actor_id=actor_id,
        subject_user_id=person.id,
        changes={"roles": [before, sorted(str(role) for role in roles)]},
    )
    return True


@dataclass(frozen=True)
class NewPerson:
    email: str
    full_name: str
    department: Department | None
    manager: User | None
    start_date: date | None
    locale: str
    timezone: str


def add_person(
    session: Session,
    new: NewPerson,
    *,
    actor_id: int,
    now: datetime,
    preboarding_days: int | None,
    invite_days_before_start: int | None,
    mail_domain: str,
) -> User:
    """Add someone by hand: their courses are assigned as an import would, their invitation
    is queued now if it is due now (else the sweep queues it on its day); audited. A used
    email raises people.service.DuplicateEmail."""
    person = create_user(
        session,
        email=new.email,
        full_name=new.full_name,
        now=now,
        department=new.department,
        manager=new.manager,
        start_date=new.start_date,
        locale=new.locale,
        timezone=new.timezone,
    )
    assign_courses(session, now, user=person, preboarding_days=preboarding_days)
    invite_due(
        session, now, days_before_start=invite_days_before_start, domain=mail_domain, user=person
    )
    record(
        session,
        action="person.create",
        now=now,
        actor_id=actor_id,
        subject_user_id=person.id,
        **_snapshot(person),
    )
    return person


def direct_reports(session: Session, person: User) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .where(User.manager_id == person.id, User.active.is_(True))
            .order_by(User.full_name)
        )
    )


def deactivate_person(
    session: Session, person: User, *, reassign_to: User | None, actor_id: int, now: datetime
) -> int:
    """Let someone go: their active reports move to `reassign_to` (required if there are any),
    their logins end, reminders stop, history stays. Returns how many reports moved. The last
    active admin cannot leave (people.service.LastActiveAdmin)."""
    keep_an_active_admin(session, person)
    reports = direct_reports(session, person)
    if reports and reassign_to is None:
        raise ReportsNeedAManager(len(reports))
    for report in reports:
        set_manager(session, report, reassign_to)
    deactivate(session, person, now)
    record(
        session,
        action="person.deactivate",
        now=now,
        actor_id=actor_id,
        subject_user_id=person.id,
        reports_moved_to=reassign_to.email if reassign_to else None,
        reports_moved=len(reports),
    )
    return len(reports)


def reactivate_person(session: Session, person: User, *, actor_id: int, now: datetime) -> None:
    reactivate(session, person)
    record(
        session, action="person.reactivate", now=now, actor_id=actor_id, subject_user_id=person.id
    )
