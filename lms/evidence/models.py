"""The evidence ledger: a hash chain of what people did, signed at checkpoints.

Entries hold no personal data: a random reference stands for the person, and the personal
fields of an entry (name typed, IP, user agent) live in `ledger_personal`, with only a keyed
digest of them in the chain. Destroying a person's key and personal rows (retention,
erasure) leaves every entry, and so the chain, intact."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lms.db import AppendOnly, Base, Sealed, UTCDateTime


class LedgerSubject(Base):
    """A person as the ledger knows them: a stable random reference and a digest key."""

    __tablename__ = "ledger_subjects"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    ref: Mapped[str] = mapped_column(String(36), unique=True)
    # Keys the digest of the person's personal fields; destroyed on erasure, after which no
    # one can test a guess of what they typed against the chain.
    digest_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LedgerEntry(AppendOnly, Base):
    __tablename__ = "ledger_entries"

    # Assigned by the appender (head + 1) under a lock, never by a sequence: a gap is a
    # deletion, not a rolled-back insert.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # ISO 8601 UTC text with microseconds: hashed exactly as stored, on every database.
    at: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    person_ref: Mapped[str] = mapped_column(String(36), index=True)
    course_key: Mapped[str] = mapped_column(String(64))
    version_sha256: Mapped[str] = mapped_column(String(64))
    statement_sha256: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    score: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(32))
    # The row the entry is about ("attempt:12", "attestation:5"): hashed, so an entry cannot
    # be re-pointed at another record.
    record: Mapped[str] = mapped_column(String(64), index=True)
    personal_digest: Mapped[str | None] = mapped_column(String(64))
    # Every field the record shows (lms.evidence.binding): `lms ledger verify` recomputes it
    # from the record. Empty on entries made before migration 0024.
    evidence: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class LedgerPersonal(Sealed, Base):
    """The personal fields of one entry, outside the chain: never changed, deleted on erasure."""

    def delete_refused(self) -> bool:
        return False

    __tablename__ = "ledger_personal"

    seq: Mapped[int] = mapped_column(ForeignKey("ledger_entries.seq"), primary_key=True)
    typed_name: Mapped[str | None] = mapped_column(String(200))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)


class LedgerCheckpoint(AppendOnly, Base):
    """The head of the chain at a moment, signed with the installation's Ed25519 key."""

    __tablename__ = "ledger_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
