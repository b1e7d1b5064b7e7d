"""Deliver the outbox: claim a batch with a lease, render, send over one connection, settle.

A row is marked sent only after the server accepted it. If the process dies mid-batch, the
lease runs out and the next run sends what was not settled; at most the messages in flight
at the moment of death can arrive twice, and they carry the same Message-ID."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from lms.db import Database
from lms.mail import Mailer, MailError, OutgoingMail, Send
from lms.reminders import outbox
from lms.reminders.mails import SkipMessage
from lms.reminders.models import OutboxMessage

log = logging.getLogger(__name__)

Renderer = Callable[[Session, OutboxMessage, date], OutgoingMail]
Prefetch = Callable[[Session, list[OutboxMessage]], None]
SETTLE_EVERY = 100


@dataclass
class SendReport:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return (
            f"claimed {self.claimed}, sent {self.sent}, skipped {self.skipped}, "
            f"failed {self.failed}"
        )


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class _Outcome:
    message: OutboxMessage
    sent: bool = False
    skipped: str | None = None
    error: MailError | Exception | None = None


def _settle(session: Session, token: str, outcomes: list[_Outcome], now: datetime) -> None:
    outbox.mark_sent(session, [o.message.id for o in outcomes if o.sent], token, now)
    for outcome in outcomes:
        if outcome.sent:
            continue
        if outcome.skipped is not None:
            outbox.mark_skipped(session, outcome.message.id, token, outcome.skipped)
        else:
            permanent = isinstance(outcome.error, MailError) and outcome.error.permanent
            outbox.mark_failed(
                session, outcome.message, token, now, str(outcome.error), permanent=permanent
            )
    session.commit()


def _attempt(
    session: Session, render: Renderer, send: Send, message: OutboxMessage, today: date
) -> _Outcome:
    outcome = _Outcome(message)
    try:
        send(render(session, message, today))
        outcome.sent = True
    except SkipMessage as skip:
        outcome.skipped = str(skip)
    except MailError as error:
        outcome.error = error
    except Exception as error:  # a rendering bug must not take the batch down with it
        log.exception("cannot render outbox message %s", message.id)
        outcome.error = error
    return outcome


def _transient(outcome: _Outcome) -> bool:
    return isinstance(outcome.error, MailError) and not outcome.error.permanent


def send_batch(
    database: Database,
    mailer: Mailer,
    render: Renderer,
    *,
    now: Callable[[], datetime],
    limit: int = 500,
    lease: timedelta = timedelta(minutes=5),
    worker: str | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    prefetch: Prefetch | None = None,
) -> SendReport:
    """Send one batch; returns what happened. Safe to run in several processes at once."""
    report = SendReport()
    with database.transaction() as session:
        claim = outbox.claim(
            session, worker=worker or worker_name(), now=now(), limit=limit, lease=lease
        )
    report.claimed = len(claim.messages)
    if not claim.messages:
        return report
    pending: list[_Outcome] = []
    tried: set[int] = set()
    cannot_connect: MailError | None = None
    # One session renders and settles, committing every SETTLE_EVERY messages: on SQLite a
    # second session writing while this one holds a transaction would wait on its own lock.
    session = database.new_session()
    try:
        if prefetch is not None:
            prefetch(session, claim.messages)
        try:
            with mailer.connection() as send:
                for message in claim.messages:
                    if should_stop():
                        break
                    outcome = _attempt(session, render, send, message, now().date())
                    tried.add(message.id)
                    pending.append(outcome)
                    if _transient(outcome):
                        break  # the connection is suspect; the rest waits for the next run
                    if len(pending) >= SETTLE_EVERY:
                        _settle(session, claim.token, pending, now())
                        _count(report, pending)
                        pending = []
        except MailError as error:
            log.warning("outbox: %s", error)
            cannot_connect = error
        untried = [m for m in claim.messages if m.id not in tried]
        if cannot_connect is not None:  # every claimed message counts an attempt, backs off
            pending.extend(_Outcome(m, error=cannot_connect) for m in untried)
            untried = []
        for message in untried:  # never tried (stop requested, connection broke): no penalty
            outbox.release(session, message.id, claim.token)
        _settle(session, claim.token, pending, now())
        _count(report, pending)
    finally:
        session.close()
    return report


def _count(report: SendReport, outcomes: list[_Outcome]) -> None:
    for outcome in outcomes:
        if outcome.sent:
            report.sent += 1
        elif outcome.skipped is not None:
            report.skipped += 1
        else:
            report.failed += 1
