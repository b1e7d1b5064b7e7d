"""Signed checkpoints of the ledger's head, and the verification that uses them.

A checkpoint signs "vern-ledger-checkpoint-1␟<seq>␟<head hash>␟<time>" with the installation's
Ed25519 key. Entries may be re-hashed by someone with write access to the database, but not
re-signed: a verification against the public key catches an edit, a deletion or a cut-off
tail anywhere up to the last checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.evidence import keys
from lms.evidence.ledger import (
    SEPARATOR,
    Observer,
    Problem,
    Progress,
    head,
    iso_at,
    verify_chain,
)
from lms.evidence.models import LedgerCheckpoint

FORMAT = "vern-ledger-checkpoint-1"


def message(seq: int, head_hash: str, at: str) -> bytes:
    return SEPARATOR.join((FORMAT, str(seq), head_hash, at)).encode("ascii")


def create(session: Session, key: Ed25519PrivateKey, now: datetime) -> LedgerCheckpoint | None:
    """Sign the current head; None when nothing was appended since the last checkpoint."""
    seq, head_hash = head(session)
    last = latest(session)
    if seq == 0 or (last is not None and last.seq == seq):
        return None
    at = iso_at(now)
    checkpoint = LedgerCheckpoint(
        seq=seq,
        head_hash=head_hash,
        at=at,
        key_id=keys.key_id(key.public_key()),
        signature=keys.sign(key, message(seq, head_hash, at)),
    )
    session.add(checkpoint)
    session.flush()
    return checkpoint


def latest(session: Session) -> LedgerCheckpoint | None:
    return session.scalar(select(LedgerCheckpoint).order_by(LedgerCheckpoint.id.desc()).limit(1))


def signature_ok(checkpoint: LedgerCheckpoint, public_key: Ed25519PublicKey) -> bool:
    signed = message(checkpoint.seq, checkpoint.head_hash, checkpoint.at)
    return keys.signature_ok(public_key, signed, checkpoint.signature)


@dataclass(frozen=True)
class Verification:
    entries: int
    checkpoints: int
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(
    session: Session,
    public_key: Ed25519PublicKey,
    progress: Progress | None = None,
    observe: Observer | None = None,
) -> Verification:
    """The whole ledger against its checkpoints; the problem names the first bad sequence.
    `observe` sees each entry that fits the chain (ledger.verify_chain)."""
    checkpoints = list(session.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.id)))
    marks = {c.seq for c in checkpoints}
    good, hashes, problem = verify_chain(session, marks, progress, observe)
    for checkpoint in checkpoints:
        if not signature_ok(checkpoint, public_key):
            problem = _first(
                problem,
                Problem(
                    checkpoint.seq,
                    f"checkpoint {checkpoint.id} is not signed by this public key "
                    f"(signed by key {checkpoint.key_id[:16]}…)",
                ),
            )
        elif checkpoint.seq > good and problem is None:
            problem = Problem(
                good + 1,
                f"missing: the ledger ends at {good}, but checkpoint {checkpoint.id} "
                f"signed entries up to {checkpoint.seq}",
            )
        elif checkpoint.seq in hashes and hashes[checkpoint.seq] != checkpoint.head_hash:
            problem = _first(
                problem,
                Problem(checkpoint.seq, f"differs from what checkpoint {checkpoint.id} signed"),
            )
    return Verification(good, len(checkpoints), problem)


def _first(current: Problem | None, new: Problem) -> Problem:
    return new if current is None or new.seq < current.seq else current
