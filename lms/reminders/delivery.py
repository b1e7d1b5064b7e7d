"""Delivering one kind of outbox message to a service over the network (webhooks, LTI scores,
xAPI statements): claim with a lease, send each with no transaction open, settle each in a
short transaction of its own, so a slow receiver holds no database lock and a crash loses
nothing (the lease runs out and another worker takes the message)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from lms.db import Database
from lms.reminders import outbox
from lms.reminders.models import OutboxMessage
from lms.reminders.sender import worker_name

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)


class DeliveryFailed(Exception):
    """The receiver did not take the message; `permanent` when retrying cannot help."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class NotWanted(Exception):
    """The message is no longer to be sent (its receiver was removed or switched off)."""


def deliver_due(
    database: Database,
    now: datetime,
    *,
    kind: str,
    send: Callable[[OutboxMessage], None],
    limit: int,
) -> tuple[int, int]:
    """Claim due messages of `kind` and `send` each; returns (delivered, failed)."""
    with database.transaction() as session:
        claim = outbox.claim(
            session, worker=worker_name(), now=now, limit=limit, lease=LEASE, kinds=(kind,)
        )
    delivered = failed = 0
    for message in claim.messages:
        outcome: Exception | None = None
        try:
            send(message)
        except (DeliveryFailed, NotWanted) as error:
            outcome = error
        with database.transaction() as session:
            if isinstance(outcome, NotWanted):
                outbox.mark_skipped(session, message.id, claim.token, str(outcome))
            elif isinstance(outcome, DeliveryFailed):
                failed += 1
                log.warning("%s not delivered (%s): %s", kind, message.dedupe_key, outcome)
                outbox.mark_failed(
                    session, message, claim.token, now, str(outcome), permanent=outcome.permanent
                )
            else:
                delivered += 1
                outbox.mark_sent(session, [message.id], claim.token, now)
    return delivered, failed
