"""Sign-in throttling per account and per address (ASVS 2.2.1, 11.1.4).

Failures are rows in the database, so every web worker sees the same counts. The check runs
before the password is looked at and answers the same for known and unknown accounts, so a
throttled reply says nothing about whether an address exists."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from lms.config import Settings
from lms.people.models import LoginFailure
from lms.people.service import normalise_email


@dataclass(frozen=True)
class ThrottlePolicy:
    """The limits come from Settings (LMS_LOGIN_*); see policy_from."""

    account_failures: int  # per account within the window
    address_failures: int  # per client address within the window (offices share one)
    window: timedelta


def policy_from(settings: Settings) -> ThrottlePolicy:
    return ThrottlePolicy(
        account_failures=settings.login_account_failures,
        address_failures=settings.login_address_failures,
        window=timedelta(minutes=settings.login_window_minutes),
    )


class Throttled(Exception):
    """Too many recent failures; try again once the oldest of them leaves the window."""

    def __init__(self, retry_after: timedelta) -> None:
        super().__init__(f"throttled for {retry_after}")
        self.retry_after = retry_after


def account_key(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()


def _retry_after(
    session: Session,
    condition: ColumnElement[bool],
    limit: int,
    policy: ThrottlePolicy,
    now: datetime,
) -> timedelta | None:
    """When the failures matching `condition` fall below `limit` again, if they are at it now."""
    since = now - policy.window
    recent = (
        select(LoginFailure.at)
        .where(condition, LoginFailure.at > since)
        .order_by(LoginFailure.at.desc())
        .limit(limit)
    ).subquery()
    count, oldest = session.execute(select(func.count(), func.min(recent.c.at))).one()
    if count < limit:
        return None
    return max(oldest + policy.window - now, timedelta(seconds=1))


def check(
    session: Session, email: str, ip: str | None, now: datetime, policy: ThrottlePolicy
) -> None:
    """Raise Throttled if this account or this address has failed too often lately."""
    waits = [
        _retry_after(
            session,
            LoginFailure.account_key == account_key(email),
            policy.account_failures,
            policy,
            now,
        )
    ]
    if ip:
        waits.append(
            _retry_after(session, LoginFailure.ip == ip, policy.address_failures, policy, now)
        )
    longest = max((wait for wait in waits if wait is not None), default=None)
    if longest is not None:
        raise Throttled(longest)


def note_failure(session: Session, email: str, ip: str | None, now: datetime) -> None:
    session.add(LoginFailure(at=now, account_key=account_key(email), ip=ip))
    session.flush()


def forget_account(session: Session, email: str) -> None:
    """A successful sign-in clears the account's count (the address keeps its own)."""
    session.execute(delete(LoginFailure).where(LoginFailure.account_key == account_key(email)))


def prune(session: Session, now: datetime, policy: ThrottlePolicy) -> int:
    """Drop failures that no longer count; the sweep calls this."""
    result = session.execute(delete(LoginFailure).where(LoginFailure.at <= now - policy.window))
    return int(getattr(result, "rowcount", 0) or 0)
