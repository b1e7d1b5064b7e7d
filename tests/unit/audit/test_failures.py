"""Unauthenticated failures are counted, not written a row each: a flood of bad tokens or
refused launches from one address adds to one row per kind and window, and a flood from many
addresses shares one row past MAX_FAILURE_SOURCES."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms.audit.models import AuditEvent
from lms.audit.service import (
    FAILURE_WINDOW,
    MANY_SOURCES,
    MAX_FAILURE_SOURCES,
    record,
    record_failure,
)

ACTION = "api.scim"


def _rows(session: Session) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def test_repeats_from_one_address_add_to_one_row(session: Session, now: datetime) -> None:
    for n in range(500):
        record_failure(
            session,
            action=ACTION,
            now=now + timedelta(seconds=n),
            kind="refused: invalid or revoked token",
            ip="198.51.100.9",
            path=f"/scim/v2/Users/{n}",
        )
    (row,) = _rows(session)
    assert row.detail["count"] == 500
    assert row.detail["path"] == "/scim/v2/Users/0"  # the first one's detail is kept
    assert row.detail["last_at"] == (now + timedelta(seconds=499)).isoformat()
    assert (row.at, row.ip) == (now, "198.51.100.9")


def test_another_kind_address_or_window_starts_a_new_row(session: Session, now: datetime) -> None:
    def fail(kind: str, ip: str, at: datetime) -> None:
        record_failure(session, action=ACTION, now=at, kind=kind, ip=ip)

    fail("refused: no bearer token", "198.51.100.9", now)
    fail("refused: no bearer token", "198.51.100.9", now + timedelta(minutes=1))
    fail("refused: invalid or revoked token", "198.51.100.9", now)
    fail("refused: no bearer token", "203.0.113.1", now)
    fail("refused: no bearer token", "198.51.100.9", now + FAILURE_WINDOW + timedelta(minutes=1))
    counts = [(row.ip, row.detail["kind"], row.detail["count"]) for row in _rows(session)]
    assert counts == [
        ("198.51.100.9", "refused: no bearer token", 2),
        ("198.51.100.9", "refused: invalid or revoked token", 1),
        ("203.0.113.1", "refused: no bearer token", 1),
        ("198.51.100.9", "refused: no bearer token", 1),
    ]


def test_latest_keys_take_the_repeat_s_values(session: Session, now: datetime) -> None:
    for cause in ("first", "second"):
        record_failure(
            session,
            action="lti.launch_refused",
            now=now,
            kind="unknown platform",
            ip="198.51.100.9",
            latest=("cause",),
            cause=cause,
        )
    (row,) = _rows(session)
    assert (row.detail["cause"], row.detail["count"]) == ("second", 2)


def test_a_flood_from_many_addresses_shares_one_row_past_the_limit(
    session: Session, now: datetime
) -> None:
    record(session, action=ACTION, now=now, ip="192.0.2.1", outcome="accepted")  # not a failure
    for n in range(MAX_FAILURE_SOURCES + 300):
        record_failure(
            session, action=ACTION, now=now, kind="refused", ip=f"10.{n // 256}.{n % 256}.1"
        )
    failures = session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.ip != "192.0.2.1")
    )
    assert failures == MAX_FAILURE_SOURCES + 1
    shared = session.scalars(select(AuditEvent).where(AuditEvent.ip == MANY_SOURCES)).one()
    assert shared.detail["count"] == 300
