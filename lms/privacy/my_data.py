"""Everything Vern holds about one person, for that person (GDPR Art. 15 and 20).

Only their own rows: other people appear by role at most (who looked at their record is
part of what they may know; the colleague's own name is not)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session, joinedload

from lms.audit.models import AuditEvent
from lms.clock import iso_utc
from lms.evidence import packs
from lms.evidence.models import LedgerEntry, LedgerPersonal, LedgerSubject
from lms.integrations.lti.models import LtiLaunch, LtiPlatform
from lms.integrations.scim.models import ScimUserDetail
from lms.people.models import LoginSession, User
from lms.people.sso.service import accounts_of as sso_accounts
from lms.reminders.models import OutboxMessage
from lms.reminders.outbox import MAIL_KINDS
from lms.training.models import Assignment, Attestation, ModuleView, QuizAttempt

FORMAT = "vern-my-data-1"


def _utc(moment: datetime | None) -> str | None:
    return iso_utc(moment) if moment else None


def my_data(session: Session, user: User, now: datetime) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "generated_at": _utc(now),
        "profile": _profile(session, user),
        "assignments": _assignments(session, user),
        "attestations": _attestations(session, user),
        "mail_sent_to_you": _mail(session, user),
        "logins": _logins(session, user),
        "lms_launches": _lms_launches(session, user),
        "sign_in_accounts": _sign_in_accounts(session, user),
        "audit_events_about_you": _audit(session, user),
        "ledger": _ledger(session, user),
    }


def _lms_launches(session: Session, user: User) -> list[dict[str, Any]]:
    """Courses opened from the company's LMS, and which account there was theirs."""
    rows = session.execute(
        select(LtiLaunch, LtiPlatform.name)
        .join(LtiPlatform, LtiPlatform.id == LtiLaunch.platform_id)
        .where(LtiLaunch.user_id == user.id)
        .order_by(LtiLaunch.id)
    )
    return [
        {
            "lms": platform,
            "your_id_there": launch.subject,
            "course": launch.course_key,
            "opened_at": _utc(launch.launched_at),
            "score_goes_to": launch.lineitem_url,
        }
        for launch, platform in rows
    ]


def _sign_in_accounts(session: Session, user: User) -> list[dict[str, Any]]:
    """Which account at the company's identity provider signs them in (single sign-on)."""
    return [
        {
            "provider": provider,
            "your_id_there": identity.subject,
            "linked_at": _utc(identity.created_at),
            "last_sign_in_at": _utc(identity.last_sign_in_at),
        }
        for identity, provider in sso_accounts(session, user.id)
    ]


def _profile(session: Session, user: User) -> dict[str, Any]:
    sent = session.get(ScimUserDetail, user.id)
    return {
        "id": user.id,
        "email": user.email,
        "name": user.full_name,
        "department": user.department.name if user.department else None,
        "manager": user.manager.full_name if user.manager else None,
        "start_date": user.start_date.isoformat() if user.start_date else None,
        "language": user.locale,
        "timezone": user.timezone,
        "roles": sorted(str(role) for role in user.roles),
        "active": user.active,
        "left_at": _utc(user.deactivated_at),
        "created_at": _utc(user.created_at),
        "weekly_digest": user.digest_opt_in,
        "from_your_employer_s_systems": {
            "external_id": user.external_id,
            "user_name": user.scim_user_name,
            "given_name": user.given_name,
            "family_name": user.family_name,
            "formatted_name": user.formatted_name,
            "display_name": user.display_name,
            "preferred_language": user.preferred_language,
            "employee_number": user.employee_number,
            "start": _utc(sent.start_at) if sent else None,
            "locale": sent.locale if sent else None,
            "timezone": sent.timezone if sent else None,
        },
    }


def _assignments(session: Session, user: User) -> list[dict[str, Any]]:
    assignments = list(
        session.scalars(
            select(Assignment)
            .where(Assignment.user_id == user.id)
            .order_by(Assignment.id)
            .options(joinedload(Assignment.course_version))
        )
    )
    ids = [a.id for a in assignments]
    views: dict[int, list[ModuleView]] = defaultdict(list)
    for view in session.scalars(select(ModuleView).where(ModuleView.assignment_id.in_(ids))):
        views[view.assignment_id].append(view)
    attempts: dict[int, list[QuizAttempt]] = defaultdict(list)
    for attempt in session.scalars(
        select(QuizAttempt).where(QuizAttempt.assignment_id.in_(ids)).order_by(QuizAttempt.number)
    ):
        attempts[attempt.assignment_id].append(attempt)
    return [
        {
            "course": assignment.course_version.definition.key,
            "cycle": assignment.cycle,
            "version_sha256": assignment.course_version.sha256,
            "assigned_at": _utc(assignment.assigned_at),
            "due_on": assignment.due_on.isoformat(),
            "completed_at": _utc(assignment.completed_at),
            "ended_at": _utc(assignment.ended_at),
            "modules_read": [
                {"module": view.module_slug, "at": _utc(view.viewed_at)}
                for view in views[assignment.id]
            ],
            "quiz_attempts": [
                {
                    "number": attempt.number,
                    "language": attempt.language,
                    "started_at": _utc(attempt.started_at),
                    "submitted_at": _utc(attempt.submitted_at),
                    "questions_served": attempt.served,
                    "your_answers": attempt.answers,
                    "correct": attempt.correct_count,
                    "score_percent": attempt.score_percent,
                    "passed": attempt.passed,
                }
                for attempt in attempts[assignment.id]
            ],
        }
        for assignment in assignments
    ]


