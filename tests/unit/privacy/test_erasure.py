"""Erasure and retention: a leaver's personal data goes, their evidence stays and verifies."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.audit.service import record
from lms.evidence import checkpoints
from lms.evidence.models import LedgerEntry, LedgerPersonal, LedgerSubject
from lms.integrations.lti import platforms
from lms.integrations.lti.models import LtiLaunch, LtiUserLink
from lms.people.models import LoginSession, User
from lms.people.service import deactivate, start_login
from lms.privacy import erasure
from lms.reminders.models import OutboxMessage
from lms.reminders.outbox import enqueue
from lms.training.models import Attestation
from tests.company import Company
from tests.conftest import SECRET_KEY

RETENTION = 6 * 365 + 2


def leave(session: Session, person: User, at: datetime) -> None:
    deactivate(session, person, at)
    session.flush()


def test_an_active_person_is_never_erased(
    session: Session, company: Company, now: datetime
) -> None:
    with pytest.raises(erasure.StillActive):
        erasure.erase_person(session, company.a1, now=now, actor_id=None, reason="admin")
    assert company.a1.email == "ada.one@example.test"


def test_erasure_removes_personal_data_and_the_chain_still_verifies(
    session: Session, company: Company, now: datetime
) -> None:
    key = Ed25519PrivateKey.generate()
    person = company.a1  # passed and signed basics
    start_login(
        session,
        person,
        now=now,
        lifetime=timedelta(hours=1),
        ip="198.51.100.4",
        user_agent="Firefox",
    )
    enqueue(  # webhooks carry the person's address to the HR system
        session,
        key="webhook:test",
        kind="webhook",
        payload={"event": "course.completed", "data": {"person": {"email": person.email}}},
        now=now,
        domain="example.test",
    )
    record(
        session,
        action="person.update",
        now=now,
        subject_user_id=person.id,
        changes={"email": [person.email, "x"]},
    )
    enqueue(  # an LRS allowed to hold addresses names the person by one
        session,
        key="xapi:test",
        kind="xapi",
        payload={"statement": {"actor": {"mbox": f"mailto:{person.email}"}}},
        now=now,
        domain="example.test",
    )
    platform = platforms.register(
        session,
        platforms.PlatformDetails(
            name="LMS",
            issuer="https://lms.example.test",
            client_id="c",
            deployment_ids=["d"],
            auth_login_url="https://lms.example.test/a",
            auth_token_url="https://lms.example.test/t",
            key_set_url="https://lms.example.test/k",
        ),
        now,
        keys=SECRET_KEY,
    )
    link = {"platform_id": platform.id, "subject": "lms-7", "user_id": person.id}
    session.add(LtiUserLink(**link, created_at=now))
    session.add(
        LtiLaunch(**link, course_key="basics", deployment_id="d", ags_scopes=[], launched_at=now)
    )
    checkpoints.create(session, key, now)
    leave(session, person, now)

    erasure.erase_person(session, person, now=now, actor_id=company.admin.id, reason="admin")
    session.expire_all()

    assert person.email.endswith("@erased.invalid")
    assert person.full_name.startswith("Former employee ")
    assert (person.external_id, person.password_hash, person.start_date) == (None, None, None)
    signature = session.scalars(select(Attestation).where(Attestation.user_id == person.id)).one()
    assert (signature.typed_name, signature.ip, signature.user_agent) == ("", None, None)
    assert (signature.person_email, signature.person_name) == (None, None)
    assert signature.score_percent == 100  # the evidence itself stays
    subject = session.get_one(LedgerSubject, person.id)
    assert subject.digest_key is None
    assert subject.erased_at == now
    theirs = select(LedgerEntry.seq).where(LedgerEntry.person_ref == subject.ref)
    assert session.scalar(select(func.count()).where(LedgerPersonal.seq.in_(theirs))) == 0
    assert (
        session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.person_ref == subject.ref)
        )
        == 3
    )
    assert session.scalar(select(func.count()).where(LoginSession.user_id == person.id)) == 0
    hook = session.scalars(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == "webhook:test")
    ).one()
    assert hook.payload["data"]["person"]["email"] == person.email  # the pseudonym now
    statement = session.scalars(
        select(OutboxMessage).where(OutboxMessage.dedupe_key == "xapi:test")
    ).one()
    assert statement.payload["statement"]["actor"]["mbox"] == f"mailto:{person.email}"
    assert session.scalar(select(func.count()).where(LtiUserLink.user_id == person.id)) == 0
    assert session.scalars(select(LtiLaunch.subject)).all() == ["erased"]
    about = session.scalars(
        select(AuditEvent).where(
            AuditEvent.subject_user_id == person.id, AuditEvent.action == "person.update"
        )
    ).one()
    assert about.detail == {"erased": True}
    erased = session.scalars(select(AuditEvent).where(AuditEvent.action == "person.erase")).one()
    assert (erased.actor_id, erased.detail["reason"]) == (company.admin.id, "admin")
    # Neither the name nor the address; a random pseudonym in the detail may well hold "ada".
    detail = str(erased.detail).lower()
    assert "ada one" not in detail
    assert "ada.one@" not in detail

    assert checkpoints.verify(session, key.public_key()).ok


def test_erasing_twice_is_refused(session: Session, company: Company, now: datetime) -> None:
    leave(session, company.b1, now)
    erasure.erase_person(session, company.b1, now=now, actor_id=None, reason="admin")
    with pytest.raises(erasure.AlreadyErased):
        erasure.erase_person(session, company.b1, now=now, actor_id=None, reason="admin")


def test_the_database_still_refuses_any_other_change_to_a_signature(
    session: Session, company: Company
) -> None:
    with pytest.raises(DBAPIError), session.begin_nested():
        session.execute(text("UPDATE attestations SET score_percent = 1"))
    with pytest.raises(DBAPIError), session.begin_nested():
        session.execute(
            text(
                "UPDATE attestations SET typed_name = '', ip = NULL, user_agent = NULL, "
                "person_email = NULL, person_name = NULL, course_key = 'other'"
            )
        )
    with pytest.raises(DBAPIError), session.begin_nested():
        session.execute(text("DELETE FROM attestations"))


def test_the_retention_job_erases_only_leavers_past_the_period(
    session: Session, company: Company, now: datetime
) -> None:
    leave(session, company.a1, now - timedelta(days=RETENTION + 1))
    leave(session, company.b1, now - timedelta(days=365))
    assert erasure.erase_leavers_past_retention(session, now, RETENTION) == 1
    session.expire_all()
    assert company.a1.email.endswith("@erased.invalid")
    assert company.b1.email == "bea.bee@example.test"
    assert company.a2.email == "ari.two@example.test"  # still active
    assert erasure.erase_leavers_past_retention(session, now, RETENTION) == 0
