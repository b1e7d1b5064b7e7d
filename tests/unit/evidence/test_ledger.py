"""The evidence ledger: what each action appends, and that verification catches every kind of
tampering someone with write access to the database could try."""

from __future__ import annotations

import hashlib
import hmac
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from lms.config import Settings
from lms.db import Database
from lms.evidence import checkpoints, jobs, keys, ledger
from lms.evidence.models import LedgerEntry, LedgerPersonal, LedgerSubject
from lms.people.models import User
from lms.training import service
from tests import factories
from tests.unit.training.conftest import Learner


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def entries(session: Session) -> list[LedgerEntry]:
    return list(session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)))


def tamper(session: Session, sql: str, **values: object) -> None:
    """Change the ledger as someone with full database access would: triggers off first."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("DROP TRIGGER IF EXISTS ledger_entries_no_update"))
        session.execute(text("DROP TRIGGER IF EXISTS ledger_entries_no_delete"))
        session.execute(text("PRAGMA defer_foreign_keys = ON"))
    else:
        session.execute(
            text("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only")
        )
        session.execute(text("SET CONSTRAINTS ALL DEFERRED"))
    session.execute(text(sql), values)
    session.expire_all()


def first_bad(session: Session, key: Ed25519PrivateKey) -> int | None:
    result = checkpoints.verify(session, key.public_key())
    return result.problem.seq if result.problem else None


@pytest.fixture
def history(session: Session, learner: Learner, key: Ed25519PrivateKey, now: datetime) -> Learner:
    """A failed quiz, a passed one and a signature (four entries), signed at the end."""
    learner.read_all()
    failed = learner.start(seed=1)
    service.submit_attempt(session, failed, learner.answers(failed, right=False), now)
    learner.pass_quiz()
    learner.sign()
    checkpoints.create(session, key, now)
    return learner


def test_each_action_appends_a_chained_entry_without_personal_data(
    session: Session, history: Learner
) -> None:
    chain = entries(session)
    assert [(e.seq, e.kind) for e in chain] == [
        (1, "quiz_result"),
        (2, "quiz_result"),
        (3, "attestation"),
        (4, "completion"),
    ]
    assert chain[0].prev_hash == ledger.GENESIS
    links = zip(chain, chain[1:], strict=False)
    assert all(later.prev_hash == earlier.hash for earlier, later in links)
    assert [e.score for e in chain] == [0, 100, 100, 100]
    attestation = history.progress().attestation
    assert attestation is not None
    assert [e.record.split(":")[0] for e in chain] == ["attempt", "attempt"] + ["attestation"] * 2
    assert chain[3].record == f"attestation:{attestation.id}"
    subject = session.get_one(LedgerSubject, history.user.id)
    assert {e.person_ref for e in chain} == {subject.ref}
    every_value = " ".join(str(getattr(e, c.key)) for e in chain for c in LedgerEntry.__table__.c)
    assert history.user.email not in every_value
    assert history.user.full_name not in every_value
    assert "192.0.2.7" not in every_value


def test_the_personal_fields_live_apart_under_a_keyed_digest(
    session: Session, history: Learner
) -> None:
    signed = entries(session)[2]
    personal = session.get_one(LedgerPersonal, signed.seq)
    assert (personal.typed_name, personal.ip, personal.user_agent) == (
        history.user.full_name,
        "192.0.2.7",
        "pytest",
    )
    subject = session.get_one(LedgerSubject, history.user.id)
    assert subject.digest_key is not None
    fields = "\x1f".join([history.user.full_name, "192.0.2.7", "pytest"]).encode()
    expected = hmac.new(bytes.fromhex(subject.digest_key), fields, hashlib.sha256).hexdigest()
    assert signed.personal_digest == expected


def test_an_intact_ledger_verifies(
    session: Session, history: Learner, key: Ed25519PrivateKey
) -> None:
    result = checkpoints.verify(session, key.public_key())
    assert (result.ok, result.entries, result.checkpoints) == (True, 4, 1)


def test_editing_one_field_of_an_old_entry_is_named(
    session: Session, history: Learner, key: Ed25519PrivateKey
) -> None:
    tamper(session, "UPDATE ledger_entries SET score = 90 WHERE seq = 2")
    assert first_bad(session, key) == 2


def test_an_edit_with_every_later_hash_recomputed_still_fails_the_signature(
    session: Session, history: Learner, key: Ed25519PrivateKey
) -> None:
    """A careful forger rehashes the rest of the chain; the signed head no longer matches."""
    tamper(session, "UPDATE ledger_entries SET score = 90 WHERE seq = 2")
    previous = entries(session)[0].hash
    for entry in entries(session)[1:]:
        values = tuple(getattr(entry, name) for name in ledger.FIELDS[:-1]) + (previous,)
        new_hash = ledger.entry_hash(values)
        tamper(
            session,
            "UPDATE ledger_entries SET prev_hash = :prev, hash = :hash WHERE seq = :seq",
            prev=previous,
            hash=new_hash,
            seq=entry.seq,
        )
        previous = new_hash
    assert checkpoints.verify(session, key.public_key()).problem is not None
    assert first_bad(session, key) == 4  # the checkpoint's head


def test_deleting_an_entry_is_named(
    session: Session, history: Learner, key: Ed25519PrivateKey
) -> None:
    tamper(session, "DELETE FROM ledger_entries WHERE seq = 2")
    assert first_bad(session, key) == 2


def test_reordering_entries_is_named(
    session: Session, history: Learner, key: Ed25519PrivateKey
) -> None:
    tamper(session, "UPDATE ledger_entries SET seq = seq + 100 WHERE seq IN (1, 2)")
    tamper(session, "UPDATE ledger_entries SET seq = 1 WHERE seq = 102")
    tamper(session, "UPDATE ledger_entries SET seq = 2 WHERE seq = 101")
    assert first_bad(session, key) == 1


def test_a_cut_off_tail_is_caught_against_the_last_checkpoint(
    session: Session, history: Learner, key: Ed25519PrivateKey
) -> None:
    tamper(session, "DELETE FROM ledger_personal WHERE seq >= 3")
    tamper(session, "DELETE FROM ledger_entries WHERE seq >= 3")
    result = checkpoints.verify(session, key.public_key())
    assert result.problem is not None
    assert result.problem.seq == 3
    assert "checkpoint" in result.problem.reason


def test_another_public_key_fails_every_signature(session: Session, history: Learner) -> None:
    stranger = Ed25519PrivateKey.generate()
    result = checkpoints.verify(session, stranger.public_key())
    assert result.problem is not None
    assert "not signed by this public key" in result.problem.reason


def test_a_checkpoint_is_only_signed_when_the_head_moved(
    session: Session, history: Learner, key: Ed25519PrivateKey, now: datetime
) -> None:
    assert checkpoints.create(session, key, now) is None


def test_two_writers_at_once_never_fork_the_chain(
    fresh_database_url: str, courses_root: Path
) -> None:
    """Two web workers appending at the same moment, each on its own connection."""
    db = Database(fresh_database_url)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with db.transaction() as session:
        definition = factories.synced_course(session, courses_root, start)
        people = [factories.user(session, start).id for _ in range(2)]
    per_writer = 25
    barrier = threading.Barrier(len(people))
    errors: list[BaseException] = []

    def write(user_id: int) -> None:
        try:
            barrier.wait()
            for n in range(per_writer):
                with db.transaction() as session:
                    record = ledger.Record(
                        kind=ledger.Kind.QUIZ_RESULT,
                        record=f"attempt:{user_id}-{n}",
                        course_key=definition.key,
                        version_sha256=definition.sha256,
                        language="en",
                        score=n,
                    )
                    ledger.append(session, user_id, record, start + timedelta(seconds=n))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(user_id,)) for user_id in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.transaction() as session:
        chain = entries(session)
        good, _, problem = ledger.verify_chain(session, set())
    db.dispose()
    assert problem is None
    assert good == len(chain) == per_writer * len(people)


def test_a_separator_inside_a_field_is_refused(
    session: Session, learner: Learner, now: datetime
) -> None:
    record = ledger.Record(
        kind=ledger.Kind.QUIZ_RESULT,
        record="attempt:1",
        course_key="a\x1fb",
        version_sha256="0" * 64,
        language="en",
    )
    with pytest.raises(ValueError, match="separator"):
        ledger.append(session, learner.user.id, record, now)
    assert session.scalar(select(User.id).where(User.id == learner.user.id))


def test_the_checkpoint_job_signs_new_entries_and_skips_without_a_key(
    settings: Settings, fresh_database_url: str, courses_root: Path
) -> None:
    db = Database(fresh_database_url)
    settings = settings.with_overrides(database_url=fresh_database_url)
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert jobs.checkpoint(settings, db, now).startswith("skipped: No ledger key")
    keys.create_key(settings.ledger_key)
    with db.transaction() as session:
        definition = factories.synced_course(session, courses_root, now)
        person = factories.user(session, now)
        record = ledger.Record(
            kind=ledger.Kind.QUIZ_RESULT,
            record="attempt:1",
            course_key=definition.key,
            version_sha256=definition.sha256,
            language="en",
        )
        ledger.append(session, person.id, record, now)
    assert jobs.checkpoint(settings, db, now) == "signed up to 1"
    assert jobs.checkpoint(settings, db, now) == "nothing new to sign"
    db.dispose()
