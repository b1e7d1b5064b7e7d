"""Invitations: the sweep invites each new person once, when due, and the welcome mail says
what Vern is, what is due by when and how to sign in, in the person's language."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from lms.admin import people_import
from lms.admin.demo import create_demo
from lms.audit.models import AuditEvent
from lms.config import Settings
from lms.integrations.tokens import Scope, create_token
from lms.migrate import upgrade
from lms.people.models import User
from lms.people.service import create_user, deactivate, start_login
from lms.reminders import invitations
from lms.reminders.jobs import sweep_in
from lms.reminders.models import OutboxMessage, OutboxStatus
from lms.reminders.outbox import enqueue
from lms.training.cycles import assign_courses
from tests import factories
from tests.smtp import SmtpSink
from tests.unit.reminders.conftest import Org, tick

Clock = Callable[[datetime], None]


def _invitations(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == invitations.KIND)
            .order_by(OutboxMessage.id)
        )
    )


def _newcomer(session: Session, now: datetime, **details: object) -> User:
    return factories.user(session, now, invited=False, **details)  # type: ignore[arg-type]


def test_the_sweep_invites_a_new_person_once(
    session: Session, settings: Settings, now: datetime
) -> None:
    person = _newcomer(session, now, email="new@example.test")
    first = sweep_in(session, settings, now)
    second = sweep_in(session, settings, now + timedelta(minutes=15))
    rows = _invitations(session)
    assert [r.dedupe_key for r in rows] == [f"invitation:{person.id}:1"]
    assert rows[0].payload["to"] == [person.id]
    assert (first.invitations, second.invitations) == (1, 0)
    assert "invitations queued 1" in str(first)
    assert person.invited_at == now


def test_people_already_invited_and_leavers_are_not_invited(
    session: Session, settings: Settings, now: datetime
) -> None:
    factories.user(session, now)  # here before invitations (the migration marks them invited)
    leaver = _newcomer(session, now)
    deactivate(session, leaver, now)
    assert sweep_in(session, settings, now).invitations == 0
    assert _invitations(session) == []
    assert leaver.invited_at is None


def test_the_upgrade_counts_everyone_already_there_as_invited(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'invited.sqlite3'}"
    upgrade(url, "0020")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, email, full_name, locale, timezone, active, digest_opt_in,"
                " created_at) VALUES (1, 'kari@example.test', 'Kari Nordmann', 'nb',"
                " 'Europe/Oslo', 1, 0, '2026-03-02 09:30:00.000000')"
            )
        )
    upgrade(url)
    with engine.begin() as conn:
        invited_at = conn.execute(text("SELECT invited_at FROM users")).scalar_one()
    engine.dispose()
    assert invited_at == "2026-03-02 09:30:00.000000"


def test_invitations_wait_until_days_before_the_start_in_the_persons_time_zone(
    session: Session, settings: Settings
) -> None:
    settings = settings.with_overrides(invite_days_before_start=7)
    # 23:30 UTC on 2 March: already 3 March in Oslo, still 2 March in New York.
    late_evening = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    start = date(2026, 3, 10)
    oslo = _newcomer(session, late_evening, start_date=start)
    new_york = _newcomer(session, late_evening, start_date=start)
    new_york.timezone = "America/New_York"
    later = _newcomer(session, late_evening, start_date=date(2026, 6, 1))
    no_start = _newcomer(session, late_evening)

    sweep_in(session, settings, late_evening - timedelta(hours=1))  # 2 March everywhere
    assert {r.payload["to"][0] for r in _invitations(session)} == {no_start.id}
    sweep_in(session, settings, late_evening)
    assert {r.payload["to"][0] for r in _invitations(session)} == {no_start.id, oslo.id}
    sweep_in(session, settings, late_evening + timedelta(hours=6))  # 3 March in New York
    invited = {r.payload["to"][0] for r in _invitations(session)}
    assert invited == {no_start.id, oslo.id, new_york.id}
    assert later.id not in invited
    assert later.invited_at is None


def test_a_person_who_started_already_is_invited_at_once_even_with_a_timing_set(
    session: Session, settings: Settings, now: datetime
) -> None:
    settings = settings.with_overrides(invite_days_before_start=3)
    person = _newcomer(session, now, start_date=now.date() - timedelta(days=30))
    sweep_in(session, settings, now)
    assert [r.payload["to"] for r in _invitations(session)] == [[person.id]]


def test_an_admin_resend_adds_a_new_row_and_is_audited(
    session: Session, settings: Settings, now: datetime
) -> None:
    admin = factories.user(session, now)
    person = _newcomer(session, now)
    sweep_in(session, settings, now)
    assert invitations.send_invitation(session, person, now, domain="x.test", actor_id=admin.id)
    assert invitations.send_invitation(session, person, now, domain="x.test", actor_id=admin.id)
    keys = [r.dedupe_key for r in _invitations(session)]
    assert keys == [f"invitation:{person.id}:{n}" for n in (1, 2, 3)]
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "person.invite"))
    assert [(e.actor_id, e.subject_user_id) for e in events] == [(admin.id, person.id)] * 2


def test_an_admin_cannot_invite_a_leaver(session: Session, now: datetime) -> None:
    person = _newcomer(session, now)
    deactivate(session, person, now)
    try:
        invitations.send_invitation(session, person, now, domain="x.test", actor_id=person.id)
    except invitations.NotInvitable:
        pass
    else:
        raise AssertionError("a leaver was invited")
    assert _invitations(session) == []


def test_the_bulk_invitation_reaches_only_active_people_who_never_signed_in(
    session: Session, settings: Settings, now: datetime
) -> None:
    admin = factories.user(session, now)
    never = factories.user(session, now)
    new = _newcomer(session, now)
    signed_in = factories.user(session, now)
    leaver = factories.user(session, now)
    for person in (admin, signed_in):
        start_login(session, person, now=now, lifetime=timedelta(hours=1), ip=None, user_agent="")
    deactivate(session, leaver, now)
    sweep_in(session, settings, now)  # the newcomer's first invitation
    assert invitations.count_never_signed_in(session) == 2
    queued = invitations.invite_never_signed_in(session, now, domain="x.test", actor_id=admin.id)
    assert queued == 2
    keys = sorted(r.dedupe_key for r in _invitations(session))
    assert keys == sorted(
        [f"invitation:{new.id}:1", f"invitation:{new.id}:2", f"invitation:{never.id}:1"]
    )
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "people.invite")).one()
    assert (event.actor_id, event.detail) == (admin.id, {"queued": 2})


def test_the_welcome_mail_lists_what_is_due_in_each_persons_language(
    mail_app: Flask, session: Session, org: Org, smtp: SmtpSink, now: datetime
) -> None:
    ops = org.emp_en.department
    english = create_user(
        session, email="erin@example.test", full_name="Erin New", now=now, department=ops
    )
    norwegian = create_user(
        session,
        email="nora@example.test",
        full_name="Nora Ny",
        now=now,
        department=ops,
        locale="nb",
    )
    assign_courses(session, now)
    session.commit()
    tick(mail_app)
    mails = {m.envelope_to[0]: m for m in smtp.received}
    assert set(mails) == {english.email, norwegian.email}  # org's people were there before

    en = mails[english.email]
    assert en.message["Subject"] == "Welcome to Vern, your privacy and security training"
    assert "privacy and security training" in en.text()
    assert "- Course basics: due April 1, 2026" in en.text()
    assert "Email me a sign-in link" in en.text()
    sign_in = "https://vern.example/login?email=erin%40example.test&next=%2Ftraining"
    assert en.link(re.escape(sign_in)) == sign_in  # in the text and, the same, in the HTML
    assert "<li>Course basics: due" in en.html()

    nb = mails[norwegian.email]
    assert nb.message["Subject"].startswith("Velkommen til Vern")
    assert "- Kurs basics: frist 1. april 2026" in nb.text()
    assert "Send meg en innloggingslenke" in nb.text()
    session.expire_all()
    statuses = {r.status for r in _invitations(session)}
    assert statuses == {OutboxStatus.SENT}


def test_a_person_with_nothing_assigned_yet_hears_that_training_will_appear(
    mail_app: Flask, session: Session, org: Org, smtp: SmtpSink, now: datetime
) -> None:
    create_user(session, email="solo@example.test", full_name="Solo Person", now=now)
    session.commit()
    tick(mail_app)
    (mail,) = smtp.received
    assert "Your training will appear in Vern" in mail.text()
    assert "due" not in mail.text().split("Your training will appear")[0]


def test_a_person_who_left_before_the_mail_went_out_is_not_mailed(
    mail_app: Flask, session: Session, org: Org, smtp: SmtpSink, now: datetime
) -> None:
    person = create_user(session, email="gone@example.test", full_name="Gone Soon", now=now)
    session.commit()
    tick(mail_app, "sweep")
    deactivate(session, session.get_one(User, person.id), now)
    session.commit()
    tick(mail_app, "send")
    assert smtp.received == []
    assert [r.status for r in _invitations(session)] == [OutboxStatus.SKIPPED]


def test_people_from_every_way_in_are_invited_and_the_demo_people_are_not(
    mail_app: Flask, session: Session, settings: Settings, smtp: SmtpSink, now: datetime
) -> None:
    create_demo(session, now)  # `make run` on a fresh machine: no mail to the demo company
    plan = people_import.parse(
        "external_id,email,full_name,locale\nW-7,csv.person@example.test,Csv Person,nb\n"
    )
    people_import.apply(session, plan, now, actor_id=None)
    _, token = create_token(session, name="Entra ID", scope=Scope.SCIM, now=now)
    session.commit()
    # Microsoft Entra ID's documented first request (roles and all), through Vern's SCIM.
    created = mail_app.test_client().post(
        "/scim/v2/Users",
        json={
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            ],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_00aa00aa@contoso.example",
            "active": True,
            "emails": [{"primary": True, "type": "work", "value": "entra.person@example.test"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "Entra Person", "familyName": "Person", "givenName": "Entra"},
            "roles": [],
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    tick(mail_app)
    assert sorted(m.envelope_to[0] for m in smtp.received) == [
        "csv.person@example.test",
        "entra.person@example.test",
    ]
    assert not any(m.envelope_to[0].endswith("demo.vern.example") for m in smtp.received)


def test_two_resends_at_the_same_moment_queue_one_mail(session: Session, now: datetime) -> None:
    admin = factories.user(session, now)
    person = _newcomer(session, now)
    # A row under the number this click is about to take (1 row so far: number 2), as if
    # another click took it between this one's count and its insert.
    enqueue(
        session,
        key=f"invitation:{person.id}:2",
        kind=invitations.KIND,
        payload={"to": [person.id]},
        now=now,
        domain="x.test",
    )
    queued = invitations.send_invitation(session, person, now, domain="x.test", actor_id=admin.id)
    assert queued is False
    assert [r.dedupe_key for r in _invitations(session)] == [f"invitation:{person.id}:2"]
