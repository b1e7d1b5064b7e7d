"""Erasing a leaver's personal data while their evidence keeps proving itself.

What goes: their name, address and ids on the person record, the name they typed and the IP
address and browser on their signatures, their logins, their address wherever an outbox
message carried it (webhooks, xAPI statements naming people by address; mail names people by
id), which account in an LMS was theirs, the details of audit events about
them, and the key of their ledger digests (so no one can test a guess of what they typed
against the chain). What stays: the ledger entries (a random reference, never their name),
the course versions, scores and times. The chain still verifies, and the organisation's
numbers still add up.

It runs for every leaver past the retention period (a daily job), or for one person when an
admin asks; an active person is never erased."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, cast, delete, exists, select, update
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.audit.service import record
from lms.config import Settings
from lms.db import Database
from lms.evidence.ledger import subject_for
from lms.evidence.models import LedgerEntry, LedgerPersonal, LedgerSubject
from lms.integrations.lti.models import LtiLaunch, LtiUserLink
from lms.integrations.scim.models import ScimUserDetail
from lms.people.models import LoginSession, SignInToken, User
from lms.people.sso.service import forget_person as forget_sso_identity
from lms.reminders.models import OutboxMessage
from lms.training.models import Attestation


class StillActive(Exception):
    """An active person's data is in use; they must leave first."""


class AlreadyErased(Exception):
    pass


def is_erased(session: Session, user: User) -> bool:
    subject = session.get(LedgerSubject, user.id)
    return subject is not None and subject.erased_at is not None


def erase_person(
    session: Session, person: User, *, now: datetime, actor_id: int | None, reason: str
) -> None:
    """Pseudonymise one leaver (see the module's description); audited without their name."""
    if person.active:
        raise StillActive(person.id)
    if is_erased(session, person):
        raise AlreadyErased(person.id)
    subject = subject_for(session, person.id, now)
    old_email = person.email
    _forget_ledger_personal_fields(session, subject, now)
    session.execute(
        update(Attestation)
        .where(Attestation.user_id == person.id)
        .values(typed_name="", ip=None, user_agent=None, person_email=None, person_name=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(LoginSession).where(LoginSession.user_id == person.id))
    session.execute(delete(SignInToken).where(SignInToken.user_id == person.id))
    _pseudonymise_record(person, subject.ref)
    _scrub_outbox(session, old_email, person.email)
    _forget_lms_identity(session, person.id)
    forget_sso_identity(session, person.id)
    # The start instant, locale and time zone their identity provider sent.
    session.execute(delete(ScimUserDetail).where(ScimUserDetail.user_id == person.id))
    _scrub_audit(session, person.id)
    session.flush()
    record(
        session, action="person.erase", now=now, actor_id=actor_id, subject_user_id=person.id,
        reason=reason, ledger_ref=subject.ref,
    )  # fmt: skip


def _forget_ledger_personal_fields(session: Session, subject: LedgerSubject, now: datetime) -> None:
    theirs = select(LedgerEntry.seq).where(LedgerEntry.person_ref == subject.ref)
    session.execute(delete(LedgerPersonal).where(LedgerPersonal.seq.in_(theirs)))
    subject.digest_key = None
    subject.erased_at = now


def _pseudonymise_record(person: User, ref: str) -> None:
    person.email = f"erased-{ref}@erased.invalid"
    person.full_name = f"Former employee {ref[:8]}"
    person.password_hash = None
    for field in (
        "external_id",
        "scim_user_name",
        "formatted_name",
        "given_name",
        "family_name",
        "display_name",
        "email_type",
        "email_primary",
        "preferred_language",
        "employee_number",
        "start_date",
    ):
        setattr(person, field, None)


def _replaced(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {key: _replaced(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_replaced(item, old, new) for item in value]
    if value == f"mailto:{old}":  # an xAPI actor named by address
        return f"mailto:{new}"
    return new if value == old else value


def _forget_lms_identity(session: Session, user_id: int) -> None:
    """Which account in the company's LMS was theirs: the link goes, launches keep no id."""
    session.execute(delete(LtiUserLink).where(LtiUserLink.user_id == user_id))
    session.execute(
        update(LtiLaunch)
        .where(LtiLaunch.user_id == user_id)
        .values(subject="erased")
        .execution_options(synchronize_session=False)
    )


def _scrub_outbox(session: Session, old_email: str, new_email: str) -> None:
    """Messages that carried their address (webhooks to the HR system) keep their place in the
    history, with the pseudonym instead."""
    pattern = "%" + old_email.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    mentioning = select(OutboxMessage).where(
        cast(OutboxMessage.payload, Text).like(pattern, escape="\\")
    )
    for message in session.scalars(mentioning):
        message.payload = _replaced(message.payload, old_email, new_email)


def _scrub_audit(session: Session, user_id: int) -> None:
    """Who looked at their record and when stays; what the details said about them goes."""
    session.execute(
        update(AuditEvent)
        .where(AuditEvent.subject_user_id == user_id)
        .values(detail={"erased": True})
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(AuditEvent)
        .where(AuditEvent.actor_id == user_id)
        .values(ip=None)
        .execution_options(synchronize_session=False)
    )


def leavers_past_retention(session: Session, now: datetime, retention_days: int) -> list[User]:
    cutoff = now - timedelta(days=retention_days)
    erased = exists().where(LedgerSubject.user_id == User.id, LedgerSubject.erased_at.is_not(None))
    return list(
        session.scalars(
            select(User)
            .where(User.active.is_(False), User.deactivated_at < cutoff, ~erased)
            .order_by(User.id)
        )
    )


def erase_leavers_past_retention(session: Session, now: datetime, retention_days: int) -> int:
    """The daily retention job: every leaver whose retention period is over."""
    leavers = leavers_past_retention(session, now, retention_days)
    for person in leavers:
        erase_person(session, person, now=now, actor_id=None, reason="retention")
    return len(leavers)


def run_retention(settings: Settings, database: Database, now: datetime) -> str:
    with database.transaction() as session:
        erased = erase_leavers_past_retention(session, now, settings.retention_days)
    return f"{erased} leavers past {settings.retention_days} days erased"
