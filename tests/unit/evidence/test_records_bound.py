"""Evidence bound to the ledger: every record HR and auditors see (signatures, quiz results,
live-session attendance, exemptions) must still say what its entry says, and every entry must
still have its record. Someone with SQL access and the append-only triggers dropped edits the
record, not the chain: verification names the table, the row and the field."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from lms.evidence import binding, ledger, packs
from lms.evidence.models import LedgerEntry
from lms.evidence.pack_evidence import evidence_problems
from lms.privacy.erasure import erase_person
from lms.reports import queries
from lms.reports.evidence import evidence_json
from lms.training import evidence_lines, exemptions, live_sessions, service
from lms.training.evidence_lines import verify_records
from lms.training.models import Assignment, Attestation, QuizAttempt
from tests import factories
from tests.company import Company
from tests.unit.training.conftest import Learner

GUARDED = (
    "attestations",
    "quiz_attempts",
    "ledger_entries",
    "ledger_personal",
    "exemptions",
    "live_seats",
    "live_sessions",
)


def tamper(session: Session, sql: str, **values: object) -> None:
    """Change a table as someone with full database access would: its guards lifted first."""
    if session.get_bind().dialect.name == "sqlite":
        triggers = session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        for name in list(triggers):
            session.execute(text(f"DROP TRIGGER {name}"))
        session.execute(text("PRAGMA defer_foreign_keys = ON"))
    else:
        for table in GUARDED:
            session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        session.execute(text("SET CONSTRAINTS ALL DEFERRED"))
    session.execute(text(sql), values)
    session.expire_all()


def where(session: Session) -> tuple[str, object, str] | None:
    problem = verify_records(session)
    return None if problem is None else (problem.table, problem.row_id, problem.field)


@pytest.fixture
def signed(learner: Learner, session: Session) -> Attestation:
    """A failed attempt, a passed one, and the signature: the learner's whole history."""
    learner.read_all()
    failed = learner.start(seed=1)
    service.submit_attempt(session, failed, learner.answers(failed, right=False), learner.now)
    learner.pass_quiz()
    return learner.sign()


def test_an_untouched_history_verifies_and_every_entry_carries_its_record_line(
    session: Session, signed: Attestation
) -> None:
    assert verify_records(session) is None
    entries = session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)).all()
    assert all(entry.evidence for entry in entries)
    attestation = binding.fields_of(entries[2].evidence or "")
    assert attestation["score_percent"] == str(signed.score_percent)
    assert attestation["statement"] == hashlib.sha256(signed.statement.encode()).hexdigest()
    assert signed.typed_name not in (entries[2].evidence or "")  # only under the keyed digest


def test_the_chain_s_own_pass_agrees_on_an_untouched_history_without_the_full_comparison(
    session: Session, signed: Attestation, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(_: Session) -> None:
        raise AssertionError("an untouched history fell back to the full comparison")

    monkeypatch.setattr(evidence_lines, "_verify_records_fully", full)
    check = evidence_lines.RecordsCheck(session)
    good, _, problem = ledger.verify_chain(session, set(), observe=check.entry)
    assert (good, problem) == (4, None)
    assert check.agreed
    assert check.result() is None


def test_an_erased_person_s_signature_is_checked_row_by_row_in_the_chain_s_pass(
    session: Session,
    signed: Attestation,
    learner: Learner,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    learner.user.active = False
    learner.user.deactivated_at = now
    session.flush()
    erase_person(session, learner.user, now=now, actor_id=None, reason="test")
    session.flush()

    def full(_: Session) -> None:
        raise AssertionError("one erased person sent the whole check to the full comparison")

    monkeypatch.setattr(evidence_lines, "_verify_records_fully", full)
    check = evidence_lines.RecordsCheck(session)
    ledger.verify_chain(session, set(), observe=check.entry)
    assert check.agreed
    assert check.result() is None


def test_the_chain_s_own_pass_names_what_the_full_comparison_names(
    session: Session, signed: Attestation
) -> None:
    tamper(session, "UPDATE attestations SET department = 'Elsewhere' WHERE id = :id", id=signed.id)
    check = evidence_lines.RecordsCheck(session)
    ledger.verify_chain(session, set(), observe=check.entry)
    assert not check.agreed
    mismatch = check.result()
    assert mismatch is not None
    assert (mismatch.table, mismatch.row_id, mismatch.field) == (
        "attestations",
        signed.id,
        "department",
    )


@pytest.mark.parametrize(
    ("column", "value", "field"),
    [
        ("score_percent", 55, "score_percent"),
        ("typed_name", "Someone Else", "typed_name"),
        ("statement", "I agree to nothing.", "statement"),
        ("signed_at", "2020-01-01 00:00:00.000000", "signed_at"),
        ("department", "Another department", "department"),
        ("person_name", "Someone Else", "person_name"),
    ],
)
def test_an_edited_signature_is_named_by_table_row_and_field(
    session: Session, signed: Attestation, column: str, value: object, field: str
) -> None:
    sql = f"UPDATE attestations SET {column} = :v WHERE id = :id"  # noqa: S608 - a test's own
    tamper(session, sql, v=value, id=signed.id)
    if field == "person_name":
        field = "personal_person"  # name and address are held under the person's key
    assert where(session) == ("attestations", signed.id, field)


def test_a_signature_moved_to_another_person_is_named(
    session: Session, signed: Attestation, now: datetime
) -> None:
    other = factories.user(session, now, name="Someone Else", email="someone@example.test")
    tamper(session, "UPDATE attestations SET user_id = :u WHERE id = :id", u=other.id, id=signed.id)
    assert where(session) == ("attestations", signed.id, "user_id")


def test_a_deleted_signature_leaves_its_entries_without_a_record(
    session: Session, signed: Attestation
) -> None:
    tamper(session, "DELETE FROM attestations WHERE id = :id", id=signed.id)
    assert where(session) == ("ledger_entries", 3, "record")


def test_a_record_whose_entry_was_deleted_is_named(session: Session, signed: Attestation) -> None:
    tamper(session, "DELETE FROM ledger_personal WHERE seq = 3")
    tamper(session, "DELETE FROM ledger_entries WHERE seq >= 3")
    assert where(session) == ("attestations", signed.id, "")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("score_percent", 100),
        ("answers", '{"q1": ["a"]}'),
        ("passed", True),
        ("submitted_at", "2020-01-01 00:00:00.000000"),
    ],
)
def test_an_edited_quiz_result_is_named(
    session: Session, signed: Attestation, column: str, value: object
) -> None:
    failed = session.scalar(select(QuizAttempt).where(QuizAttempt.passed.is_(False)))
    assert failed is not None
    sql = f"UPDATE quiz_attempts SET {column} = :v WHERE id = :id"  # noqa: S608 - a test's own
    tamper(session, sql, v=value, id=failed.id)
    assert where(session) == ("quiz_attempts", failed.id, column)


