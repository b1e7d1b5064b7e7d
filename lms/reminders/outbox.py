"""Outbox operations: enqueue once per key, claim with a lease, settle each message.

Portable claim: a conditional UPDATE that only takes rows whose lease is free; on
PostgreSQL the candidates are picked with FOR UPDATE SKIP LOCKED so senders never wait on
each other. A row is marked sent only after the server accepted it."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lms.reminders.models import OutboxMessage, OutboxStatus

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: 1, 2, 4, 8 ... minutes, never more than six hours."""
    return min(FIRST_RETRY * (2 ** max(0, attempts - 1)), LONGEST_RETRY)


def message_id_for(dedupe_key: str, domain: str) -> str:
    """A Message-ID derived from the key, so a resend after a crash is recognisably the same."""
    digest = hashlib.sha256(dedupe_key.encode("utf-8")).hexdigest()[:32]
    return f"<vern.{digest}@{domain}>"


def enqueue(
    session: Session, *, key: str, kind: str, payload: dict[str, Any], now: datetime, domain: str
) -> bool:
    """Add a message unless one with this key was ever added; True if this call added it."""
    values = {
        "dedupe_key": key,
        "kind": kind,
        "payload": payload,
        "message_id": message_id_for(key, domain),
        "created_at": now,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)
    )
    return session.execute(statement).first() is not None


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        OutboxMessage.status == OutboxStatus.PENDING,
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
    )


@dataclass(frozen=True)
class Claim:
    token: str  # the lease owner written on each claimed row; settling checks it
    messages: list[OutboxMessage]


MAIL_KINDS = ("reminder", "digest", "test", "invitation", "sign_in_link", "password_reset")


def claim(
    session: Session,
    *,
    worker: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    kinds: tuple[str, ...] = MAIL_KINDS,
) -> Claim:
    """Lease up to `limit` due messages of these kinds to this batch; commit before sending."""
    token = f"{worker}:{secrets.token_hex(6)}"
    candidates = (
        select(OutboxMessage.id)
        .where(_claimable(now), OutboxMessage.kind.in_(kinds))
        .order_by(OutboxMessage.id)
    )
    candidates = candidates.limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.scalars(candidates.with_for_update(skip_locked=True)))
        if not ids:
            return Claim(token, [])
        target: ColumnElement[bool] = OutboxMessage.id.in_(ids)
    else:
        target = OutboxMessage.id.in_(candidates.scalar_subquery())
    # The claimable test is repeated on the row being updated, so of two senders racing for
    # the same row only one wins, whatever the isolation level.
    session.execute(
        update(OutboxMessage)
        .where(target, _claimable(now), OutboxMessage.kind.in_(kinds))
        .values(lease_owner=token, lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    messages = session.scalars(
        select(OutboxMessage).where(OutboxMessage.lease_owner == token).order_by(OutboxMessage.id)
    )
    return Claim(token, list(messages))


def _settle(session: Session, message_id: int, owner: str, **values: Any) -> bool:
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.lease_owner == owner)
        .values(lease_owner=None, lease_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release(session: Session, message_id: int, owner: str) -> bool:
    """Give a claimed message back untouched (it was never tried)."""
    return _settle(session, message_id, owner)


def mark_sent(session: Session, message_ids: list[int], owner: str, now: datetime) -> int:
    """Mark messages the server accepted; one statement for the whole group."""
    if not message_ids:
        return 0
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids), OutboxMessage.lease_owner == owner)
        .values(
            lease_owner=None,
            lease_until=None,
            status=OutboxStatus.SENT,
            sent_at=now,
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def mark_skipped(session: Session, message_id: int, owner: str, reason: str) -> bool:
    return _settle(session, message_id, owner, status=OutboxStatus.SKIPPED, last_error=reason)


def mark_failed(
    session: Session,
    message: OutboxMessage,
    owner: str,
    now: datetime,
    error: str,
    *,
    permanent: bool = False,
) -> bool:
    """Count a failed attempt: retry later with backoff, or give up (dead) when hopeless."""
    attempts = message.attempts + 1
    dead = permanent or attempts >= MAX_ATTEMPTS
    return _settle(
        session,
        message.id,
        owner,
        attempts=attempts,
        last_error=error[:2000],
        status=OutboxStatus.DEAD if dead else OutboxStatus.PENDING,
        next_attempt_at=now + retry_delay(attempts),
    )


@dataclass(frozen=True)
class OutboxSummary:
    counts: dict[str, int]
    dead: list[OutboxMessage]
    oldest_pending: datetime | None


def summary(session: Session, dead_limit: int = 50) -> OutboxSummary:
    """Counts by status, the newest dead messages and the oldest waiting one (admin page)."""
    counts = {str(status): 0 for status in OutboxStatus}
    for status, count in session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    ):
        counts[status] = count
    dead = list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.DEAD)
            .order_by(OutboxMessage.id.desc())
            .limit(dead_limit)
        )
    )
    oldest = session.scalar(
        select(func.min(OutboxMessage.created_at)).where(
            OutboxMessage.status == OutboxStatus.PENDING
        )
    )
    return OutboxSummary(counts=counts, dead=dead, oldest_pending=oldest)


def retry_dead(session: Session, message_id: int, now: datetime) -> bool:
    """Give a dead message another full set of attempts (admin action after fixing the cause)."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.DEAD)
        .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
