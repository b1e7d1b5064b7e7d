"""Exemptions: shown as exempt (never complete), not chased, audited; when they end the course
is back on the person's list with a fresh due date."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.reminders.models import OutboxMessage
from lms.reminders.service import enqueue_due_reminders
from lms.reports import queries
from lms.reports.queries import Status
from lms.training import exemptions
from lms.training.models import Assignment
from tests.company import Company


def open_cycle(session: Session, company: Company, course: str = "crm") -> Assignment:
    return next(a for a, key in exemptions.exemptable_cycles(session, company.a2) if key == course)


def exempt(session: Session, company: Company, now: datetime, **overrides: object):  # noqa: ANN201
    values: dict[str, object] = {
        "reason": "Holds a current CIPP/E certificate",
        "expires_on": None,
        "actor_id": company.hr.id,
        "now": now,
    }
    values.update(overrides)
    cycle = open_cycle(session, company)
    return exemptions.grant(session, company.a2, cycle.id, **values)  # type: ignore[arg-type]


def reminders_for(session: Session, assignment_id: int, now: datetime) -> int:
    enqueue_due_reminders(session, now, domain="example.test")
    messages = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reminder"))
    return sum(m.payload["assignment_id"] == assignment_id for m in messages)


def test_an_exempt_course_shows_as_exempt_never_complete(
    session: Session, company: Company, now: datetime
) -> None:
    exemption = exempt(session, company, now)
    record = queries.person_record(
        session, company.hr, company.a2.id, now.date(), organisation=True
    )
    assert record is not None
    crm = next(c for c in record.cycles if c.course_key == "crm")
    assert crm.status is Status.EXEMPT
    assert crm.completed_at is None
    assert crm.exemptions == [exemption]
    team = queries.team_view(session, company.lead_a, now.date(), queries.Filters())
    ari = next(r for r in team.rows if r.user_id == company.a2.id)
    assert ari.cells["crm"].status is Status.EXEMPT
    overview = queries.organisation_overview(session, now.date())
    crm_tally = next(t for t in overview.by_course if t.label == "crm")
    assert crm_tally.exempt == 1
    assert crm_tally.complete == 0
    assert crm_tally.percent == 0  # nobody complete among the others still required
    assert company.a2.id not in {
        line.user_id
        for line in queries.overdue_list(session, now.date())
        if line.course_key == "crm"
    }


def test_granting_is_audited_and_an_exempt_course_is_not_chased(
    session: Session, company: Company, now: datetime
) -> None:
    exemption = exempt(session, company, now)
    assert reminders_for(session, exemption.assignment_id, now) == 0
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "exemption.grant")).one()
    assert (event.actor_id, event.subject_user_id) == (company.hr.id, company.a2.id)
    assert event.detail["course"] == "crm"
    assert event.detail["reason"] == "Holds a current CIPP/E certificate"


def test_an_expired_exemption_puts_the_course_back_with_a_fresh_due_date(
    session: Session, company: Company, now: datetime
) -> None:
    exemption = exempt(session, company, now, expires_on=now.date() + timedelta(days=10))
    assert exemptions.expire_due(session, now + timedelta(days=9)) == 0
    later = now + timedelta(days=10)
    assert exemptions.expire_due(session, later) == 1
    assert (exemption.end_reason, exemption.ended_at) == ("expired", later)
    cycle = exemption.assignment
    assert cycle.due_on == later.date() + timedelta(days=30)  # the course's due_days
    record = queries.person_record(
        session, company.hr, company.a2.id, later.date(), organisation=True
    )
    assert record is not None
    assert next(c for c in record.cycles if c.course_key == "crm").status is Status.OPEN
    assert cycle.next_reminder_on == later.date()
    assert reminders_for(session, cycle.id, later + timedelta(days=30)) > 0  # chased again
    assert session.scalars(select(AuditEvent).where(AuditEvent.action == "exemption.expire")).one()


def test_revoking_ends_it_now_and_is_audited(
    session: Session, company: Company, now: datetime
) -> None:
    exemption = exempt(session, company, now)
    assert exemptions.revoke(session, exemption, actor_id=company.admin.id, now=now)
    assert exemption.end_reason == "revoked"
    assert not exemptions.revoke(session, exemption, actor_id=company.admin.id, now=now)
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "exemption.revoke")).one()
    assert event.actor_id == company.admin.id


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"expires_on": date(2020, 1, 1)}, "expires_on"),
    ],
)
def test_bad_exemptions_are_refused_with_the_field_at_fault(
    session: Session, company: Company, now: datetime, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(exemptions.ExemptionRefused) as refused:
        exempt(session, company, now, **overrides)
    assert refused.value.field == field


def test_a_completed_or_already_exempt_course_cannot_be_exempted(
    session: Session, company: Company, now: datetime
) -> None:
    exemption = exempt(session, company, now)
    with pytest.raises(exemptions.ExemptionRefused):
        exemptions.grant(
            session, company.a2, exemption.assignment_id, reason="again", expires_on=None,
            actor_id=None, now=now,
        )  # fmt: skip
    done = next(
        a
        for a in session.scalars(select(Assignment).where(Assignment.user_id == company.a1.id))
        if a.completed_at is not None
    )
    with pytest.raises(exemptions.ExemptionRefused):
        exemptions.grant(
            session, company.a1, done.id, reason="x", expires_on=None, actor_id=None, now=now
        )


def test_nobody_approves_their_own_exemption(
    session: Session, company: Company, now: datetime
) -> None:
    with pytest.raises(exemptions.SelfApproval):
        exempt(session, company, now, actor_id=company.a2.id)
    assert exemptions.exemptions_of(session, company.a2) == []
    assert exempt(session, company, now, actor_id=company.hr.id).user_id == company.a2.id
