"""Attestations: only after passing, bound to version and statement, append-only, chained."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from lms.db import AppendOnlyViolation
from lms.training import rules, service
from lms.training.cycles import assign_courses
from lms.training.models import Attestation
from tests import factories
from tests.unit.training.conftest import Learner


def test_cannot_sign_before_passing(learner: Learner) -> None:
    learner.read_all()
    with pytest.raises(service.NotPassed):
        learner.sign()


def test_signature_records_version_statement_and_context(learner: Learner) -> None:
    learner.user.locale = "nb"
    passed = learner.pass_quiz()
    attestation = learner.sign()

    statement = learner.definition.attestation["nb"]
    assert attestation.user_id == learner.user.id
    assert attestation.course_key == "basics"
    assert attestation.version_sha256 == learner.definition.sha256
    assert attestation.language == "nb"
    assert attestation.statement == statement
    assert attestation.statement_sha256 == hashlib.sha256(statement.encode()).hexdigest()
    assert attestation.typed_name == "Kari Nordmann"
    assert attestation.signed_at == learner.now
    assert (attestation.ip, attestation.user_agent) == ("192.0.2.7", "pytest")
    assert attestation.quiz_attempt_id == passed.id
    assert attestation.score_percent == 100
    progress = learner.progress()
    assert progress.stage is rules.Stage.COMPLETE
    assert progress.percent == 100
    assert progress.assignment.completed_at == learner.now


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"agreed": False}, "agree"),
        ({"typed_name": "Someone Else"}, "typed_name"),
        ({"statement_sha256": "0" * 64}, "statement"),
    ],
)
def test_invalid_signature_is_refused_and_writes_nothing(
    learner: Learner, overrides: dict[str, object], field: str
) -> None:
    learner.pass_quiz()
    with pytest.raises(service.AttestationInvalid) as caught:
        learner.sign(**overrides)
    assert caught.value.field == field
    assert learner.progress().attestation is None
    assert learner.progress().assignment.completed_at is None


def test_signing_twice_is_refused(learner: Learner) -> None:
    learner.pass_quiz()
    learner.sign()
    with pytest.raises(service.AlreadyAttested):
        learner.sign()


def test_attestations_cannot_be_changed_or_deleted_through_the_orm(learner: Learner) -> None:
    learner.pass_quiz()
    attestation = learner.sign()
    attestation.typed_name = "Forged Name"
    with pytest.raises(AppendOnlyViolation):
        learner.session.flush()
    learner.session.rollback()


def test_database_refuses_update_and_delete_of_attestations(learner: Learner) -> None:
    learner.pass_quiz()
    attestation_id = learner.sign().id
    for statement in (
        "UPDATE attestations SET typed_name = 'Forged' WHERE id = :id",
        "DELETE FROM attestations WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="append-only"), learner.session.begin_nested():
            learner.session.execute(text(statement), {"id": attestation_id})
    assert learner.session.get(Attestation, attestation_id) is not None


def test_a_signature_is_chained_once_in_the_ledger_whose_entry_is_its_record(
    learner: Learner,
) -> None:
    learner.pass_quiz()
    first = learner.sign()
    colleague = factories.user(learner.session, learner.now, name="Ola Nordmann")
    assign_courses(learner.session, learner.now)
    other = Learner(learner.session, colleague, learner.definition, learner.now)
    other.pass_quiz()
    second = other.sign()

    assert not hasattr(first, "hash")  # no chain of its own
    assert not hasattr(first, "prev_hash")
    one = service.ledger_entry_of(learner.session, first)
    two = service.ledger_entry_of(learner.session, second)
    assert one is not None
    assert two is not None
    assert (one.record, two.record) == (f"attestation:{first.id}", f"attestation:{second.id}")
    assert two.seq > one.seq


def test_someone_elses_attestation_looks_missing(learner: Learner) -> None:
    learner.pass_quiz()
    attestation = learner.sign()
    stranger = factories.user(learner.session, learner.now)
    with pytest.raises(service.NotFound):
        service.attestation_for_user(learner.session, attestation.id, stranger)
    assert (
        service.attestation_for_user(learner.session, attestation.id, learner.user) is attestation
    )
