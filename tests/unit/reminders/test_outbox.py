"""The outbox: one row per key for ever, leases that expire, backoff, dead letters."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms.reminders import outbox
from lms.reminders.models import OutboxMessage, OutboxStatus

LEASE = timedelta(minutes=5)


def _add(session: Session, now: datetime, key: str = "reminder:1:due") -> bool:
    return outbox.enqueue(
        session, key=key, kind="reminder", payload={"n": 1}, now=now, domain="example.test"
    )


def test_a_key_is_enqueued_once_ever(session: Session, now: datetime) -> None:
    assert _add(session, now)
    assert not _add(session, now + timedelta(days=30))
    rows = session.scalars(select(OutboxMessage)).all()
    assert len(rows) == 1
    assert rows[0].message_id == outbox.message_id_for("reminder:1:due", "example.test")
    assert rows[0].message_id.startswith("<vern.")
    assert rows[0].message_id.endswith("@example.test>")


def test_claimed_rows_are_not_claimed_again_until_the_lease_runs_out(
    session: Session, now: datetime
) -> None:
    for i in range(3):
        _add(session, now, f"reminder:{i}:due")
    first = outbox.claim(session, worker="a", now=now, limit=2, lease=LEASE)
    second = outbox.claim(session, worker="b", now=now, limit=10, lease=LEASE)
    assert len(first.messages) == 2
    assert len(second.messages) == 1
    assert {m.id for m in first.messages}.isdisjoint({m.id for m in second.messages})
    assert outbox.claim(session, worker="c", now=now + LEASE, limit=10, lease=LEASE).messages == []
    late = outbox.claim(
        session, worker="c", now=now + LEASE + timedelta(seconds=1), limit=10, lease=LEASE
    )
    assert len(late.messages) == 3  # a dead worker's lease expired: nothing is stuck


def test_only_the_lease_holder_can_settle(session: Session, now: datetime) -> None:
    _add(session, now)
    claim = outbox.claim(session, worker="a", now=now, limit=1, lease=LEASE)
    assert not outbox.mark_sent(session, [claim.messages[0].id], "someone-else", now)
    assert outbox.mark_sent(session, [claim.messages[0].id], claim.token, now)
    session.expire_all()
    assert session.scalars(select(OutboxMessage.status)).one() == OutboxStatus.SENT


def test_failures_back_off_exponentially_and_end_dead(session: Session, now: datetime) -> None:
    _add(session, now)
    at = now
    delays = []
    for _ in range(outbox.MAX_ATTEMPTS):
        claim = outbox.claim(session, worker="w", now=at, limit=1, lease=LEASE)
        assert len(claim.messages) == 1
        outbox.mark_failed(session, claim.messages[0], claim.token, at, "connection refused")
        session.expire_all()
        message = session.scalars(select(OutboxMessage)).one()
        delays.append(message.next_attempt_at - at)
        at = message.next_attempt_at
    assert delays[:4] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert message.status == OutboxStatus.DEAD
    assert message.attempts == outbox.MAX_ATTEMPTS
    assert (
        outbox.claim(session, worker="w", now=at + timedelta(days=1), limit=1, lease=LEASE).messages
        == []
    )
    assert outbox.summary(session).counts["dead"] == 1

    assert outbox.retry_dead(session, message.id, at)
    assert len(outbox.claim(session, worker="w", now=at, limit=1, lease=LEASE).messages) == 1


def test_a_permanent_refusal_is_dead_at_once(session: Session, now: datetime) -> None:
    _add(session, now)
    claim = outbox.claim(session, worker="w", now=now, limit=1, lease=LEASE)
    outbox.mark_failed(
        session, claim.messages[0], claim.token, now, "550 no such user", permanent=True
    )
    session.expire_all()
    assert session.scalars(select(OutboxMessage.status)).one() == OutboxStatus.DEAD