def test_a_quiz_result_moved_to_another_assignment_is_named(
    session: Session, signed: Attestation, now: datetime
) -> None:
    failed = session.scalar(select(QuizAttempt).where(QuizAttempt.passed.is_(False)))
    assert failed is not None
    other = factories.user(session, now, name="Someone Else", email="someone@example.test")
    tamper(
        session,
        "UPDATE assignments SET user_id = :u WHERE id = :id",
        u=other.id,
        id=failed.assignment_id,
    )
    assert where(session) == ("quiz_attempts", failed.id, "user_id")


def test_edited_personal_fields_kept_apart_are_named(session: Session, signed: Attestation) -> None:
    tamper(session, "UPDATE ledger_personal SET typed_name = 'Someone Else' WHERE seq = 3")
    assert where(session) == ("ledger_personal", 3, "typed_name")
    # Both copies changed alike still disagree with the entry's keyed digest (which field,
    # the digest cannot tell once the copies agree).
    tamper(session, "UPDATE attestations SET typed_name = 'Someone' WHERE id = :i", i=signed.id)
    tamper(session, "UPDATE ledger_personal SET typed_name = 'Someone' WHERE seq = 3")
    assert where(session) == ("ledger_personal", 3, "typed_name, ip or user_agent")


def test_an_erased_person_still_verifies_but_not_a_name_put_back(
    session: Session, signed: Attestation, learner: Learner, now: datetime
) -> None:
    learner.user.active = False
    learner.user.deactivated_at = now
    session.flush()
    erase_person(session, learner.user, now=now, actor_id=None, reason="test")
    session.flush()
    assert verify_records(session) is None
    tamper(session, "UPDATE attestations SET typed_name = 'Ada' WHERE id = :i", i=signed.id)
    assert where(session) == ("attestations", signed.id, "typed_name")


def test_an_entry_made_before_records_had_lines_is_checked_by_its_own_columns(
    session: Session, signed: Attestation
) -> None:
    # As migration 0024 found them: no line, hashed without it (so the chain still holds).
    values = {name: None for name in ledger.FIELDS}
    values["seq"] = 1
    legacy = ledger.entry_hash(tuple(values.values()))
    without = tuple(v for name, v in values.items() if name != "evidence")
    line = "\x1f".join("" if v is None else str(v) for v in without)
    assert legacy == hashlib.sha256(line.encode()).hexdigest()
    tamper(session, "UPDATE ledger_entries SET evidence = NULL")
    assert verify_records(session) is None
    tamper(session, "UPDATE attestations SET score_percent = 55 WHERE id = :i", i=signed.id)
    assert where(session) == ("attestations", signed.id, "score_percent")