def _attestations(session: Session, user: User) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Attestation).where(Attestation.user_id == user.id).order_by(Attestation.id)
    ).all()
    entries = {
        entry.record: entry
        for entry in session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.kind == "attestation",
                LedgerEntry.record.in_([f"attestation:{row.id}" for row in rows]),
            )
        )
    }
    return [
        {
            "course": row.course_key,
            "version_sha256": row.version_sha256,
            "language": row.language,
            "statement": row.statement,
            "statement_sha256": row.statement_sha256,
            "score_percent": row.score_percent,
            "typed_name": row.typed_name,
            "signed_at": _utc(row.signed_at),
            "ip": row.ip,
            "user_agent": row.user_agent,
            "ledger_record": f"attestation:{row.id}",
            "ledger_hash": _entry_hash(entries, row.id),
        }
        for row in rows
    ]


def _entry_hash(entries: dict[str, LedgerEntry], attestation_id: int) -> str | None:
    entry = entries.get(f"attestation:{attestation_id}")
    return None if entry is None else entry.hash


def _mail(session: Session, user: User) -> list[dict[str, Any]]:
    """Mails that named the person as a recipient. Mail in the outbox names people by id;
    the text search narrows the rows, the lists decide."""
    candidates = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.kind.in_(MAIL_KINDS),
            cast(OutboxMessage.payload, Text).like(f"%{user.id}%"),
        )
        .order_by(OutboxMessage.id)
    )
    result = []
    for message in candidates:
        to = message.payload.get("to") or [message.payload.get("manager_id")]  # a digest
        cc = message.payload.get("cc", [])
        if user.id not in to and user.id not in cc:
            continue
        result.append(
            {
                "kind": message.kind,
                "stage": message.payload.get("stage"),
                "created_at": _utc(message.created_at),
                "sent_at": _utc(message.sent_at),
                "status": message.status,
                "you_were": "recipient" if user.id in to else "in copy",
            }
        )
    return result


def _logins(session: Session, user: User) -> list[dict[str, Any]]:
    logins = session.scalars(
        select(LoginSession).where(LoginSession.user_id == user.id).order_by(LoginSession.id)
    )
    return [
        {
            "started_at": _utc(login.created_at),
            "ended_at": _utc(login.ended_at),
            "last_seen_at": _utc(login.last_seen_at),
            "ip": login.ip,
            "user_agent": login.user_agent,
        }
        for login in logins
    ]


def _role_of(session: Session, actor_id: int | None, user: User) -> str:
    if actor_id is None:
        return "system"
    if actor_id == user.id:
        return "you"
    actor = session.get(User, actor_id)
    if actor is None:
        return "someone"
    if actor.roles:
        return ", ".join(sorted(str(role) for role in actor.roles))
    return "your manager" if actor.id == user.manager_id else "a manager in your line"


def _audit(session: Session, user: User) -> list[dict[str, Any]]:
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.subject_user_id == user.id).order_by(AuditEvent.id)
    )
    return [
        {
            "at": _utc(event.at),
            "action": event.action,
            "by": _role_of(session, event.actor_id, user),
        }
        for event in events
    ]


def _ledger(session: Session, user: User) -> dict[str, Any]:
    subject = session.get(LedgerSubject, user.id)
    entries = packs.entries_of_person(session, user.id)
    personal = {
        row.seq: row
        for row in session.scalars(
            select(LedgerPersonal).where(LedgerPersonal.seq.in_([e.seq for e in entries]))
        )
    }
    return {
        "your_reference": subject.ref if subject else None,
        "entries": [
            {
                **packs.entry_document(entry),
                "your_personal_fields": None
                if entry.seq not in personal
                else {
                    "typed_name": personal[entry.seq].typed_name,
                    "ip": personal[entry.seq].ip,
                    "user_agent": personal[entry.seq].user_agent,
                },
            }
            for entry in entries
        ],
    }
