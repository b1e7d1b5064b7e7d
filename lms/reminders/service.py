"""Decide which reminders, escalations and digests are owed, and write them to the outbox.

Runs inside the sweep's transaction. Each (assignment cycle, stage) and each (manager, week)
has one outbox key, so running twice, late, or in two processes at once adds nothing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from lms.catalog.definition import ReminderPolicy
from lms.catalog.models import CourseVersion
from lms.people.models import Role, User
from lms.people.service import users_with_role
from lms.reminders import ladder
from lms.reminders.ladder import Stage, StageKind
from lms.reminders.outbox import enqueue
from lms.training.exemptions import exempt_now
from lms.training.models import Assignment


@dataclass
class Recipients:
    to: list[int] = field(default_factory=list)
    cc: list[int] = field(default_factory=list)


def recipients_for(
    stage: Stage, employee: User, people: dict[int, User], hr_ids: list[int]
) -> Recipients:
    """Who gets a stage's message; managers who chose the weekly digest get no single mails."""
    manager = people.get(employee.manager_id) if employee.manager_id else None
    wants_mail = manager is not None and manager.active and not manager.digest_opt_in
    if stage.kind is StageKind.REMINDER:
        return Recipients(to=[employee.id])
    if stage.kind is StageKind.COPY:
        return Recipients(to=[employee.id], cc=[manager.id] if manager and wants_mail else [])
    result = Recipients(to=[manager.id] if manager and wants_mail else [], cc=list(hr_ids))
    if stage.skip_level and manager is not None and manager.manager_id:
        skip = people.get(manager.manager_id)
        if skip is not None and skip.active and not skip.digest_opt_in:
            result.cc.append(skip.id)
    result.cc = [i for i in dict.fromkeys(result.cc) if i not in result.to and i != employee.id]
    if not result.to and result.cc:
        result.to, result.cc = result.cc[:1], result.cc[1:]
    return result


def _people_around(session: Session, employees: list[User]) -> dict[int, User]:
    """Managers and their managers of these employees, loaded in two queries."""
    people = {u.id: u for u in employees}
    wanted = {u.manager_id for u in employees if u.manager_id is not None} - set(people)
    for _ in range(2):
        if not wanted:
            break
        for person in session.scalars(select(User).where(User.id.in_(wanted))):
            people[person.id] = person
        wanted = {
            manager_id
            for i in wanted
            if i in people and (manager_id := people[i].manager_id) is not None
        } - set(people)
    return people


def enqueue_due_reminders(session: Session, now: datetime, *, domain: str) -> int:
    """Write the latest due stage of every open cycle that needs looking at today."""
    today = now.date()
    rows = session.execute(
        select(Assignment, User, CourseVersion.id)
        .join(User, User.id == Assignment.user_id)
        .join(CourseVersion, CourseVersion.id == Assignment.course_version_id)
        .where(
            Assignment.next_reminder_on <= today,
            Assignment.completed_at.is_(None),
            Assignment.ended_at.is_(None),
            Assignment.superseded_at.is_(None),
            User.active.is_(True),
            ~exempt_now(),  # an exempt cycle is not chased while the exemption lasts
        )
        .order_by(Assignment.id)
    ).all()
    if not rows:
        return 0
    people = _people_around(session, [user for _, user, _ in rows])
    hr_ids = [u.id for u in users_with_role(session, Role.HR)]
    policies: dict[int, ReminderPolicy] = {}
    written = 0
    for assignment, employee, version_id in rows:
        if version_id not in policies:
            policies[version_id] = assignment.course_version.definition.reminders
        policy = policies[version_id]
        stage = ladder.latest_stage(policy, assignment.due_on, today)
        if stage is not None:
            recipients = recipients_for(stage, employee, people, hr_ids)
            if recipients.to:
                written += enqueue(
                    session,
                    key=f"reminder:{assignment.id}:{stage.key}",
                    kind="reminder",
                    payload=_reminder_payload(assignment, stage, recipients),
                    now=now,
                    domain=domain,
                )
        assignment.next_reminder_on = ladder.next_stage_on(policy, assignment.due_on, today)
    session.flush()
    return written


def _reminder_payload(
    assignment: Assignment, stage: Stage, recipients: Recipients
) -> dict[str, Any]:
    return {
        "assignment_id": assignment.id,
        "stage": stage.key,
        "stage_kind": str(stage.kind),
        "offset": stage.offset,
        "to": recipients.to,
        "cc": recipients.cc,
    }


class NotOverdue(Exception):
    """Only an open, overdue cycle can be nudged."""


def enqueue_nudge(
    session: Session, assignment: Assignment, manager: User, now: datetime, *, domain: str
) -> bool:
    """A manager's personal reminder to one person; at most one per cycle and day.

    Returns False if one was already sent today; raises NotOverdue for anything else."""
    if assignment.completed_at is not None or assignment.due_on >= now.date():
        raise NotOverdue(assignment.id)
    if session.scalar(select(exempt_now()).where(Assignment.id == assignment.id)):
        raise NotOverdue(assignment.id)
    return enqueue(
        session,
        key=f"nudge:{assignment.id}:{now.date().isoformat()}",
        kind="reminder",
        payload={
            "assignment_id": assignment.id,
            "stage": "nudge",
            "stage_kind": "nudge",
            "offset": (now.date() - assignment.due_on).days,
            "to": [assignment.user_id],
            "cc": [],
            "from_manager": manager.id,
        },
        now=now,
        domain=domain,
    )


def enqueue_test_mail(session: Session, admin: User, now: datetime, *, domain: str) -> None:
    """A test mail to the admin who asked, through the same outbox and sender as reminders.

    The key is unique per request, so every click sends one; the outbox page shows how it went."""
    enqueue(
        session,
        key=f"test:{admin.id}:{now.isoformat()}:{secrets.token_hex(4)}",
        kind="test",
        payload={"to": [admin.id], "requested_at": now.isoformat()},
        now=now,
        domain=domain,
    )


def enqueue_weekly_digests(session: Session, now: datetime, *, domain: str) -> int:
    """One digest per week to each manager who chose it; its content is read when it is sent."""
    year, week, _ = now.date().isocalendar()
    reports = aliased(User)
    managers = session.scalars(
        select(User.id).where(
            User.active.is_(True),
            User.digest_opt_in.is_(True),
            exists().where(reports.manager_id == User.id, reports.active.is_(True)),
        )
    ).all()
    written = 0
    for manager_id in managers:
        written += enqueue(
            session,
            key=f"digest:{manager_id}:{year}-W{week:02d}",
            kind="digest",
            payload={"manager_id": manager_id, "week": f"{year}-W{week:02d}"},
            now=now,
            domain=domain,
        )
    return written
