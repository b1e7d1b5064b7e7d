"""Appending to the ledger, and proving afterwards that nothing in it changed.

An entry's hash is sha256 over its fields joined by the ASCII unit separator (0x1F), in the
order of FIELDS, `prev_hash` last; the first entry's `prev_hash` is 64 zeros. An entry made
before entries carried the evidence line (`evidence` empty) is hashed without that field, as
it was made. The format is simple on purpose: an auditor can recompute it with a few lines of
any language (docs/evidence.md)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from lms.evidence.models import LedgerEntry, LedgerPersonal, LedgerSubject

GENESIS = "0" * 64
SEPARATOR = "\x1f"
FIELDS = (
    "seq",
    "at",
    "kind",
    "person_ref",
    "course_key",
    "version_sha256",
    "statement_sha256",
    "language",
    "score",
    "source",
    "record",
    "personal_digest",
    "evidence",
    "prev_hash",
)
EVIDENCE = FIELDS.index("evidence")
APPEND_LOCK = 7411002  # PostgreSQL advisory lock id: one appender at a time
VERIFY_BATCH = 20_000
# Built from the constant FIELDS, nothing else: no outside text reaches it.
VERIFY_QUERY = f"SELECT {', '.join(FIELDS)}, hash FROM ledger_entries ORDER BY seq"  # noqa: S608
PROGRESS_STEP = 10_000


class Kind(StrEnum):
    QUIZ_RESULT = "quiz_result"
    ATTESTATION = "attestation"
    COMPLETION = "completion"
    EXEMPTION = "exemption"  # granted
    EXEMPTION_END = "exemption_end"  # expired or revoked


class Source(StrEnum):
    APP = "app"  # done in Vern's own pages
    LIVE_SESSION = "live_session"  # attended an instructor-led session
    BACKFILL = "backfill"  # recorded before the ledger existed, added by `lms ledger init`


@dataclass(frozen=True)
class Record:
    """What one entry says, before it has a place in the chain."""

    kind: Kind
    record: str  # "attempt:12", "attestation:5": the row this entry is about
    course_key: str
    version_sha256: str
    language: str
    statement_sha256: str | None = None
    score: int | None = None
    source: Source = Source.APP
    typed_name: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    # Every field the record shows, as lms.evidence.binding spells it.
    evidence: str | None = None

    @property
    def has_personal_fields(self) -> bool:
        return any(value is not None for value in (self.typed_name, self.ip, self.user_agent))


def iso_at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(values: tuple[object, ...]) -> str:
    """The hash of an entry, from its fields in FIELDS order (prev_hash last). A field holding
    the separator is refused: it could move text from one field into the next unnoticed. An
    entry without an evidence line (made before entries had one) is hashed without it."""
    if values[EVIDENCE] is None:
        values = values[:EVIDENCE] + values[EVIDENCE + 1 :]
    line = SEPARATOR.join(["" if value is None else str(value) for value in values])
    if line.count(SEPARATOR) != len(values) - 1:
        raise ValueError("a ledger field cannot contain the unit separator (0x1F)")
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def personal_digest(key_hex: str, typed_name: str | None, ip: str | None, agent: str | None) -> str:
    fields = SEPARATOR.join("" if value is None else value for value in (typed_name, ip, agent))
    return hmac.new(bytes.fromhex(key_hex), fields.encode("utf-8"), hashlib.sha256).hexdigest()


def subject_for(session: Session, user_id: int, now: datetime) -> LedgerSubject:
    subject = session.get(LedgerSubject, user_id)
    if subject is None:
        subject = LedgerSubject(
            user_id=user_id,
            ref=str(uuid.uuid4()),
            digest_key=secrets.token_hex(32),
            created_at=now,
        )
        session.add(subject)
        session.flush()
    return subject


def _lock(session: Session) -> None:
    # On SQLite every write transaction already holds the database's write lock (BEGIN
    # IMMEDIATE, lms.db); on PostgreSQL two web workers would otherwise read the same head.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": APPEND_LOCK})


def head(session: Session) -> tuple[int, str]:
    """The last sequence number and hash (0 and the genesis hash for an empty ledger)."""
    row = session.execute(
        select(LedgerEntry.seq, LedgerEntry.hash).order_by(LedgerEntry.seq.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else (0, GENESIS)


def append(session: Session, user_id: int, record: Record, now: datetime) -> LedgerEntry:
    """Add one entry at the head of the chain, in the caller's transaction."""
    subject = subject_for(session, user_id, now)
    _lock(session)
    last_seq, last_hash = head(session)
    digest = None
    if record.has_personal_fields and subject.digest_key is not None:
        digest = personal_digest(
            subject.digest_key, record.typed_name, record.ip, record.user_agent
        )
    entry = LedgerEntry(
        seq=last_seq + 1,
        at=iso_at(now),
        kind=str(record.kind),
        person_ref=subject.ref,
        course_key=record.course_key,
        version_sha256=record.version_sha256,
        statement_sha256=record.statement_sha256,
        language=record.language,
        score=record.score,
        source=str(record.source),
        record=record.record,
        personal_digest=digest,
        evidence=record.evidence,
        prev_hash=last_hash,
    )
    entry.hash = entry_hash(tuple(getattr(entry, name) for name in FIELDS[:-1]) + (last_hash,))
    session.add(entry)
    if record.has_personal_fields:
        session.add(
            LedgerPersonal(
                seq=entry.seq,
                typed_name=record.typed_name,
                ip=record.ip,
                user_agent=record.user_agent,
            )
        )
    session.flush()
    return entry


# Verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    seq: int
    reason: str

    def __str__(self) -> str:
        return f"sequence {self.seq}: {self.reason}"


Progress = Callable[[int], None]
Observer = Callable[[tuple[Any, ...]], None]


def entry_rows(session: Session) -> Iterator[tuple[object, ...]]:
    """Every entry's fields and stored hash in sequence order, straight from the driver: at a
    million entries, building rows through SQLAlchemy would cost more than the hashing. On
    PostgreSQL a named (server-side) cursor sends them in batches instead of all at once."""
    connection = session.connection()
    driver = cast(Any, connection.connection.dbapi_connection)
    postgres = connection.dialect.name == "postgresql"
    cursor = driver.cursor(name="vern_ledger_verify") if postgres else driver.cursor()
    try:
        cursor.execute(VERIFY_QUERY)
        while batch := cursor.fetchmany(VERIFY_BATCH):
            yield from batch
    finally:
        cursor.close()


def verify_chain(
    session: Session,
    marks: set[int],
    progress: Progress | None = None,
    observe: Observer | None = None,
) -> tuple[int, dict[int, str], Problem | None]:
    """Recompute every hash and link; the first entry that does not fit is the problem.
    Returns how many entries fit, the hashes at the `marks` (checkpoints) and the problem.
    `observe` is given each entry that fits (its fields in FIELDS order, then its hash), in
    sequence order: the records check reads the entries in the same pass."""
    expected_seq, previous = 1, GENESIS
    marked: dict[int, str] = {}
    for row in entry_rows(session):
        seq, stored_prev, stored_hash = row[0], row[-2], row[-1]
        if seq != expected_seq:
            problem = Problem(expected_seq, f"missing (the next entry is {seq})")
            return expected_seq - 1, marked, problem
        if stored_prev != previous:
            return seq - 1, marked, Problem(seq, "does not follow the entry before it")
        try:
            recomputed = entry_hash(row[:-1])
        except ValueError:
            return seq - 1, marked, Problem(seq, "a field holds the separator 0x1F")
        if recomputed != stored_hash:
            return seq - 1, marked, Problem(seq, "its content does not match its hash")
        previous = str(stored_hash)
        if seq in marks:
            marked[seq] = previous
        if observe is not None:
            observe(row)
        if progress is not None and seq % PROGRESS_STEP == 0:
            progress(PROGRESS_STEP)
        expected_seq += 1
    if progress is not None:
        progress((expected_seq - 1) % PROGRESS_STEP)
    return expected_seq - 1, marked, None
