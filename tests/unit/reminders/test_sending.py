"""Reminders reach a real SMTP server: once each, in the right language, through failures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.reminders import outbox
from lms.reminders.models import OutboxMessage, OutboxStatus
from lms.reminders.service import enqueue_test_mail
from lms.training.cycles import assign_courses
from tests.smtp import SmtpSink
from tests.unit.reminders.conftest import Org, tick
from tests.unit.training.conftest import Learner

Clock = Callable[[datetime], None]


def _statuses(session: Session) -> Counter[str]:
    session.expire_all()
    return Counter(session.scalars(select(OutboxMessage.status)))


def test_sixty_days_every_stage_reaches_the_right_people_once(
    mail_app: Flask, session: Session, org: Org, smtp: SmtpSink, now: datetime, at: Clock
) -> None:
    assign_courses(session, now)  # due in 30 days for everyone in ops
    session.commit()
    log: list[tuple[int, tuple[str, ...], tuple[str, ...], str]] = []
    for day in range(61):
        at(now + timedelta(days=day, hours=1))
        if day == 5:
            learner = Learner(session, org.emp_done, org.course, now + timedelta(days=day))
            learner.pass_quiz()
            learner.sign()
            session.commit()
        before = len(smtp.received)
        tick(mail_app)
        tick(mail_app, "sweep")  # a second sweep the same day changes nothing
        for mail in smtp.received[before:]:
            to = tuple(sorted(a.strip() for a in mail.message["To"].split(",")))
            cc = tuple(sorted(a.strip() for a in (mail.message["Cc"] or "").split(",") if a))
            log.append((day, to, cc, mail.message["Subject"]))

    def sent_to(address: str) -> list[tuple[int, tuple[str, ...], tuple[str, ...]]]:
        return [(d, to, cc) for d, to, cc, _ in log if address in to or address in cc]

    hr, boss, mgr = "hr@example.test", "boss@example.test", "manager@example.test"
    for emp in ("en@example.test", "nb@example.test"):
        own = [(d, to, cc) for d, to, cc, s in log if emp in to]
        assert own == [(23, (emp,), ()), (30, (emp,), ()), (33, (emp,), (mgr,))]
        escalations = [
            (d, to, cc)
            for d, to, cc, subject in log
            if to == (mgr,) and (("Emma English" in subject) == (emp.startswith("en")))
        ]
        assert escalations == [
            (37, (mgr,), (hr,)),
            (44, (mgr,), (boss, hr)),
            (51, (mgr,), (boss, hr)),
            (58, (mgr,), (boss, hr)),
        ]
    assert sent_to("done@example.test") == []
    ids = [m.message_id for m in smtp.received]
    assert len(ids) == len(set(ids)) == 14  # 7 per overdue person, each exactly once

    languages = {d: s for d, to, _, s in log if to == ("nb@example.test",)}
    assert "Påminnelse" in languages[23]
    assert "Reminder" in {d: s for d, to, _, s in log if to == ("en@example.test",)}[23]
    assert _statuses(session)[OutboxStatus.SENT] == 14


def test_a_reminder_has_text_html_a_course_link_and_a_stable_message_id(
    mail_app: Flask, session: Session, org: Org, smtp: SmtpSink, now: datetime, at: Clock
) -> None:
    assign_courses(session, now)
    session.commit()
    at(now + timedelta(days=23))
    tick(mail_app)
    mail = next(m for m in smtp.received if m.envelope_to == ["en@example.test"])
    assert "https://vern.example/training/basics" in mail.text()
    assert 'href="https://vern.example/training/basics"' in mail.html()
    assert mail.message["From"] == "Vern <vern@example.test>"
    row = session.scalars(
        select(OutboxMessage).where(OutboxMessage.dedupe_key.like("reminder:%:due-7"))
    ).first()
    assert row is not None
    assert mail.message_id in {r.message_id for r in session.scalars(select(OutboxMessage))}


def test_smtp_down_then_back_loses_nothing_and_sends_nothing_twice(
    mail_app: Flask, session: Session, org: Org, smtp: SmtpSink, now: datetime, at: Clock
) -> None:
    assign_courses(session, now)
    session.commit()
    due_minus_7 = now + timedelta(days=23)
    at(due_minus_7)
    tick(mail_app, "sweep")
    smtp.stop()
    for minute in (0, 1, 3):
        at(due_minus_7 + timedelta(minutes=minute, seconds=1))
        tick(mail_app, "send")
    assert _statuses(session)[OutboxStatus.PENDING] == 3
    smtp.start()
    at(due_minus_7 + timedelta(hours=1))
    tick(mail_app, "send")
    tick(mail_app, "send")
    assert sorted(m.envelope_to[0] for m in smtp.received) == [
        "done@example.test",
        "en@example.test",
        "nb@example.test",
    ]
    assert _statuses(session)[OutboxStatus.SENT] == 3


def test_a_sender_that_dies_after_claiming_is_taken_over_when_its_lease_ends(
    mail_app: Flask,
    session: Session,
    database,
    org: Org,
    smtp: SmtpSink,
    now: datetime,  # noqa: ANN001
    at: Clock,
) -> None:
    assign_courses(session, now)
    session.commit()
    when = now + timedelta(days=23)
    at(when)
    tick(mail_app, "sweep")
    with database.transaction() as s:  # a worker claims the batch and is then killed
        dead = outbox.claim(s, worker="doomed", now=when, limit=100, lease=timedelta(minutes=5))
    assert len(dead.messages) == 3
    at(when + timedelta(minutes=1))
    tick(mail_app, "send")
    assert smtp.received == []
    at(when + timedelta(minutes=6))
    tick(mail_app, "send")
    assert len(smtp.received) == 3
    assert _statuses(session)[OutboxStatus.SENT] == 3


def test_a_reminder_for_a_course_completed_meanwhile_is_skipped(
    mail_app: Flask, session: Session, org: Org, smtp: SmtpSink, now: datetime, at: Clock
) -> None:
    assign_courses(session, now)
    session.commit()
    when = now + timedelta(days=23)
    at(when)
    tick(mail_app, "sweep")
    learner = Learner(session, org.emp_en, org.course, when)
    learner.pass_quiz()
    learner.sign()
    session.commit()
    tick(mail_app, "send")
    assert sorted(m.envelope_to[0] for m in smtp.received) == [
        "done@example.test",
        "nb@example.test",
    ]
    assert _statuses(session)[OutboxStatus.SKIPPED] == 1


def test_managers_who_chose_the_digest_get_one_weekly_mail_instead_of_copies(
    mail_app: Flask, session: Session, org: Org, smtp: SmtpSink, now: datetime, at: Clock
) -> None:
    org.manager.digest_opt_in = True
    session.commit()
    assign_courses(session, now)
    session.commit()
    monday = now + timedelta(days=(7 - now.weekday()) % 7)
    for day in range(45):
        when = now + timedelta(days=day, hours=1)
        at(when)
        tick(mail_app, "sweep", "send")
        if when.date() >= monday.date() and when.weekday() == 0:
            tick(mail_app, "digest", "send")
            tick(mail_app, "digest", "send")  # twice in one week: still one digest
    to_manager = [m for m in smtp.received if "manager@example.test" in m.envelope_to]
    digests = [m for m in to_manager if "digest" in m.message["Subject"].lower()]
    assert to_manager == digests
    assert len(digests) >= 3
    assert "Emma English" in digests[-1].text()
    assert "Nils Norsk" in digests[-1].text()
    escalations_to_hr = [m for m in smtp.received if m.message["To"] == "hr@example.test"]
    assert escalations_to_hr  # HR is still told when the manager takes the digest


def test_a_test_mail_goes_through_the_outbox_in_the_admins_language(
    mail_app: Flask, session: Session, org: Org, smtp: SmtpSink, now: datetime, at: Clock
) -> None:
    at(now)
    enqueue_test_mail(session, org.hr, now, domain="example.test")
    enqueue_test_mail(session, org.hr, now, domain="example.test")  # a second click sends again
    session.commit()
    tick(mail_app, "send")
    assert [m.message["To"] for m in smtp.received] == ["hr@example.test"] * 2
    assert {m.message["Subject"] for m in smtp.received} == {"Testmelding fra Vern"}
    assert "vern@example.test" in smtp.received[0].message["From"]
    assert _statuses(session) == Counter({OutboxStatus.SENT: 2})


def test_a_test_mail_for_someone_who_left_is_skipped_not_sent(
    mail_app: Flask, session: Session, org: Org, smtp: SmtpSink, now: datetime, at: Clock
) -> None:
    at(now)
    enqueue_test_mail(session, org.hr, now, domain="example.test")
    org.hr.active = False
    session.commit()
    tick(mail_app, "send")
    assert smtp.received == []
    assert _statuses(session) == Counter({OutboxStatus.SKIPPED: 1})