def test_exemptions_and_their_end_are_bound(
    session: Session, company: Company, now: datetime
) -> None:
    cycle = next(a for a, key in exemptions.exemptable_cycles(session, company.a2) if key == "crm")
    granted = exemptions.grant(
        session,
        company.a2,
        cycle.id,
        reason="Holds a current CIPP/E certificate",
        expires_on=None,
        actor_id=company.hr.id,
        now=now,
    )
    exemptions.revoke(session, granted, actor_id=company.hr.id, now=now + timedelta(days=1))
    assert verify_records(session) is None
    reason = granted.reason
    tamper(session, "UPDATE exemptions SET reason = 'Said so' WHERE id = :i", i=granted.id)
    assert where(session) == ("exemptions", granted.id, "reason")
    tamper(session, "UPDATE exemptions SET reason = :r WHERE id = :i", r=reason, i=granted.id)
    tamper(session, "UPDATE exemptions SET end_reason = 'expired' WHERE id = :i", i=granted.id)
    assert where(session) == ("exemptions", granted.id, "end_reason")


def test_an_attendance_is_bound(session: Session, company: Company, now: datetime) -> None:
    live = live_sessions.schedule(
        session,
        course_key="crm",
        starts_at=now + timedelta(days=1),
        minutes=60,
        place="Room 4",
        instructor="Ingrid Instructor",
        capacity=5,
        actor_id=company.hr.id,
        now=now,
    )
    seat = live_sessions.sign_up(session, live, company.a2, now)
    later = now + timedelta(days=2)
    live_sessions.record_attendance(
        session, live, {company.a2.id}, actor_id=company.hr.id, now=later
    )
    assert verify_records(session) is None
    tamper(session, "UPDATE live_sessions SET place = 'Elsewhere' WHERE id = :i", i=live.id)
    assert where(session) == ("live_seats", seat.id, "place")


def test_a_completion_cannot_be_claimed_by_an_unbound_attestation(
    session: Session, signed: Attestation
) -> None:
    assignment = session.get(Assignment, signed.assignment_id)
    assert assignment is not None
    tamper(session, "DELETE FROM ledger_entries WHERE seq = 4")  # the completion
    assert where(session) == ("attestations", signed.id, "")


def test_a_pack_s_attendance_and_exemptions_are_checked_against_its_entries(
    session: Session, company: Company, now: datetime
) -> None:
    live = live_sessions.schedule(
        session,
        course_key="crm",
        starts_at=now + timedelta(days=1),
        minutes=60,
        place="Room 4",
        instructor="Ingrid Instructor",
        capacity=5,
        actor_id=company.hr.id,
        now=now,
    )
    live_sessions.sign_up(session, live, company.a2, now)
    later = now + timedelta(days=2)
    live_sessions.record_attendance(
        session, live, {company.a2.id}, actor_id=company.hr.id, now=later
    )
    cycle = next(a for a, key in exemptions.exemptable_cycles(session, company.a2))
    granted = exemptions.grant(
        session,
        company.a2,
        cycle.id,
        reason="Holds a current CIPP/E certificate",
        expires_on=None,
        actor_id=company.hr.id,
        now=later,
    )
    exemptions.revoke(session, granted, actor_id=company.hr.id, now=later + timedelta(days=1))
    record = queries.person_record(
        session, company.hr, company.a2.id, later.date(), organisation=True
    )
    assert record is not None
    evidence = evidence_json(record, later)
    entries = packs.entries_of_person(session, company.a2.id)
    document = json.loads(packs.ledger_document(session, entries, company.a2.id))

    def problems() -> list[str]:
        return evidence_problems(json.dumps(evidence).encode(), document)

    assert problems() == []
    attended = next(c for c in evidence["courses"] if c["live_session"])["live_session"]
    attended["place"] = "Elsewhere"
    assert any("live_session.place differs" in p for p in problems()), problems()
    attended["place"] = "Room 4"
    exempted = next(c for c in evidence["courses"] if c["exemptions"])["exemptions"][0]
    exempted["ended_because"] = "expired"
    assert any("exemptions[0].ended_because differs" in p for p in problems()), problems()
    exempted["ended_because"], exempted["reason"] = "revoked", "Said so"
    assert any("exemptions[0].reason differs" in p for p in problems()), problems()


def test_a_cycle_marked_complete_without_its_completion_entry_is_named(
    session: Session, signed: Attestation, learner: Learner, now: datetime
) -> None:
    tamper(
        session,
        "UPDATE assignments SET completed_at = :at WHERE id = :i",
        at=(now + timedelta(days=1)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        if session.get_bind().dialect.name == "sqlite"
        else now + timedelta(days=1),
        i=signed.assignment_id,
    )
    assert where(session) == ("assignments", signed.assignment_id, "completed_at")


def test_an_entry_re_pointed_at_something_that_is_no_record_is_named(
    session: Session, signed: Attestation
) -> None:
    first = session.scalars(select(QuizAttempt.id).order_by(QuizAttempt.id)).first()
    tamper(session, "UPDATE ledger_entries SET record = 'attempt:x1' WHERE seq = 1")
    assert where(session) == ("quiz_attempts", first, "")  # the attempt lost its entry
    # ...and the entry names no row (PostgreSQL would refuse to cast 'x1' as a number).
    orphan = evidence_lines._orphans(session)
    assert orphan is not None
    assert (orphan.table, orphan.row_id, orphan.field) == ("ledger_entries", 1, "record")
